// The MVCC schema and the queries shared by readers and the writer.
//
// Schema (see store/README.md for the why):
//   kv(id INTEGER PRIMARY KEY, key BLOB, mod_revision, create_revision,
//      version, lease, value BLOB)
//     one row per change; create_revision = 0 marks a tombstone (a delete).
//     id = mod_revision << 20 | position of the change in its revision
//     (row_id.h), so the table itself is in revision (event) order: history
//     and compaction windows are rowid ranges. It has no index: which rows
//     hold a key's versions is the in-memory KeyIndex, built from the table
//     at open (schema 2 had a (key, revision) index; opening drops it).
//   leases(id, ttl, expiry_ms): granted TTL and wall-clock deadline.
//   meta(name, value): compact_revision, compacted_upto (the revision is
//     max(kv.mod_revision), or 1 for an empty store).
//
// Thread-safety: free functions on a Db owned by the calling thread; they
// take the KeyIndex's shared lock while they walk it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kedge/store/types.h"
#include "key_index.h"
#include "row_id.h"
#include "sqlite_db.h"

namespace kedge::store::mvcc {

inline constexpr std::int64_t kSchemaVersion = 3;

// Creates the schema in a new file (with `page_size`), or verifies an
// existing one is ours (and upgrades schema 2).
Status init_schema(Db& db, const std::string& file_for_errors, int page_size);

// Fills an empty `index` from the kv table.
Status load_index(Db& db, KeyIndex& index);

struct Meta {
  Revision revision = 0;
  Revision compact_revision = 0;
  Revision compacted_upto = 0;  // physical compaction finished up to here
};
Result<Meta> read_meta(Db& db);
Status write_meta(Db& db, const char* name, std::int64_t value);

// The newest row of `key` at or below `at` (nullopt when absent or deleted).
Result<std::optional<KeyValue>> get(Db& db, const KeyIndex& index, const std::string& key, Revision at);

// Live keys of a range at `at`, in key order, and the rows holding them.
struct LiveRow {
  std::string key;
  std::int64_t id = 0;
};
std::vector<LiveRow> live_rows(const KeyIndex& index, const std::string& key, const std::string& range_end,
                               Revision at);
// Reads row `id` into `kv` (all but the key; the value skipped when keys_only).
Status fill(Db& db, std::int64_t id, bool keys_only, KeyValue& kv);

// A Range at `request.revision` (0 = current) given the snapshot's current
// and compacted revisions; header revision = current, as etcd does.
Result<RangeResponse> range(Db& db, const KeyIndex& index, const RangeRequest& request, Revision current,
                            Revision compacted);

// Changes of revisions [from, to] in event order, grouped per revision,
// with prev_kv when asked (nullopt when the previous row was compacted).
struct RevisionEvents {
  Revision revision = 0;
  std::vector<Event> events;
};
Result<std::vector<RevisionEvents>> history(Db& db, const KeyIndex& index, Revision from, Revision to,
                                            bool with_prev);

// True when `key` is inside etcd's range [range_key, range_end).
bool in_range(const std::string& key, const std::string& range_key, const std::string& range_end);

}  // namespace kedge::store::mvcc

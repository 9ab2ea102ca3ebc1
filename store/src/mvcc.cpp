#include "mvcc.h"

#include <algorithm>
#include <string_view>

#include "errors.h"

namespace kedge::store::mvcc {
namespace {

bool is_gte(const std::string& range_end) { return range_end.size() == 1 && range_end[0] == '\0'; }

constexpr const char* kSchema = R"sql(
CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE kv(
  id INTEGER PRIMARY KEY,
  key BLOB NOT NULL,
  mod_revision INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  value BLOB NOT NULL);
CREATE TABLE leases(id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL, expiry_ms INTEGER NOT NULL);
INSERT INTO meta(name, value) VALUES ('schema_version', 3), ('revision', 1),
  ('compact_revision', 0), ('compacted_upto', 0);
)sql";

Result<KeyValue> row_to_kv(Stmt& s, int first) {
  KeyValue kv;
  kv.key = s.blob(first);
  kv.mod_revision = s.int64(first + 1);
  kv.create_revision = s.int64(first + 2);
  kv.version = s.int64(first + 3);
  kv.lease = s.int64(first + 4);
  kv.value = s.blob(first + 5);
  return kv;
}

}  // namespace

bool in_range(const std::string& key, const std::string& range_key, const std::string& range_end) {
  if (range_end.empty()) return key == range_key;
  if (is_gte(range_end)) return key >= range_key;
  return key >= range_key && key < range_end;
}

Status init_schema(Db& db, const std::string& file_for_errors, int page_size) {
  KEDGE_ASSIGN_OR_RETURN(
      std::int64_t tables,
      db.query_int("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'"));
  if (tables == 0) {
    KEDGE_ASSIGN_OR_RETURN(std::int64_t any, db.query_int("SELECT count(*) FROM sqlite_master"));
    if (any != 0) return data_loss(file_for_errors + " is not a kedge store (foreign tables)");
    // Page size and auto_vacuum must be chosen before the first table exists.
    KEDGE_RETURN_IF_ERROR(db.exec("PRAGMA page_size=" + std::to_string(page_size)));
    KEDGE_RETURN_IF_ERROR(db.exec("PRAGMA auto_vacuum=INCREMENTAL"));
    Transaction tx(db, true);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_RETURN_IF_ERROR(db.exec(kSchema));
    return tx.commit();
  }
  auto version = db.query_int("SELECT value FROM meta WHERE name='schema_version'");
  if (!version.ok()) return data_loss(file_for_errors + " has no schema version: " + version.status().message());
  if (*version == 2) {
    // Schema 3 keeps the (key, revision) index in memory (KeyIndex): drop
    // the on-disk one. Its pages go to the free list; compaction's vacuum
    // gives them back to the file system.
    Transaction tx(db, true);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_RETURN_IF_ERROR(db.exec("DROP INDEX IF EXISTS kv_key"));
    KEDGE_RETURN_IF_ERROR(write_meta(db, "schema_version", kSchemaVersion));
    return tx.commit();
  }
  if (*version != kSchemaVersion) {
    return data_loss(file_for_errors + " has schema version " + std::to_string(*version) +
                     ", this kedge understands " + std::to_string(kSchemaVersion));
  }
  return {};
}

Result<Meta> read_meta(Db& db) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("SELECT name, value FROM meta"));
  StmtScope scope(*s);
  Meta meta;
  while (true) {
    KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    const std::string name = s->blob(0);
    if (name == "revision") meta.revision = s->int64(1);
    if (name == "compact_revision") meta.compact_revision = s->int64(1);
    if (name == "compacted_upto") meta.compacted_upto = s->int64(1);
  }
  // The current revision is that of the newest change: compaction never
  // deletes it (see README), and not storing it saves a page per commit.
  KEDGE_ASSIGN_OR_RETURN(Stmt * max, db.prepare("SELECT max(id) FROM kv"));
  StmtScope max_scope(*max);
  KEDGE_ASSIGN_OR_RETURN(bool row, max->step());
  if (row && !max->is_null(0)) meta.revision = std::max(meta.revision, revision_of(max->int64(0)));
  return meta;
}

Status write_meta(Db& db, const char* name, std::int64_t value) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("UPDATE meta SET value=?2 WHERE name=?1"));
  s->bind_text(1, name).bind(2, value);
  return s->run();
}

Status load_index(Db& db, KeyIndex& index) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("SELECT id, key, create_revision FROM kv ORDER BY id"));
  StmtScope scope(*s);
  while (true) {
    KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    index.add(s->blob_view(1), s->int64(0), s->int64(2) == 0);
  }
  index.committed();
  return {};
}

Result<std::optional<KeyValue>> get(Db& db, const KeyIndex& index, const std::string& key, Revision at) {
  std::optional<std::int64_t> id;
  {
    KeyIndex::Reader lock = index.read();
    id = index.latest(key, at);
  }
  if (!id) return std::optional<KeyValue>{};
  KeyValue kv;
  kv.key = key;
  KEDGE_RETURN_IF_ERROR(fill(db, *id, false, kv));
  return std::optional<KeyValue>(std::move(kv));
}

std::vector<LiveRow> live_rows(const KeyIndex& index, const std::string& key, const std::string& range_end,
                               Revision at) {
  std::vector<LiveRow> rows;
  KeyIndex::Reader lock = index.read();
  index.live(key, range_end, at, [&](const std::string& k, std::int64_t id) { rows.push_back({k, id}); });
  return rows;
}

Status fill(Db& db, std::int64_t id, bool keys_only, KeyValue& kv) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare(keys_only
                                                  ? "SELECT create_revision, version, lease FROM kv WHERE id=?1"
                                                  : "SELECT create_revision, version, lease, value FROM kv WHERE id=?1"));
  StmtScope scope(*s);
  s->bind(1, id);
  KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
  if (!row) return internal_error("kv row " + std::to_string(id) + " vanished");
  kv.mod_revision = revision_of(id);
  kv.create_revision = s->int64(0);
  kv.version = s->int64(1);
  kv.lease = s->int64(2);
  if (!keys_only) kv.value = s->blob(3);
  return {};
}

namespace {

// etcd 3.4 fetches every key of the range only when it must sort (an
// explicit order) or filter; otherwise it reads limit+1 keys in key order --
// also when a non-key target with order NONE sorts just those (apply.go).
bool needs_all_rows(const RangeRequest& r) {
  return r.sort_order != SortOrder::kNone || r.min_mod_revision != 0 || r.max_mod_revision != 0 ||
         r.min_create_revision != 0 || r.max_create_revision != 0;
}

void sort_kvs(const RangeRequest& r, std::vector<KeyValue>& kvs) {
  SortOrder order = r.sort_order;
  // etcd: the index already yields key order; any other target with order
  // NONE sorts ascending.
  if (r.sort_target != SortTarget::kKey && order == SortOrder::kNone) order = SortOrder::kAscend;
  if (order == SortOrder::kNone) return;
  auto less = [&](const KeyValue& a, const KeyValue& b) {
    switch (r.sort_target) {
      case SortTarget::kKey: return a.key < b.key;
      case SortTarget::kVersion: return a.version < b.version;
      case SortTarget::kCreate: return a.create_revision < b.create_revision;
      case SortTarget::kMod: return a.mod_revision < b.mod_revision;
      case SortTarget::kValue: return a.value < b.value;
    }
    return false;
  };
  // Stable, so ties keep key order (what etcd's sort yields for small sets).
  if (order == SortOrder::kAscend) {
    std::stable_sort(kvs.begin(), kvs.end(), less);
  } else {
    std::stable_sort(kvs.begin(), kvs.end(), [&](const KeyValue& a, const KeyValue& b) { return less(b, a); });
  }
}

}  // namespace

Result<RangeResponse> range(Db& db, const KeyIndex& index, const RangeRequest& r, Revision current,
                            Revision compacted) {
  Revision at = r.revision;
  if (at > current) return etcd_errors::future_rev();
  if (at <= 0) at = current;
  if (at < compacted) return etcd_errors::compacted();

  std::vector<LiveRow> rows = live_rows(index, r.key, r.range_end, at);
  RangeResponse response;
  response.revision = current;
  response.count = static_cast<std::int64_t>(rows.size());
  if (r.count_only) return response;

  const bool all = needs_all_rows(r);
  std::size_t wanted = rows.size();
  if (!all && r.limit > 0) wanted = std::min<std::size_t>(rows.size(), static_cast<std::size_t>(r.limit) + 1);
  // Sorting by value needs values even for keys_only; they are cleared after.
  const bool skip_values = r.keys_only && r.sort_target != SortTarget::kValue;
  response.kvs.reserve(wanted);
  const bool create_filter = r.max_create_revision != 0 || r.min_create_revision != 0;
  for (std::size_t i = 0; i < wanted; ++i) {
    LiveRow& row = rows[i];
    const Revision mod_revision = revision_of(row.id);
    if (r.max_mod_revision != 0 && mod_revision > r.max_mod_revision) continue;
    if (r.min_mod_revision != 0 && mod_revision < r.min_mod_revision) continue;
    KeyValue kv;
    kv.key = std::move(row.key);
    KEDGE_RETURN_IF_ERROR(fill(db, row.id, skip_values, kv));
    if (create_filter) {
      if (r.max_create_revision != 0 && kv.create_revision > r.max_create_revision) continue;
      if (r.min_create_revision != 0 && kv.create_revision < r.min_create_revision) continue;
    }
    response.kvs.push_back(std::move(kv));
  }
  sort_kvs(r, response.kvs);
  if (r.limit > 0 && response.kvs.size() > static_cast<std::size_t>(r.limit)) {
    response.kvs.resize(static_cast<std::size_t>(r.limit));
    response.more = true;
  }
  if (r.keys_only) {
    for (KeyValue& kv : response.kvs) kv.value.clear();
  }
  return response;
}

Result<std::vector<RevisionEvents>> history(Db& db, const KeyIndex& index, Revision from, Revision to,
                                            bool with_prev) {
  std::vector<RevisionEvents> out;
  KEDGE_ASSIGN_OR_RETURN(
      Stmt * s, db.prepare("SELECT key, mod_revision, create_revision, version, lease, value FROM kv "
                           "WHERE id>=?1 AND id<?2 ORDER BY id"));
  {
    StmtScope scope(*s);
    s->bind(1, first_id(from)).bind(2, first_id(to + 1));
    while (true) {
      KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
      if (!row) break;
      KEDGE_ASSIGN_OR_RETURN(KeyValue kv, row_to_kv(*s, 0));
      Event event;
      if (kv.create_revision == 0) {
        event.type = Event::Type::kDelete;
        event.kv = KeyValue{};
        event.kv.key = std::move(kv.key);
        event.kv.mod_revision = kv.mod_revision;
      } else {
        event.kv = std::move(kv);
      }
      if (out.empty() || out.back().revision != event.kv.mod_revision) {
        out.push_back({event.kv.mod_revision, {}});
      }
      out.back().events.push_back(std::move(event));
    }
  }
  if (with_prev) {
    for (RevisionEvents& rev : out) {
      for (Event& event : rev.events) {
        KEDGE_ASSIGN_OR_RETURN(event.prev_kv, get(db, index, event.kv.key, rev.revision - 1));
      }
    }
  }
  return out;
}

}  // namespace kedge::store::mvcc

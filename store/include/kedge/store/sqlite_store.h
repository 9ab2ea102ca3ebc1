// SqliteStore: the embedded implementation of kedge::store::Store — etcd v3
// MVCC semantics on one SQLite database file in WAL mode.
//
// Threads it starts (all joined by the destructor):
//   writer    drains the write queue; one SQLite transaction + one fsync per
//             batch of requests (group commit), one store revision per request
//             that changes something;
//   notifier  delivers watch events (and replays history) to observers;
//   lessor    sleeps until the earliest lease deadline, then revokes;
//   compactor physical compaction in small batches (handed to the writer one
//             batch at a time, so writers never wait more than a few ms);
//   checkpointer copies the WAL into the database (PASSIVE checkpoints on its
//             own connection), so commits never pay for it.
// Reads (range, status, lease_time_to_live) run on the calling thread on a
// small pool of read-only connections, so they never wait for the writer.
//
// Thread-safety: every method may be called concurrently from any thread
// (see kv.h). Methods block the caller until durable/answered: never call
// them from an event loop. Watch callbacks run on the notifier thread.
//
// Ownership: open() returns the sole owner. Destroying the store stops its
// threads; every Watch it returned must be destroyed first.
//
// Files: <data_dir>/store.db plus SQLite's store.db-wal (no -shm: README "Files and locks").
// See store/README.md for the schema, the error table and the size bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kedge/base/status.h"
#include "kedge/store/kv.h"

namespace kedge::store {

enum class Durability : std::uint8_t {
  // Every acknowledged write is on stable storage (synchronous=FULL: the WAL
  // is fsynced at each group commit). Survives kill -9 and power loss.
  kStrict = 0,
  // synchronous=NORMAL: survives kill -9 (the WAL is in the page cache), but
  // a power cut may lose the last acknowledged writes; never corrupts.
  kRelaxed = 1,
};

struct SqliteStoreOptions {
  // Created if missing (0700). The database is <data_dir>/store.db.
  std::filesystem::path data_dir;
  Durability durability = Durability::kStrict;

  // Automatic compaction (etcd's --auto-compaction-*); both 0 = off. With
  // both set, the store keeps whichever window is shorter in revisions.
  // Revisions: keep the newest N revisions of history.
  std::int64_t auto_compaction_retention_revisions = 0;
  // Duration: keep the revisions written during the last `period`.
  std::chrono::seconds auto_compaction_retention_period{0};
  // How often automatic compaction looks at the windows.
  std::chrono::milliseconds auto_compaction_interval{std::chrono::seconds(5)};

  // etcd's --max-request-bytes (1.5 MiB) and --max-txn-ops (128).
  std::int64_t max_request_bytes = 1572864;
  std::int64_t max_txn_ops = 128;

  // Events a watch may have queued and undelivered before it is canceled
  // (ResourceExhausted) instead of making anyone wait. See README "Watch".
  std::size_t watch_buffer_events = 10000;

  // Lease TTLs below this are raised to it (etcd's minimum for its default
  // election timeout is 2 s); above kMaxLeaseTtl → "too large lease TTL".
  std::int64_t min_lease_ttl_seconds = 2;

  // Read-only connections (concurrent reads beyond this wait for a free one).
  int read_connections = 4;

  // SQLite's own page cache per connection (PRAGMA cache_size). Pages it
  // evicts stay in the kernel's page cache, so a smaller cache costs a
  // pread per page re-read, not a disk read; it is anonymous memory the
  // process keeps for good once filled (bench/README.md, store RSS).
  int writer_cache_kib = 2048;
  int reader_cache_kib = 1024;

  // Largest number of requests one group commit may carry.
  int max_batch_requests = 1024;

  // Rows one physical-compaction step deletes (a short write transaction of
  // its own: writes queued before it commit without waiting for it).
  int compaction_batch_rows = 250;

  // Pages one incremental-vacuum turn of the writer moves (defragment and
  // after compaction); smaller = shorter writer stalls, more turns.
  int defragment_step_pages = 256;

  // Run PRAGMA quick_check at open (a corrupt file fails open with DataLoss).
  bool check_integrity_at_open = true;

  // SQLite page size for a NEW database (existing files keep theirs). Every
  // commit writes each page it touched whole into the WAL, so small pages
  // mean fewer bytes written per small write (SD card wear). bench/store,
  // 256-byte values, bytes per put at 1 / 16 / 256 clients: 9.5 / 3.5 / 1.04
  // KB with 4096, 6.6 / 2.5 / 0.90 KB with 1024 (a 10k-key range 46 -> 54 ms).
  int page_size = 1024;

  // The SQLite VFS under the store's own layer (store/README "Files and
  // locks"). "unix-excl": one exclusive lock for the process and the WAL
  // index in memory, so no other process can open the files while the store
  // runs. Tests put a fault-injecting VFS here.
  std::string sqlite_vfs = "unix-excl";
};

// Counters for metrics and tests; monotonic since open().
struct SqliteStoreStats {
  std::int64_t write_requests = 0;  // requests the writer executed (incl. internal ones)
  std::int64_t commits = 0;         // group commits: one fsync each with kStrict
  std::int64_t max_batch = 0;       // most requests in one commit
  std::int64_t max_commit_us = 0;   // longest writer transaction, apply + commit
  std::int64_t compaction_steps = 0;
  std::int64_t compaction_rows_deleted = 0;
  std::int64_t max_compaction_step_us = 0;  // longest physical-compaction step (writer turn incl. commit)
  std::int64_t max_maintenance_us = 0;      // longest vacuum/checkpoint turn of the writer
  std::int64_t wal_frames = 0;              // pages appended to the WAL by commits (page_size + 24 bytes each)
  std::int64_t watches = 0;                 // live watches
};

// etcd's MaxLeaseTTL.
inline constexpr std::int64_t kMaxLeaseTtl = 9000000000;

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the store in options.data_dir. Errors:
  // DataLoss naming the file when the integrity check fails or the file is
  // not a kedge store; Unavailable when the file cannot be opened/locked.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteStoreOptions& options);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<RangeResponse> range(const RangeRequest& request) override;
  Result<PutResponse> put(const PutRequest& request) override;
  Result<DeleteRangeResponse> delete_range(const DeleteRangeRequest& request) override;
  Result<TxnResponse> txn(const TxnRequest& request) override;
  // `done` runs on the writer thread right after the group commit.
  bool try_put_async(const PutRequest& request, Done<PutResponse>& done) override;
  bool try_delete_range_async(const DeleteRangeRequest& request, Done<DeleteRangeResponse>& done) override;
  bool try_txn_async(const TxnRequest& request, Done<TxnResponse>& done) override;
  Result<CompactResponse> compact(Revision revision, bool physical) override;
  Result<std::unique_ptr<Watch>> watch(const WatchRequest& request,
                                       WatchObserver& observer) override;
  Result<LeaseGrantResponse> lease_grant(std::int64_t ttl_seconds, LeaseId id) override;
  Result<Revision> lease_revoke(LeaseId id) override;
  Result<std::int64_t> lease_keep_alive(LeaseId id) override;
  Result<LeaseTimeToLiveResponse> lease_time_to_live(LeaseId id, bool with_keys) override;
  Result<std::vector<LeaseId>> lease_list() override;
  Result<StoreStatus> status() override;
  // Incremental vacuum until no free page is left, then a WAL truncate. Runs
  // as writer turns of at most `defragment_step_pages` pages each, so writes
  // queued meanwhile go between steps (stats().max_maintenance_us: the
  // longest the writer was held).
  Status defragment() override;
  // VACUUM INTO a temporary file next to the database (a read transaction:
  // writers go on), opened and unlinked; the copy is a kedge store file.
  Result<std::unique_ptr<SnapshotReader>> snapshot() override;
  Result<HashResponse> hash_kv(Revision revision) override;
  Result<HashResponse> hash() override;

  SqliteStoreStats stats() const;

  // Full path of the database file (for messages and tests).
  const std::filesystem::path& db_path() const;

  // Waits until physical compaction has caught up with the last compact()
  // and the WAL has been checkpointed (tests, Defragment).
  Status wait_compacted();

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::store

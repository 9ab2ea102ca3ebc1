// SqliteStore's private state, shared by sqlite_store.cpp (open, threads,
// reads) and apply.cpp (what the writer does inside a transaction).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <variant>
#include <vector>

#include "kedge/store/sqlite_store.h"
#include "key_index.h"
#include "lessor.h"
#include "mvcc.h"
#include "sqlite_db.h"
#include "watch_hub.h"

namespace kedge::store {

// Write requests the writer thread executes, besides the KV ones.
struct CompactOp {
  Revision revision = 0;
};
// Physical compaction of one window of revisions [from, to] towards target.
struct CompactStepOp {
  Revision from = 0;
  Revision to = 0;
  Revision target = 0;
};
// Runs between transactions: WAL checkpoint and/or incremental vacuum.
struct MaintenanceOp {
  bool truncate_wal = false;
  int vacuum_pages = 0;
};
struct LeaseGrantOp {
  std::int64_t ttl = 0;
  LeaseId id = kNoLease;
};
struct LeaseRevokeOp {
  LeaseId id = kNoLease;
};
struct LeaseKeepAliveOp {
  LeaseId id = kNoLease;
};

using WriteRequest = std::variant<PutRequest, DeleteRangeRequest, TxnRequest, CompactOp, CompactStepOp,
                                  MaintenanceOp, LeaseGrantOp, LeaseRevokeOp, LeaseKeepAliveOp>;
using WriteResponse = std::variant<std::monostate, PutResponse, DeleteRangeResponse, TxnResponse,
                                   CompactResponse, LeaseGrantResponse, Revision>;
using WriteResult = Result<WriteResponse>;

struct WriteOp {
  WriteRequest request;
  // Exactly one of these receives the result (callback: fire-and-forget
  // internal work such as lease expiry).
  std::promise<WriteResult> promise;
  std::function<void(WriteResult)> callback;
};

// What one request did inside the writer's transaction; see apply.cpp.
class Applier {
 public:
  // `writable` false: a read-only txn on a reader connection (the index is
  // then only read). Writes go into `index` as they go into the kv table.
  Applier(Db& db, KeyIndex& index, Revision begin_rev, Revision compacted, Lessor* lessor, bool writable)
      : db_(db), index_(index), begin_rev_(begin_rev), compacted_(compacted), lessor_(lessor), writable_(writable) {}

  Result<PutResponse> put(const PutRequest& request);
  Result<DeleteRangeResponse> delete_range(const DeleteRangeRequest& request);
  Result<TxnResponse> txn(const TxnRequest& request);
  // Deletes `keys` (already known live) in this request's revision.
  Status delete_keys(const std::vector<std::string>& keys);

  // The revision reads inside this request see (etcd: beginRev, +1 once
  // something changed).
  Revision current() const { return begin_rev_ + (changes_.empty() ? 0 : 1); }
  Revision new_revision() const { return begin_rev_ + 1; }
  std::vector<Event>& changes() { return changes_; }

 private:
  struct Path {
    bool succeeded = false;
    std::vector<Path> nested;  // one per nested txn in the chosen branch, in order
  };
  Result<bool> compare(const Compare& compare);
  Result<Path> evaluate(const TxnRequest& request);
  Status check(const TxnRequest& request, const Path& path);
  Result<TxnResponse> execute(const TxnRequest& request, const Path& path);
  Status insert(const KeyValue& kv);

  Db& db_;
  KeyIndex& index_;
  const Revision begin_rev_;
  const Revision compacted_;
  Lessor* lessor_;
  const bool writable_;
  std::vector<Event> changes_;
};

// Stateless request checks done on the caller's thread (etcd's v3rpc layer).
Status validate_put(const PutRequest& request);
Status validate_txn(const TxnRequest& request, std::int64_t max_txn_ops);
std::int64_t request_size(const WriteRequest& request);
bool txn_is_read_only(const TxnRequest& request);

struct SqliteStore::Impl {
  explicit Impl(SqliteStoreOptions opts);
  ~Impl();

  // --- constant after open ---
  SqliteStoreOptions options;
  std::filesystem::path db_path;
  std::string vfs;  // store_vfs.h: every connection opens through it
  int lock_fd = -1;

  // --- writer thread only (open() before the thread starts) ---
  std::unique_ptr<Db> writer_db;
  Revision rev = 1;
  Revision compacted = 0;

  // --- published by the writer after each commit, read anywhere ---
  std::atomic<Revision> published_rev{1};
  std::atomic<Revision> published_compacted{0};

  // --- every key's revisions (key_index.h): the writer changes it, anyone reads ---
  KeyIndex index;

  // --- compaction floors of running reads ---
  // A read registers the compaction revision published when it started; its
  // snapshot's is at least that, and it reads nothing below it. Physical
  // compaction to T drops index entries and rows that only reads below T
  // can want, so the compactor first waits for reads registered below T
  // (reads starting later register T or more: it was published first).
  std::mutex readers_mu;
  std::condition_variable readers_cv;
  std::multiset<Revision> reader_floors;  // guarded by readers_mu
  void wait_for_reads_below(Revision target);

  // --- read pool ---
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<Db>> pool;  // guarded by pool_mu

  // --- write queue ---
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<std::unique_ptr<WriteOp>> queue;  // guarded by queue_mu
  bool stopping = false;                        // guarded by queue_mu
  // Ops the writer has answered, destroyed by the next thread that queues a
  // write (or by the writer once it has been idle a while). The submitting
  // thread allocated them (request strings, callback, WriteOp); freeing them
  // on the writer made the two threads meet on glibc's arena lock: ~3
  // futex calls per put at 256 clients, a quarter of the server's CPU.
  std::vector<std::unique_ptr<WriteOp>> answered;  // guarded by queue_mu
  std::thread writer;
  // Writer thread: hands `batch` (answered) to `answered`.
  void retire(std::vector<std::unique_ptr<WriteOp>>& batch);
  // Caller holds queue_mu: takes `answered` out, to be destroyed after
  // queue_mu is released.
  std::vector<std::unique_ptr<WriteOp>> take_answered_locked();

  // Writer thread: answers `ops` with `results` (same order, every one set).
  void complete(std::vector<std::unique_ptr<WriteOp>>& ops, std::vector<std::optional<WriteResult>>& results);

  // --- compactor ---
  std::mutex compact_mu;
  std::condition_variable compact_cv;
  Revision compact_target = 0;      // guarded by compact_mu
  Revision compacted_upto = 0;      // guarded by compact_mu: physical work done
  bool maintenance_done = true;     // guarded by compact_mu
  bool compact_stop = false;        // guarded by compact_mu
  std::thread compactor;
  std::deque<std::pair<std::chrono::steady_clock::time_point, Revision>> samples;  // compactor only

  // --- checkpointer: copies the WAL into the database off the writer thread ---
  std::unique_ptr<Db> checkpoint_db;  // checkpointer thread only
  std::mutex checkpoint_mu;
  std::condition_variable checkpoint_cv;
  bool checkpoint_wanted = false;  // guarded by checkpoint_mu
  bool checkpoint_stop = false;    // guarded by checkpoint_mu
  std::uint64_t checkpoints_done = 0;  // guarded by checkpoint_mu
  std::thread checkpointer;
  void run_checkpointer();
  // Any thread but the checkpointer: wakes it and waits for one passive
  // checkpoint to finish (so a later TRUNCATE in the writer copies little).
  void checkpoint_and_wait();

  // --- stats (relaxed atomics; written by the writer thread) ---
  std::atomic<std::int64_t> stat_requests{0};
  std::atomic<std::int64_t> stat_commits{0};
  std::atomic<std::int64_t> stat_max_batch{0};
  std::atomic<std::int64_t> stat_max_commit_us{0};
  std::atomic<std::int64_t> stat_compaction_steps{0};
  std::atomic<std::int64_t> stat_compaction_rows{0};
  std::atomic<std::int64_t> stat_max_step_us{0};
  std::atomic<std::int64_t> stat_max_maintenance_us{0};
  std::atomic<std::int64_t> stat_wal_frames{0};
  int wal_frames_seen = 0;  // writer thread (WAL hook): frames in the WAL after the last commit
  // What the checkpointer's last run left copied: WAL generation << 32 | frames.
  std::atomic<std::int64_t> wal_backfilled{0};
  std::atomic<std::int64_t> wal_generation{0};  // written by the WAL hook: +1 per WAL restart
  std::atomic<bool> checkpoint_running{false};

  std::unique_ptr<Lessor> lessor;
  std::unique_ptr<WatchHub> hub;

  // Writer thread.
  void run_writer();
  void run_batch(std::vector<std::unique_ptr<WriteOp>>& batch);
  Result<WriteResponse> apply(Db& db, WriteRequest& request, std::vector<mvcc::RevisionEvents>& events,
                              std::vector<std::function<void()>>& after_commit);
  Status run_maintenance(const MaintenanceOp& op);
  Status reload_lessor(Db& db);

  // Any thread.
  WriteResult submit(WriteRequest request);
  // `callback` runs on the writer thread right after the commit, or on the
  // caller's when the store is stopping (a stopped() error).
  void submit_async(WriteRequest request, std::function<void(WriteResult)> callback);
  Result<WriteRequest> admit(const PutRequest& request) const;
  Result<WriteRequest> admit(const DeleteRangeRequest& request) const;
  Result<WriteRequest> admit(const TxnRequest& request) const;
  // `write`, unless it is larger than max_request_bytes.
  Result<WriteRequest> within_request_limit(WriteRequest write) const;
  template <typename Fn>
  auto with_reader(Fn&& fn) -> decltype(fn(std::declval<Db&>()));

  // Any thread but the writer: incremental vacuum in writer turns of
  // options.defragment_step_pages until at most `keep_ratio` of the file is
  // free (0 = no free page left).
  Status vacuum_free_pages(double keep_ratio);
  // Free pages / all pages of the database file, as last committed.
  Result<double> free_ratio();

  // Compactor thread.
  void run_compactor();
  // The next step's window of revisions, from the last one's (`used`
  // revisions, `deleted` rows).
  Revision next_window(Revision window, Revision used, std::int64_t deleted) const;
  void auto_compact();

  Result<Revision> lease_revoke_in(Db& db, LeaseId id, std::vector<mvcc::RevisionEvents>& events);
};

template <typename Fn>
auto SqliteStore::Impl::with_reader(Fn&& fn) -> decltype(fn(std::declval<Db&>())) {
  std::unique_ptr<Db> db;
  {
    std::unique_lock lock(pool_mu);
    pool_cv.wait(lock, [&] { return !pool.empty(); });
    db = std::move(pool.back());
    pool.pop_back();
  }
  std::multiset<Revision>::iterator floor;
  {
    // Registered before `fn` begins its snapshot, so the snapshot's
    // compaction revision is at least this floor.
    std::lock_guard lock(readers_mu);
    floor = reader_floors.insert(published_compacted.load());
  }
  auto result = fn(*db);
  {
    std::lock_guard lock(readers_mu);
    reader_floors.erase(floor);
  }
  readers_cv.notify_all();
  {
    std::lock_guard lock(pool_mu);
    pool.push_back(std::move(db));
  }
  pool_cv.notify_one();
  return result;
}

}  // namespace kedge::store

#include "kedge/store/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <system_error>

#include "errors.h"
#include "kedge/base/log.h"
#include "store_impl.h"
#include "store_vfs.h"

namespace kedge::store {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long the writer waits for a new write before it frees the answered
// ops itself (Impl::answered): long enough that under load the submitting
// thread always frees them, short enough that an idle store keeps no
// request bodies around.
constexpr std::chrono::milliseconds kFreeAnsweredAfter{100};

// WAL size (pages) from which it is checkpointed; see README "Size bound".
constexpr int kWalCheckpointPages = 1000;
// The writer's own catch-up copies at most this many frames (~1-2 ms); a
// larger remainder is the checkpointer's, unless the WAL reaches the hard
// cap, where bounding the file wins over a stall.
constexpr int kWalCatchUpMaxCopy = 256;
constexpr int kWalHardCapPages = 4000;

Status check_integrity(Db& db) {
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("PRAGMA quick_check"));
  StmtScope scope(*s);
  std::string problems;
  while (true) {
    KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
    if (!row) break;
    const std::string line = s->blob(0);
    if (line == "ok") continue;
    if (problems.size() < 512) problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!problems.empty()) {
    return data_loss("store database " + db.path().string() + " failed its integrity check: " + problems);
  }
  return {};
}

}  // namespace

SqliteStore::Impl::Impl(SqliteStoreOptions opts) : options(std::move(opts)) {}

SqliteStore::Impl::~Impl() {
  if (lock_fd >= 0) ::close(lock_fd);
}

// ---------------------------------------------------------------- open

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteStoreOptions& options) {
  if (options.data_dir.empty()) return invalid_argument("store: data_dir is required");
  auto impl = std::make_unique<Impl>(options);
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return unavailable("create " + options.data_dir.string() + ": " + ec.message());
  std::filesystem::permissions(options.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  impl->db_path = options.data_dir / "store.db";

  // One process per store: SQLite would keep the file consistent, but two
  // writers would each believe they own the revision counter.
  const auto lock_path = options.data_dir / "store.lock";
  impl->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (impl->lock_fd < 0) return errno_status("open " + lock_path.string(), errno);
  if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return unavailable("store " + impl->db_path.string() + " is in use by another process");
  }

  // Snapshot copies are unlinked once opened; one left here was cut short by a crash.
  for (const auto& entry : std::filesystem::directory_iterator(options.data_dir, ec)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with("snapshot-") && name.ends_with(".tmp")) std::filesystem::remove(entry.path(), ec);
  }

  // Gathering the WAL's writes is safe only where SQLite syncs the WAL after
  // every commit (store_vfs.h).
  KEDGE_ASSIGN_OR_RETURN(impl->vfs, store_vfs(options.sqlite_vfs, options.durability == Durability::kStrict));
  KEDGE_ASSIGN_OR_RETURN(impl->writer_db, Db::open(impl->db_path, false, impl->vfs));
  Db& db = *impl->writer_db;
  if (options.check_integrity_at_open) {
    Status integrity = check_integrity(db);
    if (!integrity.ok()) {
      if (integrity.code() == Code::kDataLoss && integrity.message().find(impl->db_path.string()) == std::string::npos) {
        integrity = data_loss("store database " + impl->db_path.string() + ": " + integrity.message());
      }
      return integrity;
    }
  }
  KEDGE_RETURN_IF_ERROR(mvcc::init_schema(db, impl->db_path.string(), options.page_size));
  KEDGE_ASSIGN_OR_RETURN(Stmt * wal, db.prepare("PRAGMA journal_mode=WAL"));
  {
    StmtScope scope(*wal);
    KEDGE_ASSIGN_OR_RETURN(bool row, wal->step());
    if (!row || wal->blob(0) != "wal") return unavailable("store: cannot switch " + impl->db_path.string() + " to WAL mode");
  }
  KEDGE_RETURN_IF_ERROR(db.exec(options.durability == Durability::kStrict ? "PRAGMA synchronous=FULL"
                                                                           : "PRAGMA synchronous=NORMAL"));
  // The writer never checkpoints itself (that would stall every write behind
  // copying the WAL and an fsync of the database): its WAL hook wakes the
  // checkpointer thread every ~4 MiB of WAL. journal_size_limit shrinks the
  // WAL file back when it restarts, so it never keeps its largest burst.
  KEDGE_RETURN_IF_ERROR(db.exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=16777216;"
                                "PRAGMA temp_store=MEMORY"));
  KEDGE_RETURN_IF_ERROR(db.exec("PRAGMA cache_size=-" + std::to_string(std::max(64, options.writer_cache_kib))));
  KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
  KEDGE_RETURN_IF_ERROR(mvcc::load_index(db, impl->index));
  impl->rev = meta.revision;
  impl->compacted = meta.compact_revision;
  impl->published_rev = meta.revision;
  impl->published_compacted = meta.compact_revision;
  impl->compact_target = meta.compact_revision;
  impl->compacted_upto = meta.compacted_upto;

  for (int i = 0; i < std::max(1, options.read_connections); ++i) {
    KEDGE_ASSIGN_OR_RETURN(auto reader, Db::open(impl->db_path, true, impl->vfs));
    KEDGE_RETURN_IF_ERROR(reader->exec("PRAGMA cache_size=-" + std::to_string(std::max(64, options.reader_cache_kib))));
    impl->pool.push_back(std::move(reader));
  }

  KEDGE_ASSIGN_OR_RETURN(impl->checkpoint_db, Db::open(impl->db_path, false, impl->vfs));
  // A connection only opens the WAL with its first read; until then a
  // checkpoint through it does nothing at all (and says SQLITE_OK).
  KEDGE_RETURN_IF_ERROR(impl->checkpoint_db->query_int("SELECT count(*) FROM sqlite_master").status());
  Impl* raw = impl.get();
  sqlite3_wal_hook(
      db.handle(),
      [](void* arg, sqlite3*, const char*, int pages) -> int {
        auto* self = static_cast<Impl*>(arg);
        // Frames this commit appended (the WAL restarts from 0 after a full checkpoint).
        const bool restarted = pages < self->wal_frames_seen;
        const int appended = restarted ? pages : pages - self->wal_frames_seen;
        self->wal_frames_seen = pages;
        if (restarted) self->wal_generation.fetch_add(1, std::memory_order_relaxed);
        self->stat_wal_frames.fetch_add(appended, std::memory_order_relaxed);
        if (pages < kWalCheckpointPages || self->checkpoint_running.load(std::memory_order_acquire)) {
          return SQLITE_OK;
        }
        // Frames the checkpointer has not copied yet (all of them when its
        // last run was on an earlier WAL).
        const std::int64_t done = self->wal_backfilled.load(std::memory_order_acquire);
        const bool same_wal = (done >> 32) == self->wal_generation.load(std::memory_order_relaxed);
        const int remainder = same_wal ? pages - static_cast<int>(done & 0xffffffff) : pages;
        if (remainder <= kWalCatchUpMaxCopy || pages >= kWalHardCapPages) {
          // A WAL restarts from its beginning only once fully copied, which
          // the checkpointer alone never quite achieves under steady writes.
          // Here the writer is between transactions: copying the small
          // remainder lets its next transaction restart the WAL.
          sqlite3_wal_checkpoint_v2(self->writer_db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                    nullptr);
        } else {
          {
            std::lock_guard lock(self->checkpoint_mu);
            self->checkpoint_wanted = true;
          }
          self->checkpoint_cv.notify_one();
        }
        return SQLITE_OK;
      },
      raw);
  impl->lessor = std::make_unique<Lessor>([raw](LeaseId id) {
    raw->submit_async(LeaseRevokeOp{.id = id}, [raw, id](WriteResult result) {
      if (!result.ok() && result.status().code() != Code::kNotFound) {
        log::logger("store")->warn("lease {:x} expiry failed, retrying: {}", id, result.status().to_string());
        raw->lessor->retry_expiry(id, std::chrono::seconds(1));
      }
    });
  });
  KEDGE_RETURN_IF_ERROR(impl->reload_lessor(db));
  impl->hub = std::make_unique<WatchHub>(
      [raw](Revision from, Revision to, bool with_prev) -> Result<WatchHub::HistoryChunk> {
        return raw->with_reader([&](Db& reader) -> Result<WatchHub::HistoryChunk> {
          Transaction tx(reader, false);
          KEDGE_RETURN_IF_ERROR(tx.status());
          WatchHub::HistoryChunk chunk;
          KEDGE_ASSIGN_OR_RETURN(mvcc::Meta m, mvcc::read_meta(reader));
          chunk.compact_revision = m.compact_revision;
          if (from < m.compact_revision) return chunk;
          KEDGE_ASSIGN_OR_RETURN(chunk.revisions, mvcc::history(reader, raw->index, from, to, with_prev));
          return chunk;
        });
      },
      options.watch_buffer_events, meta.revision, meta.compact_revision);

  impl->hub->start();
  impl->lessor->start();
  impl->writer = std::thread([raw] { raw->run_writer(); });
  impl->compactor = std::thread([raw] { raw->run_compactor(); });
  impl->checkpointer = std::thread([raw] { raw->run_checkpointer(); });
  log::logger("store")->info("store open: {} revision {} compacted {}", impl->db_path.string(), meta.revision,
                             meta.compact_revision);
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteStore::~SqliteStore() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.compact_mu);
    s.compact_stop = true;
  }
  s.compact_cv.notify_all();
  if (s.compactor.joinable()) s.compactor.join();
  s.lessor->stop();
  {
    std::lock_guard lock(s.queue_mu);
    s.stopping = true;
  }
  s.queue_cv.notify_all();
  if (s.writer.joinable()) s.writer.join();
  s.answered.clear();
  s.hub->stop();
  {
    std::lock_guard lock(s.checkpoint_mu);
    s.checkpoint_stop = true;
  }
  s.checkpoint_cv.notify_all();
  if (s.checkpointer.joinable()) s.checkpointer.join();
  // Leave a small WAL behind: a clean shutdown checkpoints everything.
  (void)s.writer_db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

const std::filesystem::path& SqliteStore::db_path() const { return impl_->db_path; }

Status SqliteStore::Impl::reload_lessor(Db& db) {
  lessor->clear();
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("SELECT id, ttl, expiry_ms FROM leases"));
  const auto now = Lessor::Clock::now();
  const std::int64_t now_ms = unix_ms();
  {
    StmtScope scope(*s);
    while (true) {
      KEDGE_ASSIGN_OR_RETURN(bool row, s->step());
      if (!row) break;
      // Remaining TTL survives a restart (see README "Leases"); a lease whose
      // deadline passed while the store was down expires right away.
      const std::int64_t remaining_ms = std::max<std::int64_t>(0, s->int64(2) - now_ms);
      lessor->grant(s->int64(0), s->int64(1), now + std::chrono::milliseconds(remaining_ms));
    }
  }
  constexpr Revision kLatest = std::numeric_limits<Revision>::max();
  for (mvcc::LiveRow& row : mvcc::live_rows(index, "", std::string(1, '\0'), kLatest)) {
    KeyValue kv;
    KEDGE_RETURN_IF_ERROR(mvcc::fill(db, row.id, true, kv));
    if (kv.lease != kNoLease) lessor->attach(kv.lease, row.key);
  }
  return {};
}

// ---------------------------------------------------------------- writer

std::vector<std::unique_ptr<WriteOp>> SqliteStore::Impl::take_answered_locked() {
  std::vector<std::unique_ptr<WriteOp>> taken;
  taken.swap(answered);
  return taken;
}

void SqliteStore::Impl::retire(std::vector<std::unique_ptr<WriteOp>>& batch) {
  std::lock_guard lock(queue_mu);
  for (auto& op : batch) answered.push_back(std::move(op));
  batch.clear();
}

WriteResult SqliteStore::Impl::submit(WriteRequest request) {
  auto op = std::make_unique<WriteOp>();
  op->request = std::move(request);
  auto future = op->promise.get_future();
  std::vector<std::unique_ptr<WriteOp>> earlier;  // answered ops: destroyed here, outside queue_mu
  {
    std::lock_guard lock(queue_mu);
    if (stopping) return etcd_errors::stopped();
    queue.push_back(std::move(op));
    earlier = take_answered_locked();
  }
  queue_cv.notify_one();
  earlier.clear();
  return future.get();
}

void SqliteStore::Impl::submit_async(WriteRequest request, std::function<void(WriteResult)> callback) {
  auto op = std::make_unique<WriteOp>();
  op->request = std::move(request);
  op->callback = std::move(callback);
  std::vector<std::unique_ptr<WriteOp>> earlier;  // answered ops: destroyed here, outside queue_mu
  {
    std::unique_lock lock(queue_mu);
    if (stopping) {
      lock.unlock();
      op->callback(etcd_errors::stopped());
      return;
    }
    queue.push_back(std::move(op));
    earlier = take_answered_locked();
  }
  queue_cv.notify_one();
}

namespace {
void finish(WriteOp& op, WriteResult result) {
  if (op.callback) {
    op.callback(std::move(result));
  } else {
    op.promise.set_value(std::move(result));
  }
}
}  // namespace

void SqliteStore::Impl::complete(std::vector<std::unique_ptr<WriteOp>>& ops,
                                 std::vector<std::optional<WriteResult>>& results) {
  // Callbacks must not block (kv.h): the etcd front's serialize one small
  // answer into its call's queue. Running them here costs the writer ~1 µs
  // each and saves a thread hand-off per commit, which cost more (server
  // CPU per put at 256 clients 28–32 → 23 µs, bench/README session 8).
  for (std::size_t i = 0; i < ops.size(); ++i) finish(*ops[i], std::move(*results[i]));
}

namespace {
bool is_background(const WriteRequest& request) {
  return std::holds_alternative<MaintenanceOp>(request) || std::holds_alternative<CompactStepOp>(request);
}
}  // namespace

void SqliteStore::Impl::run_writer() {
  while (true) {
    std::vector<std::unique_ptr<WriteOp>> batch;
    {
      std::unique_lock lock(queue_mu);
      const auto ready = [&] { return stopping || !queue.empty(); };
      if (!queue_cv.wait_for(lock, kFreeAnsweredAfter, ready)) {
        // Nobody queued a write for a while: free what the last ones left.
        auto idle = take_answered_locked();
        lock.unlock();
        idle.clear();
        lock.lock();
        queue_cv.wait(lock, ready);
      }
      if (queue.empty()) break;  // stopping and drained
      // Background work (maintenance outside any transaction, compaction
      // steps in one of their own) runs alone: writes queued before it
      // commit without waiting for it.
      if (is_background(queue.front()->request)) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      } else {
        while (!queue.empty() && static_cast<int>(batch.size()) < options.max_batch_requests &&
               !is_background(queue.front()->request)) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
    }
    if (auto* m = std::get_if<MaintenanceOp>(&batch.front()->request)) {
      Status status = run_maintenance(*m);
      finish(*batch.front(), status.ok() ? WriteResult(WriteResponse{}) : WriteResult(status));
    } else {
      run_batch(batch);
    }
    retire(batch);
  }
}

namespace {
void raise(std::atomic<std::int64_t>& max, std::int64_t value) {
  if (value > max.load(std::memory_order_relaxed)) max.store(value, std::memory_order_relaxed);
}
}  // namespace

void SqliteStore::Impl::run_batch(std::vector<std::unique_ptr<WriteOp>>& batch) {
  Db& db = *writer_db;
  const auto started = std::chrono::steady_clock::now();
  const Revision start_rev = rev;
  const Revision start_compacted = compacted;
  std::vector<std::optional<WriteResult>> results(batch.size());
  std::vector<mvcc::RevisionEvents> events;
  std::vector<std::function<void()>> after_commit;
  Status failure;
  {
    Transaction tx(db, true);
    failure = tx.status();
    for (std::size_t i = 0; failure.ok() && i < batch.size(); ++i) {
      // etcd's request errors are found before anything is written; the
      // savepoint also undoes a request that fails half-way (the change
      // limit), without touching its batch-mates. A put changes one key, so
      // it cannot fail half-way and needs none: at 256 clients the two
      // statements cost ~12 % of the server's CPU.
      const bool savepoint = !std::holds_alternative<PutRequest>(batch[i]->request);
      if (savepoint) {
        failure = db.run("SAVEPOINT request");
        if (!failure.ok()) break;
      }
      const std::size_t index_mark = index.mark();
      WriteResult result = apply(db, batch[i]->request, events, after_commit);
      // A failed request changed no revision (`rev` is where it started):
      // its rows, if any, are rolled back below or with the whole batch.
      if (!result.ok()) index.rollback(index_mark, mvcc::first_id(rev + 1));
      if (!result.ok() && (result.status().code() == Code::kInternal ||
                           result.status().code() == Code::kUnavailable ||
                           result.status().code() == Code::kDataLoss ||
                           result.status().code() == Code::kResourceExhausted)) {
        failure = result.status();  // the database is failing: abort the batch
        break;
      }
      if (savepoint && !result.ok() && result.status().code() == Code::kFailedPrecondition &&
          result.status().message().starts_with("kedge:")) {
        failure = db.run("ROLLBACK TO request");
        if (failure.ok()) failure = reload_lessor(db);
        if (!failure.ok()) break;
      }
      if (savepoint) failure = db.run("RELEASE request");
      results[i] = std::move(result);
    }
    if (failure.ok()) failure = tx.commit();
  }
  if (!failure.ok()) {
    log::logger("store")->error("write batch of {} failed: {}", batch.size(), failure.to_string());
    index.rollback(0, mvcc::first_id(start_rev + 1));
    rev = start_rev;
    compacted = start_compacted;
    Status reload = reload_lessor(db);
    if (!reload.ok()) log::logger("store")->error("lease table reload failed: {}", reload.to_string());
    for (auto& r : results) r = WriteResult(failure);
    complete(batch, results);
    return;
  }
  index.committed();
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  stat_requests += static_cast<std::int64_t>(batch.size());
  ++stat_commits;
  raise(stat_max_batch, static_cast<std::int64_t>(batch.size()));
  raise(stat_max_commit_us, took.count());
  if (batch.size() == 1 && std::holds_alternative<CompactStepOp>(batch.front()->request)) {
    raise(stat_max_step_us, took.count());
  }
  published_rev = rev;
  published_compacted = compacted;
  hub->publish(std::move(events), rev);
  if (compacted != start_compacted) hub->set_compacted(compacted);
  for (auto& fn : after_commit) fn();
  complete(batch, results);
}

Result<Revision> SqliteStore::Impl::lease_revoke_in(Db& db, LeaseId id, std::vector<mvcc::RevisionEvents>& events) {
  if (!lessor->exists(id)) return etcd_errors::lease_not_found();
  Applier applier(db, index, rev, compacted, lessor.get(), true);
  KEDGE_RETURN_IF_ERROR(applier.delete_keys(lessor->keys(id)));
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("DELETE FROM leases WHERE id=?1"));
  s->bind(1, id);
  KEDGE_RETURN_IF_ERROR(s->run());
  lessor->remove(id);
  if (!applier.changes().empty()) {
    rev = applier.new_revision();
    events.push_back({rev, std::move(applier.changes())});
  }
  return rev;
}

Result<WriteResponse> SqliteStore::Impl::apply(Db& db, WriteRequest& request,
                                               std::vector<mvcc::RevisionEvents>& events,
                                               std::vector<std::function<void()>>& after_commit) {
  auto record = [&](Applier& applier) {
    if (applier.changes().empty()) return;
    rev = applier.new_revision();
    events.push_back({rev, std::move(applier.changes())});
  };
  if (auto* put = std::get_if<PutRequest>(&request)) {
    Applier applier(db, index, rev, compacted, lessor.get(), true);
    KEDGE_ASSIGN_OR_RETURN(PutResponse response, applier.put(*put));
    record(applier);
    return WriteResponse(std::move(response));
  }
  if (auto* del = std::get_if<DeleteRangeRequest>(&request)) {
    Applier applier(db, index, rev, compacted, lessor.get(), true);
    KEDGE_ASSIGN_OR_RETURN(DeleteRangeResponse response, applier.delete_range(*del));
    record(applier);
    return WriteResponse(std::move(response));
  }
  if (auto* txn = std::get_if<TxnRequest>(&request)) {
    Applier applier(db, index, rev, compacted, lessor.get(), true);
    KEDGE_ASSIGN_OR_RETURN(TxnResponse response, applier.txn(*txn));
    record(applier);
    return WriteResponse(std::move(response));
  }
  if (auto* c = std::get_if<CompactOp>(&request)) {
    if (c->revision <= compacted) return etcd_errors::compacted();
    if (c->revision > rev) return etcd_errors::future_rev();
    KEDGE_RETURN_IF_ERROR(mvcc::write_meta(db, "compact_revision", c->revision));
    compacted = c->revision;
    const Revision target = c->revision;
    after_commit.push_back([this, target] {
      {
        std::lock_guard lock(compact_mu);
        compact_target = std::max(compact_target, target);
      }
      compact_cv.notify_all();
    });
    return WriteResponse(CompactResponse{.revision = rev});
  }
  if (auto* step = std::get_if<CompactStepOp>(&request)) {
    // Every version of a key older than its newest row in the window is
    // superseded at target. Tombstones below target are history only; one at
    // exactly the target stays until the next compaction (a watch may start
    // there), hence the window starts one revision early.
    KEDGE_ASSIGN_OR_RETURN(Stmt * rows, db.prepare("SELECT id, key, create_revision FROM kv WHERE id >= ?1 AND id < ?2"));
    std::map<std::string, std::int64_t, std::less<>> newest;
    struct Prune {
      std::string key;
      std::int64_t id;
      bool inclusive;
    };
    auto prunes = std::make_shared<std::vector<Prune>>();
    std::vector<std::int64_t> doomed;
    {
      StmtScope scope(*rows);
      rows->bind(1, mvcc::first_id(step->from - 1)).bind(2, mvcc::first_id(step->to + 1));
      while (true) {
        KEDGE_ASSIGN_OR_RETURN(bool row, rows->step());
        if (!row) break;
        const std::int64_t id = rows->int64(0);
        const std::string_view key = rows->blob_view(1);
        if (rows->int64(2) == 0 && mvcc::revision_of(id) < step->target) {
          doomed.push_back(id);
          prunes->push_back({std::string(key), id, true});
        }
        auto it = newest.find(key);
        if (it == newest.end()) {
          newest.emplace(std::string(key), id);
        } else {
          it->second = id;  // rows come in id order
        }
      }
    }
    {
      KeyIndex::Reader lock = index.read();
      for (const auto& [key, id] : newest) index.older(key, id, doomed);
    }
    for (auto& [key, id] : newest) prunes->push_back({key, id, false});
    std::sort(doomed.begin(), doomed.end());
    doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
    KEDGE_ASSIGN_OR_RETURN(Stmt * del, db.prepare("DELETE FROM kv WHERE id=?1"));
    std::int64_t deleted = 0;
    for (std::int64_t id : doomed) {
      del->bind(1, id);
      KEDGE_RETURN_IF_ERROR(del->run());
      deleted += sqlite3_changes(db.handle());
    }
    KEDGE_RETURN_IF_ERROR(mvcc::write_meta(db, "compacted_upto", step->to));
    // The index forgets them once the rows are gone for good; no read that
    // could still want them is running (the compactor waited for those).
    after_commit.push_back([this, prunes] {
      for (const Prune& p : *prunes) index.prune(p.key, p.id, p.inclusive);
    });
    ++stat_compaction_steps;
    stat_compaction_rows += deleted;
    return WriteResponse(Revision{deleted});
  }
  if (auto* grant = std::get_if<LeaseGrantOp>(&request)) {
    if (grant->ttl > kMaxLeaseTtl) return etcd_errors::lease_ttl_too_large();
    LeaseId id = grant->id;
    if (id == kNoLease) {
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      do {
        id = static_cast<LeaseId>(rng() & 0x7fffffffffffffffULL);
      } while (id == kNoLease || lessor->exists(id));
    } else if (lessor->exists(id)) {
      return etcd_errors::lease_exists();
    }
    const std::int64_t ttl = std::max(grant->ttl, options.min_lease_ttl_seconds);
    KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("INSERT INTO leases(id, ttl, expiry_ms) VALUES (?1, ?2, ?3)"));
    s->bind(1, id).bind(2, ttl).bind(3, unix_ms() + ttl * 1000);
    KEDGE_RETURN_IF_ERROR(s->run());
    lessor->grant(id, ttl, Lessor::Clock::now() + std::chrono::seconds(ttl));
    return WriteResponse(LeaseGrantResponse{.revision = rev, .id = id, .ttl = ttl});
  }
  if (auto* revoke = std::get_if<LeaseRevokeOp>(&request)) {
    KEDGE_ASSIGN_OR_RETURN(Revision after, lease_revoke_in(db, revoke->id, events));
    return WriteResponse(after);
  }
  if (auto* keep = std::get_if<LeaseKeepAliveOp>(&request)) {
    auto info = lessor->info(keep->id, false);
    if (!info || !lessor->renew(keep->id, Lessor::Clock::now() + std::chrono::seconds(info->ttl))) {
      return etcd_errors::lease_not_found();
    }
    KEDGE_ASSIGN_OR_RETURN(Stmt * s, db.prepare("UPDATE leases SET expiry_ms=?2 WHERE id=?1"));
    s->bind(1, keep->id).bind(2, unix_ms() + info->ttl * 1000);
    KEDGE_RETURN_IF_ERROR(s->run());
    return WriteResponse(Revision{info->ttl});
  }
  return internal_error("unknown write request");
}

void SqliteStore::Impl::run_checkpointer() {
  std::unique_lock lock(checkpoint_mu);
  while (true) {
    checkpoint_cv.wait(lock, [&] { return checkpoint_stop || checkpoint_wanted; });
    if (checkpoint_stop) return;
    checkpoint_wanted = false;
    lock.unlock();
    // PASSIVE: never waits for readers or the writer; whatever it cannot
    // copy now is copied next time.
    const std::int64_t generation = wal_generation.load(std::memory_order_relaxed);
    checkpoint_running.store(true, std::memory_order_release);
    int log_frames = 0;
    int copied_frames = 0;
    const int rc = sqlite3_wal_checkpoint_v2(checkpoint_db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             &log_frames, &copied_frames);
    if (rc == SQLITE_OK && copied_frames >= 0) {
      wal_backfilled.store(generation << 32 | copied_frames, std::memory_order_release);
    }
    checkpoint_running.store(false, std::memory_order_release);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      log::logger("store")->warn("{}", checkpoint_db->error("checkpoint", rc).to_string());
    }
    lock.lock();
    ++checkpoints_done;
    checkpoint_cv.notify_all();
  }
}

void SqliteStore::Impl::checkpoint_and_wait() {
  std::unique_lock lock(checkpoint_mu);
  const std::uint64_t seen = checkpoints_done;
  checkpoint_wanted = true;
  checkpoint_cv.notify_all();
  checkpoint_cv.wait(lock, [&] { return checkpoint_stop || checkpoints_done > seen; });
}

Status SqliteStore::Impl::run_maintenance(const MaintenanceOp& op) {
  Db& db = *writer_db;
  const auto started = std::chrono::steady_clock::now();
  struct Timed {
    std::atomic<std::int64_t>& max;
    std::chrono::steady_clock::time_point started;
    ~Timed() {
      raise(max, std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started)
                     .count());
    }
  } timed{stat_max_maintenance_us, started};
  if (op.vacuum_pages > 0) {
    KEDGE_RETURN_IF_ERROR(db.exec("PRAGMA incremental_vacuum(" + std::to_string(op.vacuum_pages) + ")"));
  }
  if (op.truncate_wal) {
    // Never wait for readers here (that would stall every writer): without a
    // busy handler the checkpoint copies what it can and truncates only when
    // no reader pins the WAL; journal_size_limit bounds it otherwise.
    sqlite3_busy_timeout(db.handle(), 0);
    Status status = db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_busy_timeout(db.handle(), 5000);
    if (!status.ok() && status.code() != Code::kUnavailable) return status;
  }
  return {};
}

}  // namespace kedge::store

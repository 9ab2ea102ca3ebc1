// SqliteStore's public methods (caller threads) and the compactor thread.
#include <algorithm>

#include "errors.h"
#include "kedge/base/log.h"
#include "store_impl.h"

namespace kedge::store {
namespace {

// WAL file size above which compaction's maintenance truncates it.
constexpr std::uintmax_t kTruncateWalBytes = 4 << 20;

template <typename T>
Result<T> take(WriteResult result) {
  if (!result.ok()) return result.status();
  if (auto* value = std::get_if<T>(&*result)) return std::move(*value);
  return internal_error("store: unexpected write response type");
}

}  // namespace

Result<RangeResponse> SqliteStore::range(const RangeRequest& request) {
  if (request.key.empty()) return etcd_errors::empty_key();
  if (static_cast<std::int64_t>(request.key.size() + request.range_end.size()) > impl_->options.max_request_bytes) {
    return etcd_errors::request_too_large();
  }
  return impl_->with_reader([&](Db& db) -> Result<RangeResponse> {
    Transaction tx(db, false);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
    return mvcc::range(db, impl_->index, request, meta.revision, meta.compact_revision);
  });
}

// The checks every write passes before it is queued (etcd answers these
// without touching its log), then the write as the writer takes it.
Result<WriteRequest> SqliteStore::Impl::admit(const PutRequest& request) const {
  KEDGE_RETURN_IF_ERROR(validate_put(request));
  return within_request_limit(request);
}

Result<WriteRequest> SqliteStore::Impl::admit(const DeleteRangeRequest& request) const {
  if (request.key.empty()) return etcd_errors::empty_key();
  return within_request_limit(request);
}

Result<WriteRequest> SqliteStore::Impl::admit(const TxnRequest& request) const {
  KEDGE_RETURN_IF_ERROR(validate_txn(request, options.max_txn_ops));
  return within_request_limit(request);
}

Result<WriteRequest> SqliteStore::Impl::within_request_limit(WriteRequest write) const {
  if (request_size(write) > options.max_request_bytes) return etcd_errors::request_too_large();
  return write;
}

namespace {

// Queues an admitted write whose answer goes to `done` (see Store::try_*).
template <typename T, typename Req>
void submit_to(SqliteStore::Impl& impl, const Req& request, Store::Done<T>& done) {
  Result<WriteRequest> write = impl.admit(request);
  if (!write.ok()) {
    done(write.status());
    return;
  }
  impl.submit_async(std::move(*write), [done = std::move(done)](WriteResult result) {
    done(take<T>(std::move(result)));
  });
}

}  // namespace

Result<PutResponse> SqliteStore::put(const PutRequest& request) {
  KEDGE_ASSIGN_OR_RETURN(WriteRequest write, impl_->admit(request));
  return take<PutResponse>(impl_->submit(std::move(write)));
}

bool SqliteStore::try_put_async(const PutRequest& request, Done<PutResponse>& done) {
  submit_to<PutResponse>(*impl_, request, done);
  return true;
}

Result<DeleteRangeResponse> SqliteStore::delete_range(const DeleteRangeRequest& request) {
  KEDGE_ASSIGN_OR_RETURN(WriteRequest write, impl_->admit(request));
  return take<DeleteRangeResponse>(impl_->submit(std::move(write)));
}

bool SqliteStore::try_delete_range_async(const DeleteRangeRequest& request, Done<DeleteRangeResponse>& done) {
  submit_to<DeleteRangeResponse>(*impl_, request, done);
  return true;
}

bool SqliteStore::try_txn_async(const TxnRequest& request, Done<TxnResponse>& done) {
  // A read-only txn is answered from a reader snapshot, a blocking read.
  if (txn_is_read_only(request)) return false;
  submit_to<TxnResponse>(*impl_, request, done);
  return true;
}

Result<TxnResponse> SqliteStore::txn(const TxnRequest& request) {
  KEDGE_ASSIGN_OR_RETURN(WriteRequest write, impl_->admit(request));
  if (txn_is_read_only(request)) {
    // Reads only: answer from a snapshot without waiting for the writer.
    return impl_->with_reader([&](Db& db) -> Result<TxnResponse> {
      Transaction tx(db, false);
      KEDGE_RETURN_IF_ERROR(tx.status());
      KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
      Applier applier(db, impl_->index, meta.revision, meta.compact_revision, impl_->lessor.get(), false);
      return applier.txn(request);
    });
  }
  return take<TxnResponse>(impl_->submit(std::move(write)));
}

Result<CompactResponse> SqliteStore::compact(Revision revision, bool physical) {
  KEDGE_ASSIGN_OR_RETURN(CompactResponse response,
                         take<CompactResponse>(impl_->submit(CompactOp{.revision = revision})));
  if (physical) {
    std::unique_lock lock(impl_->compact_mu);
    impl_->compact_cv.wait(lock, [&] { return impl_->compact_stop || impl_->compacted_upto >= revision; });
  }
  return response;
}

Status SqliteStore::wait_compacted() {
  Impl& s = *impl_;
  std::unique_lock lock(s.compact_mu);
  s.compact_cv.wait(lock, [&] {
    return s.compact_stop || (s.compacted_upto >= s.compact_target && s.maintenance_done);
  });
  return s.compact_stop ? etcd_errors::stopped() : Status{};
}

Result<std::unique_ptr<Watch>> SqliteStore::watch(const WatchRequest& request, WatchObserver& observer) {
  if (request.key.empty()) return etcd_errors::empty_key();
  return impl_->hub->add(request, observer);
}

Result<LeaseGrantResponse> SqliteStore::lease_grant(std::int64_t ttl_seconds, LeaseId id) {
  return take<LeaseGrantResponse>(impl_->submit(LeaseGrantOp{.ttl = ttl_seconds, .id = id}));
}

Result<Revision> SqliteStore::lease_revoke(LeaseId id) {
  return take<Revision>(impl_->submit(LeaseRevokeOp{.id = id}));
}

Result<std::int64_t> SqliteStore::lease_keep_alive(LeaseId id) {
  KEDGE_ASSIGN_OR_RETURN(Revision ttl, take<Revision>(impl_->submit(LeaseKeepAliveOp{.id = id})));
  return static_cast<std::int64_t>(ttl);
}

Result<LeaseTimeToLiveResponse> SqliteStore::lease_time_to_live(LeaseId id, bool with_keys) {
  LeaseTimeToLiveResponse response;
  response.revision = impl_->published_rev.load();
  response.id = id;
  auto info = impl_->lessor->info(id, with_keys);
  if (!info) return response;  // ttl -1: etcd answers, it does not fail
  const auto remaining = info->deadline - Lessor::Clock::now();
  response.ttl = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(remaining).count());
  response.granted_ttl = info->ttl;
  response.keys = std::move(info->keys);
  return response;
}

Result<std::vector<LeaseId>> SqliteStore::lease_list() { return impl_->lessor->list(); }

Result<StoreStatus> SqliteStore::status() {
  StoreStatus status;
  Status read = impl_->with_reader([&](Db& db) -> Status {
    Transaction tx(db, false);
    KEDGE_RETURN_IF_ERROR(tx.status());
    KEDGE_ASSIGN_OR_RETURN(mvcc::Meta meta, mvcc::read_meta(db));
    KEDGE_ASSIGN_OR_RETURN(std::int64_t pages, db.query_int("PRAGMA page_count"));
    KEDGE_ASSIGN_OR_RETURN(std::int64_t free_pages, db.query_int("PRAGMA freelist_count"));
    KEDGE_ASSIGN_OR_RETURN(std::int64_t page_size, db.query_int("PRAGMA page_size"));
    status.revision = meta.revision;
    status.compact_revision = meta.compact_revision;
    status.db_size_in_use = (pages - free_pages) * page_size;
    return {};
  });
  KEDGE_RETURN_IF_ERROR(read);
  std::error_code ec;
  std::int64_t size = 0;
  for (const char* suffix : {"", "-wal"}) {
    const auto file = impl_->db_path.string() + suffix;
    const auto bytes = std::filesystem::file_size(file, ec);
    if (!ec) size += static_cast<std::int64_t>(bytes);
  }
  status.db_size = size;
  return status;
}

SqliteStoreStats SqliteStore::stats() const {
  const Impl& s = *impl_;
  return SqliteStoreStats{.write_requests = s.stat_requests.load(),
                          .commits = s.stat_commits.load(),
                          .max_batch = s.stat_max_batch.load(),
                          .max_commit_us = s.stat_max_commit_us.load(),
                          .compaction_steps = s.stat_compaction_steps.load(),
                          .compaction_rows_deleted = s.stat_compaction_rows.load(),
                          .max_compaction_step_us = s.stat_max_step_us.load(),
                          .max_maintenance_us = s.stat_max_maintenance_us.load(),
                          .wal_frames = s.stat_wal_frames.load(),
                          .watches = static_cast<std::int64_t>(s.hub->size())};
}

// ---------------------------------------------------------------- compactor

void SqliteStore::Impl::auto_compact() {
  const auto now = std::chrono::steady_clock::now();
  const Revision current = published_rev.load();
  samples.emplace_back(now, current);
  Revision target = 0;
  if (options.auto_compaction_retention_revisions > 0) {
    target = std::max(target, current - options.auto_compaction_retention_revisions);
  }
  if (options.auto_compaction_retention_period.count() > 0) {
    // The newest revision that is at least `period` old.
    const auto horizon = now - options.auto_compaction_retention_period;
    Revision old = 0;
    while (!samples.empty() && samples.front().first <= horizon) {
      old = samples.front().second;
      samples.pop_front();
    }
    if (old > 0) {
      samples.emplace_front(horizon, old);  // keep it as the window's floor
      target = std::max(target, old);
    }
  } else {
    samples.clear();
  }
  if (target > published_compacted.load()) {
    WriteResult result = submit(CompactOp{.revision = target});
    if (!result.ok() && result.status().code() != Code::kOutOfRange) {
      log::logger("store")->warn("auto-compaction at {} failed: {}", target, result.status().to_string());
    }
  }
}

void SqliteStore::Impl::wait_for_reads_below(Revision target) {
  std::unique_lock lock(readers_mu);
  readers_cv.wait(lock, [&] { return reader_floors.empty() || *reader_floors.begin() >= target; });
}

Revision SqliteStore::Impl::next_window(Revision window, Revision used, std::int64_t deleted) const {
  // Rows, not time: under load every step pays a commit and an fsync, and a
  // time target would shrink steps until compaction fell behind the writes.
  const Revision limit = std::max(1, options.compaction_batch_rows);
  if (deleted > limit) return std::max<Revision>(1, window * limit / deleted);
  if (deleted < limit / 2 && used == window) return std::min<Revision>(window * 2, limit * 4);
  return window;
}

void SqliteStore::Impl::run_compactor() {
  const bool automatic = options.auto_compaction_retention_revisions > 0 ||
                         options.auto_compaction_retention_period.count() > 0;
  auto next_auto = std::chrono::steady_clock::now() + options.auto_compaction_interval;
  // Revisions per step: starts small (the first windows of a long history
  // delete the most rows) and adapts so a step deletes about
  // compaction_batch_rows rows.
  Revision window = 16;
  std::unique_lock lock(compact_mu);
  while (!compact_stop) {
    if (compacted_upto < compact_target) {
      const Revision from = compacted_upto + 1;
      const Revision to = std::min(compact_target, compacted_upto + window);
      const Revision target = compact_target;
      maintenance_done = false;
      lock.unlock();
      wait_for_reads_below(target);
      WriteResult result = submit(CompactStepOp{.from = from, .to = to, .target = target});
      lock.lock();
      if (!result.ok()) {
        log::logger("store")->warn("compaction step {}..{} failed: {}", from, to, result.status().to_string());
        compact_cv.wait_for(lock, std::chrono::seconds(1), [&] { return compact_stop; });
        continue;
      }
      compacted_upto = to;
      const auto* count = std::get_if<Revision>(&*result);
      window = next_window(window, to - from + 1, count ? *count : 0);
      compact_cv.notify_all();
      continue;
    }
    if (!maintenance_done) {
      lock.unlock();
      // Give freed pages back to the file system when a quarter of the file
      // is free (down to 2 %), then shrink the WAL.
      auto free = free_ratio();
      if (free.ok() && *free > 0.25) {
        Status vacuumed = vacuum_free_pages(0.02);
        if (!vacuumed.ok()) log::logger("store")->warn("incremental vacuum failed: {}", vacuumed.to_string());
      }
      // The copy happens off the writer (its TRUNCATE turn then has little
      // left). The WAL restarts in place at ~1,000 frames, so its file is
      // cut back only when a burst (this compaction's deletes and vacuum,
      // say) left it larger than that: under auto-compaction a TRUNCATE turn
      // after every compaction cost the writer 6-24 ms each time, and the
      // next commits then paid for growing the file again.
      checkpoint_and_wait();
      std::error_code ec;
      const auto wal_bytes = std::filesystem::file_size(db_path.string() + "-wal", ec);
      if (!ec && wal_bytes > kTruncateWalBytes) (void)submit(MaintenanceOp{.truncate_wal = true});
      lock.lock();
      maintenance_done = true;
      compact_cv.notify_all();
      continue;
    }
    if (automatic) {
      if (std::chrono::steady_clock::now() >= next_auto) {
        lock.unlock();
        auto_compact();
        lock.lock();
        next_auto = std::chrono::steady_clock::now() + options.auto_compaction_interval;
        continue;
      }
      compact_cv.wait_until(lock, next_auto);
    } else {
      compact_cv.wait(lock);
    }
  }
  compact_cv.notify_all();
}

}  // namespace kedge::store

// etcdserverpb.Watch: one bidi stream carries many watches.
//
// Threads: the transport's loop thread runs the call's callbacks, which only
// parse and queue requests and note half-close and the end of the call; the
// requests are handled one at a time on the worker pool (store.watch() may
// replay history from SQLite), where registering with the progress ticker
// and the cleanup after the call also run; the store's notifier thread calls
// the observers, which only queue responses (Call::write, which any thread
// may call); the ticker thread calls tick().
//
// Lock order: WatchRegistry::mu_ → WatchStream::mu_ → the Call's mutex
// (responses are written under mu_, so they go out in the order decided).
// No Store call and no Watch destruction ever happens with mu_ held (the
// notifier takes mu_ from inside the store), so the loop thread may take it;
// the loop never takes the registry's lock, which a tick holds while it asks
// watches for progress.
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string_view>

#include "convert.h"
#include "kedge/base/log.h"
#include "shared.h"

namespace kedge::store::etcd {

class WatchStream;

namespace {

// etcd's messages for watch-creation failures (sent as a canceled reply).
constexpr const char* kErrDuplicateWatchId = "mvcc: duplicate watch ID provided on the WatchStream";
constexpr const char* kErrEmptyWatcherRange = "mvcc: watcher range is empty";
// Value the client never sends: "no watch id chosen" and the id of replies
// that belong to no watch (progress requests), as etcd.
constexpr std::int64_t kNoWatchId = -1;

// One watch of a stream; the store's observer for it. Destroying it destroys
// the store Watch first, so no callback runs after.
class WatchEntry final : public WatchObserver {
 public:
  WatchEntry(WatchStream& stream, std::int64_t id, const etcdserverpb::WatchCreateRequest& req)
      : stream_(stream), id_(id), fragment_(req.fragment()), progress_notify_(req.progress_notify()) {}
  ~WatchEntry() override { watch_.reset(); }

  void on_events(Revision header_revision, std::span<const Event> events) override;
  void on_canceled(const Status& reason, Revision compact_revision) override;

  std::int64_t id() const { return id_; }
  bool fragment() const { return fragment_; }
  bool progress_notify() const { return progress_notify_; }

  // Guarded by the stream's mu_.
  std::unique_ptr<Watch> watch_;
  bool ended_ = false;  // canceled by the store; kept until the client cancels, as etcd

 private:
  WatchStream& stream_;
  const std::int64_t id_;
  const bool fragment_;
  const bool progress_notify_;
};

}  // namespace

class WatchStream final : public std::enable_shared_from_this<WatchStream> {
 public:
  WatchStream(Shared& shared, std::shared_ptr<rpc::Call> call) : shared_(shared), call_(std::move(call)) {}

  // Loop thread, once the callbacks are set. The registry's lock is held
  // through a whole tick, so the loop never takes it: a task registers.
  void start() {
    std::lock_guard lock(mu_);
    run_task_locked([this] { shared_.watches.add(this); });
  }

  // Loop thread.
  void receive(std::string_view message) {
    etcdserverpb::WatchRequest req;
    const bool parsed = parse_request(message, req, *call_);
    std::lock_guard lock(mu_);
    if (!parsed) finished_ = true;  // parse_request ended the call
    if (finished_) return;
    requests_.push_back(std::move(req));
    if (serving_) return;
    serving_ = true;
    run_task_locked([this] { serve(); });
  }

  // Loop thread: the client half-closed; finish once every request is handled
  // and everything queued has gone out.
  void half_close() {
    std::lock_guard lock(mu_);
    read_closed_ = true;
    finish_if_idle_locked();
  }

  // Loop thread, each time everything written has gone out. Only matters
  // after half-close, so the common case skips mu_ (the notifier may hold it
  // while it builds a large response).
  void drained() {
    if (!read_closed_.load(std::memory_order_relaxed)) return;
    std::lock_guard lock(mu_);
    finish_if_idle_locked();
  }

  // Loop thread, once: the call is over.
  void done() {
    bool cleanup_now;
    {
      std::lock_guard lock(mu_);
      finished_ = true;
      done_ = true;
      requests_.clear();
      cleanup_now = tasks_ == 0;
    }
    if (cleanup_now) shared_.pool.post([self = shared_from_this()] { self->cleanup(); });
  }

  // Store notifier thread.
  void on_events(WatchEntry& entry, Revision header_revision, std::span<const Event> events) {
    std::lock_guard lock(mu_);
    if (finished_ || !is_live_locked(entry)) return;
    if (events.empty()) {
      etcdserverpb::WatchResponse resp;
      shared_.fill(resp.mutable_header(), header_revision);
      if (progress_all_pending_ > 0 && entry.id() == progress_probe_) {
        --progress_all_pending_;
        resp.set_watch_id(kNoWatchId);
        enqueue_locked(resp);
      } else if (entry.progress_notify()) {
        resp.set_watch_id(entry.id());
        enqueue_locked(resp);
      }
      return;
    }
    etcdserverpb::WatchResponse resp;
    shared_.fill(resp.mutable_header(), header_revision);
    resp.set_watch_id(entry.id());
    resp.mutable_events()->Reserve(static_cast<int>(events.size()));
    for (const auto& e : events) to_pb(e, resp.add_events());
    if (entry.fragment()) {
      enqueue_fragments_locked(resp);
    } else {
      enqueue_locked(resp);
    }
  }

  void on_canceled(WatchEntry& entry, const Status& reason, Revision compact_revision) {
    std::lock_guard lock(mu_);
    if (finished_ || !is_live_locked(entry)) return;
    entry.ended_ = true;
    etcdserverpb::WatchResponse resp;
    // etcd sends a compaction cancel with a zero header revision and no reason.
    shared_.fill(resp.mutable_header(), 0);
    resp.set_watch_id(entry.id());
    resp.set_canceled(true);
    resp.set_compact_revision(compact_revision);
    if (compact_revision == 0) resp.set_cancel_reason(reason.message());
    enqueue_locked(resp);
  }

  // Progress ticker thread, with the registry locked.
  void tick() {
    std::vector<std::shared_ptr<WatchEntry>> due;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      for (auto& [id, entry] : entries_) {
        if (entry->progress_notify() && entry->watch_ && !entry->ended_) due.push_back(entry);
      }
    }
    for (auto& e : due) e->watch_->request_progress();
  }

 private:
  bool is_live_locked(const WatchEntry& entry) const {
    auto it = entries_.find(entry.id());
    return it != entries_.end() && it->second.get() == &entry && !entry.ended_;
  }

  // Pool work for this stream; it holds the stream, and done()'s cleanup
  // waits for all of it.
  template <typename Fn>
  void run_task_locked(Fn fn) {
    ++tasks_;
    shared_.pool.post([self = shared_from_this(), fn = std::move(fn)]() mutable {
      fn();
      bool cleanup_now;
      {
        std::lock_guard lock(self->mu_);
        --self->tasks_;
        cleanup_now = self->done_ && self->tasks_ == 0;
      }
      if (cleanup_now) self->cleanup();
    });
  }

  // Pool thread; one such task at a time, so requests are applied in the
  // order the client sent them.
  void serve() {
    std::unique_lock lock(mu_);
    while (!finished_ && !requests_.empty()) {
      const etcdserverpb::WatchRequest req = std::move(requests_.front());
      requests_.pop_front();
      lock.unlock();
      handle(req);
      lock.lock();
    }
    requests_.clear();
    serving_ = false;
    finish_if_idle_locked();
  }

  void handle(const etcdserverpb::WatchRequest& req) {
    switch (req.request_union_case()) {
      case etcdserverpb::WatchRequest::kCreateRequest: create(req.create_request()); break;
      case etcdserverpb::WatchRequest::kCancelRequest: cancel(req.cancel_request().watch_id()); break;
      case etcdserverpb::WatchRequest::kProgressRequest: progress(); break;
      case etcdserverpb::WatchRequest::REQUEST_UNION_NOT_SET: break;  // etcd ignores it too
    }
  }

  void create(const etcdserverpb::WatchCreateRequest& req) {
    auto rev = shared_.current_revision();
    if (!rev.ok()) {
      std::lock_guard lock(mu_);
      finish_locked(rpc::RpcStatus::from(rev.status()));
      return;
    }
    std::shared_ptr<WatchEntry> entry;
    {
      std::lock_guard lock(mu_);
      etcdserverpb::WatchResponse resp;
      shared_.fill(resp.mutable_header(), *rev);
      resp.set_created(true);
      const char* error = nullptr;
      std::int64_t id = req.watch_id();
      const bool all_from_key = req.range_end() == std::string(1, '\0');
      if (!req.range_end().empty() && !all_from_key && req.key() >= req.range_end()) {
        error = kErrEmptyWatcherRange;
      } else if (id != 0) {
        if (entries_.contains(id)) error = kErrDuplicateWatchId;
      } else {
        while (entries_.contains(next_id_)) ++next_id_;
        id = next_id_++;
      }
      if (error != nullptr) {
        resp.set_watch_id(kNoWatchId);
        resp.set_canceled(true);
        resp.set_cancel_reason(error);
        enqueue_locked(resp);
        return;
      }
      entry = std::make_shared<WatchEntry>(*this, id, req);
      entries_[id] = entry;
      resp.set_watch_id(id);
      enqueue_locked(resp);  // "created" always precedes the watch's events
    }
    WatchRequest wr{.key = req.key(),
                    .range_end = req.range_end(),
                    .start_revision = req.start_revision(),
                    .prev_kv = req.prev_kv()};
    for (auto f : req.filters()) {
      if (f == etcdserverpb::WatchCreateRequest::NOPUT) wr.filter_noput = true;
      if (f == etcdserverpb::WatchCreateRequest::NODELETE) wr.filter_nodelete = true;
    }
    auto watch = shared_.store.watch(wr, *entry);
    std::lock_guard lock(mu_);
    if (watch.ok()) {
      entry->watch_ = std::move(*watch);
      return;
    }
    if (!is_live_locked(*entry)) return;
    entry->ended_ = true;
    etcdserverpb::WatchResponse resp;
    shared_.fill(resp.mutable_header(), *rev);
    resp.set_watch_id(entry->id());
    resp.set_canceled(true);
    resp.set_cancel_reason(watch.status().message());
    enqueue_locked(resp);
  }

  void cancel(std::int64_t id) {
    std::shared_ptr<WatchEntry> entry;
    bool answer_probe = false;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(id);
      if (it == entries_.end()) return;  // etcd says nothing for an unknown id
      entry = std::move(it->second);
      entries_.erase(it);
      if (progress_all_pending_ > 0 && progress_probe_ == id) {
        answer_probe = true;
        progress_all_pending_ = 0;
      }
    }
    entry.reset();  // destroys the store watch, outside mu_
    auto rev = shared_.current_revision();
    std::lock_guard lock(mu_);
    if (!rev.ok()) {
      finish_locked(rpc::RpcStatus::from(rev.status()));
      return;
    }
    etcdserverpb::WatchResponse resp;
    shared_.fill(resp.mutable_header(), *rev);
    resp.set_watch_id(id);
    resp.set_canceled(true);
    enqueue_locked(resp);
    if (answer_probe) {
      etcdserverpb::WatchResponse progress;
      shared_.fill(progress.mutable_header(), *rev);
      progress.set_watch_id(kNoWatchId);
      enqueue_locked(progress);
    }
  }

  // A progress request is answered once, with watch_id -1, at a revision no
  // later than what every watch of the stream has been sent: the store
  // notifies in revision order, so asking one live watch for progress gives
  // a safe revision for all.
  void progress() {
    std::shared_ptr<WatchEntry> probe;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      for (auto& [id, entry] : entries_) {
        if (entry->watch_ && !entry->ended_) {
          probe = entry;
          break;
        }
      }
      if (probe) {
        if (progress_all_pending_ > 0 && progress_probe_ != probe->id()) progress_all_pending_ = 0;
        progress_probe_ = probe->id();
        ++progress_all_pending_;
      }
    }
    if (probe) {
      probe->watch_->request_progress();
      return;
    }
    auto rev = shared_.current_revision();
    std::lock_guard lock(mu_);
    if (!rev.ok()) {
      finish_locked(rpc::RpcStatus::from(rev.status()));
      return;
    }
    etcdserverpb::WatchResponse resp;
    shared_.fill(resp.mutable_header(), *rev);
    resp.set_watch_id(kNoWatchId);
    enqueue_locked(resp);
  }

  void enqueue_locked(const etcdserverpb::WatchResponse& resp) {
    if (finished_) return;
    if (!call_->write(resp)) {  // the call is over; done() follows
      finished_ = true;
      return;
    }
    if (const auto behind = static_cast<std::int64_t>(call_->pending_bytes());
        behind > shared_.options.max_watch_queue_bytes) {
      log::logger("store")->warn("watch stream fell {} bytes behind; ending it", behind);
      // What is queued is dropped: the client re-watches from its last
      // revision anyway, and the backlog's memory comes back at once.
      finished_ = true;
      call_->abort({rpc::RpcCode::kResourceExhausted,
                    "kedge store: watch stream fell too far behind; re-watch from the last revision"});
    }
  }

  // etcd's sendFragments: split only when asked, when the response is at
  // least etcd's watch limit (max-request-bytes plus its 512 KiB gRPC
  // overhead allowance) and has more than one event.
  void enqueue_fragments_locked(const etcdserverpb::WatchResponse& resp) {
    const auto limit = static_cast<std::size_t>(shared_.options.max_request_bytes + 512 * 1024);
    if (resp.ByteSizeLong() < limit || resp.events_size() < 2) {
      enqueue_locked(resp);
      return;
    }
    etcdserverpb::WatchResponse base = resp;
    base.clear_events();
    base.set_fragment(true);
    const std::size_t base_size = base.ByteSizeLong();
    int idx = 0;
    while (idx < resp.events_size()) {
      etcdserverpb::WatchResponse cur = base;
      std::size_t size = base_size;
      while (idx < resp.events_size()) {
        const std::size_t ev = resp.events(idx).ByteSizeLong() + 5;  // tag + length prefix
        if (cur.events_size() > 0 && size + ev >= limit) break;
        *cur.add_events() = resp.events(idx);
        size += ev;
        ++idx;
      }
      if (idx == resp.events_size()) cur.set_fragment(false);
      enqueue_locked(cur);
    }
  }

  // After half-close: finish once every request is handled and everything
  // written has gone out (drained() checks again when it has).
  void finish_if_idle_locked() {
    if (read_closed_.load(std::memory_order_relaxed) && !serving_ && call_->pending_bytes() == 0) finish_locked({});
  }

  // The transport sends `status` after what was written before.
  void finish_locked(rpc::RpcStatus status) {
    if (finished_) return;
    finished_ = true;
    call_->finish(std::move(status));
  }

  // Pool thread, once the call is over and no task runs.
  void cleanup() {
    shared_.watches.remove(this);
    std::map<std::int64_t, std::shared_ptr<WatchEntry>> entries;
    {
      std::lock_guard lock(mu_);
      entries.swap(entries_);
    }
    entries.clear();  // destroys every store watch, outside mu_
  }

  Shared& shared_;
  const std::shared_ptr<rpc::Call> call_;
  // The client half-closed. Written under mu_ by the loop thread, so drained()
  // (also the loop thread) may read it without mu_.
  std::atomic<bool> read_closed_{false};

  std::mutex mu_;
  std::map<std::int64_t, std::shared_ptr<WatchEntry>> entries_;  // guarded by mu_
  std::int64_t next_id_ = 0;                                      // guarded by mu_
  std::deque<etcdserverpb::WatchRequest> requests_;               // not yet handled; guarded by mu_
  bool serving_ = false;                                          // a serve() task is queued or running; guarded by mu_
  bool finished_ = false;                                         // we ended the call or it is over; guarded by mu_
  bool done_ = false;                                             // the call is over; guarded by mu_
  int tasks_ = 0;                                                 // guarded by mu_
  int progress_all_pending_ = 0;                                  // guarded by mu_
  std::int64_t progress_probe_ = kNoWatchId;                      // guarded by mu_
};

namespace {

void WatchEntry::on_events(Revision header_revision, std::span<const Event> events) {
  stream_.on_events(*this, header_revision, events);
}

void WatchEntry::on_canceled(const Status& reason, Revision compact_revision) {
  stream_.on_canceled(*this, reason, compact_revision);
}

}  // namespace

void tick_progress(WatchStream& stream) { stream.tick(); }

void add_watch_service(Shared& shared, rpc::RpcServer& server) {
  server.add_stream("/etcdserverpb.Watch/Watch", [&shared](const std::shared_ptr<rpc::Call>& call) {
    // The callbacks own the stream (and so the call) until the loop drops
    // them after on_done; pool tasks and cleanup hold it too.
    auto stream = std::make_shared<WatchStream>(shared, call);
    call->on_message = [stream](std::string_view message) { stream->receive(message); };
    call->on_half_close = [stream] { stream->half_close(); };
    call->on_drained = [stream] { stream->drained(); };
    call->on_done = [stream] { stream->done(); };
    stream->start();
  });
}

}  // namespace kedge::store::etcd

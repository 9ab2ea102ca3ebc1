// The watch hub: fans committed changes out to watchers, replays history for
// watches that start in the past, and cancels watchers that fall behind.
//
// Threads: publish() is called by the writer thread right after a commit and
// only appends to per-watch buffers under mu_ (never waits for an observer).
// One notifier thread replays history (through `HistoryFn`, on a read
// connection) and calls observers, never holding mu_ while it does.
//
// Ordering: a watch is "unsynced" while it replays history and "synced" once
// its next revision is past the last published one; publish() feeds only
// synced watches and the switch happens under mu_, so there is no gap and no
// duplicate between history and live events.
#pragma once

#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/store/kv.h"
#include "mvcc.h"

namespace kedge::store {

class WatchHub {
 public:
  // Reads history [from, to] (whole revisions) and the snapshot's compact
  // revision. Called on the notifier thread only.
  struct HistoryChunk {
    Revision compact_revision = 0;
    std::vector<mvcc::RevisionEvents> revisions;
  };
  using HistoryFn = std::function<Result<HistoryChunk>(Revision from, Revision to, bool with_prev)>;

  WatchHub(HistoryFn history, std::size_t buffer_limit, Revision current, Revision compacted);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  void start();
  // Cancels every remaining watch (Unavailable) and joins the notifier.
  void stop();

  // Writer thread, after a commit: the revisions it made (ascending, with
  // prev_kv filled) and the store revision after the commit.
  void publish(std::vector<mvcc::RevisionEvents> revisions, Revision current);
  void set_compacted(Revision compacted);

  std::unique_ptr<Watch> add(const WatchRequest& request, WatchObserver& observer);

  // For tests and metrics.
  std::size_t size() const;

  struct State;  // one watch; defined in the .cpp

 private:
  friend class HubWatch;
  void remove(const std::shared_ptr<State>& state);
  void request_progress(const std::shared_ptr<State>& state);
  void run();
  bool replay_step(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock);
  void deliver(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock);
  void queue(const std::shared_ptr<State>& state);  // REQUIRES: mu_ held
  void cancel(const std::shared_ptr<State>& state, Status reason, Revision compact);  // REQUIRES: mu_

  const HistoryFn history_;
  const std::size_t buffer_limit_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<std::shared_ptr<State>> watches_;  // guarded by mu_
  std::vector<std::shared_ptr<State>> ready_;   // guarded by mu_: watches with work
  Revision current_;                           // guarded by mu_
  Revision compacted_;                         // guarded by mu_
  bool stop_ = false;                          // guarded by mu_
  std::thread thread_;
  std::thread::id thread_id_;
};

}  // namespace kedge::store

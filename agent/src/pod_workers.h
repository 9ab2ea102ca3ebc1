// PodWorkers: one state machine per pod, driven by a small shared thread
// pool (no thread per pod), as upstream's pod workers.
//
//   syncing ──(deletionTimestamp, or gone from the API)──▶ terminating ──▶ terminated
//
// Updates for a pod are coalesced: while its sync runs, newer pod objects
// replace each other and the pod is synced once more afterwards with the
// newest. A sync returns when it wants to run again (backoff expiry, next
// probe, periodic resync); the pool keeps one timer per pod and sleeps on a
// condition variable until the earliest one — no polling.
//
// Threads: update/remove/poke may be called from any thread (the informer,
// the relister) and never block on I/O. Sync callbacks run on the pool's
// threads, at most one at a time per pod.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kedge/client/informer.h"

namespace kedge::agent::detail {

enum class WorkerPhase { kSyncing, kTerminating, kTerminated };

// Per-pod state owned by the sync callback (only ever touched by the one
// thread running that pod's sync). The kubelet derives from it.
struct PodRuntimeState {
  virtual ~PodRuntimeState() = default;
};

struct SyncRequest {
  const std::string& uid;
  client::Object pod;  // newest object seen (the last one before deletion when `deleted`)
  bool deleted = false;  // the API no longer has the pod
  WorkerPhase phase = WorkerPhase::kSyncing;
  std::unique_ptr<PodRuntimeState>& state;
};

struct SyncResult {
  WorkerPhase phase = WorkerPhase::kSyncing;
  // When to sync again; nullopt = only on the next update/poke.
  std::optional<std::chrono::steady_clock::time_point> requeue_at;
  bool forget = false;  // drop the worker (pod gone and cleaned up)
};

class PodWorkers {
 public:
  using SyncFn = std::function<SyncResult(SyncRequest&)>;
  PodWorkers(int threads, SyncFn sync) : threads_(threads), sync_(std::move(sync)) {}
  ~PodWorkers() { stop(); }

  void start();
  void stop();

  void update(const std::string& uid, client::Object pod);
  void remove(const std::string& uid);  // the API deleted the pod
  void poke(const std::string& uid);    // runtime state changed; sync soon (ignored for unknown uids)
  void poke_all();

  std::set<std::string> known_uids() const;
  std::size_t size() const;

 private:
  struct Worker {
    client::Object pod;
    bool deleted = false;
    bool queued = false;
    bool running = false;
    bool again = false;
    WorkerPhase phase = WorkerPhase::kSyncing;
    std::optional<std::chrono::steady_clock::time_point> timer;
    std::unique_ptr<PodRuntimeState> state;
  };
  void run();
  void enqueue_locked(const std::string& uid, Worker& w);

  const int threads_;
  const SyncFn sync_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                                               // guarded by mu_
  std::map<std::string, Worker> workers_;                               // guarded by mu_
  std::deque<std::string> ready_;                                       // guarded by mu_
  std::multimap<std::chrono::steady_clock::time_point, std::string> timers_;  // guarded by mu_
  std::vector<std::thread> pool_;
};

}  // namespace kedge::agent::detail

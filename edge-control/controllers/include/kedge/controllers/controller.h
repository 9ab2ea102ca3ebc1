// Controller: the reconciler skeleton every kedge controller shares.
//   informer events → keys → WorkQueue (dedup, rate limit) → N workers →
//   sync(key), one idempotent function that reads the caches and writes the
//   difference between desired and observed state.
// A failed sync is retried with per-key backoff; a successful one clears it.
// resync_all() enqueues every object (the full-resync fallback).
//
// Threads: run() starts `workers` threads and returns; stop() shuts the
// queue and joins them. sync() runs on worker threads, never twice at once
// for one key. Ownership: borrows the Transport (must outlive the controller).
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/controllers/transport.h"
#include "kedge/controllers/workqueue.h"

namespace kedge::controllers {

class Controller {
  // Derived classes must call stop() in their destructor: workers call the
  // derived sync() and must be joined before the derived part is destroyed.
 public:
  Controller(std::string name, Transport& transport, WorkQueueOptions queue_options = {});
  virtual ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // REQUIRES: the transport has been started and synced.
  void run(int workers);
  void stop();

  // Reconciles one key; OK also when the object is gone. Errors requeue the
  // key with backoff. Public so tests can drive it directly.
  virtual Status sync(const std::string& key) = 0;
  // Enqueues every object this controller owns the reconciliation of.
  virtual void resync_all() = 0;

  WorkQueue& queue() { return queue_; }
  const std::string& name() const { return name_; }
  // Processes one queued key on the calling thread (tests); false if none.
  bool process_one();

 protected:
  Transport& transport_;

 private:
  void worker();
  void handle(const std::string& key);

  const std::string name_;
  WorkQueue queue_;
  std::vector<std::thread> workers_;
};

}  // namespace kedge::controllers

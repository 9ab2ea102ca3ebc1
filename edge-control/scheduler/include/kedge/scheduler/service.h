// SchedulerService: the running scheduler — informers in, bindings out.
//
//   Transport informers (pods, nodes, namespaces)
//     → inbox (mutex + condition variable; handlers never block)
//     → scheduler loop thread: applies events to the Cache and the
//       SchedulingQueue, pops pods, runs Scheduler::schedule(), assumes the
//       chosen node in the cache
//     → binder threads (many, so many bindings are in flight and the
//       store's group commit writes them in one transaction): POST
//       pods/<name>/binding, or for a pod that fits nowhere a
//       PodScheduled=False condition (reason Unschedulable, upstream's
//       "0/N nodes are available: ..." message) through pods/<name>/status.
//       The loop does not wait for them: the pod is assumed in the cache
//       and the next one is scheduled at once, as upstream binds
//       asynchronously.
//     → EventRecorder: the "Scheduled" and FailedScheduling events, off the
//       binding path through a bounded queue (event_recorder.h), held while
//       any binding is queued or in flight so bindings write first.
//   A failed binding forgets the assumption and retries the pod after backoff.
//
// Pods are ours when spec.schedulerName is ours (unset means
// "default-scheduler"), spec.nodeName is empty and they are not terminating.
//
// Threads: run() starts the loop thread, `binders` binder threads and the
// event recorder's writers; stop() joins them. The Cache, SchedulingQueue and Scheduler are touched
// by the loop thread only. Ownership: borrows the Transport and RestClient
// (both must outlive stop()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kedge/client/rest_client.h"
#include "kedge/controllers/transport.h"
#include "kedge/scheduler/cache.h"
#include "kedge/scheduler/event_recorder.h"
#include "kedge/scheduler/queue.h"
#include "kedge/scheduler/scheduler.h"

namespace kedge::scheduler {

struct SchedulerServiceOptions {
  SchedulerOptions scheduler;  // scheduler_name picks the pods we own
  QueueOptions queue;
  // Threads writing bindings and PodScheduled conditions: each blocks for
  // one store commit, so this many writes can share one.
  int binders = 32;
  bool scheduled_events = true;  // a Normal "Scheduled" event per binding, as upstream
  EventRecorderOptions events;   // component is set to scheduler_name
};

class SchedulerService {
 public:
  SchedulerService(controllers::Transport& transport, client::RestClient& client,
                   SchedulerServiceOptions options = {});
  ~SchedulerService();
  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;

  // REQUIRES: before transport.start().
  void register_watches();
  // REQUIRES: the transport has been started (it need not have synced: pods
  // seen before their nodes simply wait in the queue for a node event).
  void run();
  void stop();

  std::int64_t bound() const { return bound_; }
  std::int64_t unschedulable_attempts() const { return unschedulable_; }
  std::int64_t events_dropped() const { return events_.dropped(); }

 private:
  class Handler;
  struct Event;
  void post(Event event);
  void loop();
  void apply(const Event& event);
  void apply_pod(const client::Object& old_obj, const client::Object& obj, bool deleted);
  void schedule_one(QueuedPod qp);
  void write(std::function<void()> task);
  void writer();
  void bind(const std::shared_ptr<const PodInfo>& pod, const std::string& node, QueuedPod qp);
  void report_unschedulable(const std::shared_ptr<const PodInfo>& pod, const std::string& message);

  controllers::Transport& transport_;
  client::RestClient& client_;
  const SchedulerServiceOptions options_;
  std::vector<std::unique_ptr<client::InformerHandler>> handlers_;

  // Loop thread only.
  Cache cache_;
  SchedulingQueue queue_;
  Scheduler scheduler_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;     // guarded by mu_
  std::vector<Event> inbox_;  // guarded by mu_
  std::thread loop_thread_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  bool writers_stopping_ = false;                // guarded by write_mu_
  std::deque<std::function<void()>> writes_;     // guarded by write_mu_
  std::size_t writes_in_flight_ = 0;             // queued or running; guarded by write_mu_
  std::vector<std::thread> writer_threads_;
  EventRecorder events_;

  std::atomic<std::int64_t> bound_{0};
  std::atomic<std::int64_t> unschedulable_{0};
};

}  // namespace kedge::scheduler

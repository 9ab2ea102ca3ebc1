// The scheduling queue (upstream's PriorityQueue): pending pods wait in one
// of three places.
//   active         ready to be tried, highest priority first, then oldest;
//   backoff        failed recently; ready again after 1 s, 2 s, 4 s ... 10 s
//                  (doubling per attempt, upstream's defaults);
//   unschedulable  failed and nothing changed since; a cluster event that
//                  may help (a node added or updated, a pod deleted, ...)
//                  moves them back (to backoff if still backing off), and
//                  after 5 minutes they are retried anyway.
// A pod popped for scheduling is "in flight" until done() or one of the
// add_*() calls. If a cluster event arrives while a pod is in flight and the
// attempt then fails, the pod goes to backoff, not unschedulable, so the
// event is not lost (upstream's moveRequestCycle).
//
// Time comes from QueueOptions::now (tests inject a fake clock). Nothing in
// here sleeps or spawns threads: the driver calls pop(), and when it returns
// nothing, waits until next_wakeup() or until it calls add()/on_event().
//
// Thread-safety: not thread-safe; one owner thread (the scheduler loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kedge/scheduler/scheduler.h"
#include "kedge/scheduler/types.h"

namespace kedge::scheduler {

using SteadyTime = std::chrono::steady_clock::time_point;

// Cluster changes that can make an unschedulable pod schedulable.
enum class ClusterEvent {
  kNodeAdded,
  kNodeUpdated,     // labels, taints, allocatable, unschedulable or readiness changed
  kNodeDeleted,
  kAssignedPodAdded,    // a pod bound to a node appeared or changed
  kAssignedPodDeleted,  // a bound pod went away (frees resources, ports, anti-affinity)
  kNamespaceChanged,
};

struct QueueOptions {
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{10000};
  // Unschedulable pods are retried after this long even without an event.
  std::chrono::milliseconds max_unschedulable{5 * 60 * 1000};
  // The clock; defaults to std::chrono::steady_clock::now.
  std::function<SteadyTime()> now;
};

struct QueuedPod {
  std::shared_ptr<const PodInfo> pod;
  int attempts = 0;  // scheduling attempts so far (counted by pop())
  SteadyTime added;  // first seen
  SteadyTime timestamp;  // last enqueued / failed
  std::uint64_t cycle = 0;  // scheduling cycle of the last pop()
  std::vector<Plugin> rejected_by;  // from the last failed attempt
};

class SchedulingQueue {
 public:
  explicit SchedulingQueue(QueueOptions options = {});

  // A pending pod appeared or changed. New pods go to active. An update of an
  // unschedulable pod moves it out (to backoff if still backing off). An
  // in-flight pod keeps its place; the newer object is used next time.
  void add(std::shared_ptr<const PodInfo> pod);
  // The pod was deleted or bound by someone else: forget it wherever it is.
  void remove(std::string_view key);

  // The next pod to schedule, or nullopt when none is ready now. Moves pods
  // whose backoff expired (and long-parked unschedulable pods) first.
  std::optional<QueuedPod> pop();
  // The attempt for a popped pod succeeded (assumed and handed to binding).
  void done(std::string_view key);
  // The attempt failed as unschedulable: park the pod (see class comment).
  void add_unschedulable(QueuedPod pod, const ScheduleResult& result);
  // The attempt failed for another reason (e.g. binding error): retry after backoff.
  void add_backoff(QueuedPod pod);

  // The cluster changed: moves the unschedulable pods this may help.
  void on_event(ClusterEvent event);

  // When pop() may next return a pod: now if one is active, else the
  // earliest backoff expiry or unschedulable timeout; nullopt if the queue
  // only waits for add()/on_event().
  std::optional<SteadyTime> next_wakeup() const;

  // The backoff a pod with `attempts` attempts waits (1 s doubling to 10 s).
  std::chrono::milliseconds backoff_for(int attempts) const;

  std::size_t active_size() const { return active_.size(); }
  std::size_t backoff_size() const { return backoff_.size(); }
  std::size_t unschedulable_size() const { return unschedulable_.size(); }
  bool contains(std::string_view key) const;

 private:
  enum class Where { kActive, kBackoff, kUnschedulable, kInFlight };
  // active: (-priority, timestamp, seq); backoff: (expiry, seq).
  using ActiveKey = std::tuple<std::int64_t, SteadyTime, std::uint64_t>;
  using BackoffKey = std::pair<SteadyTime, std::uint64_t>;
  struct Entry {
    QueuedPod qp;
    Where where = Where::kActive;
    std::uint64_t seq = 0;  // insertion order, breaks ties
    ActiveKey active_key;
    BackoffKey backoff_key;
    SteadyTime parked_since;  // when it became unschedulable
  };

  SteadyTime now() const { return options_.now(); }
  SteadyTime backoff_expiry(const QueuedPod& qp) const;
  void unlink(Entry& e);
  void to_active(Entry& e);
  void to_backoff(Entry& e);
  void to_backoff_or_active(Entry& e);
  void flush(SteadyTime now);

  QueueOptions options_;
  std::uint64_t seq_ = 0;
  std::uint64_t cycle_ = 0;
  std::uint64_t move_request_cycle_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::map<ActiveKey, std::string> active_;
  std::map<BackoffKey, std::string> backoff_;
  std::map<std::string, SteadyTime> unschedulable_;  // key -> parked since
  std::set<std::pair<SteadyTime, std::string>> parked_;  // the same, oldest first
};

}  // namespace kedge::scheduler

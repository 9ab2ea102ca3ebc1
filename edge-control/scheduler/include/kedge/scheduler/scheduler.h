// The scheduling algorithm: filter -> score -> select, with upstream's default
// profile (kube-scheduler 1.32) plugins, weights and normalisation, and its
// FitError message for pods that fit nowhere.
//
//   Filters (first failure per node wins, in upstream's order):
//     NodeUnschedulable, NodeName, TaintToleration (NoSchedule/NoExecute;
//     not-Ready nodes carry a synthesized not-ready/unreachable taint),
//     NodeAffinity (+nodeSelector), NodePorts, NodeResourcesFit,
//     PodTopologySpread (DoNotSchedule), InterPodAffinity (required).
//   Scores (0..100 each, times weight): TaintToleration 3, NodeAffinity 2,
//     NodeResourcesFit (LeastAllocated, cpu+memory) 1, PodTopologySpread 2,
//     InterPodAffinity 2, NodeResourcesBalancedAllocation 1, ImageLocality 1.
//
// Like upstream, it stops filtering once it has found "enough" feasible nodes
// (percentageOfNodesToScore, adaptive by default: 50% - nodes/125, at least
// 5% and 100 nodes) and starts the next search where the last one stopped,
// so large clusters are not scanned in full for every pod.
//
// Thread-safety: not thread-safe; use from the cache's owner thread. The
// Scheduler borrows the Cache, which must outlive it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kedge/scheduler/cache.h"
#include "kedge/scheduler/types.h"

namespace kedge::scheduler {

// Plugin names as upstream spells them (for requeue hints and logs).
enum class Plugin : std::uint8_t {
  kNodeUnschedulable,
  kNodeName,
  kTaintToleration,
  kNodeAffinity,
  kNodePorts,
  kNodeResourcesFit,
  kPodTopologySpread,
  kInterPodAffinity,
};
inline constexpr int kPluginCount = 8;
std::string_view plugin_name(Plugin plugin);

struct ScoreWeights {
  int taint_toleration = 3;
  int node_affinity = 2;
  int node_resources_fit = 1;
  int pod_topology_spread = 2;
  int inter_pod_affinity = 2;
  int balanced_allocation = 1;
  int image_locality = 1;
};

struct SchedulerOptions {
  // Pods naming another scheduler are refused by schedule().
  std::string scheduler_name = "default-scheduler";
  // 0 = adaptive (upstream's default); 1..100 = fixed percentage.
  int percentage_of_nodes_to_score = 0;
  // Seed for the tie-break among equally scored nodes. Unset: seeded from a
  // random device (non-deterministic, as upstream). Set it in tests.
  std::optional<std::uint64_t> seed;
  ScoreWeights weights;
};

struct ScheduleResult {
  enum class Outcome { kScheduled, kUnschedulable, kError };
  Outcome outcome = Outcome::kError;
  std::string node;  // kScheduled: the chosen node
  // kUnschedulable: upstream's FitError text, for the PodScheduled=False
  // condition's message and the FailedScheduling event, e.g.
  // "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated
  // taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes
  // are available: 1 No preemption victims found for incoming pod, 2
  // Preemption is not helpful for scheduling."  kError: what went wrong.
  std::string message;
  // Plugins that rejected at least one node (kUnschedulable): the queue uses
  // them to decide which cluster events may make the pod schedulable.
  std::vector<Plugin> rejected_by;
  int nodes_evaluated = 0;
  int feasible_nodes = 0;

  bool scheduled() const { return outcome == Outcome::kScheduled; }
};

// Upstream's names of the scoring plugins, in the order NodeEvaluation uses.
inline constexpr std::string_view kScorePluginNames[] = {
    "TaintToleration", "NodeAffinity", "NodeResourcesFit", "NodeResourcesBalancedAllocation",
    "PodTopologySpread", "InterPodAffinity", "ImageLocality"};
inline constexpr int kScorePluginCount = 7;

// One node's verdict from Scheduler::evaluate().
struct NodeEvaluation {
  std::string node;
  bool feasible = false;
  std::optional<Plugin> rejected_by;  // the first filter that rejected it
  std::vector<std::string> reasons;   // that filter's reasons, as in the FitError
  // Feasible nodes: each scoring plugin's normalized score (0..100, before
  // weights; indexes as kScorePluginNames) and the weighted total.
  std::array<std::int64_t, kScorePluginCount> scores{};
  std::int64_t total = 0;
};

class Scheduler {
 public:
  Scheduler(Cache& cache, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Picks a node for `pod` (a pending pod: not in the cache). Does not assume
  // or bind: the caller does cache.assume_pod() then writes the Binding.
  ScheduleResult schedule(const PodInfo& pod);

  // Runs every filter on every node and scores all feasible ones, without
  // the early stop or the tie-break: for tests and for explaining a decision.
  // Sorted by node name.
  std::vector<NodeEvaluation> evaluate(const PodInfo& pod);

  const SchedulerOptions& options() const { return options_; }

  // Upstream's numFeasibleNodesToFind for a cluster of `all_nodes`.
  static int nodes_to_find(int all_nodes, int percentage);

 private:
  struct State;
  Cache& cache_;
  SchedulerOptions options_;
  std::uint64_t rng_;
  std::size_t next_start_ = 0;
};

}  // namespace kedge::scheduler

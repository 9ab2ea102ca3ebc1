// One scheduling cycle: PreFilter -> Filter (until enough feasible nodes) ->
// PreScore/Score/Normalize -> select, and the FitError message when no node
// fits.
#include "kedge/scheduler/scheduler.h"

#include <algorithm>
#include <map>
#include <random>

#include "plugins.h"

namespace kedge::scheduler {

namespace {

constexpr int kMinFeasibleNodesToFind = 100;
constexpr int kMinFeasibleNodesPercentageToFind = 5;
constexpr int kBasePercentageOfNodesToScore = 50;
constexpr std::string_view kNoVictims = "No preemption victims found for incoming pod";
constexpr std::string_view kPreemptionNotHelpful = "Preemption is not helpful for scheduling";

// splitmix64: small, fast, and fully determined by the seed.
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string histogram(const std::map<std::string, int>& counts) {
  std::vector<std::string> parts;
  parts.reserve(counts.size());
  for (const auto& [reason, n] : counts) parts.push_back(std::to_string(n) + " " + reason);
  // Upstream sorts the rendered "<count> <reason>" strings.
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += ", ";
    out += parts[i];
  }
  return out;
}

// upstream's FitError.Error() plus DefaultPreemption's PostFilter message.
// kedge does not preempt: nodes whose rejection preemption could resolve are
// reported as upstream reports them when no lower-priority victims exist.
std::string fit_error(const PodInfo& pod, int all_nodes, const CycleState& s,
                      const std::vector<NodeFailure>& failures) {
  std::map<std::string, int> reasons;
  int not_helpful = 0, no_victims = 0;
  for (const auto& f : failures) {
    for (auto i = f.reasons_begin; i < f.reasons_end; ++i) ++reasons[s.reasons[i].render()];
    (f.unresolvable ? not_helpful : no_victims)++;
  }
  std::string prefix = "0/" + std::to_string(all_nodes) + " nodes are available";
  std::string msg = prefix + ": " + histogram(reasons) + ".";
  if (pod.preemption_never) return msg + " preemption: not eligible due to preemptionPolicy=Never.";
  std::map<std::string, int> preemption;
  if (not_helpful > 0) preemption[std::string(kPreemptionNotHelpful)] = not_helpful;
  if (no_victims > 0) preemption[std::string(kNoVictims)] = no_victims;
  return msg + " preemption: " + prefix + ": " + histogram(preemption) + ".";
}

}  // namespace

std::string_view plugin_name(Plugin plugin) {
  switch (plugin) {
    case Plugin::kNodeUnschedulable: return "NodeUnschedulable";
    case Plugin::kNodeName: return "NodeName";
    case Plugin::kTaintToleration: return "TaintToleration";
    case Plugin::kNodeAffinity: return "NodeAffinity";
    case Plugin::kNodePorts: return "NodePorts";
    case Plugin::kNodeResourcesFit: return "NodeResourcesFit";
    case Plugin::kPodTopologySpread: return "PodTopologySpread";
    case Plugin::kInterPodAffinity: return "InterPodAffinity";
  }
  return "";
}

int Scheduler::nodes_to_find(int all_nodes, int percentage) {
  if (all_nodes < kMinFeasibleNodesToFind) return all_nodes;
  int pct = percentage;
  if (pct <= 0) {
    pct = kBasePercentageOfNodesToScore - all_nodes / 125;
    pct = std::max(pct, kMinFeasibleNodesPercentageToFind);
  }
  pct = std::min(pct, 100);
  int n = static_cast<int>(static_cast<std::int64_t>(all_nodes) * pct / 100);
  return std::max(n, kMinFeasibleNodesToFind);
}

Scheduler::Scheduler(Cache& cache, SchedulerOptions options) : cache_(cache), options_(std::move(options)) {
  rng_ = options_.seed ? *options_.seed : (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

Scheduler::~Scheduler() = default;

ScheduleResult Scheduler::schedule(const PodInfo& pod) {
  ScheduleResult result;
  if (pod.scheduler_name != options_.scheduler_name) {
    result.message = "pod " + pod.key() + " names scheduler \"" + pod.scheduler_name + "\", not \"" + options_.scheduler_name + "\"";
    return result;
  }
  Cache::Impl& m = cache_.impl();
  const auto all = static_cast<int>(m.live.size());
  if (all == 0) {
    result.outcome = ScheduleResult::Outcome::kUnschedulable;
    result.message = "no nodes available to schedule pods";
    return result;
  }

  CycleState state;
  state.pod = &pod;
  state.cache = &m;
  prefilter(state);

  const int want = nodes_to_find(all, options_.percentage_of_nodes_to_score);
  std::vector<const NodeSlot*> feasible;
  feasible.reserve(static_cast<std::size_t>(want));
  std::vector<NodeFailure> failures;
  bool rejected[kPluginCount] = {};
  int processed = 0;
  const std::size_t start = next_start_ % static_cast<std::size_t>(all);
  for (int i = 0; i < all && static_cast<int>(feasible.size()) < want; ++i) {
    const NodeSlot* n = m.live[(start + static_cast<std::size_t>(i)) % static_cast<std::size_t>(all)];
    ++processed;
    if (filter(state, *n)) {
      feasible.push_back(n);
    } else {
      failures.push_back(state.failure);
      rejected[static_cast<int>(state.failure.plugin)] = true;
    }
  }
  next_start_ = (start + static_cast<std::size_t>(processed)) % static_cast<std::size_t>(all);
  result.nodes_evaluated = processed;
  result.feasible_nodes = static_cast<int>(feasible.size());

  if (feasible.empty()) {
    result.outcome = ScheduleResult::Outcome::kUnschedulable;
    result.message = fit_error(pod, all, state, failures);
    for (int p = 0; p < kPluginCount; ++p) {
      if (rejected[p]) result.rejected_by.push_back(static_cast<Plugin>(p));
    }
    return result;
  }
  result.outcome = ScheduleResult::Outcome::kScheduled;
  if (feasible.size() == 1) {
    result.node = feasible.front()->name;
    return result;
  }
  prescore(state, feasible);
  std::vector<std::int64_t> totals = score(state, feasible, options_.weights);
  // Uniform choice among the best (reservoir sampling, as upstream).
  std::size_t best = 0;
  std::uint64_t ties = 1;
  for (std::size_t i = 1; i < totals.size(); ++i) {
    if (totals[i] > totals[best]) {
      best = i;
      ties = 1;
    } else if (totals[i] == totals[best]) {
      ++ties;
      if (next_random(rng_) % ties == 0) best = i;
    }
  }
  result.node = feasible[best]->name;
  return result;
}

std::vector<NodeEvaluation> Scheduler::evaluate(const PodInfo& pod) {
  Cache::Impl& m = cache_.impl();
  CycleState state;
  state.pod = &pod;
  state.cache = &m;
  prefilter(state);
  std::vector<NodeEvaluation> out;
  std::vector<const NodeSlot*> feasible;
  std::vector<std::size_t> feasible_index;
  for (const NodeSlot* n : m.live) {
    NodeEvaluation ev;
    ev.node = n->name;
    ev.feasible = filter(state, *n);
    if (ev.feasible) {
      feasible.push_back(n);
      feasible_index.push_back(out.size());
    } else {
      ev.rejected_by = state.failure.plugin;
      for (auto i = state.failure.reasons_begin; i < state.failure.reasons_end; ++i) ev.reasons.push_back(state.reasons[i].render());
    }
    out.push_back(std::move(ev));
  }
  if (!feasible.empty()) {
    prescore(state, feasible);
    ScoreBreakdown breakdown;
    std::vector<std::int64_t> totals = score(state, feasible, options_.weights, &breakdown);
    for (std::size_t i = 0; i < feasible.size(); ++i) {
      out[feasible_index[i]].total = totals[i];
      out[feasible_index[i]].scores = breakdown[i];
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.node < b.node; });
  return out;
}

}  // namespace kedge::scheduler

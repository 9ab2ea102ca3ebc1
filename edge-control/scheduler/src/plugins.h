// Private: one scheduling cycle's state (upstream's CycleState) and the
// filter/score plugins that read it. Built by prefilter() from the cache's
// indexes so the per-node work is a few integer lookups.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache_impl.h"
#include "kedge/scheduler/scheduler.h"

namespace kedge::scheduler {

inline constexpr std::int64_t kMaxNodeScore = 100;

// A node selector requirement with its strings interned.
struct CompiledRequirement {
  std::uint32_t key = kNoId;
  NodeSelectorOp op = NodeSelectorOp::kIn;
  std::vector<std::uint32_t> values;  // interned; unknown values dropped (they match no node)
  std::int64_t number = 0;
  const NodeSelectorRequirement* source = nullptr;  // for matchFields (node names)
};

struct CompiledTerm {
  std::vector<CompiledRequirement> expressions;
  std::vector<const NodeSelectorRequirement*> fields;
  bool empty = true;  // no expressions and no fields: matches nothing
  std::int32_t weight = 0;
};

// Why a node was rejected. Reasons are built lazily (only when a FitError
// message is needed), so rejecting a node allocates nothing.
struct Reason {
  std::string_view text;           // static text or a scalar resource name
  const Taint* taint = nullptr;    // "node(s) had untolerated taint {k: v}"
  bool insufficient_scalar = false;  // "Insufficient <text>"
  std::string render() const;
};

struct NodeFailure {
  Plugin plugin = Plugin::kNodeResourcesFit;
  bool unresolvable = false;
  std::uint32_t reasons_begin = 0;
  std::uint32_t reasons_end = 0;
};

struct SpreadState {
  const TopologySpreadConstraint* constraint = nullptr;
  std::uint32_t key = kNoId;
  bool self_match = false;
  std::unordered_map<std::uint32_t, std::int64_t> counts;  // value id -> matching pods
  std::int64_t min_count = 0;
  double normalizing_weight = 0;  // scores only
};

struct CycleState {
  const PodInfo* pod = nullptr;
  Cache::Impl* cache = nullptr;

  // NodeUnschedulable
  bool tolerates_unschedulable = false;
  // NodeAffinity
  std::vector<std::pair<std::uint32_t, std::uint32_t>> node_selector;  // kNoId value: never matches
  bool node_selector_impossible = false;
  bool has_required_affinity = false;
  std::vector<CompiledTerm> required_terms;
  std::vector<CompiledTerm> preferred_terms;
  // TaintToleration (scores): tolerations that apply to PreferNoSchedule.
  std::vector<const Toleration*> prefer_tolerations;
  // PodTopologySpread
  std::vector<SpreadState> spread_filter;
  std::vector<SpreadState> spread_score;
  // InterPodAffinity (filter): counts per pair_key(topology key, value).
  std::unordered_map<std::uint64_t, std::int64_t> existing_anti;
  std::unordered_map<std::uint64_t, std::int64_t> affinity_counts;
  std::unordered_map<std::uint64_t, std::int64_t> anti_counts;
  std::vector<std::uint32_t> required_affinity_keys;
  std::vector<std::uint32_t> required_anti_keys;
  bool pod_matches_own_affinity = false;
  std::vector<std::uint32_t> existing_anti_keys;  // topology keys present in existing_anti
  // InterPodAffinity (scores)
  std::unordered_map<std::uint64_t, std::int64_t> topology_score;
  std::vector<std::uint32_t> topology_score_keys;

  // Failures of this cycle.
  std::vector<Reason> reasons;
  NodeFailure failure;  // the last filter failure (valid when filter() returns false)
};

// Fills the filter half of `state`.
void prefilter(CycleState& state);
// Runs every filter on `node`; false with state.failure set if one rejects it.
bool filter(CycleState& state, const NodeSlot& node);
// Whether `node` satisfies the pod's nodeSelector and required node affinity.
bool matches_node_affinity(const CycleState& state, const NodeSlot& node);
bool term_matches_node(const CompiledTerm& term, const NodeSlot& node, const StringPool& pool);
CompiledTerm compile_term(const NodeSelectorTerm& term, const StringPool& pool);

// PodTopologySpread counting for `states`. With `feasible_only`, only the
// domains already present in each state's counts (the feasible nodes') are
// counted, as upstream's PreScore.
void count_spread(CycleState& state, std::vector<SpreadState>& states, bool all_keys_required, bool feasible_only);

// Fills the score half of `state` for the feasible nodes.
void prescore(CycleState& state, const std::vector<const NodeSlot*>& feasible);
// Weighted total per feasible node (same order as `feasible`); with
// `breakdown`, also each plugin's normalized score per node.
using ScoreBreakdown = std::vector<std::array<std::int64_t, kScorePluginCount>>;
std::vector<std::int64_t> score(CycleState& state, const std::vector<const NodeSlot*>& feasible,
                                const ScoreWeights& weights, ScoreBreakdown* breakdown = nullptr);

}  // namespace kedge::scheduler

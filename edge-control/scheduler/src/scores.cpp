// PreScore, Score and NormalizeScore of the default profile's scoring
// plugins, with upstream's formulas (integer arithmetic where upstream uses it).
#include <algorithm>
#include <cmath>
#include <limits>

#include "plugins.h"

namespace kedge::scheduler {

namespace {

constexpr std::int64_t kMiB = 1024 * 1024;
constexpr std::int64_t kImageMinThreshold = 23 * kMiB;
constexpr std::int64_t kImageMaxContainerThreshold = 1000 * kMiB;
constexpr std::int64_t kHardPodAffinityWeight = 1;

// upstream DefaultNormalizeScore.
void default_normalize(std::vector<std::int64_t>& scores, bool reverse) {
  std::int64_t max = 0;
  for (auto v : scores) max = std::max(max, v);
  if (max == 0) {
    if (reverse) std::fill(scores.begin(), scores.end(), kMaxNodeScore);
    return;
  }
  for (auto& v : scores) {
    v = kMaxNodeScore * v / max;
    if (reverse) v = kMaxNodeScore - v;
  }
}

std::int64_t least_requested(std::int64_t requested, std::int64_t capacity) {
  if (capacity == 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

// NodeResourcesFit with the LeastAllocated strategy over cpu and memory
// (weight 1 each), on requests with upstream's non-zero defaults.
std::int64_t least_allocated(const PodInfo& pod, const NodeSlot& n) {
  const Resources& alloc = n.node->allocatable;
  std::int64_t total = 0, weights = 0;
  if (alloc.milli_cpu > 0) {
    total += least_requested(n.nz_milli_cpu + pod.non_zero_milli_cpu, alloc.milli_cpu);
    ++weights;
  }
  if (alloc.memory > 0) {
    total += least_requested(n.nz_memory + pod.non_zero_memory, alloc.memory);
    ++weights;
  }
  return weights == 0 ? 0 : total / weights;
}

// NodeResourcesBalancedAllocation over cpu and memory, on actual requests.
std::int64_t balanced_allocation(const PodInfo& pod, const NodeSlot& n) {
  const Resources& alloc = n.node->allocatable;
  double fractions[2];
  int count = 0;
  if (alloc.milli_cpu > 0) {
    fractions[count++] = std::min(1.0, static_cast<double>(n.requested.milli_cpu + pod.requests.milli_cpu) / static_cast<double>(alloc.milli_cpu));
  }
  if (alloc.memory > 0) {
    fractions[count++] = std::min(1.0, static_cast<double>(n.requested.memory + pod.requests.memory) / static_cast<double>(alloc.memory));
  }
  double std_dev = count == 2 ? std::abs((fractions[0] - fractions[1]) / 2) : 0.0;
  return static_cast<std::int64_t>((1 - std_dev) * static_cast<double>(kMaxNodeScore));
}

std::int64_t intolerable_prefer_no_schedule(const CycleState& s, const NodeInfo& node) {
  std::int64_t count = 0;
  for (const auto& t : node.taints) {
    if (t.effect != TaintEffect::kPreferNoSchedule) continue;
    bool ok = std::any_of(s.prefer_tolerations.begin(), s.prefer_tolerations.end(),
                          [&](const Toleration* tol) { return tol->tolerates(t); });
    if (!ok) ++count;
  }
  return count;
}

std::int64_t image_locality(const CycleState& s, const NodeSlot& n, std::size_t total_nodes) {
  const PodInfo& pod = *s.pod;
  if (pod.images.empty() || total_nodes == 0) return 0;
  const auto& images = n.node->images;
  std::int64_t sum = 0;
  for (const auto& img : pod.images) {
    auto it = std::lower_bound(images.begin(), images.end(), img,
                               [](const auto& e, const std::string& name) { return e.first < name; });
    if (it == images.end() || it->first != img) continue;
    auto spread = s.cache->image_nodes.find(img);
    double num_nodes = spread == s.cache->image_nodes.end() ? 0.0 : spread->second;
    sum += static_cast<std::int64_t>(static_cast<double>(it->second) * num_nodes / static_cast<double>(total_nodes));
  }
  std::int64_t max = kImageMaxContainerThreshold * static_cast<std::int64_t>(pod.images.size());
  sum = std::clamp(sum, kImageMinThreshold, max);
  return kMaxNodeScore * (sum - kImageMinThreshold) / (max - kImageMinThreshold);
}

void add_topology_score(CycleState& s, std::uint32_t key, std::uint32_t value, std::int64_t delta) {
  if (delta == 0) return;
  s.topology_score[pair_key(key, value)] += delta;
  if (std::find(s.topology_score_keys.begin(), s.topology_score_keys.end(), key) == s.topology_score_keys.end()) {
    s.topology_score_keys.push_back(key);
  }
}

// InterPodAffinity PreScore: the incoming pod's preferred terms against
// existing pods, and existing pods' terms (grouped in the cache) against it.
void prescore_inter_pod(CycleState& s) {
  const PodInfo& pod = *s.pod;
  Cache::Impl& m = *s.cache;
  auto incoming = [&](const std::vector<PodAffinityTerm>& terms, int sign) {
    for (const auto& term : terms) {
      std::uint32_t key = m.pool.find(term.topology_key);
      if (key == kNoId) continue;
      auto visit = [&](const PodEntry& e) {
        if (!m.term_matches(term, *e.pod)) return;
        std::uint32_t v = label_value(e.node->labels, key);
        if (v != kNoId) add_topology_score(s, key, v, sign * term.weight);
      };
      if (term.namespace_selector) {
        for (const auto& [ns_id, idx] : m.by_ns) m.for_each_candidate(m.pool.str(ns_id), term.selector, visit);
      } else {
        for (const auto& ns : term.namespaces) m.for_each_candidate(ns, term.selector, visit);
      }
    }
  };
  incoming(pod.preferred_affinity, +1);
  incoming(pod.preferred_anti_affinity, -1);
  for (const auto& [id, g] : m.term_groups) {
    std::int64_t weight = 0;
    switch (g.kind) {
      case TermKind::kRequiredAffinity: weight = kHardPodAffinityWeight; break;
      case TermKind::kPreferredAffinity: weight = g.term.weight; break;
      case TermKind::kPreferredAnti: weight = -g.term.weight; break;
      case TermKind::kRequiredAnti: continue;  // filter only
    }
    if (g.counts.empty() || !m.term_matches(g.term, pod)) continue;
    for (const auto& [v, c] : g.counts) add_topology_score(s, g.topology_key, v, weight * c);
  }
}

void prescore_spread(CycleState& s, const std::vector<const NodeSlot*>& feasible, std::vector<bool>& ignored) {
  ignored.assign(feasible.size(), false);
  if (s.spread_score.empty()) return;
  std::vector<int> sizes(s.spread_score.size(), 0);
  int kept = 0;
  for (std::size_t i = 0; i < feasible.size(); ++i) {
    const NodeSlot& n = *feasible[i];
    bool all = std::all_of(s.spread_score.begin(), s.spread_score.end(),
                           [&](const SpreadState& st) { return label_value(n.labels, st.key) != kNoId; });
    if (!all) {
      ignored[i] = true;
      continue;
    }
    ++kept;
    for (std::size_t c = 0; c < s.spread_score.size(); ++c) {
      auto& st = s.spread_score[c];
      if (st.counts.try_emplace(label_value(n.labels, st.key), 0).second) ++sizes[c];
    }
  }
  count_spread(s, s.spread_score, true, true);
  for (std::size_t c = 0; c < s.spread_score.size(); ++c) {
    auto& st = s.spread_score[c];
    int size = st.constraint->topology_key == kLabelHostname ? kept : sizes[c];
    st.normalizing_weight = std::log(static_cast<double>(size + 2));
  }
}

std::int64_t spread_raw(const CycleState& s, const NodeSlot& n) {
  double score = 0;
  for (const auto& st : s.spread_score) {
    std::uint32_t v = label_value(n.labels, st.key);
    if (v == kNoId) continue;
    auto it = st.counts.find(v);
    double cnt = it == st.counts.end() ? 0.0 : static_cast<double>(it->second);
    score += cnt * st.normalizing_weight + static_cast<double>(st.constraint->max_skew - 1);
  }
  return static_cast<std::int64_t>(std::llround(score));
}

void normalize_spread(std::vector<std::int64_t>& scores, const std::vector<bool>& ignored) {
  std::int64_t min = std::numeric_limits<std::int64_t>::max(), max = 0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (ignored[i]) continue;
    min = std::min(min, scores[i]);
    max = std::max(max, scores[i]);
  }
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (ignored[i]) {
      scores[i] = 0;
    } else if (max == 0) {
      scores[i] = kMaxNodeScore;
    } else {
      scores[i] = kMaxNodeScore * (max + min - scores[i]) / max;
    }
  }
}

void normalize_min_max(std::vector<std::int64_t>& scores) {
  if (scores.empty()) return;
  auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
  std::int64_t min = *lo, diff = *hi - *lo;
  for (auto& v : scores) {
    double f = diff > 0 ? static_cast<double>(kMaxNodeScore) * (static_cast<double>(v - min) / static_cast<double>(diff)) : 0.0;
    v = static_cast<std::int64_t>(f);
  }
}

}  // namespace

void prescore(CycleState& s, const std::vector<const NodeSlot*>& feasible) {
  (void)feasible;
  for (const auto& t : s.pod->tolerations) {
    if (!t.effect || *t.effect == TaintEffect::kPreferNoSchedule) s.prefer_tolerations.push_back(&t);
  }
  prescore_inter_pod(s);
}

std::vector<std::int64_t> score(CycleState& s, const std::vector<const NodeSlot*>& feasible, const ScoreWeights& w,
                                ScoreBreakdown* breakdown) {
  const PodInfo& pod = *s.pod;
  const std::size_t n = feasible.size();
  std::vector<std::int64_t> total(n, 0);
  std::vector<std::int64_t> part(n, 0);
  if (breakdown != nullptr) breakdown->assign(n, {});
  int plugin = 0;
  auto add = [&](std::int64_t weight) {
    for (std::size_t i = 0; i < n; ++i) {
      total[i] += weight * part[i];
      if (breakdown != nullptr) (*breakdown)[i][static_cast<std::size_t>(plugin)] = part[i];
    }
  };

  if (w.taint_toleration != 0) {
    for (std::size_t i = 0; i < n; ++i) part[i] = intolerable_prefer_no_schedule(s, *feasible[i]->node);
    default_normalize(part, true);
    plugin = 0;
    add(w.taint_toleration);
  }
  if (w.node_affinity != 0 && !s.preferred_terms.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      std::int64_t sum = 0;
      for (const auto& t : s.preferred_terms) {
        if (term_matches_node(t, *feasible[i], s.cache->pool)) sum += t.weight;
      }
      part[i] = sum;
    }
    default_normalize(part, false);
    plugin = 1;
    add(w.node_affinity);
  }
  if (w.node_resources_fit != 0) {
    for (std::size_t i = 0; i < n; ++i) part[i] = least_allocated(pod, *feasible[i]);
    plugin = 2;
    add(w.node_resources_fit);
  }
  if (w.balanced_allocation != 0) {
    for (std::size_t i = 0; i < n; ++i) part[i] = balanced_allocation(pod, *feasible[i]);
    plugin = 3;
    add(w.balanced_allocation);
  }
  if (w.pod_topology_spread != 0 && !s.spread_score.empty()) {
    std::vector<bool> ignored;
    prescore_spread(s, feasible, ignored);
    for (std::size_t i = 0; i < n; ++i) part[i] = ignored[i] ? 0 : spread_raw(s, *feasible[i]);
    normalize_spread(part, ignored);
    plugin = 4;
    add(w.pod_topology_spread);
  }
  if (w.inter_pod_affinity != 0 && !s.topology_score.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      std::int64_t sum = 0;
      for (std::uint32_t key : s.topology_score_keys) {
        std::uint32_t v = label_value(feasible[i]->labels, key);
        if (v == kNoId) continue;
        auto it = s.topology_score.find(pair_key(key, v));
        if (it != s.topology_score.end()) sum += it->second;
      }
      part[i] = sum;
    }
    normalize_min_max(part);
    plugin = 5;
    add(w.inter_pod_affinity);
  }
  if (w.image_locality != 0 && !pod.images.empty() && !s.cache->image_nodes.empty()) {
    for (std::size_t i = 0; i < n; ++i) part[i] = image_locality(s, *feasible[i], s.cache->live.size());
    plugin = 6;
    add(w.image_locality);
  }
  return total;
}

}  // namespace kedge::scheduler

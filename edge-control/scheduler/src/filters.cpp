// PreFilter and Filter of the default profile's plugins. Reason texts and
// status codes (Unschedulable vs UnschedulableAndUnresolvable) are upstream's.
#include <algorithm>
#include <charconv>
#include <limits>
#include <unordered_set>

#include "plugins.h"

namespace kedge::scheduler {

namespace {

constexpr std::string_view kReasonUnschedulable = "node(s) were unschedulable";
constexpr std::string_view kReasonNodeName = "node(s) didn't match the requested node name";
constexpr std::string_view kReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector";
constexpr std::string_view kReasonNodePorts = "node(s) didn't have free ports for the requested pod ports";
constexpr std::string_view kReasonTooManyPods = "Too many pods";
constexpr std::string_view kReasonCpu = "Insufficient cpu";
constexpr std::string_view kReasonMemory = "Insufficient memory";
constexpr std::string_view kReasonEphemeral = "Insufficient ephemeral-storage";
constexpr std::string_view kReasonSpread = "node(s) didn't match pod topology spread constraints";
constexpr std::string_view kReasonSpreadLabel = "node(s) didn't match pod topology spread constraints (missing required label)";
constexpr std::string_view kReasonAffinity = "node(s) didn't match pod affinity rules";
constexpr std::string_view kReasonAntiAffinity = "node(s) didn't match pod anti-affinity rules";
constexpr std::string_view kReasonExistingAnti = "node(s) didn't satisfy existing pods anti-affinity rules";

bool fail(CycleState& s, Plugin plugin, bool unresolvable, Reason reason) {
  s.failure.plugin = plugin;
  s.failure.unresolvable = unresolvable;
  s.failure.reasons_begin = static_cast<std::uint32_t>(s.reasons.size());
  s.reasons.push_back(reason);
  s.failure.reasons_end = static_cast<std::uint32_t>(s.reasons.size());
  return false;
}

bool requirement_matches(const CompiledRequirement& r, const NodeSlot& node, const StringPool& pool) {
  std::uint32_t v = label_value(node.labels, r.key);
  switch (r.op) {
    case NodeSelectorOp::kIn: return v != kNoId && std::binary_search(r.values.begin(), r.values.end(), v);
    case NodeSelectorOp::kNotIn: return v == kNoId || !std::binary_search(r.values.begin(), r.values.end(), v);
    case NodeSelectorOp::kExists: return v != kNoId;
    case NodeSelectorOp::kDoesNotExist: return v == kNoId;
    case NodeSelectorOp::kGt:
    case NodeSelectorOp::kLt: {
      if (v == kNoId) return false;
      const std::string& s = pool.str(v);
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc() || p != s.data() + s.size()) return false;
      return r.op == NodeSelectorOp::kGt ? n > r.number : n < r.number;
    }
  }
  return false;
}

bool field_matches(const NodeSelectorRequirement& r, const std::string& node_name) {
  bool in = std::binary_search(r.values.begin(), r.values.end(), node_name);
  return r.op == NodeSelectorOp::kIn ? in : !in;
}

template <typename Fn>
void for_each_term_candidate(const Cache::Impl& m, const PodAffinityTerm& term, Fn&& fn) {
  if (term.namespace_selector) {
    for (const auto& [ns_id, idx] : m.by_ns) {
      const std::string& ns = m.pool.str(ns_id);
      bool in_list = std::binary_search(term.namespaces.begin(), term.namespaces.end(), ns);
      if (!in_list && !term.namespace_selector->empty() && !term.namespace_selector->matches(m.namespace_labels(ns))) continue;
      m.for_each_candidate(ns, term.selector, fn);
    }
    return;
  }
  for (const auto& ns : term.namespaces) m.for_each_candidate(ns, term.selector, fn);
}

// The incoming pod's required terms against existing pods (upstream's
// getIncomingAffinityAntiAffinityCounts).
void prefilter_incoming_terms(CycleState& s) {
  const PodInfo& pod = *s.pod;
  Cache::Impl& m = *s.cache;
  for (const auto& t : pod.required_affinity) s.required_affinity_keys.push_back(m.pool.find(t.topology_key));
  for (const auto& t : pod.required_anti_affinity) s.required_anti_keys.push_back(m.pool.find(t.topology_key));
  if (!pod.required_affinity.empty()) {
    const auto& first = pod.required_affinity.front();
    for_each_term_candidate(m, first, [&](const PodEntry& e) {
      for (const auto& t : pod.required_affinity) {
        if (!m.term_matches(t, *e.pod)) return;
      }
      for (std::uint32_t key : s.required_affinity_keys) {
        std::uint32_t v = key == kNoId ? kNoId : label_value(e.node->labels, key);
        if (v != kNoId) ++s.affinity_counts[pair_key(key, v)];
      }
    });
    s.pod_matches_own_affinity = std::all_of(pod.required_affinity.begin(), pod.required_affinity.end(),
                                             [&](const PodAffinityTerm& t) { return m.term_matches(t, pod); });
  }
  for (std::size_t i = 0; i < pod.required_anti_affinity.size(); ++i) {
    const auto& term = pod.required_anti_affinity[i];
    std::uint32_t key = s.required_anti_keys[i];
    if (key == kNoId) continue;  // no node has the key: the term cannot conflict
    for_each_term_candidate(m, term, [&](const PodEntry& e) {
      if (!m.term_matches(term, *e.pod)) return;
      std::uint32_t v = label_value(e.node->labels, key);
      if (v != kNoId) ++s.anti_counts[pair_key(key, v)];
    });
  }
}

void prefilter_existing_anti(CycleState& s) {
  Cache::Impl& m = *s.cache;
  for (const auto& [id, g] : m.term_groups) {
    if (g.kind != TermKind::kRequiredAnti || g.counts.empty()) continue;
    if (!m.term_matches(g.term, *s.pod)) continue;
    for (const auto& [v, c] : g.counts) s.existing_anti[pair_key(g.topology_key, v)] += c;
    if (std::find(s.existing_anti_keys.begin(), s.existing_anti_keys.end(), g.topology_key) == s.existing_anti_keys.end()) {
      s.existing_anti_keys.push_back(g.topology_key);
    }
  }
}

bool taints_tolerated(const PodInfo& pod, const NodeInfo& node) {
  for (const auto& t : node.taints) {
    if (t.effect == TaintEffect::kPreferNoSchedule) continue;
    if (!tolerated(pod.tolerations, t)) return false;
  }
  return true;
}

}  // namespace

// Counts, per topology value, the pods matching each constraint on the
// nodes eligible for it (upstream's PodTopologySpread PreFilter/PreScore).
void count_spread(CycleState& s, std::vector<SpreadState>& states, bool all_keys_required, bool feasible_only) {
  Cache::Impl& m = *s.cache;
  const PodInfo& pod = *s.pod;
  for (auto& st : states) {
    std::unordered_map<const NodeSlot*, std::int64_t> per_node;
    m.for_each_candidate(pod.ns, st.constraint->selector, [&](const PodEntry& e) {
      if (e.pod->terminating || !st.constraint->matches(&e.pod->labels)) return;
      ++per_node[e.node];
    });
    std::unordered_set<std::uint32_t> domains;
    for (const NodeSlot* n : m.live) {
      if (all_keys_required && !std::all_of(states.begin(), states.end(), [&](const SpreadState& o) {
            return label_value(n->labels, o.key) != kNoId;
          })) {
        continue;
      }
      std::uint32_t v = label_value(n->labels, st.key);
      if (v == kNoId) continue;
      if (st.constraint->honor_node_affinity && !matches_node_affinity(s, *n)) continue;
      if (st.constraint->honor_node_taints && !taints_tolerated(pod, *n->node)) continue;
      if (feasible_only) {
        // Scores count only domains that some feasible node belongs to.
        if (!st.counts.contains(v)) continue;
      } else {
        st.counts.try_emplace(v, 0);
      }
      auto it = per_node.find(n);
      if (it != per_node.end()) st.counts[v] += it->second;
    }
    st.min_count = std::numeric_limits<std::int32_t>::max();
    for (const auto& [v, c] : st.counts) st.min_count = std::min(st.min_count, c);
    if (static_cast<std::int64_t>(st.counts.size()) < st.constraint->min_domains) st.min_count = 0;
  }
}

std::string Reason::render() const {
  if (taint != nullptr) return "node(s) had untolerated taint {" + taint->key + ": " + taint->value + "}";
  if (insufficient_scalar) return "Insufficient " + std::string(text);
  return std::string(text);
}

CompiledTerm compile_term(const NodeSelectorTerm& term, const StringPool& pool) {
  CompiledTerm c;
  c.empty = term.match_expressions.empty() && term.match_fields.empty();
  for (const auto& r : term.match_expressions) {
    CompiledRequirement cr;
    cr.key = pool.find(r.key);
    cr.op = r.op;
    cr.number = r.number;
    cr.source = &r;
    for (const auto& v : r.values) {
      std::uint32_t id = pool.find(v);
      if (id != kNoId) cr.values.push_back(id);
    }
    std::sort(cr.values.begin(), cr.values.end());
    c.expressions.push_back(std::move(cr));
  }
  for (const auto& f : term.match_fields) c.fields.push_back(&f);
  return c;
}

bool term_matches_node(const CompiledTerm& term, const NodeSlot& node, const StringPool& pool) {
  if (term.empty) return false;
  for (const auto& r : term.expressions) {
    if (!requirement_matches(r, node, pool)) return false;
  }
  for (const auto* f : term.fields) {
    if (!field_matches(*f, node.name)) return false;
  }
  return true;
}

bool matches_node_affinity(const CycleState& s, const NodeSlot& node) {
  if (s.node_selector_impossible) return false;
  for (const auto& [k, v] : s.node_selector) {
    if (label_value(node.labels, k) != v) return false;
  }
  if (!s.has_required_affinity) return true;
  for (const auto& t : s.required_terms) {
    if (term_matches_node(t, node, s.cache->pool)) return true;
  }
  return false;
}

void prefilter(CycleState& s) {
  const PodInfo& pod = *s.pod;
  Cache::Impl& m = *s.cache;
  s.tolerates_unschedulable = tolerated(
      pod.tolerations, Taint{.key = std::string(kTaintNodeUnschedulable), .value = "", .effect = TaintEffect::kNoSchedule});
  for (const auto& [k, v] : pod.node_selector) {
    std::uint32_t kid = m.pool.find(k);
    std::uint32_t vid = m.pool.find(v);
    if (kid == kNoId || vid == kNoId) s.node_selector_impossible = true;
    s.node_selector.emplace_back(kid, vid);
  }
  s.has_required_affinity = pod.has_required_node_affinity;
  for (const auto& t : pod.required_node_affinity) s.required_terms.push_back(compile_term(t, m.pool));
  for (const auto& p : pod.preferred_node_affinity) {
    s.preferred_terms.push_back(compile_term(p.term, m.pool));
    s.preferred_terms.back().weight = p.weight;
  }
  for (const auto& c : pod.spread_constraints) {
    SpreadState st;
    st.constraint = &c;
    st.key = m.pool.intern(c.topology_key);
    st.self_match = c.matches(&pod.labels);
    (c.when_unsatisfiable == WhenUnsatisfiable::kDoNotSchedule ? s.spread_filter : s.spread_score).push_back(std::move(st));
  }
  if (!s.spread_filter.empty()) count_spread(s, s.spread_filter, true, false);
  prefilter_incoming_terms(s);
  prefilter_existing_anti(s);
}

namespace {

bool filter_resources(CycleState& s, const NodeSlot& n) {
  const Resources& req = s.pod->requests;
  const Resources& alloc = n.node->allocatable;
  const Resources& used = n.requested;
  auto begin = static_cast<std::uint32_t>(s.reasons.size());
  bool unresolvable = false;
  if (static_cast<std::int64_t>(n.pods.size()) + 1 > alloc.pods) s.reasons.push_back(Reason{.text = kReasonTooManyPods});
  if (!req.zero()) {
    if (req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu) {
      s.reasons.push_back(Reason{.text = kReasonCpu});
      unresolvable |= req.milli_cpu > alloc.milli_cpu;
    }
    if (req.memory > 0 && req.memory > alloc.memory - used.memory) {
      s.reasons.push_back(Reason{.text = kReasonMemory});
      unresolvable |= req.memory > alloc.memory;
    }
    if (req.ephemeral_storage > 0 && req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage) {
      s.reasons.push_back(Reason{.text = kReasonEphemeral});
      unresolvable |= req.ephemeral_storage > alloc.ephemeral_storage;
    }
    for (const auto& [name, q] : req.scalar) {
      std::int64_t a = alloc.scalar_value(name);
      if (q > a - used.scalar_value(name)) {
        s.reasons.push_back(Reason{.text = name, .insufficient_scalar = true});
        unresolvable |= q > a;
      }
    }
  }
  auto end = static_cast<std::uint32_t>(s.reasons.size());
  if (begin == end) return true;
  s.failure = NodeFailure{.plugin = Plugin::kNodeResourcesFit, .unresolvable = unresolvable, .reasons_begin = begin, .reasons_end = end};
  return false;
}

bool filter_ports(const CycleState& s, const NodeSlot& n) {
  for (const auto& want : s.pod->host_ports) {
    for (const auto& used : n.ports) {
      if (used.port != want.port || used.protocol != want.protocol) continue;
      if (used.host_ip == want.host_ip || used.host_ip == "0.0.0.0" || want.host_ip == "0.0.0.0") return false;
    }
  }
  return true;
}

bool filter_spread(CycleState& s, const NodeSlot& n) {
  for (const auto& st : s.spread_filter) {
    std::uint32_t v = label_value(n.labels, st.key);
    if (v == kNoId) return fail(s, Plugin::kPodTopologySpread, true, Reason{.text = kReasonSpreadLabel});
    auto it = st.counts.find(v);
    std::int64_t match = it == st.counts.end() ? 0 : it->second;
    std::int64_t skew = match + (st.self_match ? 1 : 0) - st.min_count;
    if (skew > st.constraint->max_skew) return fail(s, Plugin::kPodTopologySpread, false, Reason{.text = kReasonSpread});
  }
  return true;
}

bool filter_inter_pod(CycleState& s, const NodeSlot& n) {
  // Upstream's order: the pod's affinity, its anti-affinity, then existing
  // pods' anti-affinity against it.
  if (!s.required_affinity_keys.empty()) {
    bool pods_exist = true;
    for (std::uint32_t key : s.required_affinity_keys) {
      std::uint32_t v = key == kNoId ? kNoId : label_value(n.labels, key);
      if (v == kNoId) return fail(s, Plugin::kInterPodAffinity, true, Reason{.text = kReasonAffinity});
      auto it = s.affinity_counts.find(pair_key(key, v));
      if (it == s.affinity_counts.end() || it->second <= 0) pods_exist = false;
    }
    // The first pod of a group with affinity to itself may go anywhere.
    if (!pods_exist && !(s.affinity_counts.empty() && s.pod_matches_own_affinity)) {
      return fail(s, Plugin::kInterPodAffinity, true, Reason{.text = kReasonAffinity});
    }
  }
  for (std::uint32_t key : s.required_anti_keys) {
    if (key == kNoId) continue;
    std::uint32_t v = label_value(n.labels, key);
    if (v == kNoId) continue;
    auto it = s.anti_counts.find(pair_key(key, v));
    if (it != s.anti_counts.end() && it->second > 0) {
      return fail(s, Plugin::kInterPodAffinity, false, Reason{.text = kReasonAntiAffinity});
    }
  }
  for (std::uint32_t key : s.existing_anti_keys) {
    std::uint32_t v = label_value(n.labels, key);
    if (v == kNoId) continue;
    auto it = s.existing_anti.find(pair_key(key, v));
    if (it != s.existing_anti.end() && it->second > 0) {
      return fail(s, Plugin::kInterPodAffinity, false, Reason{.text = kReasonExistingAnti});
    }
  }
  return true;
}

}  // namespace

bool filter(CycleState& s, const NodeSlot& n) {
  const PodInfo& pod = *s.pod;
  const NodeInfo& node = *n.node;
  if (node.unschedulable && !s.tolerates_unschedulable) {
    return fail(s, Plugin::kNodeUnschedulable, true, Reason{.text = kReasonUnschedulable});
  }
  if (!pod.node_name.empty() && pod.node_name != n.name) {
    return fail(s, Plugin::kNodeName, true, Reason{.text = kReasonNodeName});
  }
  for (const auto& t : node.taints) {
    if (t.effect == TaintEffect::kPreferNoSchedule) continue;
    if (!tolerated(pod.tolerations, t)) return fail(s, Plugin::kTaintToleration, true, Reason{.taint = &t});
  }
  if (!matches_node_affinity(s, n)) return fail(s, Plugin::kNodeAffinity, true, Reason{.text = kReasonNodeAffinity});
  if (!pod.host_ports.empty() && !filter_ports(s, n)) return fail(s, Plugin::kNodePorts, false, Reason{.text = kReasonNodePorts});
  if (!filter_resources(s, n)) return false;
  if (!s.spread_filter.empty() && !filter_spread(s, n)) return false;
  if (!filter_inter_pod(s, n)) return false;
  return true;
}

}  // namespace kedge::scheduler

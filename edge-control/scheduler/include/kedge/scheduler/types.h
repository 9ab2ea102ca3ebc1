// The scheduler's own snapshot of Nodes and Pods: only what scheduling needs,
// parsed once from the JSON the API server serves (like upstream's framework
// NodeInfo/PodInfo), so filters and scores never touch JSON.
//
// Units follow upstream's internal ones: cpu in millicores, memory and
// ephemeral-storage in bytes, extended resources in whole units.
//
// Thread-safety: parsed values are immutable once returned (handed out as
// shared_ptr<const ...>), so any thread may read them concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/api/selectors.h"
#include "kedge/base/status.h"

namespace kedge::scheduler {

// Well-known names the plugins use.
inline constexpr std::string_view kLabelHostname = "kubernetes.io/hostname";
inline constexpr std::string_view kTaintNodeNotReady = "node.kubernetes.io/not-ready";
inline constexpr std::string_view kTaintNodeUnreachable = "node.kubernetes.io/unreachable";
inline constexpr std::string_view kTaintNodeUnschedulable = "node.kubernetes.io/unschedulable";
inline constexpr std::string_view kDefaultSchedulerName = "default-scheduler";

// Upstream's defaults for containers without requests, used only by scores
// (schedutil.DefaultMilliCPURequest / DefaultMemoryRequest).
inline constexpr std::int64_t kDefaultMilliCpuRequest = 100;
inline constexpr std::int64_t kDefaultMemoryRequest = 200LL * 1024 * 1024;

// A resource vector. `scalar` holds extended resources and hugepages, sorted by
// name, with no zero entries.
struct Resources {
  std::int64_t milli_cpu = 0;
  std::int64_t memory = 0;
  std::int64_t ephemeral_storage = 0;
  std::int64_t pods = 0;  // only meaningful for allocatable
  std::vector<std::pair<std::string, std::int64_t>> scalar;

  std::int64_t scalar_value(std::string_view name) const;
  void add(const Resources& other);
  void subtract(const Resources& other);
  // Per dimension max (the init-container rule).
  void set_max(const Resources& other);
  // True when no dimension (pods excluded) is requested.
  bool zero() const;
};

enum class TaintEffect { kNoSchedule, kPreferNoSchedule, kNoExecute };
std::string_view taint_effect_name(TaintEffect effect);

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kNoSchedule;
};

struct Toleration {
  std::string key;  // empty with kExists: tolerates every key
  bool op_exists = false;
  std::string value;
  std::optional<TaintEffect> effect;  // nullopt: all effects
  bool tolerates(const Taint& taint) const;
};

// True when some toleration tolerates `taint`.
bool tolerated(const std::vector<Toleration>& tolerations, const Taint& taint);

enum class NodeSelectorOp { kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };

struct NodeSelectorRequirement {
  std::string key;
  NodeSelectorOp op = NodeSelectorOp::kIn;
  std::vector<std::string> values;
  std::int64_t number = 0;  // the parsed value of kGt / kLt
};

// A nodeSelectorTerm: all expressions and fields must match. An empty term
// matches nothing (as upstream's nodeaffinity helper).
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> match_expressions;
  std::vector<NodeSelectorRequirement> match_fields;  // only metadata.name
};

struct PreferredSchedulingTerm {
  std::int32_t weight = 0;
  NodeSelectorTerm term;
};

// One pod (anti-)affinity term with its namespaces resolved at parse time:
// an empty `namespaces` list and no namespace selector means the owning pod's
// namespace, which parse_pod() puts into `namespaces`.
struct PodAffinityTerm {
  api::LabelSelector selector;
  std::vector<std::string> namespaces;  // sorted
  std::optional<api::LabelSelector> namespace_selector;
  std::string topology_key;
  std::int32_t weight = 0;  // preferred terms only
  // Identity of the term (selector, namespaces, key, weight) so the cache can
  // count identical terms of many pods once.
  std::string canonical;
};

enum class WhenUnsatisfiable { kDoNotSchedule, kScheduleAnyway };

struct TopologySpreadConstraint {
  std::int32_t max_skew = 1;
  std::string topology_key;
  WhenUnsatisfiable when_unsatisfiable = WhenUnsatisfiable::kDoNotSchedule;
  api::LabelSelector selector;
  // matchLabelKeys resolved against the pod's own labels: extra key=value
  // requirements ANDed with `selector` (upstream merges them in PreFilter).
  std::vector<std::pair<std::string, std::string>> match_labels_from_keys;
  std::int32_t min_domains = 1;
  bool honor_node_affinity = true;  // nodeAffinityPolicy (default Honor)
  bool honor_node_taints = false;   // nodeTaintsPolicy (default Ignore)

  bool matches(const boost::json::object* labels) const;
};

struct HostPort {
  std::string host_ip;   // "0.0.0.0" when unset
  std::string protocol;  // "TCP" when unset
  std::int32_t port = 0;
};

struct PodInfo {
  std::string ns;
  std::string name;
  std::string uid;
  boost::json::object labels;
  std::string scheduler_name;  // default-scheduler when unset
  std::string node_name;       // empty while pending
  std::int32_t priority = 0;
  bool preemption_never = false;  // spec.preemptionPolicy == Never
  bool terminating = false;       // metadata.deletionTimestamp set
  bool terminal = false;          // status.phase Succeeded or Failed: holds no resources

  // Upstream's computePodResourceRequest: sum of containers, max with each
  // init container, plus overhead.
  Resources requests;
  // The same with per-container defaults for missing cpu/memory (scores only).
  std::int64_t non_zero_milli_cpu = 0;
  std::int64_t non_zero_memory = 0;

  std::vector<std::pair<std::string, std::string>> node_selector;  // sorted
  bool has_required_node_affinity = false;
  std::vector<NodeSelectorTerm> required_node_affinity;  // ORed
  std::vector<PreferredSchedulingTerm> preferred_node_affinity;
  std::vector<Toleration> tolerations;

  std::vector<PodAffinityTerm> required_affinity;
  std::vector<PodAffinityTerm> required_anti_affinity;
  std::vector<PodAffinityTerm> preferred_affinity;
  std::vector<PodAffinityTerm> preferred_anti_affinity;
  std::vector<TopologySpreadConstraint> spread_constraints;

  std::vector<HostPort> host_ports;
  std::vector<std::string> images;  // normalized (":latest" added when untagged)

  // "namespace/name": the cache's and the queue's key.
  std::string key() const { return ns + "/" + name; }
  bool has_affinity_terms() const {
    return !required_affinity.empty() || !required_anti_affinity.empty() || !preferred_affinity.empty() ||
           !preferred_anti_affinity.empty();
  }
};

enum class NodeReadiness { kTrue, kFalse, kUnknown };

struct NodeInfo {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by key
  // spec.taints, plus a synthesized not-ready / unreachable NoSchedule taint
  // when the Ready condition is not True and the node carries neither: the
  // node lifecycle controller adds those taints upstream, so pods that
  // tolerate them (DaemonSets) still land and the message matches upstream.
  std::vector<Taint> taints;
  bool unschedulable = false;
  NodeReadiness ready = NodeReadiness::kUnknown;
  Resources allocatable;
  std::vector<std::pair<std::string, std::int64_t>> images;  // every image name -> size, sorted

  const std::string* label(std::string_view key) const;
};

// Parses a v1 Pod as the API serves it. Errors are InvalidArgument naming the
// field, e.g. `spec.containers[0].resources.requests[cpu]: ...`.
Result<std::shared_ptr<const PodInfo>> parse_pod(const boost::json::value& pod);

// Parses a v1 Node. status.allocatable falls back to status.capacity as the
// kubelet reports both; errors name the field.
Result<std::shared_ptr<const NodeInfo>> parse_node(const boost::json::value& node);

// Normalizes an image reference the way ImageLocality compares them.
std::string normalize_image_name(std::string_view image);

}  // namespace kedge::scheduler

// Private to SchedulerService: upstream's VolumeBinding plugin, kept outside
// the pure algorithm because it reads PersistentVolumeClaims, PersistentVolumes
// and StorageClasses from the Transport's caches.
//
//   PreFilter: a claim that does not exist, or an unbound claim of an
//     Immediate class, makes the pod unschedulable on every node
//     ("pod has unbound immediate PersistentVolumeClaims", as upstream).
//   Filter: the node affinity of every bound volume is ANDed into the pod's
//     required node affinity for this cycle, so the algorithm only picks
//     nodes that can reach the data; nodes rejected for it are reported as
//     "node(s) had volume node affinity conflict" (when the pod has no node
//     selector or affinity of its own — otherwise both causes share
//     upstream's node-affinity reason).
//   PreBind: unbound WaitForFirstConsumer claims get
//     volume.kubernetes.io/selected-node = the chosen node; the PV controller
//     provisions (or binds) for that node. The pod is bound at once and its
//     kubelet waits for the claim (FailedMount) — upstream's PreBind waits
//     instead; the outcome is the same.
// WaitForFirstConsumer claims are not matched against existing volumes per
// node here; the PV controller does that once the node is selected.
//
// Thread-safety: check_pod_volumes runs on the scheduler loop thread and
// reads caches only (a cache miss, e.g. with the controllers disabled before
// the informer synced, asks the API); select_node runs on a binder thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "kedge/controllers/persistentvolume.h"
#include "kedge/controllers/transport.h"
#include "kedge/controllers/volume_binding.h"
#include "kedge/controllers/workload_resources.h"
#include "kedge/scheduler/types.h"

namespace kedge::scheduler::volume_filter {

namespace json = boost::json;
namespace cv = controllers::volumes;

struct PodVolumes {
  std::string unschedulable;                   // PreFilter reason, "" when none
  std::shared_ptr<const PodInfo> constrained;  // the pod with volume node affinity; null: none
  std::vector<std::string> delayed_claims;     // WaitForFirstConsumer claims to annotate
};

inline void watch_resources(controllers::Transport& t) {
  t.watch(controllers::persistentvolumeclaims_resource(), nullptr);
  t.watch(controllers::persistentvolumes_resource(), nullptr);
  t.watch(controllers::storageclasses_resource(), nullptr);
}

inline client::Object lookup(controllers::Transport& t, const controllers::Resource& r, std::string_view ns,
                             std::string_view name) {
  if (auto cached = t.get(r, ns, name)) return cached;
  auto live = t.get_live(r, ns, name);
  return live.ok() ? std::make_shared<const json::value>(std::move(*live)) : nullptr;
}

inline NodeSelectorRequirement parse_requirement(const json::value& req) {
  NodeSelectorRequirement out;
  const json::object& o = req.as_object();
  if (const auto* k = o.if_contains("key"); k && k->is_string()) out.key = k->as_string();
  const std::string op = o.contains("operator") && o.at("operator").is_string() ? std::string(o.at("operator").as_string()) : "";
  out.op = op == "NotIn"          ? NodeSelectorOp::kNotIn
           : op == "Exists"       ? NodeSelectorOp::kExists
           : op == "DoesNotExist" ? NodeSelectorOp::kDoesNotExist
           : op == "Gt"           ? NodeSelectorOp::kGt
           : op == "Lt"           ? NodeSelectorOp::kLt
                                  : NodeSelectorOp::kIn;
  if (const auto* vs = o.if_contains("values"); vs && vs->is_array()) {
    for (const auto& v : vs->as_array()) {
      if (v.is_string()) out.values.emplace_back(v.as_string());
    }
  }
  if ((out.op == NodeSelectorOp::kGt || out.op == NodeSelectorOp::kLt) && out.values.size() == 1) {
    out.number = std::strtoll(out.values[0].c_str(), nullptr, 10);
  }
  return out;
}

// The volume's required terms (ORed); empty when it has none.
inline std::vector<NodeSelectorTerm> volume_terms(const json::value& pv) {
  std::vector<NodeSelectorTerm> terms;
  const auto* spec = pv.as_object().if_contains("spec");
  const auto* na = spec && spec->is_object() ? spec->as_object().if_contains("nodeAffinity") : nullptr;
  const auto* req = na && na->is_object() ? na->as_object().if_contains("required") : nullptr;
  const auto* list = req && req->is_object() ? req->as_object().if_contains("nodeSelectorTerms") : nullptr;
  if (list == nullptr || !list->is_array()) return terms;
  for (const auto& t : list->as_array()) {
    if (!t.is_object()) continue;
    NodeSelectorTerm term;
    for (const char* field : {"matchExpressions", "matchFields"}) {
      const auto* reqs = t.as_object().if_contains(field);
      for (const auto& r : reqs && reqs->is_array() ? reqs->as_array() : json::array{}) {
        if (!r.is_object()) continue;
        (field[5] == 'E' ? term.match_expressions : term.match_fields).push_back(parse_requirement(r));
      }
    }
    terms.push_back(std::move(term));
  }
  return terms;
}

// (a1 ∨ a2) ∧ (b1 ∨ b2) = (a1∧b1) ∨ (a1∧b2) ∨ ...
inline std::vector<NodeSelectorTerm> and_terms(const std::vector<NodeSelectorTerm>& a,
                                               const std::vector<NodeSelectorTerm>& b) {
  std::vector<NodeSelectorTerm> out;
  for (const auto& x : a) {
    for (const auto& y : b) {
      NodeSelectorTerm t = x;
      t.match_expressions.insert(t.match_expressions.end(), y.match_expressions.begin(), y.match_expressions.end());
      t.match_fields.insert(t.match_fields.end(), y.match_fields.begin(), y.match_fields.end());
      out.push_back(std::move(t));
    }
  }
  return out;
}

inline PodVolumes check_pod_volumes(controllers::Transport& t, const PodInfo& pod) {
  PodVolumes out;
  client::Object pod_obj = t.get(controllers::pods_resource(), pod.ns, pod.name);
  if (!pod_obj) return out;
  std::vector<NodeSelectorTerm> terms;
  bool constrained = false;
  for (const auto& name : cv::pod_claim_names(*pod_obj)) {
    client::Object claim = lookup(t, controllers::persistentvolumeclaims_resource(), pod.ns, name);
    if (!claim) {
      out.unschedulable = "persistentvolumeclaim \"" + name + "\" not found";
      return out;
    }
    const auto* spec = claim->as_object().if_contains("spec");
    const auto* vn = spec && spec->is_object() ? spec->as_object().if_contains("volumeName") : nullptr;
    const std::string volume = vn && vn->is_string() ? std::string(vn->as_string()) : "";
    if (volume.empty()) {
      const std::string cls = cv::claim_class(*claim);
      client::Object sc = cls.empty() ? nullptr : lookup(t, controllers::storageclasses_resource(), "", cls);
      const auto* mode = sc ? sc->as_object().if_contains("volumeBindingMode") : nullptr;
      if (mode == nullptr || !mode->is_string() || mode->as_string() != "WaitForFirstConsumer") {
        out.unschedulable = "pod has unbound immediate PersistentVolumeClaims";
        return out;
      }
      out.delayed_claims.push_back(name);
      continue;
    }
    client::Object pv = lookup(t, controllers::persistentvolumes_resource(), "", volume);
    if (!pv) {
      out.unschedulable = "persistentvolume \"" + volume + "\" not found";
      return out;
    }
    auto vt = volume_terms(*pv);
    if (vt.empty()) continue;
    terms = constrained ? and_terms(terms, vt) : std::move(vt);
    constrained = true;
  }
  if (constrained) {
    auto copy = std::make_shared<PodInfo>(pod);
    copy->required_node_affinity = copy->has_required_node_affinity ? and_terms(copy->required_node_affinity, terms)
                                                                    : std::move(terms);
    copy->has_required_node_affinity = true;
    out.constrained = std::move(copy);
  }
  return out;
}

// Upstream's FitError text for a PreFilter rejection on a cluster of `nodes`.
inline std::string prefilter_message(std::size_t nodes, const std::string& reason) {
  const std::string n = std::to_string(nodes);
  return "0/" + n + " nodes are available: " + reason + ". preemption: 0/" + n + " nodes are available: " + n +
         " Preemption is not helpful for scheduling.";
}

// The algorithm reports volume-affinity rejections as node-affinity ones;
// name them as upstream when the pod itself asked nothing of the node.
inline std::string rename_conflicts(const PodInfo& pod, std::string message) {
  if (pod.has_required_node_affinity || !pod.node_selector.empty()) return message;
  static const std::string kFrom = "node(s) didn't match Pod's node affinity/selector";
  static const std::string kTo = "node(s) had volume node affinity conflict";
  for (auto pos = message.find(kFrom); pos != std::string::npos; pos = message.find(kFrom, pos + kTo.size())) {
    message.replace(pos, kFrom.size(), kTo);
  }
  return message;
}

// PreBind: records the chosen node on the pod's WaitForFirstConsumer claims.
inline Status select_node(controllers::Transport& t, const std::string& ns, const std::vector<std::string>& claims,
                          const std::string& node) {
  for (const auto& name : claims) {
    json::value patch = json::object{
        {"metadata", json::object{{"annotations", json::object{{cv::kAnnSelectedNode, node}}}}}};
    KEDGE_RETURN_IF_ERROR(t.patch(controllers::persistentvolumeclaims_resource(), ns, name, patch).status());
  }
  return ok_status();
}

}  // namespace kedge::scheduler::volume_filter

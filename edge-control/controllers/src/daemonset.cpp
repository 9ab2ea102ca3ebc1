#include "kedge/controllers/daemonset.h"

#include <algorithm>
#include <map>
#include <set>

#include "json_path.h"
#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/api/selectors.h"
#include "kedge/api/types/pod.h"
#include "kedge/base/log.h"
#include "kedge/controllers/rollout.h"
#include "kedge/controllers/owned_pods.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using path::array_at;
using path::object_at;
using path::str_at;

namespace {

bool requirement_matches(const json::value& req, std::string_view value, bool present) {
  std::string_view op = str_at(req, {"operator"});
  const json::array* values = array_at(req, {"values"});
  auto in_values = [&] {
    if (!values) return false;
    for (const auto& v : *values) {
      if (v.is_string() && v.as_string() == value) return true;
    }
    return false;
  };
  if (op == "In") return present && in_values();
  if (op == "NotIn") return !present || !in_values();
  if (op == "Exists") return present;
  if (op == "DoesNotExist") return !present;
  if (op == "Gt" || op == "Lt") {
    if (!present || !values || values->size() != 1 || !values->at(0).is_string()) return false;
    try {
      long long have = std::stoll(std::string(value));
      long long want = std::stoll(std::string(values->at(0).as_string()));
      return op == "Gt" ? have > want : have < want;
    } catch (...) {
      return false;  // not an integer: no match, as upstream
    }
  }
  return false;
}

// One nodeSelectorTerm: all its expressions (labels) and fields (name) hold.
// An empty term matches nothing.
bool term_matches(const json::value& term, const json::value& node) {
  const json::array* exprs = array_at(term, {"matchExpressions"});
  const json::array* fields = array_at(term, {"matchFields"});
  if ((!exprs || exprs->empty()) && (!fields || fields->empty())) return false;
  const json::object* labels = api::get_labels(node);
  if (exprs) {
    for (const auto& e : *exprs) {
      std::string_view key = str_at(e, {"key"});
      const json::value* v = labels ? labels->if_contains(key) : nullptr;
      std::string_view value = v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
      if (!requirement_matches(e, value, v != nullptr)) return false;
    }
  }
  if (fields) {
    for (const auto& f : *fields) {
      if (str_at(f, {"key"}) != "metadata.name") return false;
      if (!requirement_matches(f, api::get_name(node), true)) return false;
    }
  }
  return true;
}

// The tolerations upstream adds to every DaemonSet pod
// (util.AddOrUpdateDaemonPodTolerations).
std::vector<std::pair<std::string, std::string>> default_tolerations(bool host_network) {
  std::vector<std::pair<std::string, std::string>> t = {
      {"node.kubernetes.io/not-ready", "NoExecute"},       {"node.kubernetes.io/unreachable", "NoExecute"},
      {"node.kubernetes.io/disk-pressure", "NoSchedule"},  {"node.kubernetes.io/memory-pressure", "NoSchedule"},
      {"node.kubernetes.io/pid-pressure", "NoSchedule"},   {"node.kubernetes.io/unschedulable", "NoSchedule"}};
  if (host_network) t.emplace_back("node.kubernetes.io/network-unavailable", "NoSchedule");
  return t;
}

// The template's tolerations plus the defaults it does not have yet.
json::array daemon_tolerations(const json::value& pod_spec) {
  json::array out;
  if (const auto* t = array_at(pod_spec, {"tolerations"})) out = *t;
  for (const auto& [key, effect] : default_tolerations(path::bool_at(pod_spec, {"hostNetwork"}, false))) {
    bool have = std::any_of(out.begin(), out.end(), [&](const json::value& t) {
      return str_at(t, {"key"}) == key && str_at(t, {"effect"}) == effect && str_at(t, {"operator"}) == "Exists";
    });
    if (!have) out.push_back(json::object{{"key", key}, {"operator", "Exists"}, {"effect", effect}});
  }
  return out;
}

api::Toleration toleration_from(const json::value& v) {
  api::Toleration t;
  t.key = str_at(v, {"key"});
  if (auto op = str_at(v, {"operator"}); !op.empty()) t.op = op;
  t.value = str_at(v, {"value"});
  t.effect = str_at(v, {"effect"});
  return t;
}

const json::value* pod_spec_of(const json::value& ds) { return path::at(ds, {"spec", "template", "spec"}); }

// The node a DaemonSet pod is for: its nodeName, or before binding the
// metadata.name its required affinity pins.
std::string target_node(const json::value& pod) {
  if (auto n = str_at(pod, {"spec", "nodeName"}); !n.empty()) return std::string(n);
  const json::array* terms =
      array_at(pod, {"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                     "nodeSelectorTerms"});
  if (!terms) return {};
  for (const auto& term : *terms) {
    if (const json::array* fields = array_at(term, {"matchFields"})) {
      for (const auto& f : *fields) {
        const json::array* values = array_at(f, {"values"});
        if (str_at(f, {"key"}) == "metadata.name" && str_at(f, {"operator"}) == "In" && values &&
            values->size() == 1 && values->at(0).is_string()) {
          return std::string(values->at(0).as_string());
        }
      }
    }
  }
  return {};
}

api::OwnerReference ds_ref(const json::value& ds) {
  return api::OwnerReference{.api_version = "apps/v1",
                             .kind = "DaemonSet",
                             .name = std::string(api::get_name(ds)),
                             .uid = std::string(api::get_uid(ds)),
                             .controller = true,
                             .block_owner_deletion = true};
}

json::value daemon_pod(const json::value& ds, const std::string& node, const std::string& hash) {
  json::object meta{{"generateName", std::string(api::get_name(ds)) + "-"}, {"namespace", api::get_namespace(ds)}};
  json::object labels;
  if (const auto* l = object_at(ds, {"spec", "template", "metadata", "labels"})) labels = *l;
  labels[kControllerRevisionHashLabel] = hash;
  meta["labels"] = std::move(labels);
  if (const auto* a = object_at(ds, {"spec", "template", "metadata", "annotations"})) meta["annotations"] = *a;
  const json::value* tspec = pod_spec_of(ds);
  json::value spec = tspec && tspec->is_object() ? *tspec : json::value(json::object{});
  auto& so = spec.as_object();
  so["tolerations"] = daemon_tolerations(spec);
  json::object term{{"matchFields", json::array{json::object{
                                        {"key", "metadata.name"}, {"operator", "In"}, {"values", json::array{json::value(node)}}}}}};
  json::value& affinity = so["affinity"];
  if (!affinity.is_object()) affinity = json::object{};
  json::value& node_affinity = affinity.as_object()["nodeAffinity"];
  if (!node_affinity.is_object()) node_affinity = json::object{};
  node_affinity.as_object()["requiredDuringSchedulingIgnoredDuringExecution"] =
      json::object{{"nodeSelectorTerms", json::array{std::move(term)}}};
  json::value pod = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", std::move(meta)}, {"spec", std::move(spec)}};
  api::set_owner_references(pod, {ds_ref(ds)});
  return pod;
}

}  // namespace

bool daemon_should_run_on(const json::value& ds, const json::value& node) {
  const json::value* spec = pod_spec_of(ds);
  json::value empty = json::object{};
  if (!spec) spec = &empty;
  if (const auto* sel = object_at(*spec, {"nodeSelector"}); sel && !sel->empty()) {
    auto s = api::LabelSelector::from_map(*sel);
    if (!s.ok() || !s->matches(api::get_labels(node))) return false;
  }
  if (const auto* terms = array_at(*spec, {"affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                           "nodeSelectorTerms"})) {
    bool any = std::any_of(terms->begin(), terms->end(), [&](const json::value& t) { return term_matches(t, node); });
    if (!any) return false;
  }
  json::array tolerations = daemon_tolerations(*spec);
  if (const auto* taints = array_at(node, {"spec", "taints"})) {
    for (const auto& tv : *taints) {
      api::Taint taint{.key = std::string(str_at(tv, {"key"})),
                       .value = std::string(str_at(tv, {"value"})),
                       .effect = std::string(str_at(tv, {"effect"})),
                       .time_added = ""};
      if (taint.effect != "NoSchedule" && taint.effect != "NoExecute") continue;
      bool ok = std::any_of(tolerations.begin(), tolerations.end(),
                            [&](const json::value& t) { return toleration_from(t).tolerates(taint); });
      if (!ok) return false;
    }
  }
  return true;
}

class DaemonSetController::DsHandler final : public client::InformerHandler {
 public:
  explicit DsHandler(DaemonSetController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_delete(const Object& obj) override { c_.expectations_.forget(object_key(*obj)); }

 private:
  DaemonSetController& c_;
};

// Node changes (new nodes, labels, taints) re-evaluate every DaemonSet;
// heartbeats (status only) do not.
class DaemonSetController::NodeHandler final : public client::InformerHandler {
 public:
  explicit NodeHandler(DaemonSetController& c) : c_(c) {}
  void on_add(const Object&) override { c_.resync_all(); }
  void on_update(const Object& old_obj, const Object& obj) override {
    auto spec = [](const json::value& n) { return n.as_object().if_contains("spec"); };
    auto labels = [](const json::value& n) {
      const auto* l = api::get_labels(n);
      return l ? json::value(*l) : json::value(json::object{});
    };
    const json::value* a = spec(*old_obj);
    const json::value* b = spec(*obj);
    bool spec_changed = (a == nullptr) != (b == nullptr) || (a && b && !api::json_equal(*a, *b));
    if (spec_changed || !api::json_equal(labels(*old_obj), labels(*obj))) c_.resync_all();
  }
  void on_delete(const Object&) override { c_.resync_all(); }

 private:
  DaemonSetController& c_;
};

DaemonSetController::DaemonSetController(Transport& transport, DaemonSetControllerOptions options)
    : Controller("daemonset", transport, options.queue),
      options_(std::move(options)),
      expectations_(options_.clock),
      ds_handler_(std::make_unique<DsHandler>(*this)),
      pod_handler_(std::make_unique<OwnedPodHandler>("DaemonSet", queue(), expectations_)),
      node_handler_(std::make_unique<NodeHandler>(*this)) {}

void DaemonSetController::register_watches() {
  transport_.watch(daemonsets_resource(), ds_handler_.get());
  transport_.watch(pods_resource(), pod_handler_.get());
  transport_.watch(nodes_resource(), node_handler_.get());
}

void DaemonSetController::resync_all() {
  for (const auto& ds : transport_.list(daemonsets_resource(), "")) queue().add(object_key(*ds));
}

SystemTime DaemonSetController::now() const {
  return options_.now ? options_.now() : std::chrono::system_clock::now();
}

// What one sync decided: pods to create (by node), pods to delete, and the
// counts status reports.
struct DaemonSetController::Plan {
  std::vector<std::string> create_on;
  std::vector<Object> remove;
  std::int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0, available = 0;
};

DaemonSetController::Plan DaemonSetController::plan(const json::value& ds, const std::string& hash) const {
  const int min_ready = static_cast<int>(path::int_at(ds, {"spec", "minReadySeconds"}, 0));
  const SystemTime t = now();
  Plan plan;
  // Active pods by target node; failed ones are replaced.
  std::map<std::string, std::vector<Object>> by_node;
  for (const auto& pod : transport_.list(pods_resource(), api::get_namespace(ds))) {
    auto ref = api::get_controller_ref(*pod);
    if (!ref || ref->uid != api::get_uid(ds) || api::get_deletion_timestamp(*pod)) continue;
    if (str_at(*pod, {"status", "phase"}) == "Failed") {
      plan.remove.push_back(pod);
      continue;
    }
    by_node[target_node(*pod)].push_back(pod);
  }
  struct Eligible {
    Object pod;  // the node's daemon pod, if any
    bool available = false;
  };
  std::vector<Eligible> eligible;
  std::set<std::string> nodes_seen;
  for (const auto& node : transport_.list(nodes_resource(), "")) {
    std::string node_name(api::get_name(*node));
    nodes_seen.insert(node_name);
    auto it = by_node.find(node_name);
    std::vector<Object> pods = it == by_node.end() ? std::vector<Object>{} : it->second;
    if (!daemon_should_run_on(ds, *node)) {
      if (!pods.empty()) ++plan.misscheduled;
      plan.remove.insert(plan.remove.end(), pods.begin(), pods.end());
      continue;
    }
    ++plan.desired;
    if (pods.empty()) {
      plan.create_on.push_back(node_name);
      eligible.push_back({});
      continue;
    }
    ++plan.current;
    // Keep the oldest; duplicates go.
    std::sort(pods.begin(), pods.end(), [](const Object& a, const Object& b) {
      return api::get_creation_timestamp(*a) < api::get_creation_timestamp(*b);
    });
    plan.remove.insert(plan.remove.end(), pods.begin() + 1, pods.end());
    const Object& pod = pods.front();
    bool is_ready = is_pod_ready(*pod);
    bool is_available = is_ready && is_pod_available(*pod, min_ready, t);
    plan.ready += is_ready ? 1 : 0;
    plan.available += is_available ? 1 : 0;
    plan.updated += api::get_label(*pod, kControllerRevisionHashLabel) == hash ? 1 : 0;
    eligible.push_back({pod, is_available});
  }
  for (const auto& [node, pods] : by_node) {
    if (!nodes_seen.contains(node)) plan.remove.insert(plan.remove.end(), pods.begin(), pods.end());
  }
  if (str_at(ds, {"spec", "updateStrategy", "type"}) == "OnDelete") return plan;

  // RollingUpdate: replace old pods within maxUnavailable.
  const json::value* mu = path::at(ds, {"spec", "updateStrategy", "rollingUpdate", "maxUnavailable"});
  json::value one = 1;
  auto max_unavailable = scaled_value(mu ? mu : &one, static_cast<int>(plan.desired), true);
  int budget = max_unavailable.ok() ? std::max(*max_unavailable, 1) : 1;
  int unavailable = 0;
  for (const auto& e : eligible) unavailable += e.available ? 0 : 1;
  auto old = [&](const Eligible& e) {
    return e.pod && api::get_label(*e.pod, kControllerRevisionHashLabel) != hash;
  };
  for (const auto& e : eligible) {  // old and unavailable: free to replace
    if (old(e) && !e.available) plan.remove.push_back(e.pod);
  }
  for (const auto& e : eligible) {
    if (unavailable >= budget) break;
    if (old(e) && e.available) {
      plan.remove.push_back(e.pod);
      ++unavailable;
    }
  }
  return plan;
}

Status DaemonSetController::apply(const std::string& key, const json::value& ds, const Plan& plan,
                                  const std::string& hash) {
  if (!expectations_.satisfied(key)) return ok_status();
  const std::string ns(api::get_namespace(ds));
  expectations_.expect(key, static_cast<int>(plan.create_on.size()), static_cast<int>(plan.remove.size()));
  Status first_error;
  for (const auto& node : plan.create_on) {
    auto r = transport_.create(pods_resource(), ns, daemon_pod(ds, node, hash));
    if (!r.ok()) {
      expectations_.creation_observed(key);
      if (first_error.ok()) first_error = r.status().with_context("creating daemon pod for node " + node);
    }
  }
  for (const auto& pod : plan.remove) {
    Status s = transport_.remove(pods_resource(), ns, api::get_name(*pod),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(*pod))});
    if (!s.ok()) {
      expectations_.deletion_observed(key);
      if (s.code() != Code::kNotFound && first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

Status DaemonSetController::write_status(const json::value& ds, const Plan& plan) {
  json::object status{{"desiredNumberScheduled", plan.desired},
                      {"currentNumberScheduled", plan.current},
                      {"numberMisscheduled", plan.misscheduled},
                      {"numberReady", plan.ready},
                      {"updatedNumberScheduled", plan.updated},
                      {"numberAvailable", plan.available},
                      {"numberUnavailable", plan.desired - plan.available},
                      {"observedGeneration", api::get_generation(ds)}};
  const json::value* old_status = ds.as_object().if_contains("status");
  json::object merged = old_status && old_status->is_object() ? old_status->as_object() : json::object{};
  for (const auto& [k, v] : status) merged[k] = v;
  for (const char* k : {"updatedNumberScheduled", "numberAvailable", "numberUnavailable"}) {
    if (merged[k].as_int64() == 0) merged.erase(k);  // omitempty, as upstream
  }
  if (old_status && api::json_equal(*old_status, json::value(merged))) return ok_status();
  json::value updated = ds;
  updated.as_object()["status"] = std::move(merged);
  auto r = transport_.update_status(daemonsets_resource(), updated);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("updating status");
  return ok_status();
}

Status DaemonSetController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object ds = transport_.get(daemonsets_resource(), ns, name);
  if (!ds) {
    expectations_.forget(key);
    return ok_status();
  }
  if (api::get_deletion_timestamp(*ds)) return ok_status();
  const json::value* tmpl = path::at(*ds, {"spec", "template"});
  const std::string hash = pod_template_hash(tmpl ? *tmpl : json::value(json::object{}), 0);
  Plan p = plan(*ds, hash);
  Status applied = apply(key, *ds, p, hash);
  Status written = write_status(*ds, p);
  // Pods becoming available after minReadySeconds change the status.
  if (path::int_at(*ds, {"spec", "minReadySeconds"}, 0) > 0 && p.ready > p.available) {
    queue().add_after(key, std::chrono::seconds(1));
  }
  return applied.ok() ? written : applied;
}

}  // namespace kedge::controllers

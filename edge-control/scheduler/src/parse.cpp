// JSON -> PodInfo / NodeInfo. Every error names the field, in the style of
// upstream's field paths ("spec.affinity.nodeAffinity...").
#include <algorithm>
#include <charconv>

#include "kedge/scheduler/types.h"
#include "quantity.h"

namespace kedge::scheduler {

namespace json = boost::json;

namespace {

const json::object* object_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) return nullptr;
  return &it->value().get_object();
}

const json::array* array_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_array()) return nullptr;
  return &it->value().get_array();
}

Status type_error(const std::string& field, std::string_view want) {
  return invalid_argument(field + ": Invalid type: expected " + std::string(want));
}

// Optional string field: absent/null -> "", other non-strings -> error.
Result<std::string> string_at(const json::object& o, std::string_view key, const std::string& field) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::string();
  if (!it->value().is_string()) return type_error(field, "string");
  return std::string(it->value().get_string());
}

Result<std::int64_t> int_at(const json::object& o, std::string_view key, const std::string& field,
                            std::int64_t fallback) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return fallback;
  if (it->value().is_int64()) return it->value().get_int64();
  if (it->value().is_uint64() && it->value().get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(it->value().get_uint64());
  }
  return type_error(field, "integer");
}

Result<std::vector<std::pair<std::string, std::string>>> string_map(const json::object& o, std::string_view key,
                                                                   const std::string& field) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return out;
  if (!it->value().is_object()) return type_error(field, "object");
  for (const auto& kv : it->value().get_object()) {
    if (!kv.value().is_string()) return type_error(field + "[" + std::string(kv.key()) + "]", "string");
    out.emplace_back(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A ResourceList into a Resources vector.
Result<Resources> resource_list(const json::object& o, std::string_view key, const std::string& field) {
  Resources r;
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return r;
  if (!it->value().is_object()) return type_error(field, "object");
  for (const auto& kv : it->value().get_object()) {
    std::string name(kv.key());
    std::string f = field + "[" + name + "]";
    if (name == "cpu") {
      KEDGE_ASSIGN_OR_RETURN(r.milli_cpu, quantity_milli_value(kv.value(), f));
      continue;
    }
    KEDGE_ASSIGN_OR_RETURN(std::int64_t v, quantity_value(kv.value(), f));
    if (name == "memory") {
      r.memory = v;
    } else if (name == "ephemeral-storage") {
      r.ephemeral_storage = v;
    } else if (name == "pods") {
      r.pods = v;
    } else if (name == "storage") {
      // Not a schedulable node resource.
    } else if (v != 0) {
      r.scalar.emplace_back(std::move(name), v);
    }
  }
  std::sort(r.scalar.begin(), r.scalar.end());
  return r;
}

Result<NodeSelectorRequirement> node_requirement(const json::value& v, const std::string& field, bool is_field) {
  if (!v.is_object()) return type_error(field, "object");
  const auto& o = v.get_object();
  NodeSelectorRequirement r;
  KEDGE_ASSIGN_OR_RETURN(r.key, string_at(o, "key", field + ".key"));
  KEDGE_ASSIGN_OR_RETURN(std::string op, string_at(o, "operator", field + ".operator"));
  if (const auto* values = array_at(o, "values")) {
    for (std::size_t i = 0; i < values->size(); ++i) {
      if (!(*values)[i].is_string()) return type_error(field + ".values[" + std::to_string(i) + "]", "string");
      r.values.emplace_back((*values)[i].get_string());
    }
  }
  if (is_field && r.key != "metadata.name") {
    return invalid_argument(field + ".key: Invalid value: \"" + r.key + "\": not a valid field selector key");
  }
  if (op == "In") {
    r.op = NodeSelectorOp::kIn;
  } else if (op == "NotIn") {
    r.op = NodeSelectorOp::kNotIn;
  } else if (op == "Exists" && !is_field) {
    r.op = NodeSelectorOp::kExists;
  } else if (op == "DoesNotExist" && !is_field) {
    r.op = NodeSelectorOp::kDoesNotExist;
  } else if ((op == "Gt" || op == "Lt") && !is_field) {
    r.op = op == "Gt" ? NodeSelectorOp::kGt : NodeSelectorOp::kLt;
    if (r.values.size() != 1) {
      return invalid_argument(field + ".values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'");
    }
    const std::string& s = r.values[0];
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), r.number);
    if (ec != std::errc() || p != s.data() + s.size()) {
      return invalid_argument(field + ".values[0]: Invalid value: \"" + s + "\": must be an integer");
    }
  } else {
    return invalid_argument(field + ".operator: Unsupported value: \"" + op + "\"");
  }
  if ((r.op == NodeSelectorOp::kIn || r.op == NodeSelectorOp::kNotIn) && r.values.empty()) {
    return invalid_argument(field + ".values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
  }
  std::sort(r.values.begin(), r.values.end());
  return r;
}

Result<NodeSelectorTerm> node_term(const json::value& v, const std::string& field) {
  if (!v.is_object()) return type_error(field, "object");
  NodeSelectorTerm t;
  const auto& o = v.get_object();
  if (const auto* exprs = array_at(o, "matchExpressions")) {
    for (std::size_t i = 0; i < exprs->size(); ++i) {
      KEDGE_ASSIGN_OR_RETURN(auto r, node_requirement((*exprs)[i], field + ".matchExpressions[" + std::to_string(i) + "]", false));
      t.match_expressions.push_back(std::move(r));
    }
  }
  if (const auto* fields = array_at(o, "matchFields")) {
    for (std::size_t i = 0; i < fields->size(); ++i) {
      KEDGE_ASSIGN_OR_RETURN(auto r, node_requirement((*fields)[i], field + ".matchFields[" + std::to_string(i) + "]", true));
      t.match_fields.push_back(std::move(r));
    }
  }
  return t;
}

Result<TaintEffect> parse_effect(const std::string& s, const std::string& field) {
  if (s == "NoSchedule") return TaintEffect::kNoSchedule;
  if (s == "PreferNoSchedule") return TaintEffect::kPreferNoSchedule;
  if (s == "NoExecute") return TaintEffect::kNoExecute;
  return invalid_argument(field + ": Unsupported value: \"" + s +
                          "\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\"");
}

Status parse_node_affinity(const json::object& na, const std::string& field, PodInfo& pod) {
  if (const auto* req = object_at(na, "requiredDuringSchedulingIgnoredDuringExecution")) {
    pod.has_required_node_affinity = true;
    std::string f = field + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
    if (const auto* terms = array_at(*req, "nodeSelectorTerms")) {
      for (std::size_t i = 0; i < terms->size(); ++i) {
        KEDGE_ASSIGN_OR_RETURN(auto t, node_term((*terms)[i], f + "[" + std::to_string(i) + "]"));
        pod.required_node_affinity.push_back(std::move(t));
      }
    }
  }
  if (const auto* pref = array_at(na, "preferredDuringSchedulingIgnoredDuringExecution")) {
    for (std::size_t i = 0; i < pref->size(); ++i) {
      std::string f = field + ".preferredDuringSchedulingIgnoredDuringExecution[" + std::to_string(i) + "]";
      if (!(*pref)[i].is_object()) return type_error(f, "object");
      const auto& o = (*pref)[i].get_object();
      PreferredSchedulingTerm p;
      KEDGE_ASSIGN_OR_RETURN(std::int64_t w, int_at(o, "weight", f + ".weight", 0));
      if (w < 1 || w > 100) return invalid_argument(f + ".weight: Invalid value: " + std::to_string(w) + ": must be in the range 1-100");
      p.weight = static_cast<std::int32_t>(w);
      auto it = o.find("preference");
      if (it == o.end()) return invalid_argument(f + ".preference: Required value");
      KEDGE_ASSIGN_OR_RETURN(p.term, node_term(it->value(), f + ".preference"));
      pod.preferred_node_affinity.push_back(std::move(p));
    }
  }
  return ok_status();
}

Result<PodAffinityTerm> affinity_term(const json::object& o, const std::string& field, const std::string& pod_ns,
                                      std::int32_t weight) {
  PodAffinityTerm t;
  t.weight = weight;
  auto sel = o.find("labelSelector");
  if (sel == o.end() || sel->value().is_null()) {
    t.selector = api::LabelSelector::nothing();  // a null selector matches no pod
  } else {
    auto parsed = api::LabelSelector::from_json(sel->value());
    if (!parsed.ok()) return parsed.status().with_context(field + ".labelSelector");
    t.selector = std::move(*parsed);
  }
  if (const auto* nss = array_at(o, "namespaces")) {
    for (std::size_t i = 0; i < nss->size(); ++i) {
      if (!(*nss)[i].is_string()) return type_error(field + ".namespaces[" + std::to_string(i) + "]", "string");
      t.namespaces.emplace_back((*nss)[i].get_string());
    }
  }
  auto nsel = o.find("namespaceSelector");
  if (nsel != o.end() && !nsel->value().is_null()) {
    auto parsed = api::LabelSelector::from_json(nsel->value());
    if (!parsed.ok()) return parsed.status().with_context(field + ".namespaceSelector");
    t.namespace_selector = std::move(*parsed);
  }
  if (t.namespaces.empty() && !t.namespace_selector) t.namespaces.push_back(pod_ns);
  std::sort(t.namespaces.begin(), t.namespaces.end());
  t.namespaces.erase(std::unique(t.namespaces.begin(), t.namespaces.end()), t.namespaces.end());
  KEDGE_ASSIGN_OR_RETURN(t.topology_key, string_at(o, "topologyKey", field + ".topologyKey"));
  if (t.topology_key.empty()) return invalid_argument(field + ".topologyKey: Required value: can not be empty");
  t.canonical = t.selector.matches_nothing() ? std::string("<none>") : t.selector.to_string();
  t.canonical += '|';
  for (const auto& ns : t.namespaces) t.canonical += ns + ",";
  t.canonical += '|';
  if (t.namespace_selector) t.canonical += "sel:" + t.namespace_selector->to_string();
  t.canonical += '|' + t.topology_key + '|' + std::to_string(weight);
  return t;
}

Status parse_pod_affinity(const json::object& pa, const std::string& field, const std::string& ns,
                          std::vector<PodAffinityTerm>& required, std::vector<PodAffinityTerm>& preferred) {
  if (const auto* req = array_at(pa, "requiredDuringSchedulingIgnoredDuringExecution")) {
    for (std::size_t i = 0; i < req->size(); ++i) {
      std::string f = field + ".requiredDuringSchedulingIgnoredDuringExecution[" + std::to_string(i) + "]";
      if (!(*req)[i].is_object()) return type_error(f, "object");
      KEDGE_ASSIGN_OR_RETURN(auto t, affinity_term((*req)[i].get_object(), f, ns, 0));
      required.push_back(std::move(t));
    }
  }
  if (const auto* pref = array_at(pa, "preferredDuringSchedulingIgnoredDuringExecution")) {
    for (std::size_t i = 0; i < pref->size(); ++i) {
      std::string f = field + ".preferredDuringSchedulingIgnoredDuringExecution[" + std::to_string(i) + "]";
      if (!(*pref)[i].is_object()) return type_error(f, "object");
      const auto& o = (*pref)[i].get_object();
      KEDGE_ASSIGN_OR_RETURN(std::int64_t w, int_at(o, "weight", f + ".weight", 0));
      if (w < 1 || w > 100) return invalid_argument(f + ".weight: Invalid value: " + std::to_string(w) + ": must be in the range 1-100");
      const auto* term = object_at(o, "podAffinityTerm");
      if (term == nullptr) return invalid_argument(f + ".podAffinityTerm: Required value");
      KEDGE_ASSIGN_OR_RETURN(auto t, affinity_term(*term, f + ".podAffinityTerm", ns, static_cast<std::int32_t>(w)));
      preferred.push_back(std::move(t));
    }
  }
  return ok_status();
}

Result<TopologySpreadConstraint> spread_constraint(const json::value& v, const std::string& field, const PodInfo& pod) {
  if (!v.is_object()) return type_error(field, "object");
  const auto& o = v.get_object();
  TopologySpreadConstraint c;
  KEDGE_ASSIGN_OR_RETURN(std::int64_t skew, int_at(o, "maxSkew", field + ".maxSkew", 0));
  if (skew <= 0 || skew > INT32_MAX) return invalid_argument(field + ".maxSkew: Invalid value: " + std::to_string(skew) + ": must be greater than zero");
  c.max_skew = static_cast<std::int32_t>(skew);
  KEDGE_ASSIGN_OR_RETURN(c.topology_key, string_at(o, "topologyKey", field + ".topologyKey"));
  if (c.topology_key.empty()) return invalid_argument(field + ".topologyKey: Required value: can not be empty");
  KEDGE_ASSIGN_OR_RETURN(std::string when, string_at(o, "whenUnsatisfiable", field + ".whenUnsatisfiable"));
  if (when == "DoNotSchedule") {
    c.when_unsatisfiable = WhenUnsatisfiable::kDoNotSchedule;
  } else if (when == "ScheduleAnyway") {
    c.when_unsatisfiable = WhenUnsatisfiable::kScheduleAnyway;
  } else {
    return invalid_argument(field + ".whenUnsatisfiable: Unsupported value: \"" + when +
                            "\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\"");
  }
  auto sel = o.find("labelSelector");
  if (sel == o.end() || sel->value().is_null()) {
    c.selector = api::LabelSelector::nothing();
  } else {
    auto parsed = api::LabelSelector::from_json(sel->value());
    if (!parsed.ok()) return parsed.status().with_context(field + ".labelSelector");
    c.selector = std::move(*parsed);
  }
  if (const auto* keys = array_at(o, "matchLabelKeys")) {
    for (const auto& k : *keys) {
      if (!k.is_string()) return type_error(field + ".matchLabelKeys", "string");
      auto it = pod.labels.find(k.get_string());
      // Keys the pod does not carry are ignored, as upstream.
      if (it != pod.labels.end() && it->value().is_string()) {
        c.match_labels_from_keys.emplace_back(std::string(k.get_string()), std::string(it->value().get_string()));
      }
    }
  }
  KEDGE_ASSIGN_OR_RETURN(std::int64_t min_domains, int_at(o, "minDomains", field + ".minDomains", 1));
  if (min_domains <= 0 || min_domains > INT32_MAX) return invalid_argument(field + ".minDomains: Invalid value: " + std::to_string(min_domains) + ": must be greater than 0");
  c.min_domains = static_cast<std::int32_t>(min_domains);
  KEDGE_ASSIGN_OR_RETURN(std::string nap, string_at(o, "nodeAffinityPolicy", field + ".nodeAffinityPolicy"));
  KEDGE_ASSIGN_OR_RETURN(std::string ntp, string_at(o, "nodeTaintsPolicy", field + ".nodeTaintsPolicy"));
  if (!nap.empty() && nap != "Honor" && nap != "Ignore") return invalid_argument(field + ".nodeAffinityPolicy: Unsupported value: \"" + nap + "\"");
  if (!ntp.empty() && ntp != "Honor" && ntp != "Ignore") return invalid_argument(field + ".nodeTaintsPolicy: Unsupported value: \"" + ntp + "\"");
  c.honor_node_affinity = nap != "Ignore";
  c.honor_node_taints = ntp == "Honor";
  return c;
}

// Sums/maxes the containers' requests; fills host ports and images.
Status parse_containers(const json::object& spec, PodInfo& pod) {
  Resources sum;
  std::int64_t nz_cpu = 0, nz_mem = 0;
  const auto* containers = array_at(spec, "containers");
  if (containers == nullptr) return invalid_argument("spec.containers: Required value");
  for (std::size_t i = 0; i < containers->size(); ++i) {
    std::string f = "spec.containers[" + std::to_string(i) + "]";
    if (!(*containers)[i].is_object()) return type_error(f, "object");
    const auto& c = (*containers)[i].get_object();
    Resources req;
    if (const auto* res = object_at(c, "resources")) {
      KEDGE_ASSIGN_OR_RETURN(req, resource_list(*res, "requests", f + ".resources.requests"));
      // An explicit limit with no request defaults the request (API defaulting).
      bool has_cpu = res->contains("requests") && res->at("requests").is_object() && res->at("requests").get_object().contains("cpu");
      bool has_mem = res->contains("requests") && res->at("requests").is_object() && res->at("requests").get_object().contains("memory");
      KEDGE_ASSIGN_OR_RETURN(Resources lim, resource_list(*res, "limits", f + ".resources.limits"));
      if (!has_cpu && lim.milli_cpu > 0) req.milli_cpu = lim.milli_cpu;
      if (!has_mem && lim.memory > 0) req.memory = lim.memory;
    }
    sum.add(req);
    nz_cpu += req.milli_cpu > 0 ? req.milli_cpu : kDefaultMilliCpuRequest;
    nz_mem += req.memory > 0 ? req.memory : kDefaultMemoryRequest;
    KEDGE_ASSIGN_OR_RETURN(std::string image, string_at(c, "image", f + ".image"));
    if (!image.empty()) pod.images.push_back(normalize_image_name(image));
    if (const auto* ports = array_at(c, "ports")) {
      for (std::size_t j = 0; j < ports->size(); ++j) {
        std::string pf = f + ".ports[" + std::to_string(j) + "]";
        if (!(*ports)[j].is_object()) return type_error(pf, "object");
        const auto& p = (*ports)[j].get_object();
        KEDGE_ASSIGN_OR_RETURN(std::int64_t hp, int_at(p, "hostPort", pf + ".hostPort", 0));
        if (hp == 0) continue;
        if (hp < 0 || hp > 65535) return invalid_argument(pf + ".hostPort: Invalid value: " + std::to_string(hp) + ": must be between 1 and 65535, inclusive");
        HostPort h;
        h.port = static_cast<std::int32_t>(hp);
        KEDGE_ASSIGN_OR_RETURN(h.host_ip, string_at(p, "hostIP", pf + ".hostIP"));
        KEDGE_ASSIGN_OR_RETURN(h.protocol, string_at(p, "protocol", pf + ".protocol"));
        if (h.host_ip.empty()) h.host_ip = "0.0.0.0";
        if (h.protocol.empty()) h.protocol = "TCP";
        pod.host_ports.push_back(std::move(h));
      }
    }
  }
  if (const auto* inits = array_at(spec, "initContainers")) {
    for (std::size_t i = 0; i < inits->size(); ++i) {
      std::string f = "spec.initContainers[" + std::to_string(i) + "]";
      if (!(*inits)[i].is_object()) return type_error(f, "object");
      const auto& c = (*inits)[i].get_object();
      Resources req;
      if (const auto* res = object_at(c, "resources")) {
        KEDGE_ASSIGN_OR_RETURN(req, resource_list(*res, "requests", f + ".resources.requests"));
      }
      // Restartable (sidecar) init containers run beside the app containers.
      KEDGE_ASSIGN_OR_RETURN(std::string restart, string_at(c, "restartPolicy", f + ".restartPolicy"));
      if (restart == "Always") {
        sum.add(req);
        nz_cpu += req.milli_cpu > 0 ? req.milli_cpu : kDefaultMilliCpuRequest;
        nz_mem += req.memory > 0 ? req.memory : kDefaultMemoryRequest;
        continue;
      }
      sum.set_max(req);
      nz_cpu = std::max(nz_cpu, req.milli_cpu > 0 ? req.milli_cpu : kDefaultMilliCpuRequest);
      nz_mem = std::max(nz_mem, req.memory > 0 ? req.memory : kDefaultMemoryRequest);
    }
  }
  KEDGE_ASSIGN_OR_RETURN(Resources overhead, resource_list(spec, "overhead", "spec.overhead"));
  sum.add(overhead);
  pod.requests = std::move(sum);
  pod.non_zero_milli_cpu = nz_cpu + overhead.milli_cpu;
  pod.non_zero_memory = nz_mem + overhead.memory;
  return ok_status();
}

Status parse_tolerations(const json::object& spec, PodInfo& pod) {
  const auto* tols = array_at(spec, "tolerations");
  if (tols == nullptr) return ok_status();
  for (std::size_t i = 0; i < tols->size(); ++i) {
    std::string f = "spec.tolerations[" + std::to_string(i) + "]";
    if (!(*tols)[i].is_object()) return type_error(f, "object");
    const auto& o = (*tols)[i].get_object();
    Toleration t;
    KEDGE_ASSIGN_OR_RETURN(t.key, string_at(o, "key", f + ".key"));
    KEDGE_ASSIGN_OR_RETURN(std::string op, string_at(o, "operator", f + ".operator"));
    KEDGE_ASSIGN_OR_RETURN(t.value, string_at(o, "value", f + ".value"));
    KEDGE_ASSIGN_OR_RETURN(std::string effect, string_at(o, "effect", f + ".effect"));
    if (op == "Exists") {
      t.op_exists = true;
    } else if (!op.empty() && op != "Equal") {
      return invalid_argument(f + ".operator: Unsupported value: \"" + op + "\": supported values: \"Equal\", \"Exists\"");
    }
    if (!effect.empty()) {
      KEDGE_ASSIGN_OR_RETURN(t.effect, parse_effect(effect, f + ".effect"));
    }
    pod.tolerations.push_back(std::move(t));
  }
  return ok_status();
}

Status parse_affinity(const json::object& spec, PodInfo& pod) {
  const auto* aff = object_at(spec, "affinity");
  if (aff == nullptr) return ok_status();
  if (const auto* na = object_at(*aff, "nodeAffinity")) {
    KEDGE_RETURN_IF_ERROR(parse_node_affinity(*na, "spec.affinity.nodeAffinity", pod));
  }
  if (const auto* pa = object_at(*aff, "podAffinity")) {
    KEDGE_RETURN_IF_ERROR(parse_pod_affinity(*pa, "spec.affinity.podAffinity", pod.ns, pod.required_affinity, pod.preferred_affinity));
  }
  if (const auto* paa = object_at(*aff, "podAntiAffinity")) {
    KEDGE_RETURN_IF_ERROR(parse_pod_affinity(*paa, "spec.affinity.podAntiAffinity", pod.ns, pod.required_anti_affinity,
                                             pod.preferred_anti_affinity));
  }
  return ok_status();
}

Status parse_pod_spec(const json::object& spec, PodInfo& pod) {
  KEDGE_ASSIGN_OR_RETURN(pod.scheduler_name, string_at(spec, "schedulerName", "spec.schedulerName"));
  if (pod.scheduler_name.empty()) pod.scheduler_name = std::string(kDefaultSchedulerName);
  KEDGE_ASSIGN_OR_RETURN(pod.node_name, string_at(spec, "nodeName", "spec.nodeName"));
  KEDGE_ASSIGN_OR_RETURN(std::int64_t prio, int_at(spec, "priority", "spec.priority", 0));
  pod.priority = static_cast<std::int32_t>(std::clamp<std::int64_t>(prio, INT32_MIN, INT32_MAX));
  KEDGE_ASSIGN_OR_RETURN(std::string preemption, string_at(spec, "preemptionPolicy", "spec.preemptionPolicy"));
  pod.preemption_never = preemption == "Never";
  KEDGE_RETURN_IF_ERROR(parse_containers(spec, pod));
  KEDGE_ASSIGN_OR_RETURN(pod.node_selector, string_map(spec, "nodeSelector", "spec.nodeSelector"));
  KEDGE_RETURN_IF_ERROR(parse_tolerations(spec, pod));
  KEDGE_RETURN_IF_ERROR(parse_affinity(spec, pod));
  if (const auto* tscs = array_at(spec, "topologySpreadConstraints")) {
    for (std::size_t i = 0; i < tscs->size(); ++i) {
      KEDGE_ASSIGN_OR_RETURN(auto c, spread_constraint((*tscs)[i], "spec.topologySpreadConstraints[" + std::to_string(i) + "]", pod));
      pod.spread_constraints.push_back(std::move(c));
    }
  }
  return ok_status();
}

Status parse_node_status(const json::object& status, NodeInfo& node) {
  auto alloc = status.find("allocatable");
  if (alloc != status.end() && alloc->value().is_object() && !alloc->value().get_object().empty()) {
    KEDGE_ASSIGN_OR_RETURN(node.allocatable, resource_list(status, "allocatable", "status.allocatable"));
  } else {
    KEDGE_ASSIGN_OR_RETURN(node.allocatable, resource_list(status, "capacity", "status.capacity"));
  }
  if (const auto* conds = array_at(status, "conditions")) {
    for (const auto& c : *conds) {
      if (!c.is_object()) continue;
      const auto& o = c.get_object();
      auto type = o.find("type");
      if (type == o.end() || !type->value().is_string() || type->value().get_string() != "Ready") continue;
      auto st = o.find("status");
      std::string_view s = st != o.end() && st->value().is_string() ? std::string_view(st->value().get_string()) : "";
      node.ready = s == "True" ? NodeReadiness::kTrue : s == "False" ? NodeReadiness::kFalse : NodeReadiness::kUnknown;
    }
  }
  if (const auto* images = array_at(status, "images")) {
    for (std::size_t i = 0; i < images->size(); ++i) {
      if (!(*images)[i].is_object()) continue;
      const auto& o = (*images)[i].get_object();
      KEDGE_ASSIGN_OR_RETURN(std::int64_t size, int_at(o, "sizeBytes", "status.images[" + std::to_string(i) + "].sizeBytes", 0));
      if (const auto* names = array_at(o, "names")) {
        for (const auto& n : *names) {
          if (n.is_string()) node.images.emplace_back(normalize_image_name(n.get_string()), size);
        }
      }
    }
    std::sort(node.images.begin(), node.images.end());
    node.images.erase(std::unique(node.images.begin(), node.images.end(),
                                  [](const auto& a, const auto& b) { return a.first == b.first; }),
                      node.images.end());
  }
  return ok_status();
}

}  // namespace

Result<std::shared_ptr<const PodInfo>> parse_pod(const json::value& v) {
  if (!v.is_object()) return type_error("pod", "object");
  const auto& o = v.get_object();
  auto pod = std::make_shared<PodInfo>();
  const auto* meta = object_at(o, "metadata");
  if (meta == nullptr) return invalid_argument("metadata: Required value");
  KEDGE_ASSIGN_OR_RETURN(pod->name, string_at(*meta, "name", "metadata.name"));
  if (pod->name.empty()) return invalid_argument("metadata.name: Required value: name or generateName is required");
  KEDGE_ASSIGN_OR_RETURN(pod->ns, string_at(*meta, "namespace", "metadata.namespace"));
  if (pod->ns.empty()) pod->ns = "default";
  KEDGE_ASSIGN_OR_RETURN(pod->uid, string_at(*meta, "uid", "metadata.uid"));
  auto labels = meta->find("labels");
  if (labels != meta->end() && !labels->value().is_null()) {
    if (!labels->value().is_object()) return type_error("metadata.labels", "object");
    for (const auto& kv : labels->value().get_object()) {
      if (!kv.value().is_string()) return type_error("metadata.labels[" + std::string(kv.key()) + "]", "string");
    }
    pod->labels = labels->value().get_object();
  }
  auto del = meta->find("deletionTimestamp");
  pod->terminating = del != meta->end() && !del->value().is_null();
  const auto* spec = object_at(o, "spec");
  if (spec == nullptr) return invalid_argument("spec: Required value");
  KEDGE_RETURN_IF_ERROR(parse_pod_spec(*spec, *pod));
  if (const auto* status = object_at(o, "status")) {
    KEDGE_ASSIGN_OR_RETURN(std::string phase, string_at(*status, "phase", "status.phase"));
    pod->terminal = phase == "Succeeded" || phase == "Failed";
  }
  return std::shared_ptr<const PodInfo>(std::move(pod));
}

Result<std::shared_ptr<const NodeInfo>> parse_node(const json::value& v) {
  if (!v.is_object()) return type_error("node", "object");
  const auto& o = v.get_object();
  auto node = std::make_shared<NodeInfo>();
  // No Ready condition yet (a node that just registered) counts as not ready.
  node->ready = NodeReadiness::kFalse;
  const auto* meta = object_at(o, "metadata");
  if (meta == nullptr) return invalid_argument("metadata: Required value");
  KEDGE_ASSIGN_OR_RETURN(node->name, string_at(*meta, "name", "metadata.name"));
  if (node->name.empty()) return invalid_argument("metadata.name: Required value: name or generateName is required");
  KEDGE_ASSIGN_OR_RETURN(node->labels, string_map(*meta, "labels", "metadata.labels"));
  if (const auto* spec = object_at(o, "spec")) {
    auto u = spec->find("unschedulable");
    if (u != spec->end() && !u->value().is_null()) {
      if (!u->value().is_bool()) return type_error("spec.unschedulable", "boolean");
      node->unschedulable = u->value().get_bool();
    }
    if (const auto* taints = array_at(*spec, "taints")) {
      for (std::size_t i = 0; i < taints->size(); ++i) {
        std::string f = "spec.taints[" + std::to_string(i) + "]";
        if (!(*taints)[i].is_object()) return type_error(f, "object");
        const auto& t = (*taints)[i].get_object();
        Taint taint;
        KEDGE_ASSIGN_OR_RETURN(taint.key, string_at(t, "key", f + ".key"));
        KEDGE_ASSIGN_OR_RETURN(taint.value, string_at(t, "value", f + ".value"));
        KEDGE_ASSIGN_OR_RETURN(std::string effect, string_at(t, "effect", f + ".effect"));
        KEDGE_ASSIGN_OR_RETURN(taint.effect, parse_effect(effect, f + ".effect"));
        node->taints.push_back(std::move(taint));
      }
    }
  }
  if (const auto* status = object_at(o, "status")) {
    KEDGE_RETURN_IF_ERROR(parse_node_status(*status, *node));
  }
  if (node->ready != NodeReadiness::kTrue) {
    bool has = std::any_of(node->taints.begin(), node->taints.end(), [](const Taint& t) {
      return t.key == kTaintNodeNotReady || t.key == kTaintNodeUnreachable;
    });
    if (!has) {
      node->taints.push_back(Taint{
          .key = std::string(node->ready == NodeReadiness::kUnknown ? kTaintNodeUnreachable : kTaintNodeNotReady),
          .value = "",
          .effect = TaintEffect::kNoSchedule});
    }
  }
  return std::shared_ptr<const NodeInfo>(std::move(node));
}

}  // namespace kedge::scheduler

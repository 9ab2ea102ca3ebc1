// Validation of the fields users get wrong, per kind, with upstream's field
// paths and wording (the string validators are kedge::api's).
#include <set>

#include "kedge/api/json_util.h"
#include "kedge/api/selectors.h"
#include "kedge/api/validation.h"
#include "object_util.h"
#include "strategy.h"

namespace kedge::control {

namespace {

using api::FieldError;
using api::FieldErrors;

api::NameValidator name_validator_for(const ResourceInfo& info) {
  if (info.group.empty() && info.kind == "Namespace") return api::name_is_dns_label;
  if (info.group.empty() && info.kind == "Service") return api::name_is_dns1035_label;
  if (info.group == "rbac.authorization.k8s.io") return api::name_is_path_segment;
  return api::name_is_dns_subdomain;
}

void validate_ports(const json::object& container, const std::string& path, FieldErrors& errs) {
  const auto* ports = find_array(container, "ports");
  if (ports == nullptr) return;
  for (std::size_t i = 0; i < ports->size(); ++i) {
    if (!(*ports)[i].is_object()) continue;
    const auto& p = (*ports)[i].as_object();
    std::string f = path + ".ports[" + std::to_string(i) + "]";
    std::int64_t cp = get_int(p, "containerPort", 0);
    if (!p.contains("containerPort")) {
      errs.push_back(FieldError::required(f + ".containerPort"));
    } else {
      for (const auto& m : api::is_valid_port_num(cp)) {
        errs.push_back(FieldError::invalid_int(f + ".containerPort", cp, m));
      }
    }
    if (p.contains("hostPort") && get_int(p, "hostPort", 0) != 0) {
      std::int64_t hp = get_int(p, "hostPort", 0);
      for (const auto& m : api::is_valid_port_num(hp)) {
        errs.push_back(FieldError::invalid_int(f + ".hostPort", hp, m));
      }
    }
    std::string proto = get_string(p, "protocol");
    if (!proto.empty() && proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      errs.push_back(FieldError::not_supported(f + ".protocol", proto, {"SCTP", "TCP", "UDP"}));
    }
  }
}

void validate_containers(const json::object& spec, std::string_view key, const std::string& path,
                         bool required, std::set<std::string>& names, FieldErrors& errs) {
  const auto* list = find_array(spec, key);
  std::string base = path + "." + std::string(key);
  if (list == nullptr || list->empty()) {
    if (required) errs.push_back(FieldError::required(base));
    return;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string f = base + "[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) {
      errs.push_back(FieldError::type_invalid(f, api::json_to_string((*list)[i]), "must be an object"));
      continue;
    }
    const auto& c = (*list)[i].as_object();
    std::string name = get_string(c, "name");
    if (name.empty()) {
      errs.push_back(FieldError::required(f + ".name"));
    } else {
      for (const auto& m : api::is_dns1123_label(name)) errs.push_back(FieldError::invalid(f + ".name", name, m));
      if (!names.insert(name).second) errs.push_back(FieldError::duplicate(f + ".name", name));
    }
    if (get_string(c, "image").empty()) errs.push_back(FieldError::required(f + ".image"));
    std::string pull = get_string(c, "imagePullPolicy");
    if (!pull.empty() && pull != "Always" && pull != "IfNotPresent" && pull != "Never") {
      errs.push_back(FieldError::not_supported(f + ".imagePullPolicy", pull,
                                               {"Always", "IfNotPresent", "Never"}));
    }
    validate_ports(c, f, errs);
  }
}

void validate_pod_spec(const json::object* spec, const std::string& path, bool job,
                       FieldErrors& errs) {
  if (spec == nullptr) {
    errs.push_back(FieldError::required(path));
    return;
  }
  std::set<std::string> names;
  validate_containers(*spec, "containers", path, true, names, errs);
  validate_containers(*spec, "initContainers", path, false, names, errs);
  std::string rp = get_string(*spec, "restartPolicy");
  if (job) {
    if (rp != "OnFailure" && rp != "Never") {
      errs.push_back(FieldError::not_supported(path + ".restartPolicy", rp, {"OnFailure", "Never"}));
    }
  } else if (!rp.empty() && rp != "Always" && rp != "OnFailure" && rp != "Never") {
    errs.push_back(FieldError::not_supported(path + ".restartPolicy", rp, {"Always", "OnFailure", "Never"}));
  }
  std::string dns = get_string(*spec, "dnsPolicy");
  if (!dns.empty() && dns != "ClusterFirst" && dns != "ClusterFirstWithHostNet" && dns != "Default" &&
      dns != "None") {
    errs.push_back(FieldError::not_supported(path + ".dnsPolicy", dns,
                                             {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"}));
  }
}

// Workloads: a selector is required and must match the template's labels.
void validate_workload(const json::object& obj, bool job, FieldErrors& errs) {
  const auto* spec = find_object(obj, "spec");
  if (spec == nullptr) {
    errs.push_back(FieldError::required("spec"));
    return;
  }
  if (spec->contains("replicas") && get_int(*spec, "replicas", 0) < 0) {
    errs.push_back(FieldError::invalid_int("spec.replicas", get_int(*spec, "replicas", 0),
                                           "must be greater than or equal to 0"));
  }
  const auto* tmpl = find_object(*spec, "template");
  const json::object* tmpl_labels = nullptr;
  if (tmpl != nullptr) {
    if (const auto* tm = find_object(*tmpl, "metadata")) {
      tmpl_labels = find_object(*tm, "labels");
      if (tmpl_labels != nullptr) {
        auto e = api::validate_labels(*tm->if_contains("labels"), "spec.template.metadata.labels");
        errs.insert(errs.end(), e.begin(), e.end());
      }
    }
  }
  auto sel_it = spec->find("selector");
  if (sel_it == spec->end() || !sel_it->value().is_object() || sel_it->value().as_object().empty()) {
    if (!job) errs.push_back(FieldError::required("spec.selector"));
  } else {
    auto sel = api::LabelSelector::from_json(sel_it->value());
    if (!sel.ok()) {
      errs.push_back(FieldError::invalid_raw("spec.selector", api::json_to_string(sel_it->value()),
                                             sel.status().message()));
    } else if (sel->empty() && !job) {
      errs.push_back(FieldError::invalid_raw("spec.selector", api::json_to_string(sel_it->value()),
                                             "empty selector is invalid for deployment"));
    } else if (tmpl != nullptr && !sel->matches(tmpl_labels)) {
      errs.push_back(FieldError::invalid_raw(
          "spec.template.metadata.labels",
          tmpl_labels != nullptr ? api::json_to_string(*tmpl_labels) : "{}",
          "`selector` does not match template `labels`"));
    }
  }
  if (tmpl == nullptr) {
    errs.push_back(FieldError::required("spec.template"));
  } else {
    validate_pod_spec(find_object(*tmpl, "spec"), "spec.template.spec", job, errs);
  }
}

void validate_service(const json::object& obj, FieldErrors& errs) {
  const auto* spec = find_object(obj, "spec");
  if (spec == nullptr) return;
  std::string type = get_string(*spec, "type");
  if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" && type != "ExternalName") {
    errs.push_back(FieldError::not_supported("spec.type", type,
                                             {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}));
  }
  const auto* ports = find_array(*spec, "ports");
  bool headless = get_string(*spec, "clusterIP") == "None";
  if ((ports == nullptr || ports->empty()) && type != "ExternalName" && !headless) {
    errs.push_back(FieldError::required("spec.ports"));
  }
  if (type == "ExternalName" && get_string(*spec, "externalName").empty()) {
    errs.push_back(FieldError::required("spec.externalName"));
  }
  if (ports == nullptr) return;
  std::set<std::string> names;
  for (std::size_t i = 0; i < ports->size(); ++i) {
    if (!(*ports)[i].is_object()) continue;
    const auto& p = (*ports)[i].as_object();
    std::string f = "spec.ports[" + std::to_string(i) + "]";
    std::string name = get_string(p, "name");
    if (ports->size() > 1 && name.empty()) errs.push_back(FieldError::required(f + ".name"));
    if (!name.empty() && !names.insert(name).second) errs.push_back(FieldError::duplicate(f + ".name", name));
    std::int64_t port = get_int(p, "port", 0);
    for (const auto& m : api::is_valid_port_num(port)) errs.push_back(FieldError::invalid_int(f + ".port", port, m));
    auto tp = p.find("targetPort");
    if (tp != p.end() && (tp->value().is_int64() || tp->value().is_uint64())) {
      std::int64_t v = get_int(p, "targetPort", 0);
      for (const auto& m : api::is_valid_port_num(v)) errs.push_back(FieldError::invalid_int(f + ".targetPort", v, m));
    }
    std::string proto = get_string(p, "protocol");
    if (!proto.empty() && proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      errs.push_back(FieldError::not_supported(f + ".protocol", proto, {"SCTP", "TCP", "UDP"}));
    }
  }
}

void validate_data_keys(const json::object& obj, std::string_view field, FieldErrors& errs) {
  const auto* data = find_object(obj, field);
  if (data == nullptr) return;
  for (const auto& kv : *data) {
    std::string key(kv.key());
    bool ok = !key.empty() && key.size() <= 253 && key != "." && key != "..";
    for (char c : key) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) ok = false;
    }
    if (!ok) {
      errs.push_back(FieldError::invalid(std::string(field), key,
                                         "a valid config key must consist of alphanumeric characters, "
                                         "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                                         "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
    }
  }
}

}  // namespace

std::vector<FieldCause> validate_object(const ResourceInfo& info, const json::object& obj,
                                        const json::object* old) {
  FieldErrors errs;
  auto meta_it = obj.find("metadata");
  if (meta_it != obj.end() && meta_it->value().is_object()) {
    errs = api::validate_object_meta(meta_it->value().as_object(), info.namespaced,
                                     name_validator_for(info));
  }
  const auto k = info.kind;
  if (info.group.empty() && k == "Pod") {
    validate_pod_spec(find_object(obj, "spec"), "spec", false, errs);
  } else if (info.group == "apps" && (k == "Deployment" || k == "ReplicaSet" || k == "DaemonSet" ||
                                      k == "StatefulSet")) {
    validate_workload(obj, false, errs);
    if (old != nullptr) {
      const auto* a = find_object(*old, "spec");
      const auto* b = find_object(obj, "spec");
      if (a != nullptr && b != nullptr && a->contains("selector") && b->contains("selector") &&
          !api::json_equal(a->at("selector"), b->at("selector"))) {
        errs.push_back(FieldError::invalid_raw("spec.selector", api::json_to_string(b->at("selector")),
                                               "field is immutable"));
      }
    }
  } else if (info.group == "batch" && k == "Job") {
    validate_workload(obj, true, errs);
  } else if (info.group == "batch" && k == "CronJob") {
    const auto* spec = find_object(obj, "spec");
    if (spec == nullptr || get_string(*spec, "schedule").empty()) errs.push_back(FieldError::required("spec.schedule"));
    if (spec != nullptr) {
      const auto* jt = find_object(*spec, "jobTemplate");
      const auto* js = jt != nullptr ? find_object(*jt, "spec") : nullptr;
      const auto* t = js != nullptr ? find_object(*js, "template") : nullptr;
      validate_pod_spec(t != nullptr ? find_object(*t, "spec") : nullptr,
                        "spec.jobTemplate.spec.template.spec", true, errs);
    }
  } else if (info.group.empty() && k == "Service") {
    validate_service(obj, errs);
  } else if (info.group.empty() && (k == "ConfigMap" || k == "Secret")) {
    validate_data_keys(obj, "data", errs);
    if (k == "ConfigMap") validate_data_keys(obj, "binaryData", errs);
    if (k == "Secret") {
      if (const auto* data = find_object(obj, "data")) {
        for (const auto& kv : *data) {
          std::string decoded;
          if (!kv.value().is_string() || !base64_decode(kv.value().as_string(), decoded)) {
            errs.push_back(FieldError::invalid(std::string("data[") + std::string(kv.key()) + "]",
                                               "<secret contents redacted>",
                                               "illegal base64 data"));
          }
        }
      }
    }
    if (old != nullptr && old->contains("immutable") && old->at("immutable").is_bool() &&
        old->at("immutable").as_bool()) {
      for (auto f : {"data", "binaryData"}) {
        bool a = old->contains(f), b = obj.contains(f);
        if (a != b || (a && !api::json_equal(old->at(f), obj.at(f)))) {
          errs.push_back(FieldError::forbidden(f, "field is immutable when `immutable` is set"));
        }
      }
    }
  }
  std::vector<FieldCause> out;
  for (const auto& e : errs) out.push_back(FieldCause{std::string(e.reason()), e.field, e.body()});
  return out;
}

}  // namespace kedge::control

#include "strategy.h"

#include <algorithm>
#include <set>

#include "kedge/api/protobuf.h"
#include "object_util.h"

namespace kedge::control {

namespace {

bool is(const ResourceInfo& info, std::string_view group, std::string_view kind) {
  return info.group == group && info.kind == kind;
}

void set_default(json::object& o, std::string_view key, json::value v) {
  if (o.find(key) == o.end() || o.at(key).is_null()) o[key] = std::move(v);
}

std::string image_pull_policy_for(std::string_view image) {
  // Upstream: Always for ":latest" or no tag (digests pin the image).
  if (image.find('@') != std::string_view::npos) return "IfNotPresent";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  bool has_tag = colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash);
  if (!has_tag || image.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

void default_containers(json::object& spec, std::string_view key) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->value().is_array()) return;
  for (auto& c : it->value().as_array()) {
    if (!c.is_object()) continue;
    auto& co = c.as_object();
    set_default(co, "imagePullPolicy", json::value(image_pull_policy_for(get_string(co, "image"))));
    set_default(co, "terminationMessagePath", "/dev/termination-log");
    set_default(co, "terminationMessagePolicy", "File");
    set_default(co, "resources", json::object{});
    if (auto* ports = co.if_contains("ports"); ports != nullptr && ports->is_array()) {
      for (auto& p : ports->as_array()) {
        if (p.is_object()) set_default(p.as_object(), "protocol", "TCP");
      }
    }
  }
}

void default_pod_spec(json::object& spec, bool job_template) {
  if (!job_template) set_default(spec, "restartPolicy", "Always");
  set_default(spec, "dnsPolicy", "ClusterFirst");
  set_default(spec, "schedulerName", "default-scheduler");
  set_default(spec, "terminationGracePeriodSeconds", 30);
  set_default(spec, "securityContext", json::object{});
  set_default(spec, "enableServiceLinks", true);
  default_containers(spec, "containers");
  default_containers(spec, "initContainers");
}

// spec.template.spec of workload kinds.
json::object* template_pod_spec(json::object& obj) {
  auto* spec = find_object(obj, "spec");
  if (spec == nullptr) return nullptr;
  auto* tmpl = find_object(*spec, "template");
  if (tmpl == nullptr) return nullptr;
  return find_object(*tmpl, "spec");
}

void default_secret(json::object& obj) {
  set_default(obj, "type", "Opaque");
  // stringData is write-only: merged into data (base64) as upstream does.
  auto it = obj.find("stringData");
  if (it == obj.end()) return;
  if (it->value().is_object()) {
    auto& data = child_object(obj, "data");
    for (const auto& kv : it->value().as_object()) {
      if (kv.value().is_string()) data[kv.key()] = base64_encode(kv.value().as_string());
    }
  }
  obj.erase("stringData");
}

void default_service(json::object& spec) {
  set_default(spec, "type", "ClusterIP");
  set_default(spec, "sessionAffinity", "None");
  std::string type = get_string(spec, "type");
  if (type != "ExternalName") {
    set_default(spec, "ipFamilies", json::array{"IPv4"});
    set_default(spec, "ipFamilyPolicy", "SingleStack");
    set_default(spec, "internalTrafficPolicy", "Cluster");
  }
  if (type == "NodePort" || type == "LoadBalancer") set_default(spec, "externalTrafficPolicy", "Cluster");
  if (auto* ports = spec.if_contains("ports"); ports != nullptr && ports->is_array()) {
    for (auto& p : ports->as_array()) {
      if (!p.is_object()) continue;
      auto& po = p.as_object();
      set_default(po, "protocol", "TCP");
      if (po.find("targetPort") == po.end() && po.contains("port")) po["targetPort"] = po["port"];
    }
  }
}

}  // namespace

bool tracks_generation(const ResourceInfo& info) {
  return info.group == "apps" || info.group == "batch" ||
         (info.group.empty() && (info.kind == "PersistentVolumeClaim"));
}

void apply_defaults(const ResourceInfo& info, json::object& obj) {
  auto& spec_holder = obj;
  if (is(info, "", "Pod")) {
    default_pod_spec(child_object(spec_holder, "spec"), false);
  } else if (is(info, "", "Secret")) {
    default_secret(obj);
  } else if (is(info, "", "Service")) {
    default_service(child_object(obj, "spec"));
  } else if (is(info, "", "Namespace")) {
    auto& spec = child_object(obj, "spec");
    set_default(spec, "finalizers", json::array{"kubernetes"});
    auto& labels = child_object(child_object(obj, "metadata"), "labels");
    labels["kubernetes.io/metadata.name"] = get_string(metadata_of(obj), "name");
  } else if (is(info, "", "PersistentVolumeClaim")) {
    set_default(child_object(obj, "spec"), "volumeMode", "Filesystem");
  } else if (is(info, "", "PersistentVolume")) {
    auto& spec = child_object(obj, "spec");
    set_default(spec, "volumeMode", "Filesystem");
    set_default(spec, "persistentVolumeReclaimPolicy", "Retain");
  } else if (is(info, "storage.k8s.io", "StorageClass")) {
    set_default(obj, "reclaimPolicy", "Delete");
    set_default(obj, "volumeBindingMode", "Immediate");
  } else if (info.group == "apps") {
    auto& spec = child_object(obj, "spec");
    if (info.kind != "DaemonSet" && info.kind != "ControllerRevision") set_default(spec, "replicas", 1);
    if (info.kind == "Deployment") {
      set_default(spec, "revisionHistoryLimit", 10);
      set_default(spec, "progressDeadlineSeconds", 600);
      // kubectl create sends "strategy": {}; upstream defaults the type in it.
      auto& strategy = child_object(spec, "strategy");
      set_default(strategy, "type", "RollingUpdate");
      if (get_string(strategy, "type") == "RollingUpdate") {
        auto& ru = child_object(strategy, "rollingUpdate");
        set_default(ru, "maxUnavailable", "25%");
        set_default(ru, "maxSurge", "25%");
      }
    } else if (info.kind == "StatefulSet") {
      set_default(spec, "revisionHistoryLimit", 10);
      set_default(spec, "podManagementPolicy", "OrderedReady");
      set_default(spec, "updateStrategy",
                  json::object{{"type", "RollingUpdate"},
                               {"rollingUpdate", json::object{{"partition", 0}}}});
    } else if (info.kind == "DaemonSet") {
      set_default(spec, "revisionHistoryLimit", 10);
      set_default(spec, "updateStrategy",
                  json::object{{"type", "RollingUpdate"},
                               {"rollingUpdate",
                                json::object{{"maxUnavailable", 1}, {"maxSurge", 0}}}});
    }
    if (info.kind != "ControllerRevision") {
      if (auto* ps = template_pod_spec(obj)) default_pod_spec(*ps, false);
    }
  } else if (is(info, "batch", "Job")) {
    auto& spec = child_object(obj, "spec");
    set_default(spec, "parallelism", 1);
    set_default(spec, "backoffLimit", 6);
    set_default(spec, "completionMode", "NonIndexed");
    set_default(spec, "suspend", false);
    if (!spec.contains("completions")) spec["completions"] = 1;
    if (auto* ps = template_pod_spec(obj)) default_pod_spec(*ps, true);
  } else if (is(info, "batch", "CronJob")) {
    auto& spec = child_object(obj, "spec");
    set_default(spec, "concurrencyPolicy", "Allow");
    set_default(spec, "suspend", false);
    set_default(spec, "successfulJobsHistoryLimit", 3);
    set_default(spec, "failedJobsHistoryLimit", 1);
    if (auto* jt = find_object(spec, "jobTemplate")) {
      if (auto* js = find_object(*jt, "spec")) {
        set_default(*js, "backoffLimit", 6);
        if (auto* tmpl = find_object(*js, "template")) {
          if (auto* ps = find_object(*tmpl, "spec")) default_pod_spec(*ps, true);
        }
      }
    }
  }
}

// Upstream's DefaultTolerationSeconds admission: a pod that does not already
// tolerate the node lifecycle controller's NoExecute not-ready/unreachable
// taints tolerates them for 300 s, so a short node outage does not evict it.
static void add_default_tolerations(json::object& spec) {
  auto* existing = spec.if_contains("tolerations");
  if (existing != nullptr && !existing->is_array()) return;  // validation reports it
  if (existing == nullptr) existing = &(spec["tolerations"] = json::array{});
  auto& tolerations = existing->as_array();
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    bool tolerated = false;
    for (const auto& t : tolerations) {
      const auto* o = t.if_object();
      if (o == nullptr) continue;
      const auto k = get_string(*o, "key");
      const auto effect = get_string(*o, "effect");
      const bool exists = get_string(*o, "operator") == "Exists";
      if ((k == key || (k.empty() && exists)) && (effect.empty() || effect == "NoExecute")) tolerated = true;
    }
    if (!tolerated) {
      tolerations.push_back(json::object{
          {"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", 300}});
    }
  }
}

void default_storage_class(json::object& pvc, const std::vector<json::object>& classes) {
  auto& spec = child_object(pvc, "spec");
  if (spec.contains("storageClassName")) return;
  const json::object* chosen = nullptr;
  for (const auto& sc : classes) {
    const auto* ann = find_object(metadata_of(sc), "annotations");
    if (ann == nullptr || (get_string(*ann, "storageclass.kubernetes.io/is-default-class") != "true" &&
                           get_string(*ann, "storageclass.beta.kubernetes.io/is-default-class") != "true")) {
      continue;
    }
    // RFC 3339 UTC timestamps order as strings.
    if (chosen == nullptr || get_string(metadata_of(sc), "creationTimestamp") >
                                 get_string(metadata_of(*chosen), "creationTimestamp")) {
      chosen = &sc;
    }
  }
  if (chosen != nullptr) spec["storageClassName"] = get_string(metadata_of(*chosen), "name");
}

void prepare_for_create(const ResourceInfo& info, json::object& obj) {
  if (is(info, "", "Pod")) {
    add_default_tolerations(child_object(obj, "spec"));
    auto& status = child_object(obj, "status");
    set_default(status, "phase", "Pending");
    set_default(status, "qosClass", "BestEffort");
  } else if (is(info, "", "Namespace")) {
    obj["status"] = json::object{{"phase", "Active"}};
  } else if (is(info, "", "PersistentVolumeClaim")) {
    obj["status"] = json::object{{"phase", "Pending"}};
  } else if (is(info, "", "PersistentVolume")) {
    obj["status"] = json::object{{"phase", "Pending"}};
  } else if (is(info, "", "Service")) {
    obj["status"] = json::object{{"loadBalancer", json::object{}}};
  } else if (info.has_status && !is(info, "", "Node")) {
    // Controllers own status; a client cannot create it (upstream resets it).
    obj.erase("status");
  }
  if (is(info, "batch", "Job")) {
    // Upstream's generated selector ties the Job to its pods by uid.
    auto& spec = child_object(obj, "spec");
    bool manual = spec.contains("manualSelector") && spec["manualSelector"].is_bool() &&
                  spec["manualSelector"].as_bool();
    if (!manual && !spec.contains("selector")) {
      std::string uid = get_string(metadata_of(obj), "uid");
      spec["selector"] = json::object{
          {"matchLabels", json::object{{"batch.kubernetes.io/controller-uid", uid}}}};
      if (auto* tmpl = find_object(spec, "template")) {
        auto& labels = child_object(child_object(*tmpl, "metadata"), "labels");
        labels["batch.kubernetes.io/controller-uid"] = uid;
        labels["batch.kubernetes.io/job-name"] = get_string(metadata_of(obj), "name");
        labels["controller-uid"] = uid;
        labels["job-name"] = get_string(metadata_of(obj), "name");
      }
    }
  }
}

void prepare_for_update(const ResourceInfo& info, json::object& obj, const json::object& old,
                        Subresource sub) {
  if (sub == Subresource::kStatus) {
    // Only status changes; metadata and spec stay as stored.
    json::value status = obj.contains("status") ? obj["status"] : json::value(nullptr);
    json::object merged = old;
    if (status.is_null()) merged.erase("status");
    else merged["status"] = std::move(status);
    obj = std::move(merged);
    return;
  }
  if (info.has_status) {
    auto it = old.find("status");
    if (it != old.end()) obj["status"] = it->value();
    else obj.erase("status");
  }
  if (is(info, "", "Namespace")) {
    // spec.finalizers belongs to the namespace lifecycle (finalize subresource).
    if (auto* spec = find_object(old, "spec")) obj["spec"] = *spec;
  }
}

std::vector<std::string> unknown_fields(const ResourceInfo& info, const json::object& obj) {
  // Kinds in kedge's schema subset (api/proto) are checked at every depth, as
  // upstream's strict decoding does; the rest by the top-level lists below.
  const std::string api_version =
      info.group.empty() ? std::string(info.version) : std::string(info.group) + "/" + std::string(info.version);
  if (auto deep = api::unknown_json_fields(api_version, info.kind, obj)) return std::move(*deep);
  static const std::set<std::string_view> kMeta = {
      "name",          "generateName",    "namespace",         "selfLink",
      "uid",           "resourceVersion", "generation",        "creationTimestamp",
      "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
      "ownerReferences", "finalizers",    "managedFields"};
  std::set<std::string_view> top = {"apiVersion", "kind", "metadata"};
  auto add = [&](std::initializer_list<std::string_view> l) { top.insert(l.begin(), l.end()); };
  const auto k = info.kind;
  if (k == "ConfigMap") add({"data", "binaryData", "immutable"});
  else if (k == "Secret") add({"data", "stringData", "type", "immutable"});
  else if (k == "ServiceAccount") add({"secrets", "imagePullSecrets", "automountServiceAccountToken"});
  else if (k == "Endpoints") add({"subsets"});
  else if (k == "EndpointSlice") add({"addressType", "endpoints", "ports"});
  else if (k == "Role" || k == "ClusterRole") add({"rules", "aggregationRule"});
  else if (k == "RoleBinding" || k == "ClusterRoleBinding") add({"subjects", "roleRef"});
  else if (k == "ControllerRevision") add({"data", "revision"});
  else if (k == "PriorityClass") add({"value", "globalDefault", "description", "preemptionPolicy"});
  else if (k == "StorageClass") {
    add({"provisioner", "parameters", "reclaimPolicy", "mountOptions", "allowVolumeExpansion", "volumeBindingMode",
         "allowedTopologies"});
  }
  else if (k == "Event" && info.group.empty()) {
    add({"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
         "type", "eventTime", "series", "action", "related", "reportingComponent",
         "reportingInstance"});
  } else if (k == "Event") {
    add({"eventTime", "series", "reportingController", "reportingInstance", "action", "reason",
         "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
         "deprecatedLastTimestamp", "deprecatedCount"});
  } else {
    add({"spec", "status"});
  }
  std::vector<std::string> out;
  for (const auto& kv : obj) {
    if (!top.contains(kv.key())) out.push_back(std::string(kv.key()));
  }
  for (const auto& kv : metadata_of(obj)) {
    if (!kMeta.contains(kv.key())) out.push_back("metadata." + std::string(kv.key()));
  }
  return out;
}

bool field_value(const ResourceInfo& info, const json::object& obj, std::string_view field,
                 std::string& value) {
  const auto& meta = metadata_of(obj);
  if (field == "metadata.name") {
    value = get_string(meta, "name");
    return true;
  }
  if (field == "metadata.namespace") {
    value = get_string(meta, "namespace");
    return true;
  }
  std::vector<std::string_view> allowed;
  const auto k = info.kind;
  if (is(info, "", "Pod")) {
    allowed = {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "status.phase", "status.podIP",
               "status.nominatedNodeName"};
    if (field == "spec.hostNetwork") {
      const auto* spec = find_object(obj, "spec");
      bool host = spec != nullptr && spec->contains("hostNetwork") &&
                  spec->at("hostNetwork").is_bool() && spec->at("hostNetwork").as_bool();
      value = host ? "true" : "false";
      return true;
    }
  } else if (k == "Event" && info.group.empty()) {
    allowed = {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type"};
    if (field == "source") {
      value = string_at_path(obj, "source.component");
      return true;
    }
  } else if (k == "Event") {
    allowed = {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
               "reason", "reportingController", "type"};
  } else if (is(info, "", "Secret")) {
    allowed = {"type"};
  } else if (is(info, "", "Namespace")) {
    allowed = {"status.phase"};
  } else if (is(info, "", "Service")) {
    allowed = {"spec.clusterIP", "spec.type"};
  } else if (is(info, "", "Node")) {
    if (field == "spec.unschedulable") {
      const auto* spec = find_object(obj, "spec");
      bool u = spec != nullptr && spec->contains("unschedulable") &&
               spec->at("unschedulable").is_bool() && spec->at("unschedulable").as_bool();
      value = u ? "true" : "false";
      return true;
    }
  } else if (is(info, "certificates.k8s.io", "CertificateSigningRequest")) {
    allowed = {"spec.signerName"};
  } else if (is(info, "batch", "Job")) {
    if (field == "status.successful") {
      const auto* st = find_object(obj, "status");
      value = std::to_string(st != nullptr ? get_int(*st, "succeeded", 0) : 0);
      return true;
    }
  } else if (is(info, "apps", "ReplicaSet")) {
    if (field == "status.replicas") {
      const auto* st = find_object(obj, "status");
      value = std::to_string(st != nullptr ? get_int(*st, "replicas", 0) : 0);
      return true;
    }
  }
  if (std::find(allowed.begin(), allowed.end(), field) == allowed.end()) return false;
  value = string_at_path(obj, field);
  return true;
}

}  // namespace kedge::control

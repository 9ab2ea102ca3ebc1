#include "kedge/control/resources.h"

#include <algorithm>

namespace kedge::control {
namespace {

ResourceInfo r(std::string_view group, std::string_view version, std::string_view resource,
               std::string_view singular, std::string_view kind, bool namespaced,
               std::vector<std::string_view> short_names = {},
               std::vector<std::string_view> categories = {}, bool status = false,
               bool scale = false) {
  ResourceInfo info;
  info.group = group;
  info.version = version;
  info.resource = resource;
  info.singular = singular;
  info.kind = kind;
  info.namespaced = namespaced;
  info.short_names = std::move(short_names);
  info.categories = std::move(categories);
  info.has_status = status;
  info.has_scale = scale;
  info.storage = resource;
  return info;
}

std::vector<ResourceInfo> build_catalog() {
  constexpr bool kNs = true;
  constexpr bool kCluster = false;
  std::vector<ResourceInfo> c;
  // core/v1
  c.push_back(r("", "v1", "namespaces", "namespace", "Namespace", kCluster, {"ns"}, {}, true));
  c.push_back(r("", "v1", "pods", "pod", "Pod", kNs, {"po"}, {"all"}, true));
  c.push_back(r("", "v1", "nodes", "node", "Node", kCluster, {"no"}, {}, true));
  c.push_back(r("", "v1", "services", "service", "Service", kNs, {"svc"}, {"all"}, true));
  c.push_back(r("", "v1", "endpoints", "endpoints", "Endpoints", kNs, {"ep"}));
  c.push_back(r("", "v1", "configmaps", "configmap", "ConfigMap", kNs, {"cm"}));
  c.push_back(r("", "v1", "secrets", "secret", "Secret", kNs));
  c.push_back(r("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", kNs, {"sa"}));
  c.push_back(r("", "v1", "events", "event", "Event", kNs, {"ev"}));
  c.push_back(r("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", kCluster,
                {"pv"}, {}, true));
  c.push_back(r("", "v1", "persistentvolumeclaims", "persistentvolumeclaim",
                "PersistentVolumeClaim", kNs, {"pvc"}, {}, true));
  c.push_back(r("", "v1", "limitranges", "limitrange", "LimitRange", kNs, {"limits"}));
  c.push_back(r("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", kNs, {"quota"}, {},
                true));
  // apps/v1
  c.push_back(r("apps", "v1", "deployments", "deployment", "Deployment", kNs, {"deploy"}, {"all"},
                true, true));
  c.push_back(r("apps", "v1", "replicasets", "replicaset", "ReplicaSet", kNs, {"rs"}, {"all"}, true,
                true));
  c.push_back(r("apps", "v1", "daemonsets", "daemonset", "DaemonSet", kNs, {"ds"}, {"all"}, true));
  c.push_back(r("apps", "v1", "statefulsets", "statefulset", "StatefulSet", kNs, {"sts"}, {"all"},
                true, true));
  c.push_back(r("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision",
                kNs));
  // batch/v1
  c.push_back(r("batch", "v1", "jobs", "job", "Job", kNs, {}, {"all"}, true));
  c.push_back(r("batch", "v1", "cronjobs", "cronjob", "CronJob", kNs, {"cj"}, {"all"}, true));
  // coordination.k8s.io/v1
  c.push_back(r("coordination.k8s.io", "v1", "leases", "lease", "Lease", kNs));
  // discovery.k8s.io/v1
  c.push_back(r("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", kNs));
  // events.k8s.io/v1: separate storage (no conversion from core/v1 events).
  {
    auto ev = r("events.k8s.io", "v1", "events", "event", "Event", kNs, {"ev"});
    ev.storage = "events.events.k8s.io";
    c.push_back(std::move(ev));
  }
  // rbac.authorization.k8s.io/v1: stored and served, not enforced yet.
  c.push_back(r("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", kNs));
  c.push_back(r("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding",
                kNs));
  c.push_back(r("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole",
                kCluster));
  c.push_back(r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                "ClusterRoleBinding", kCluster));
  // policy/v1, networking.k8s.io/v1, scheduling.k8s.io/v1: stored and served
  // (kubectl create pdb|ingress|priorityclass); no controllers act on them yet.
  c.push_back(r("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
                kNs, {"pdb"}, {}, true));
  c.push_back(r("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", kNs, {"ing"}, {}, true));
  c.push_back(r("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", kCluster));
  c.push_back(r("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", kNs,
                {"netpol"}));
  c.push_back(r("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass",
                kCluster, {"pc"}));
  // storage.k8s.io/v1: the local-path provisioner's classes (kedge's PV controller).
  c.push_back(r("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", kCluster, {"sc"}));
  // certificates.k8s.io/v1
  c.push_back(r("certificates.k8s.io", "v1", "certificatesigningrequests",
                "certificatesigningrequest", "CertificateSigningRequest", kCluster, {"csr"}, {},
                true));
  // authentication.k8s.io/v1: virtual, create only (kubectl auth whoami).
  {
    auto ssr = r("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview",
                 "SelfSubjectReview", kCluster);
    ssr.create_only = true;
    c.push_back(std::move(ssr));
  }
  return c;
}

const std::vector<ResourceInfo>& catalog() {
  static const std::vector<ResourceInfo> kCatalog = build_catalog();
  return kCatalog;
}

}  // namespace

std::string ResourceInfo::api_version() const {
  if (group.empty()) return std::string(version);
  return std::string(group) + "/" + std::string(version);
}

std::string ResourceInfo::group_version_path() const {
  if (group.empty()) return "/api/" + std::string(version);
  return "/apis/" + api_version();
}

std::span<const ResourceInfo> all_resources() { return catalog(); }

const ResourceInfo* find_resource(std::string_view group, std::string_view version,
                                  std::string_view resource) {
  for (const auto& info : catalog()) {
    if (info.group == group && info.version == version && info.resource == resource) return &info;
  }
  return nullptr;
}

const ResourceInfo* find_kind(std::string_view group, std::string_view version,
                              std::string_view kind) {
  for (const auto& info : catalog()) {
    if (info.group == group && info.version == version && info.kind == kind) return &info;
  }
  return nullptr;
}

std::vector<GroupVersion> served_group_versions() {
  std::vector<GroupVersion> out;
  for (const auto& info : catalog()) {
    bool seen = std::any_of(out.begin(), out.end(), [&](const GroupVersion& gv) {
      return gv.group == info.group && gv.version == info.version;
    });
    if (!seen) out.push_back({info.group, info.version});
  }
  return out;
}

}  // namespace kedge::control

#include "smp_schema.h"

#include <utility>
#include <vector>

namespace kedge::api::smp {

namespace {

Field merge_by(std::string key, const Node* elem = nullptr) { return Field{true, std::move(key), false, elem}; }
Field set_list() { return Field{true, "", false, nullptr}; }
Field obj(const Node* n) { return Field{false, "", false, n}; }

// The schemas, built once. Facts from the patchStrategy/patchMergeKey tags of
// k8s.io/api (core/v1, apps/v1, batch/v1 ...).
struct Schemas {
  Node object_meta, container, pod_spec, pod_status, pod_template, pod, conditions_status;
  Node workload_spec, workload, deployment_spec, deployment, cron_job_template_spec, cron_job_template;
  Node cron_job_spec, cron_job, service_spec, service, node_spec, node_status, node, service_account;
  Node metadata_only, pod_template_kind;
  std::map<std::pair<std::string, std::string>, const Node*, std::less<>> kinds;

  Schemas() {
    object_meta.fields = {{"finalizers", set_list()}, {"ownerReferences", merge_by("uid")}};
    container.fields = {{"ports", merge_by("containerPort")},
                        {"env", merge_by("name")},
                        {"volumeMounts", merge_by("mountPath")},
                        {"volumeDevices", merge_by("devicePath")}};
    pod_spec.fields = {{"containers", merge_by("name", &container)},
                       {"initContainers", merge_by("name", &container)},
                       {"ephemeralContainers", merge_by("name", &container)},
                       {"volumes", merge_by("name")},
                       {"imagePullSecrets", merge_by("name")},
                       {"hostAliases", merge_by("ip")},
                       {"topologySpreadConstraints", merge_by("topologyKey")},
                       {"schedulingGates", merge_by("name")},
                       {"resourceClaims", merge_by("name")}};
    pod_status.fields = {{"conditions", merge_by("type")},
                         {"podIPs", merge_by("ip")},
                         {"hostIPs", merge_by("ip")},
                         {"resourceClaimStatuses", merge_by("name")}};
    pod_template.fields = {{"metadata", obj(&object_meta)}, {"spec", obj(&pod_spec)}};
    pod.fields = {{"metadata", obj(&object_meta)}, {"spec", obj(&pod_spec)}, {"status", obj(&pod_status)}};
    conditions_status.fields = {{"conditions", merge_by("type")}};

    // ReplicaSet, DaemonSet, StatefulSet, Job, ReplicationController: spec.template.
    workload_spec.fields = {{"template", obj(&pod_template)}};
    workload.fields = {{"metadata", obj(&object_meta)},
                       {"spec", obj(&workload_spec)},
                       {"status", obj(&conditions_status)}};
    // Deployment's spec.strategy is "retainKeys": handled by the $retainKeys
    // directive kubectl sends, which applies to any map.
    deployment = workload;
    cron_job_template_spec.fields = {{"template", obj(&pod_template)}};
    cron_job_template.fields = {{"metadata", obj(&object_meta)}, {"spec", obj(&cron_job_template_spec)}};
    cron_job_spec.fields = {{"jobTemplate", obj(&cron_job_template)}};
    cron_job.fields = {{"metadata", obj(&object_meta)}, {"spec", obj(&cron_job_spec)}};

    service_spec.fields = {{"ports", merge_by("port")}};
    service.fields = {{"metadata", obj(&object_meta)},
                      {"spec", obj(&service_spec)},
                      {"status", obj(&conditions_status)}};
    node_spec.fields = {{"podCIDRs", set_list()}};
    node_status.fields = {{"conditions", merge_by("type")}, {"addresses", merge_by("type")}};
    node.fields = {{"metadata", obj(&object_meta)}, {"spec", obj(&node_spec)}, {"status", obj(&node_status)}};
    service_account.fields = {{"metadata", obj(&object_meta)}, {"secrets", merge_by("name")}};
    pod_template_kind.fields = {{"metadata", obj(&object_meta)}, {"template", obj(&pod_template)}};

    // Kinds whose only strategic lists live in metadata (plus status
    // conditions, merged by type where the kind has them).
    metadata_only.fields = {{"metadata", obj(&object_meta)}, {"status", obj(&conditions_status)}};

    kinds[{"", "Pod"}] = &pod;
    kinds[{"", "PodTemplate"}] = &pod_template_kind;
    kinds[{"", "ReplicationController"}] = &workload;
    kinds[{"", "Service"}] = &service;
    kinds[{"", "Node"}] = &node;
    kinds[{"", "ServiceAccount"}] = &service_account;
    for (const char* k : {"Namespace", "ConfigMap", "Secret", "Endpoints", "Event", "PersistentVolume",
                          "PersistentVolumeClaim", "LimitRange", "ResourceQuota", "Binding"}) {
      kinds[{"", k}] = &metadata_only;
    }
    kinds[{"apps", "Deployment"}] = &deployment;
    for (const char* k : {"ReplicaSet", "DaemonSet", "StatefulSet"}) kinds[{"apps", k}] = &workload;
    kinds[{"apps", "ControllerRevision"}] = &metadata_only;
    kinds[{"batch", "Job"}] = &workload;
    kinds[{"batch", "CronJob"}] = &cron_job;
    const std::vector<std::pair<const char*, const char*>> plain = {
        {"coordination.k8s.io", "Lease"},
        {"discovery.k8s.io", "EndpointSlice"},
        {"events.k8s.io", "Event"},
        {"rbac.authorization.k8s.io", "Role"},
        {"rbac.authorization.k8s.io", "ClusterRole"},
        {"rbac.authorization.k8s.io", "RoleBinding"},
        {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
        {"certificates.k8s.io", "CertificateSigningRequest"},
        {"autoscaling", "Scale"},
        {"networking.k8s.io", "Ingress"},
        {"networking.k8s.io", "IngressClass"},
        {"networking.k8s.io", "NetworkPolicy"},
        {"policy", "PodDisruptionBudget"},
        {"scheduling.k8s.io", "PriorityClass"},
        {"storage.k8s.io", "StorageClass"},
        {"node.k8s.io", "RuntimeClass"},
        {"authentication.k8s.io", "SelfSubjectReview"},
    };
    for (const auto& [g, k] : plain) kinds[{g, k}] = &metadata_only;
  }
};

}  // namespace

const Node* kind_schema(std::string_view group, std::string_view kind) {
  static const Schemas schemas;
  auto it = schemas.kinds.find(std::pair<std::string, std::string>(group, kind));
  return it == schemas.kinds.end() ? nullptr : it->second;
}

}  // namespace kedge::api::smp

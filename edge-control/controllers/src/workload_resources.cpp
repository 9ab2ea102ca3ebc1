#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

const Resource& services_resource() {
  static const Resource r{.group_version = "v1", .plural = "services", .kind = "Service"};
  return r;
}
const Resource& endpoints_resource() {
  static const Resource r{.group_version = "v1", .plural = "endpoints", .kind = "Endpoints"};
  return r;
}
const Resource& endpointslices_resource() {
  static const Resource r{.group_version = "discovery.k8s.io/v1", .plural = "endpointslices", .kind = "EndpointSlice"};
  return r;
}
const Resource& serviceaccounts_resource() {
  static const Resource r{.group_version = "v1", .plural = "serviceaccounts", .kind = "ServiceAccount"};
  return r;
}
const Resource& configmaps_resource() {
  static const Resource r{.group_version = "v1", .plural = "configmaps", .kind = "ConfigMap"};
  return r;
}
const Resource& jobs_resource() {
  static const Resource r{.group_version = "batch/v1", .plural = "jobs", .kind = "Job"};
  return r;
}
const Resource& cronjobs_resource() {
  static const Resource r{.group_version = "batch/v1", .plural = "cronjobs", .kind = "CronJob"};
  return r;
}
const Resource& daemonsets_resource() {
  static const Resource r{.group_version = "apps/v1", .plural = "daemonsets", .kind = "DaemonSet"};
  return r;
}
const Resource& statefulsets_resource() {
  static const Resource r{.group_version = "apps/v1", .plural = "statefulsets", .kind = "StatefulSet"};
  return r;
}
const Resource& controllerrevisions_resource() {
  static const Resource r{.group_version = "apps/v1", .plural = "controllerrevisions", .kind = "ControllerRevision"};
  return r;
}
const Resource& persistentvolumeclaims_resource() {
  static const Resource r{.group_version = "v1", .plural = "persistentvolumeclaims", .kind = "PersistentVolumeClaim"};
  return r;
}

}  // namespace kedge::controllers

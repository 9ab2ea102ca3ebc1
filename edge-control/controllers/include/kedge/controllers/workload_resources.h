// The API resources the workload and service controllers (EndpointSlice,
// Endpoints, ServiceAccount, Job, CronJob, DaemonSet, StatefulSet) read and
// write, next to the core ones in transport.h.
//
// Thread-safety: each function returns a reference to an immutable static.
#pragma once

#include "kedge/controllers/transport.h"

namespace kedge::controllers {

const Resource& services_resource();
const Resource& endpoints_resource();
const Resource& endpointslices_resource();
const Resource& serviceaccounts_resource();
const Resource& configmaps_resource();
const Resource& jobs_resource();
const Resource& cronjobs_resource();
const Resource& daemonsets_resource();
const Resource& statefulsets_resource();
const Resource& controllerrevisions_resource();
const Resource& persistentvolumeclaims_resource();

}  // namespace kedge::controllers

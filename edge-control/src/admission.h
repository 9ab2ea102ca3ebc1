// Admission that needs other objects than the one written (upstream's
// admission plugins, run by the Registry on create so every writer — kubectl,
// controllers, in-process callers — goes through it).
//
// Internal to edge-control. Thread-safety: free functions; they block on the
// store through the Registry.
#pragma once

#include <string_view>

#include <boost/json/object.hpp>

#include "kedge/control/api_error.h"

namespace kedge::control {

class Registry;

// The mount path of the service-account volume, as upstream.
inline constexpr std::string_view kServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";

// ServiceAccount admission for a new pod, as upstream's plugin:
// spec.serviceAccountName defaults to "default"; the ServiceAccount must exist
// (403 naming it otherwise — except "default", which the ServiceAccount
// controller may not have created yet in a brand-new namespace); unless
// automountServiceAccountToken is false on the pod (or, when the pod leaves
// it unset, on the ServiceAccount), a projected volume kube-api-access-<5
// random> (token for 3607 s, kube-root-ca.crt's ca.crt, the namespace) is
// added and mounted read-only at kServiceAccountMountPath in every container
// and init container that has nothing mounted there.
ApiStatus admit_pod_service_account(Registry& registry, std::string_view ns, boost::json::object& pod);

}  // namespace kedge::control

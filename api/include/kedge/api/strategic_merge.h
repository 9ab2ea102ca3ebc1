// Strategic merge patch (`application/strategic-merge-patch+json`) for the
// built-in kinds, with k8s.io/apimachinery/pkg/util/strategicpatch semantics.
//
// A strategic merge patch is a merge patch (see merge_patch.h) that knows,
// per field of a built-in kind, how lists combine:
//  - lists with a merge key merge element-wise: spec.containers by "name",
//    container ports by "containerPort", env by "name", volumeMounts by
//    "mountPath", volumes/imagePullSecrets by "name", Service spec.ports by
//    "port", metadata.ownerReferences by "uid", status conditions by "type";
//  - metadata.finalizers (and Node spec.podCIDRs) merge as sets;
//  - every other list (tolerations, envFrom, args ...) is replaced whole.
// Directives:
//  - `null` deletes a field;
//  - `"$patch": "replace"` in a map replaces the map, `"$patch": "delete"`
//    empties it; as a list element `{"$patch":"replace"}` replaces the list
//    and `{"$patch":"delete","name":"x"}` deletes the element with that key;
//  - `"$retainKeys": [..]` drops the original map's keys not listed;
//  - `"$setElementOrder/<field>": [...]` fixes the final order of a merged list;
//  - `"$deleteFromPrimitiveList/<field>": [...]` removes values from a set list.
// These are exactly what `kubectl apply` (client-side, a 3-way patch),
// `kubectl patch` and `kubectl edit` send for built-in kinds. The pod template
// schema applies wherever a kind embeds one (Deployment, ReplicaSet,
// DaemonSet, StatefulSet, Job, CronJob, ReplicationController, PodTemplate).
//
// Thread-safety: pure functions over immutable static tables; reentrant.
#pragma once

#include <string_view>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

// Applies `patch` to `original` for kind `kind` of API group `group` ("" for
// core). Errors: InvalidArgument for a malformed patch (messages as upstream,
// e.g. "map: {...} does not contain declared merge key: name"); Unimplemented
// for kinds kedge does not know (upstream answers 415 for custom resources:
// use json-patch or merge-patch).
Result<boost::json::value> apply_strategic_merge_patch(const boost::json::value& original,
                                                       const boost::json::value& patch, std::string_view group,
                                                       std::string_view kind);

// True when apply_strategic_merge_patch() knows `group`/`kind`.
bool supports_strategic_merge_patch(std::string_view group, std::string_view kind);

}  // namespace kedge::api

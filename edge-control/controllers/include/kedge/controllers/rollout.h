// The arithmetic of Deployment rollouts, as pure functions (no I/O) so it can
// be tested step by step against upstream's deployment/util and
// rolling.go behaviour.
//
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::controllers {

inline constexpr char kPodTemplateHashLabel[] = "pod-template-hash";
inline constexpr char kRevisionAnnotation[] = "deployment.kubernetes.io/revision";
inline constexpr char kDesiredReplicasAnnotation[] = "deployment.kubernetes.io/desired-replicas";
inline constexpr char kMaxReplicasAnnotation[] = "deployment.kubernetes.io/max-replicas";

// intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total`
// rounded up or down. `v` null → 0. Errors as upstream:
// `invalid value for IntOrString: invalid type: string is not a percentage`.
Result<int> scaled_value(const boost::json::value* v, int total, bool round_up);

// maxSurge rounds up, maxUnavailable down; both 0 → maxUnavailable 1
// (a rollout must be able to make progress). Defaults (absent): 25% each.
struct Fenceposts {
  int max_surge = 0;
  int max_unavailable = 0;
};
Result<Fenceposts> resolve_fenceposts(const boost::json::value* max_surge, const boost::json::value* max_unavailable,
                                      int desired);

// A ReplicaSet as the rollout arithmetic sees it.
struct RsCounts {
  int replicas = 0;   // spec.replicas
  int available = 0;  // status.availableReplicas
};

// NewRSNewReplicas for RollingUpdate: how many replicas the new ReplicaSet
// may have now. `total_spec` is the sum of spec.replicas of all ReplicaSets
// (new one included).
int rolling_new_rs_replicas(int desired, int max_surge, int total_spec, int new_rs_replicas);

// reconcileOldReplicaSets: new spec.replicas for each old ReplicaSet
// (`old_sorted` oldest first). First removes unavailable replicas, then scales
// available ones down while keeping desired - max_unavailable available.
std::vector<int> plan_old_rs_scale_down(int desired, int max_unavailable, const std::vector<RsCounts>& old_sorted,
                                        const RsCounts& new_rs);

// Template hash: FNV-1a 32 of the template's canonical JSON (keys sorted)
// plus the collision count, spelled with upstream's safe alphabet
// ("bcdfghjklmnpqrstvwxz2456789", no vowels so no words).
std::string pod_template_hash(const boost::json::value& pod_template, std::int64_t collision_count);

// Templates equal once the pod-template-hash label is ignored on both sides.
bool templates_equal_ignore_hash(const boost::json::value& a, const boost::json::value& b);

// Compact JSON with object keys sorted at every level.
std::string canonical_json(const boost::json::value& v);

}  // namespace kedge::controllers

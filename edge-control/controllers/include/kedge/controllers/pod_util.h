// Pod facts controllers share: activeness, readiness, availability
// (minReadySeconds), and upstream's ranking of which pods to delete first
// when scaling down (controller.ActivePodsWithRanks).
//
// Thread-safety: free functions over values.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/controllers/transport.h"

namespace kedge::controllers {

using SystemTime = std::chrono::system_clock::time_point;

// Not terminated (Succeeded/Failed) and not being deleted.
bool is_pod_active(const boost::json::value& pod);
bool is_pod_ready(const boost::json::value& pod);
// When the Ready condition last became True, if it is True and carries a time.
std::optional<SystemTime> pod_ready_since(const boost::json::value& pod);
// Ready for at least min_ready_seconds at `now` (upstream IsPodAvailable).
bool is_pod_available(const boost::json::value& pod, int min_ready_seconds, SystemTime now);

// Sorts `pods` so that the ones to delete first come first:
//  1. not yet scheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower controller.kubernetes.io/pod-deletion-cost before higher;
//  5. more pods of the same owner on the same node before fewer (spread);
//  6. ready for less time before longer (log2 buckets of seconds, as the
//     LogarithmicScaleDown feature does by default since 1.22);
//  7. more container restarts before fewer;
//  8. newer before older;
//  9. name, for a total order.
// `related` are all active pods of the owner (for the per-node count in 5).
void rank_pods_for_deletion(std::vector<Object>& pods, const std::vector<Object>& related, SystemTime now);

}  // namespace kedge::controllers

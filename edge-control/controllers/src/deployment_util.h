// Private helpers of the Deployment controller: field access, the
// ReplicaSet it creates, and status/condition computation. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/selectors.h"
#include "kedge/controllers/pod_util.h"
#include "kedge/controllers/rollout.h"
#include "kedge/controllers/transport.h"

namespace kedge::controllers::deployment_detail {

std::int64_t int_at(const boost::json::value& v, std::string_view a, std::string_view b, std::int64_t fallback);
const boost::json::value* field(const boost::json::value& v, std::string_view a, std::string_view b);
std::string_view str_at(const boost::json::value& v, std::string_view a, std::string_view b);
bool bool_at(const boost::json::value& v, std::string_view a, std::string_view b);

// spec.strategy.type, "RollingUpdate" when absent.
std::string strategy_type(const boost::json::value& d);
// spec.strategy.rollingUpdate.<name>, null when absent.
const boost::json::value* rolling_param(const boost::json::value& d, std::string_view name);
// spec.selector; an absent or empty selector selects nothing.
Result<api::LabelSelector> selector_of(const boost::json::value& obj);

int spec_replicas(const boost::json::value& rs);
int revision_of(const boost::json::value& rs);
RsCounts counts_of(const boost::json::value& rs);
// Sum of spec.replicas.
int old_active(const std::vector<Object>& rss);

// The ReplicaSet for `d`'s current template.
boost::json::value new_replicaset(const boost::json::value& d, int replicas, const std::string& revision);

struct Condition {
  std::string type, status, reason, message;
};
const boost::json::object* find_condition(const boost::json::value& d, std::string_view type);

// status without conditions (copied from d's status, then updated).
boost::json::value compute_status(const boost::json::value& d, const Object& new_rs, const std::vector<Object>& old,
                                  const Fenceposts& fence);
bool is_complete(const boost::json::value& d, const boost::json::value& status);
// Sets Available/Progressing in `status`; returns when the progress deadline
// will pass if the rollout is still in flight.
std::optional<SystemTime> apply_conditions(const boost::json::value& d, boost::json::value& status,
                                           const Object& new_rs, const std::vector<Condition>& events,
                                           SystemTime now);

}  // namespace kedge::controllers::deployment_detail

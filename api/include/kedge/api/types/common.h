// Typed views of Kubernetes objects for the components that act on them
// (scheduler, agent, proxy). The API server keeps objects as JSON; a consumer
// decodes the fields it needs with `T::from_json(value)`.
//
// Decoding rules: a missing or null field takes upstream's default (e.g.
// restartPolicy "Always", protocol "TCP"); a field of the wrong JSON type is
// an InvalidArgument naming its path ("spec.containers[0].ports[1].containerPort:
// expected an integer, got \"80\""); unknown fields are ignored. Fields kedge
// does not model in detail are kept as raw JSON (e.g. affinity, valueFrom).
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/meta.h"
#include "kedge/api/quantity.h"
#include "kedge/base/status.h"

namespace kedge::api {

// The metadata fields consumers use.
struct ObjectMeta {
  std::string name;
  std::string generate_name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  std::string creation_timestamp;
  std::optional<std::string> deletion_timestamp;
  std::optional<std::int64_t> deletion_grace_period_seconds;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;

  static Result<ObjectMeta> from_json(const boost::json::value& v, const std::string& path = "metadata");
};

// intstr.IntOrString (targetPort, probe ports, maxSurge ...).
struct IntOrString {
  bool is_int = true;
  std::int64_t int_value = 0;
  std::string str_value;

  static IntOrString of(std::int64_t v) { return IntOrString{true, v, ""}; }
  static IntOrString of(std::string s) { return IntOrString{false, 0, std::move(s)}; }
  std::string to_string() const { return is_int ? std::to_string(int_value) : str_value; }
  boost::json::value to_json() const;
  friend bool operator==(const IntOrString&, const IntOrString&) = default;
};

using ResourceList = std::map<std::string, Quantity>;

struct Condition {  // the shape shared by Pod/Node conditions
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  std::string last_transition_time;
  std::string last_probe_time;      // pods
  std::string last_heartbeat_time;  // nodes
  boost::json::value to_json() const;
};

}  // namespace kedge::api

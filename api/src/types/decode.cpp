#include "decode.h"

#include <cmath>
#include <limits>

#include "kedge/api/json_util.h"

namespace kedge::api::decode {

namespace {

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "an object";
    case json::kind::array: return "a list";
    case json::kind::string: return "a string";
    case json::kind::bool_: return "a boolean";
    case json::kind::null: return "null";
    default: return "a number";
  }
}

}  // namespace

Status type_error(const std::string& path, std::string_view want, const json::value& got) {
  std::string shown = json_to_string(got);
  if (shown.size() > 64) shown = shown.substr(0, 61) + "...";
  return invalid_argument(path + ": expected " + std::string(want) + ", got " + std::string(kind_name(got)) + " " + shown);
}

Result<const json::object*> as_object(const json::value& v, const std::string& path) {
  if (v.is_null()) return static_cast<const json::object*>(nullptr);
  if (!v.is_object()) return type_error(path, "an object", v);
  return &v.get_object();
}

const json::value* member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::string& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  if (!v->is_string()) return type_error(child(path, key), "a string", *v);
  out = std::string(v->get_string());
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::int64_t& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  if (v->is_int64()) {
    out = v->get_int64();
  } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    out = static_cast<std::int64_t>(v->get_uint64());
  } else if (v->is_double() && std::floor(v->get_double()) == v->get_double() && std::fabs(v->get_double()) < 9.2e18) {
    out = static_cast<std::int64_t>(v->get_double());
  } else {
    return type_error(child(path, key), "an integer", *v);
  }
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::int32_t& out) {
  std::int64_t wide = out;
  KEDGE_RETURN_IF_ERROR(read(o, key, path, wide));
  if (wide < std::numeric_limits<std::int32_t>::min() || wide > std::numeric_limits<std::int32_t>::max()) {
    return invalid_argument(child(path, key) + ": " + std::to_string(wide) + " does not fit in a 32-bit integer");
  }
  out = static_cast<std::int32_t>(wide);
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, bool& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  if (!v->is_bool()) return type_error(child(path, key), "a boolean", *v);
  out = v->get_bool();
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<std::int64_t>& out) {
  if (member(o, key) == nullptr) return {};
  std::int64_t v = 0;
  KEDGE_RETURN_IF_ERROR(read(o, key, path, v));
  out = v;
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<bool>& out) {
  if (member(o, key) == nullptr) return {};
  bool v = false;
  KEDGE_RETURN_IF_ERROR(read(o, key, path, v));
  out = v;
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<std::string>& out) {
  if (member(o, key) == nullptr) return {};
  std::string v;
  KEDGE_RETURN_IF_ERROR(read(o, key, path, v));
  out = std::move(v);
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::vector<std::string>& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  const std::string p = child(path, key);
  if (!v->is_array()) return type_error(p, "a list of strings", *v);
  out.clear();
  const json::array& a = v->get_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) return type_error(index(p, i), "a string", a[i]);
    out.emplace_back(a[i].get_string());
  }
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::map<std::string, std::string>& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  const std::string p = child(path, key);
  if (!v->is_object()) return type_error(p, "a map of strings", *v);
  out.clear();
  for (const auto& kv : v->get_object()) {
    if (kv.value().is_null()) continue;
    if (!kv.value().is_string()) return type_error(p + "[" + std::string(kv.key()) + "]", "a string", kv.value());
    out.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, ResourceList& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  const std::string p = child(path, key);
  if (!v->is_object()) return type_error(p, "a map of quantities", *v);
  out.clear();
  for (const auto& kv : v->get_object()) {
    auto q = Quantity::from_json(kv.value());
    if (!q.ok()) return invalid_argument(p + "[" + std::string(kv.key()) + "]: " + q.status().message());
    out.emplace(std::string(kv.key()), *q);
  }
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, IntOrString& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  if (v->is_string()) {
    out = IntOrString::of(std::string(v->get_string()));
    return {};
  }
  std::int64_t n = 0;
  if (!v->is_number() || !read(o, key, path, n).ok()) return type_error(child(path, key), "an integer or a string", *v);
  out = IntOrString::of(n);
  return {};
}

Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<IntOrString>& out) {
  if (member(o, key) == nullptr) return {};
  IntOrString v;
  KEDGE_RETURN_IF_ERROR(read(o, key, path, v));
  out = std::move(v);
  return {};
}

void read_raw(const json::object& o, std::string_view key, json::value& out) {
  const json::value* v = member(o, key);
  out = v != nullptr ? *v : json::value(nullptr);
}

Result<Condition> condition(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Condition c;
  if (o == nullptr) return c;
  KEDGE_RETURN_IF_ERROR(read(*o, "type", path, c.type));
  KEDGE_RETURN_IF_ERROR(read(*o, "status", path, c.status));
  KEDGE_RETURN_IF_ERROR(read(*o, "reason", path, c.reason));
  KEDGE_RETURN_IF_ERROR(read(*o, "message", path, c.message));
  KEDGE_RETURN_IF_ERROR(read(*o, "lastTransitionTime", path, c.last_transition_time));
  KEDGE_RETURN_IF_ERROR(read(*o, "lastProbeTime", path, c.last_probe_time));
  KEDGE_RETURN_IF_ERROR(read(*o, "lastHeartbeatTime", path, c.last_heartbeat_time));
  return c;
}

}  // namespace kedge::api::decode

namespace kedge::api {

using namespace decode;  // NOLINT: this file defines the readers' users below

namespace {
Result<OwnerReference> owner_reference(const json::value& e, const std::string& p) {
  if (!e.is_object()) return type_error(p, "an object", e);
  return OwnerReference::from_json(e);
}
}  // namespace

Result<ObjectMeta> ObjectMeta::from_json(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  ObjectMeta m;
  if (o == nullptr) return m;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, m.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "generateName", path, m.generate_name));
  KEDGE_RETURN_IF_ERROR(read(*o, "namespace", path, m.namespace_));
  KEDGE_RETURN_IF_ERROR(read(*o, "uid", path, m.uid));
  KEDGE_RETURN_IF_ERROR(read(*o, "resourceVersion", path, m.resource_version));
  KEDGE_RETURN_IF_ERROR(read(*o, "generation", path, m.generation));
  KEDGE_RETURN_IF_ERROR(read(*o, "creationTimestamp", path, m.creation_timestamp));
  KEDGE_RETURN_IF_ERROR(read(*o, "deletionTimestamp", path, m.deletion_timestamp));
  KEDGE_RETURN_IF_ERROR(read(*o, "deletionGracePeriodSeconds", path, m.deletion_grace_period_seconds));
  KEDGE_RETURN_IF_ERROR(read(*o, "labels", path, m.labels));
  KEDGE_RETURN_IF_ERROR(read(*o, "annotations", path, m.annotations));
  KEDGE_RETURN_IF_ERROR(read(*o, "finalizers", path, m.finalizers));
  KEDGE_RETURN_IF_ERROR(read_list(*o, "ownerReferences", path, m.owner_references, owner_reference));
  return m;
}

json::value IntOrString::to_json() const { return is_int ? json::value(int_value) : json::value(str_value); }

json::value Condition::to_json() const {
  json::object o{{"type", type}, {"status", status}};
  if (!last_probe_time.empty()) o["lastProbeTime"] = last_probe_time;
  if (!last_heartbeat_time.empty()) o["lastHeartbeatTime"] = last_heartbeat_time;
  if (!last_transition_time.empty()) o["lastTransitionTime"] = last_transition_time;
  if (!reason.empty()) o["reason"] = reason;
  if (!message.empty()) o["message"] = message;
  return o;
}

}  // namespace kedge::api

#include "kedge/control/api_error.h"

#include <boost/json.hpp>

namespace kedge::control {
namespace json = boost::json;

namespace {

std::string qualified(std::string_view group, std::string_view resource) {
  std::string out(resource);
  if (!group.empty()) {
    out += '.';
    out += group;
  }
  return out;
}

ApiError make(int code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

}  // namespace

json::value ApiError::to_json() const {
  json::object status{{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object{}},
                      {"status", "Failure"},
                      {"message", message},
                      {"reason", reason},
                      {"code", code}};
  json::object details;
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!causes.empty()) {
    json::array arr;
    for (const auto& c : causes) {
      json::object o{{"reason", c.type}, {"message", c.message}};
      if (!c.field.empty()) o["field"] = c.field;
      arr.push_back(std::move(o));
    }
    details["causes"] = std::move(arr);
  }
  if (!details.empty()) status["details"] = std::move(details);
  return status;
}

ApiError not_found_error(std::string_view group, std::string_view resource, std::string_view name) {
  auto e = make(404, "NotFound",
                qualified(group, resource) + " \"" + std::string(name) + "\" not found");
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError already_exists_error(std::string_view group, std::string_view resource,
                              std::string_view name) {
  auto e = make(409, "AlreadyExists",
                qualified(group, resource) + " \"" + std::string(name) + "\" already exists");
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError conflict_error(std::string_view group, std::string_view resource, std::string_view name,
                        std::string_view why) {
  auto e = make(409, "Conflict",
                "Operation cannot be fulfilled on " + qualified(group, resource) + " \"" +
                    std::string(name) + "\": " + std::string(why));
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError invalid_error(std::string_view group, std::string_view kind, std::string_view name,
                       std::vector<FieldCause> causes) {
  std::string list;
  for (std::size_t i = 0; i < causes.size(); ++i) {
    if (i > 0) list += ", ";
    if (!causes[i].field.empty()) list += causes[i].field + ": ";
    list += causes[i].message;
  }
  std::string msg = qualified(group, kind) + " \"" + std::string(name) + "\" is invalid: ";
  if (causes.size() > 1) msg += "[" + list + "]";
  else msg += list;
  auto e = make(422, "Invalid", std::move(msg));
  e.name = name;
  e.group = group;
  e.kind = kind;
  e.causes = std::move(causes);
  return e;
}

ApiError bad_request_error(std::string message) { return make(400, "BadRequest", std::move(message)); }

ApiError method_not_supported_error(std::string_view resource, std::string_view verb) {
  auto e = make(405, "MethodNotAllowed",
                "the server does not allow this method on the requested resource");
  e.kind = resource;
  (void)verb;
  return e;
}

ApiError forbidden_error(std::string message) { return make(403, "Forbidden", std::move(message)); }
ApiError unauthorized_error() { return make(401, "Unauthorized", "Unauthorized"); }
ApiError expired_error(std::string message) { return make(410, "Expired", std::move(message)); }
ApiError too_large_error(std::string message) {
  return make(413, "RequestEntityTooLarge", std::move(message));
}
ApiError unsupported_media_type_error(std::string_view content_type) {
  return make(415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types include: "
              "application/json, application/yaml, application/vnd.kubernetes.protobuf (got \"" +
                  std::string(content_type) + "\")");
}
ApiError not_acceptable_error(std::string message) {
  return make(406, "NotAcceptable", std::move(message));
}
ApiError internal_api_error(std::string message) {
  return make(500, "InternalError", "Internal error occurred: " + message);
}
ApiError timeout_error(std::string message) { return make(504, "Timeout", std::move(message)); }
ApiError too_many_requests_error(std::string message) {
  return make(429, "TooManyRequests", std::move(message));
}

ApiError from_store_status(const Status& status) {
  switch (status.code()) {
    case Code::kOutOfRange:
      if (status.message().find("compacted") != std::string::npos) {
        return expired_error("The resourceVersion for the provided list is too old.");
      }
      return timeout_error("Too large resource version: " + status.message());
    case Code::kResourceExhausted:
      return too_large_error("etcdserver: request is too large");
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
      return timeout_error("storage unavailable: " + status.message());
    default:
      return internal_api_error(status.message());
  }
}

}  // namespace kedge::control

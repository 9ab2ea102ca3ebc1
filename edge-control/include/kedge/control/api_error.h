// Kubernetes API errors: the meta/v1 Status a client sees, with upstream's
// reason and HTTP code, and ApiResult<T> to return them from handlers.
//
// This is the one place where kedge::Status codes from the store map onto
// Kubernetes Status reasons (from_store_status).
//
// Thread-safety: values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::control {

struct FieldCause {
  std::string type;     // "FieldValueInvalid", "FieldValueRequired", ...
  std::string field;    // "metadata.name"
  std::string message;  // "Invalid value: \"A\": a lowercase RFC 1123 ..."
};

struct ApiError {
  int code = 500;
  std::string reason;  // "NotFound", "AlreadyExists", "Conflict", "Invalid", ...
  std::string message;
  // details (optional): name, group, kind, causes, retryAfterSeconds.
  std::string name;
  std::string group;
  std::string kind;
  std::vector<FieldCause> causes;

  // The meta/v1 Status object.
  boost::json::value to_json() const;
};

// Upstream's constructors, with upstream's message texts.
ApiError not_found_error(std::string_view group, std::string_view resource, std::string_view name);
ApiError already_exists_error(std::string_view group, std::string_view resource, std::string_view name);
ApiError conflict_error(std::string_view group, std::string_view resource, std::string_view name,
                        std::string_view why);
// 422: `<kind> "<name>" is invalid: <cause list>`.
ApiError invalid_error(std::string_view group, std::string_view kind, std::string_view name,
                       std::vector<FieldCause> causes);
ApiError bad_request_error(std::string message);
ApiError method_not_supported_error(std::string_view resource, std::string_view verb);
ApiError forbidden_error(std::string message);
ApiError unauthorized_error();
ApiError expired_error(std::string message);
ApiError too_large_error(std::string message);
ApiError unsupported_media_type_error(std::string_view content_type);
ApiError not_acceptable_error(std::string message);
ApiError internal_api_error(std::string message);
ApiError timeout_error(std::string message);
ApiError too_many_requests_error(std::string message);

// Maps a store error (etcd semantics) to a Status.
ApiError from_store_status(const Status& status);

template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  ApiResult(ApiError error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // REQUIRES: !ok().
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

struct Unit {};
using ApiStatus = ApiResult<Unit>;
inline ApiStatus api_ok() { return Unit{}; }

}  // namespace kedge::control

#define KEDGE_API_TRY_CONCAT_INNER_(a, b) a##b
#define KEDGE_API_TRY_CONCAT_(a, b) KEDGE_API_TRY_CONCAT_INNER_(a, b)
// `KEDGE_API_ASSIGN(auto x, f());` binds x or returns f()'s ApiError.
#define KEDGE_API_ASSIGN(lhs, expr) \
  KEDGE_API_ASSIGN_IMPL_(KEDGE_API_TRY_CONCAT_(kedge_api_r_, __LINE__), lhs, expr)
#define KEDGE_API_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.error();           \
  lhs = std::move(tmp).value()
#define KEDGE_API_RETURN_IF_ERROR(expr)        \
  do {                                         \
    auto kedge_api_s_ = (expr);                \
    if (!kedge_api_s_.ok()) return kedge_api_s_.error(); \
  } while (0)

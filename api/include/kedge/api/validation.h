// Field validation with kube-apiserver's wording, so a user who gets a 422
// from kedge reads the same text kubectl shows against upstream:
//
//   metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of ...
//
// The string validators (is_dns1123_subdomain ...) mirror
// k8s.io/apimachinery/pkg/util/validation: each returns the list of problems
// (empty = valid). FieldError mirrors field.Error and invalid_status() the
// meta/v1 Status that apierrors.NewInvalid builds.
//
// Thread-safety: pure functions and plain values; reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace kedge::api {

struct FieldError {
  enum class Type {
    kRequired,
    kInvalid,
    kNotSupported,
    kDuplicate,
    kTooLong,
    kForbidden,
    kTypeInvalid,
    kNotFound,
    kTooMany,
    kInternal,
  };
  // How bad_value is rendered in message(): Go's %q for strings, verbatim for
  // numbers/booleans/pre-rendered values, nothing for kOmitted.
  enum class ValueKind { kString, kRaw, kOmitted };

  Type type = Type::kInvalid;
  std::string field;  // dotted path, e.g. "spec.template.spec.containers[0].image"
  std::string detail;
  std::string bad_value;
  ValueKind value_kind = ValueKind::kString;

  // "<field>: <body>", e.g. `spec.replicas: Invalid value: -1: must be greater than or equal to 0`.
  std::string message() const;
  // The part after "<field>: " (upstream's ErrorBody; the Status cause message).
  std::string body() const;
  // "FieldValueInvalid" etc. (the Status cause reason).
  std::string_view reason() const;

  // Constructors named after upstream's field.Invalid(...) family.
  static FieldError invalid(std::string field, std::string_view bad_value, std::string detail);
  static FieldError invalid_int(std::string field, std::int64_t bad_value, std::string detail);
  // bad_value rendered verbatim (e.g. a JSON rendering of a list).
  static FieldError invalid_raw(std::string field, std::string bad_value, std::string detail);
  static FieldError required(std::string field, std::string detail = "");
  static FieldError not_supported(std::string field, std::string_view bad_value,
                                  const std::vector<std::string>& supported);
  static FieldError duplicate(std::string field, std::string_view bad_value);
  static FieldError forbidden(std::string field, std::string detail);
  static FieldError too_long(std::string field, std::int64_t max_bytes);
  static FieldError type_invalid(std::string field, std::string bad_value, std::string detail);
  static FieldError not_found(std::string field, std::string_view bad_value);
};

using FieldErrors = std::vector<FieldError>;

// Upstream's aggregate text: the one message, or "[m1, m2]" (duplicates dropped).
std::string aggregate_message(const FieldErrors& errors);

// The 422 meta/v1 Status of apierrors.NewInvalid. `qualified_kind` is
// "Kind" for the core group or "Kind.group" ("Deployment.apps"); its parts
// fill details.kind and details.group. Message:
//   Deployment.apps "x" is invalid: [spec.replicas: ..., metadata.name: ...]
boost::json::value invalid_status(std::string_view qualified_kind, std::string_view name, const FieldErrors& errors);

// ---- string validators (apimachinery/pkg/util/validation) ----
std::vector<std::string> is_dns1123_label(std::string_view value);      // <= 63, [a-z0-9]([-a-z0-9]*[a-z0-9])?
std::vector<std::string> is_dns1123_subdomain(std::string_view value);  // <= 253, dot-separated labels
std::vector<std::string> is_dns1035_label(std::string_view value);      // <= 63, starts with a letter
std::vector<std::string> is_qualified_name(std::string_view value);     // label/annotation keys: [prefix/]name
std::vector<std::string> is_valid_label_value(std::string_view value);  // <= 63, may be empty
std::vector<std::string> is_valid_port_num(std::int64_t port);          // 1..65535
std::vector<std::string> is_valid_port_name(std::string_view name);     // IANA_SVC_NAME
std::vector<std::string> is_in_range(std::int64_t value, std::int64_t lo, std::int64_t hi);

// Validates a resource name; `prefix` is true for generateName, where a
// trailing '-' is allowed (upstream's ValidateNameFunc).
using NameValidator = std::function<std::vector<std::string>(std::string_view name, bool prefix)>;
std::vector<std::string> name_is_dns_subdomain(std::string_view name, bool prefix);
std::vector<std::string> name_is_dns_label(std::string_view name, bool prefix);
std::vector<std::string> name_is_dns1035_label(std::string_view name, bool prefix);
// For kinds whose names only need to be a valid path segment (RBAC, ...).
std::vector<std::string> name_is_path_segment(std::string_view name, bool prefix);

// ValidateObjectMeta: name (or generateName), namespace presence and form,
// generation >= 0, label keys/values, annotation keys and total size
// (256 KiB), ownerReferences, finalizers. Field paths start with "metadata.".
FieldErrors validate_object_meta(const boost::json::object& metadata, bool namespaced,
                                 const NameValidator& name_validator);

// Label map validation at `field` (e.g. "spec.selector.matchLabels").
FieldErrors validate_labels(const boost::json::value& labels, std::string_view field);

// Go's %q rendering of a string (used in messages).
std::string go_quote(std::string_view s);

}  // namespace kedge::api

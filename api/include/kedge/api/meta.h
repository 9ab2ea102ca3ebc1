// Helpers over the `metadata` of objects held as Boost.JSON values, shared by
// the API server, controllers and agents so that every component reads and
// writes ObjectMeta the same way.
//
// Getters never fail: a missing or mistyped field reads as empty/0/nullopt.
// Setters create `metadata` (and labels/annotations maps) as needed; they
// REQUIRE the object to be a JSON object (anything else is replaced by {}).
//
// Thread-safety: free functions; reentrant. Returned string_views and object
// pointers borrow from the argument and die with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

// ---- metadata access ----
const boost::json::object* metadata(const boost::json::value& obj);
boost::json::object& mutable_metadata(boost::json::value& obj);

std::string_view get_name(const boost::json::value& obj);
std::string_view get_generate_name(const boost::json::value& obj);
std::string_view get_namespace(const boost::json::value& obj);
std::string_view get_uid(const boost::json::value& obj);
std::string_view get_resource_version(const boost::json::value& obj);
std::string_view get_creation_timestamp(const boost::json::value& obj);
std::int64_t get_generation(const boost::json::value& obj);
std::optional<std::string> get_deletion_timestamp(const boost::json::value& obj);
std::optional<std::int64_t> get_deletion_grace_period_seconds(const boost::json::value& obj);
const boost::json::object* get_labels(const boost::json::value& obj);
const boost::json::object* get_annotations(const boost::json::value& obj);
std::optional<std::string> get_label(const boost::json::value& obj, std::string_view key);
std::optional<std::string> get_annotation(const boost::json::value& obj, std::string_view key);

void set_name(boost::json::value& obj, std::string_view name);
void set_namespace(boost::json::value& obj, std::string_view ns);
void set_uid(boost::json::value& obj, std::string_view uid);
void set_resource_version(boost::json::value& obj, std::string_view rv);
void set_creation_timestamp(boost::json::value& obj, std::string_view rfc3339);
void set_generation(boost::json::value& obj, std::int64_t generation);
void set_deletion_timestamp(boost::json::value& obj, std::string_view rfc3339);
void set_deletion_grace_period_seconds(boost::json::value& obj, std::int64_t seconds);
void set_label(boost::json::value& obj, std::string_view key, std::string_view value);
bool remove_label(boost::json::value& obj, std::string_view key);  // true if it was there
void set_annotation(boost::json::value& obj, std::string_view key, std::string_view value);
bool remove_annotation(boost::json::value& obj, std::string_view key);

// ---- finalizers ----
std::vector<std::string> get_finalizers(const boost::json::value& obj);
bool has_finalizer(const boost::json::value& obj, std::string_view finalizer);
bool add_finalizer(boost::json::value& obj, std::string_view finalizer);     // true if added
bool remove_finalizer(boost::json::value& obj, std::string_view finalizer);  // true if removed

// ---- ownerReferences ----
struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;

  boost::json::value to_json() const;
  static OwnerReference from_json(const boost::json::value& v);
};
std::vector<OwnerReference> get_owner_references(const boost::json::value& obj);
// The reference with controller=true, if any.
std::optional<OwnerReference> get_controller_ref(const boost::json::value& obj);
void set_owner_references(boost::json::value& obj, const std::vector<OwnerReference>& refs);
// Adds `ref` unless one with the same uid exists; true if added.
bool add_owner_reference(boost::json::value& obj, const OwnerReference& ref);
bool remove_owner_reference(boost::json::value& obj, std::string_view uid);

// ---- type meta ----
std::string_view get_api_version(const boost::json::value& obj);
std::string_view get_kind(const boost::json::value& obj);
// "apps/v1" -> {"apps", "v1"}; "v1" -> {"", "v1"}.
std::pair<std::string_view, std::string_view> split_api_version(std::string_view api_version);

// ---- time ----
// metav1.Time: RFC 3339 in UTC with second precision ("2024-05-01T10:00:00Z").
std::string format_rfc3339(std::chrono::system_clock::time_point t);
// metav1.MicroTime: six fractional digits ("2024-05-01T10:00:00.123456Z").
std::string format_rfc3339_micro(std::chrono::system_clock::time_point t);
// Parses RFC 3339 with optional fraction and a Z or +hh:mm offset.
// InvalidArgument with Go's wording for bad input.
Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// ---- identity ----
// A random RFC 4122 version 4 UUID ("8-4-4-4-12" lowercase hex) from the
// kernel's CSPRNG (getrandom(2)).
std::string new_uid();

}  // namespace kedge::api

// Per-kind strategies: what the schema-light API server must understand about
// each kind — defaults, the spec/status split, validation of the fields users
// get wrong, generation tracking, field selectors and known top-level fields.
// Internal to edge-control. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "kedge/control/api_error.h"
#include "kedge/control/resources.h"

namespace kedge::control {

enum class Subresource : std::uint8_t { kNone, kStatus, kScale };

// metadata.generation is kept and bumped on spec changes.
bool tracks_generation(const ResourceInfo& info);

// Fills upstream's defaults that clients and printers rely on.
void apply_defaults(const ResourceInfo& info, boost::json::object& obj);

// Upstream's DefaultStorageClass admission: a PersistentVolumeClaim created
// without spec.storageClassName (absent, not "") gets the default class among
// `classes` (annotation storageclass.kubernetes.io/is-default-class "true";
// the newest one if several are marked, as upstream).
void default_storage_class(boost::json::object& pvc, const std::vector<boost::json::object>& classes);

// Create-time resets (status of kinds with a status subresource, namespace
// phase, pod phase).
void prepare_for_create(const ResourceInfo& info, boost::json::object& obj);

// Keeps what this write may not change: the status on a main-resource update
// of a kind with a status subresource; everything but status on a /status
// update. `obj` is the incoming object, `old` the stored one.
void prepare_for_update(const ResourceInfo& info, boost::json::object& obj,
                        const boost::json::object& old, Subresource sub);

// Field errors of `obj` (old = stored object on update, else null).
std::vector<FieldCause> validate_object(const ResourceInfo& info, const boost::json::object& obj,
                                        const boost::json::object* old);

// Top-level and metadata fields the server does not know, as dotted paths
// ("spec" is not inspected: kedge is schema-light below the top level).
std::vector<std::string> unknown_fields(const ResourceInfo& info, const boost::json::object& obj);

// Field selector support: value of `field` for `obj`; false when the field is
// not selectable for this kind (→ 400 as upstream).
bool field_value(const ResourceInfo& info, const boost::json::object& obj, std::string_view field,
                 std::string& value);

}  // namespace kedge::control

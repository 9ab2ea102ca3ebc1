// meta.k8s.io/v1 Table rendering: the columns kubectl prints per kind when it
// asks for `application/json;as=Table;v=v1;g=meta.k8s.io`.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/control/resources.h"

namespace kedge::control {

enum class IncludeObject : std::uint8_t { kNone, kMetadata, kObject };

// True when an Accept header asks for a Table (any of the acceptable entries).
bool wants_table(std::string_view accept);
IncludeObject parse_include_object(std::string_view value);  // default Metadata

// `now` = seconds since epoch (AGE column); injected for tests.
boost::json::object make_table(const ResourceInfo& info, const std::vector<boost::json::object>& items,
                               std::string_view resource_version, std::string_view continue_token,
                               IncludeObject include, std::int64_t now);

}  // namespace kedge::control

// Small helpers the kubelet's pieces share: API timestamps, host files, and
// Kubernetes paths. Private to agent/.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"

namespace kedge::agent::detail {

// RFC 3339 UTC with seconds ("2026-11-24T05:30:42Z"), as metav1.Time.
std::string rfc3339(std::chrono::system_clock::time_point t);
std::string rfc3339_now();
// RFC 3339 with microseconds, as metav1.MicroTime (Lease renewTime).
std::string rfc3339_micro(std::chrono::system_clock::time_point t);
// CRI times are nanoseconds since the epoch; 0 = unset → "".
std::string rfc3339_from_nanos(std::int64_t nanos);

// The whole file, or "" when it cannot be read.
std::string read_file(const std::filesystem::path& path);
// First line without the newline, or "".
std::string read_first_line(const std::filesystem::path& path);

std::string pod_path(std::string_view ns, std::string_view name);

// Fields of JSON objects (pod spec fragments): "" / false / nullopt when `v`
// is not an object or the field is missing or of another type.
std::string str(const boost::json::value& v, std::string_view key);
bool flag(const boost::json::value& v, std::string_view key);
std::optional<std::int64_t> int_field(const boost::json::value& v, std::string_view key);

// PATCH with a JSON merge patch; the answer's body as JSON.
Result<boost::json::value> merge_patch(client::RestClient& api, std::string_view path, const boost::json::value& patch);

}  // namespace kedge::agent::detail

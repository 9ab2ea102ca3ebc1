// Small helpers over Kubernetes objects held as Boost.JSON values.
// Internal to edge-control. Thread-safety: pure functions (random ones use a
// thread-local generator).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

namespace kedge::control {

namespace json = boost::json;

// Member `key` of `o` as an object, creating it (or replacing a non-object).
json::object& child_object(json::object& o, std::string_view key);
// Member `key` as object/string/int if it has that type, else null/empty/fallback.
const json::object* find_object(const json::object& o, std::string_view key);
json::object* find_object(json::object& o, std::string_view key);
const json::array* find_array(const json::object& o, std::string_view key);
std::string get_string(const json::object& o, std::string_view key);
// The non-empty segments of a URL path ("/api/v1//pods" → api, v1, pods).
std::vector<std::string> split_path(std::string_view path);
std::int64_t get_int(const json::object& o, std::string_view key, std::int64_t fallback);
// Dotted path lookup: "spec.nodeName", "status.phase". Empty if missing/not a string.
std::string string_at_path(const json::object& o, std::string_view dotted);

const json::object& metadata_of(const json::object& o);  // empty object when missing

// RFC 3339 UTC with seconds ("2026-11-24T02:00:00Z"), now or offset seconds.
std::string now_rfc3339(std::int64_t offset_seconds = 0);
// Seconds since epoch of an RFC 3339 timestamp; -1 when unparsable.
std::int64_t parse_rfc3339(std::string_view ts);
// Random UUIDv4.
std::string new_uid();
// `n` random characters from upstream's generateName alphabet.
std::string random_suffix(int n);

std::string base64_encode(std::string_view in);
// Empty optional-like: returns false on bad input.
bool base64_decode(std::string_view in, std::string& out);

// Human age as kubectl prints it ("5s", "3m12s", "4h", "2d3h").
std::string human_age(std::int64_t seconds);

}  // namespace kedge::control

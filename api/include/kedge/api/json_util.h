// Small Boost.JSON helpers the rest of kedge::api (and its users) share.
//
// Thread-safety: free functions over values; reentrant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

// Semantic JSON equality as Go's encoding/json sees it: numbers compare by
// value whatever their storage (int64 1, uint64 1 and double 1.0 are equal),
// objects compare as unordered maps, arrays element by element.
bool json_equal(const boost::json::value& a, const boost::json::value& b);

// Parses one JSON text. Errors are InvalidArgument naming the byte offset, in
// the spirit of Go's "invalid character 'x' looking for beginning of value".
Result<boost::json::value> parse_json(std::string_view text);

// JSON Pointer (RFC 6901) tokens of `pointer`; "" is the whole document.
// InvalidArgument when the pointer does not start with '/' or has a bad escape.
Result<std::vector<std::string>> parse_json_pointer(std::string_view pointer);

// Escapes one reference token ("a/b~c" -> "a~1b~0c").
std::string escape_json_pointer_token(std::string_view token);

// Go's %v-like short rendering used in error messages (compact JSON).
std::string json_to_string(const boost::json::value& v);

}  // namespace kedge::api

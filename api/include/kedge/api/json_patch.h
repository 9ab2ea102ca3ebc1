// JSON Patch (RFC 6902), as the API server applies `application/json-patch+json`.
//
// A patch is an array of operations {op, path, from?, value?} applied in order
// to a copy of the document; if any operation fails nothing is applied (the
// caller keeps the original). Paths are JSON Pointers (RFC 6901): "~1" is "/",
// "~0" is "~", and "-" names the slot after an array's last element.
//
// Error messages follow evanphx/json-patch (the library kube-apiserver uses),
// e.g. `replace operation does not apply: doc is missing key: /spec/x: missing value`
// or `testing value /metadata/name failed: test failed`. kube-apiserver reports a
// patch that does not decode as 400 BadRequest and an operation that fails as
// 422 with message "the server rejected our request due to an error in our
// request" and the library's text as the cause; check_json_patch() lets the
// caller tell the two apart.
//
// Thread-safety: pure functions; reentrant. Inputs are not modified.
#pragma once

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

// Structural check only (array of objects with a known op, string path, `from`
// for move/copy, `value` for add/replace/test). InvalidArgument if malformed.
Status check_json_patch(const boost::json::value& patch);

// Applies `patch` to `doc`. InvalidArgument (naming the op and path) when the
// patch is malformed or an operation does not apply, including a failed "test".
Result<boost::json::value> apply_json_patch(const boost::json::value& doc, const boost::json::value& patch);

}  // namespace kedge::api

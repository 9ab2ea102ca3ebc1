// JSON Merge Patch (RFC 7386), as the API server applies
// `application/merge-patch+json` bodies.
//
// A merge patch is a partial document: object members replace or recurse into
// the target's members, `null` removes a member, and anything that is not an
// object (arrays included) replaces the target value whole.
//
// Thread-safety: pure functions; reentrant. Inputs are not modified.
#pragma once

#include <boost/json/value.hpp>

namespace kedge::api {

// Returns `doc` with `patch` applied per RFC 7386 section 2. Never fails: every
// JSON value is a valid merge patch (a non-object patch replaces the document).
boost::json::value apply_merge_patch(const boost::json::value& doc, const boost::json::value& patch);

// Returns a merge patch that turns `from` into `to`
// (apply_merge_patch(from, create_merge_patch(from, to)) == to), minimal for
// objects: unchanged members are omitted, removed members become null.
// Limitation inherent to RFC 7386: a `to` that holds explicit nulls inside
// objects cannot be expressed, because null means "remove".
boost::json::value create_merge_patch(const boost::json::value& from, const boost::json::value& to);

}  // namespace kedge::api

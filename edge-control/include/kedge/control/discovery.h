// Discovery and OpenAPI documents, computed from the resource catalog.
//
// kubectl reads these to map kinds to resources (discovery) and to decide that
// the server validates fields itself (OpenAPI v3 PATCH operations carrying
// x-kubernetes-group-version-kind and a fieldValidation parameter).
//
// Thread-safety: pure functions of the immutable catalog.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace kedge::control {

// GET /version (version.Info).
boost::json::value version_document();
// GET /api (APIVersions) and GET /apis (APIGroupList).
boost::json::value legacy_api_versions(std::string_view server_address);
boost::json::value legacy_api_groups();
// GET /api/v1, /apis/<g>/<v> (APIResourceList); nullopt for unknown versions.
std::optional<boost::json::value> api_resource_list(std::string_view group, std::string_view version);
// apidiscovery.k8s.io/v2 APIGroupDiscoveryList for /api (core) or /apis.
boost::json::value aggregated_discovery(bool core);

// True when an Accept header asks for the aggregated discovery form.
bool wants_aggregated_discovery(std::string_view accept);

// GET /openapi/v3: {paths: {"api/v1": {serverRelativeURL}, ...}}.
boost::json::value openapi_v3_root();
// GET /openapi/v3/<gv path> ("api/v1", "apis/apps/v1"); nullopt if not served.
std::optional<boost::json::value> openapi_v3_document(std::string_view gv_path);

}  // namespace kedge::control

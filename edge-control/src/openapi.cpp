// OpenAPI v3 documents. kedge is schema-light: each kind's schema is an open
// object tagged with its group-version-kind. That is what kubectl needs to
// hand field validation to the server (PATCH operations with the gvk and a
// fieldValidation parameter). The PATCH request bodies deliberately do not
// list application/strategic-merge-patch+json: kubectl then computes apply
// patches from its compiled-in types (which know the merge keys) instead of
// from these schemas (which do not).
#include <cstdint>
#include <cstdio>

#include <boost/json.hpp>

#include "kedge/control/discovery.h"
#include "kedge/control/resources.h"

namespace kedge::control {
namespace json = boost::json;

namespace {

std::string schema_name(const ResourceInfo& info) {
  std::string group = info.group.empty() ? "core" : std::string(info.group);
  return "io.k8s.api." + group + "." + std::string(info.version) + "." + std::string(info.kind);
}

json::object gvk(const ResourceInfo& info) {
  return json::object{{"group", info.group}, {"version", info.version}, {"kind", info.kind}};
}

json::object query_param(std::string_view name, std::string_view description) {
  return json::object{{"name", name},
                      {"in", "query"},
                      {"description", description},
                      {"schema", json::object{{"type", "string"}, {"uniqueItems", true}}}};
}

json::object ref_content(const std::string& schema) {
  return json::object{
      {"schema", json::object{{"$ref", "#/components/schemas/" + schema}}}};
}

json::object operation(const ResourceInfo& info, std::string_view action, bool with_body,
                       bool patch) {
  std::string schema = schema_name(info);
  json::object op{{"operationId", std::string(action) + std::string(info.kind)},
                  {"x-kubernetes-action", action},
                  {"x-kubernetes-group-version-kind", gvk(info)}};
  json::array params;
  if (with_body) {
    params.push_back(query_param("dryRun", "When present, modifications are not persisted."));
    params.push_back(query_param("fieldManager", "Name of the actor making the change."));
    params.push_back(query_param(
        "fieldValidation", "Ignore, Warn or Strict: what to do with unknown or duplicate fields."));
  }
  if (patch) params.push_back(query_param("force", "Force apply (server-side apply)."));
  op["parameters"] = std::move(params);
  if (with_body) {
    json::object content;
    if (patch) {
      const std::string p = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
      content["application/json-patch+json"] = ref_content(p);
      content["application/merge-patch+json"] = ref_content(p);
      content["application/apply-patch+yaml"] = ref_content(p);
    } else {
      content["application/json"] = ref_content(schema);
      content["application/yaml"] = ref_content(schema);
    }
    op["requestBody"] = json::object{{"content", content}, {"required", true}};
  }
  op["responses"] = json::object{
      {"200", json::object{{"description", "OK"},
                           {"content", json::object{{"application/json", ref_content(schema)}}}}}};
  return op;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string gv_path_of(std::string_view group, std::string_view version) {
  if (group.empty()) return "api/" + std::string(version);
  return "apis/" + std::string(group) + "/" + std::string(version);
}

}  // namespace

std::optional<json::value> openapi_v3_document(std::string_view gv_path) {
  json::object paths;
  json::object schemas;
  bool any = false;
  for (const auto& info : all_resources()) {
    if (gv_path_of(info.group, info.version) != gv_path) continue;
    any = true;
    std::string base = "/" + std::string(gv_path) + "/";
    if (info.namespaced) base += "namespaces/{namespace}/";
    base += std::string(info.resource);
    std::string item = base + "/{name}";
    json::object collection_ops{{"post", operation(info, "post", true, false)}};
    if (!info.create_only) {
      collection_ops["get"] = operation(info, "list", false, false);
      json::object item_ops{{"get", operation(info, "get", false, false)},
                            {"put", operation(info, "put", true, false)},
                            {"patch", operation(info, "patch", true, true)},
                            {"delete", operation(info, "delete", false, false)}};
      paths[item] = std::move(item_ops);
    }
    paths[base] = std::move(collection_ops);
    schemas[schema_name(info)] =
        json::object{{"type", "object"},
                     {"description", std::string(info.kind) + " (schema-light: any fields accepted)"},
                     {"x-kubernetes-group-version-kind", json::array{gvk(info)}}};
  }
  if (!any) return std::nullopt;
  schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] =
      json::object{{"type", "object"},
                   {"description", "Patch is provided to give a concrete name and type to the "
                                   "Kubernetes PATCH request body."}};
  return json::object{
      {"openapi", "3.0.0"},
      {"info", json::object{{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
      {"paths", paths},
      {"components", json::object{{"schemas", schemas}}}};
}

json::value openapi_v3_root() {
  json::object paths;
  for (auto gv : served_group_versions()) {
    std::string path = gv_path_of(gv.group, gv.version);
    auto doc = openapi_v3_document(path);
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llX",
                  static_cast<unsigned long long>(fnv1a(json::serialize(*doc))));
    paths[path] = json::object{{"serverRelativeURL", "/openapi/v3/" + path + "?hash=" + hash}};
  }
  return json::object{{"paths", paths}};
}

}  // namespace kedge::control

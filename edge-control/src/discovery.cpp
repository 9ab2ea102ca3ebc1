#include "kedge/control/discovery.h"

#include <boost/json.hpp>

#include "kedge/base/version.h"
#include "kedge/control/resources.h"

namespace kedge::control {
namespace json = boost::json;

namespace {

// The Kubernetes release kedge's API matches (kubectl warns on >1 minor skew).
constexpr std::string_view kKubeMajor = "1";
constexpr std::string_view kKubeMinor = "32";

json::array verbs_for(const ResourceInfo& info) {
  if (info.create_only) return json::array{"create"};
  return json::array{"create", "delete", "deletecollection", "get", "list", "patch", "update",
                     "watch"};
}

json::array strings(const std::vector<std::string_view>& in) {
  json::array out;
  for (auto s : in) out.emplace_back(s);
  return out;
}

std::string gv_string(std::string_view group, std::string_view version) {
  if (group.empty()) return std::string(version);
  return std::string(group) + "/" + std::string(version);
}

json::object resource_entry(const ResourceInfo& info) {
  json::object o{{"name", info.resource},
                 {"singularName", info.singular},
                 {"namespaced", info.namespaced},
                 {"kind", info.kind},
                 {"verbs", verbs_for(info)}};
  if (!info.short_names.empty()) o["shortNames"] = strings(info.short_names);
  if (!info.categories.empty()) o["categories"] = strings(info.categories);
  return o;
}

json::object group_entry(std::string_view group) {
  json::array versions;
  std::string preferred;
  for (auto gv : served_group_versions()) {
    if (gv.group != group) continue;
    versions.push_back(json::object{{"groupVersion", gv_string(gv.group, gv.version)},
                                    {"version", gv.version}});
    if (preferred.empty()) preferred = std::string(gv.version);
  }
  return json::object{{"name", group},
                      {"versions", versions},
                      {"preferredVersion",
                       json::object{{"groupVersion", gv_string(group, preferred)},
                                    {"version", preferred}}}};
}

json::object aggregated_resource(const ResourceInfo& info) {
  json::object o{{"resource", info.resource},
                 {"singularResource", info.singular},
                 {"scope", info.namespaced ? "Namespaced" : "Cluster"},
                 {"responseKind",
                  json::object{{"group", info.group}, {"version", info.version}, {"kind", info.kind}}},
                 {"verbs", verbs_for(info)}};
  if (!info.short_names.empty()) o["shortNames"] = strings(info.short_names);
  if (!info.categories.empty()) o["categories"] = strings(info.categories);
  json::array subs;
  if (info.has_status) {
    subs.push_back(json::object{
        {"subresource", "status"},
        {"responseKind",
         json::object{{"group", info.group}, {"version", info.version}, {"kind", info.kind}}},
        {"verbs", json::array{"get", "patch", "update"}}});
  }
  if (info.has_scale) {
    subs.push_back(json::object{
        {"subresource", "scale"},
        {"responseKind", json::object{{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}},
        {"verbs", json::array{"get", "patch", "update"}}});
  }
  if (info.kind == "Pod" && info.group.empty()) {
    subs.push_back(json::object{
        {"subresource", "binding"},
        {"responseKind", json::object{{"group", ""}, {"version", "v1"}, {"kind", "Binding"}}},
        {"verbs", json::array{"create"}}});
    // Served by NodeProxy (node_proxy.h) from the pod's agent.
    subs.push_back(json::object{
        {"subresource", "exec"},
        {"responseKind", json::object{{"group", ""}, {"version", "v1"}, {"kind", "PodExecOptions"}}},
        {"verbs", json::array{"create", "get"}}});
    subs.push_back(json::object{
        {"subresource", "log"},
        {"responseKind", json::object{{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
        {"verbs", json::array{"get"}}});
  }
  if (!subs.empty()) o["subresources"] = std::move(subs);
  return o;
}

}  // namespace

json::value version_document() {
  const auto& v = version_info();
  return json::object{{"major", kKubeMajor},
                      {"minor", kKubeMinor},
                      {"gitVersion", "v1.32.0-kedge." + std::string(v.version)},
                      {"gitCommit", v.git_commit},
                      {"gitTreeState", "clean"},
                      {"buildDate", "1970-01-01T00:00:00Z"},
                      {"goVersion", "n/a (C++20)"},
                      {"compiler", "gcc"},
                      {"platform", "linux/amd64"}};
}

json::value legacy_api_versions(std::string_view server_address) {
  return json::object{{"kind", "APIVersions"},
                      {"versions", json::array{"v1"}},
                      {"serverAddressByClientCIDRs",
                       json::array{json::object{{"clientCIDR", "0.0.0.0/0"},
                                                {"serverAddress", server_address}}}}};
}

json::value legacy_api_groups() {
  json::array groups;
  std::vector<std::string_view> seen;
  for (auto gv : served_group_versions()) {
    if (gv.group.empty()) continue;
    if (std::find(seen.begin(), seen.end(), gv.group) != seen.end()) continue;
    seen.push_back(gv.group);
    groups.push_back(group_entry(gv.group));
  }
  return json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json::value> api_resource_list(std::string_view group, std::string_view version) {
  json::array resources;
  for (const auto& info : all_resources()) {
    if (info.group != group || info.version != version) continue;
    resources.push_back(resource_entry(info));
    if (info.has_status) {
      resources.push_back(json::object{{"name", std::string(info.resource) + "/status"},
                                       {"singularName", ""},
                                       {"namespaced", info.namespaced},
                                       {"kind", info.kind},
                                       {"verbs", json::array{"get", "patch", "update"}}});
    }
    if (info.has_scale) {
      resources.push_back(json::object{{"name", std::string(info.resource) + "/scale"},
                                       {"singularName", ""},
                                       {"namespaced", info.namespaced},
                                       {"group", "autoscaling"},
                                       {"version", "v1"},
                                       {"kind", "Scale"},
                                       {"verbs", json::array{"get", "patch", "update"}}});
    }
    if (info.kind == "Pod" && info.group.empty()) {
      resources.push_back(json::object{{"name", "pods/binding"},
                                       {"singularName", ""},
                                       {"namespaced", true},
                                       {"kind", "Binding"},
                                       {"verbs", json::array{"create"}}});
      resources.push_back(json::object{{"name", "pods/exec"},
                                       {"singularName", ""},
                                       {"namespaced", true},
                                       {"kind", "PodExecOptions"},
                                       {"verbs", json::array{"create", "get"}}});
      resources.push_back(json::object{{"name", "pods/log"},
                                       {"singularName", ""},
                                       {"namespaced", true},
                                       {"kind", "Pod"},
                                       {"verbs", json::array{"get"}}});
    }
  }
  if (resources.empty()) return std::nullopt;
  return json::object{{"kind", "APIResourceList"},
                      {"apiVersion", "v1"},
                      {"groupVersion", gv_string(group, version)},
                      {"resources", resources}};
}

json::value aggregated_discovery(bool core) {
  json::array items;
  std::vector<std::string_view> groups;
  for (auto gv : served_group_versions()) {
    if (core != gv.group.empty()) continue;
    if (std::find(groups.begin(), groups.end(), gv.group) == groups.end()) groups.push_back(gv.group);
  }
  for (auto group : groups) {
    json::array versions;
    for (auto gv : served_group_versions()) {
      if (gv.group != group) continue;
      json::array resources;
      for (const auto& info : all_resources()) {
        if (info.group == gv.group && info.version == gv.version) {
          resources.push_back(aggregated_resource(info));
        }
      }
      versions.push_back(json::object{
          {"version", gv.version}, {"resources", resources}, {"freshness", "Current"}});
    }
    items.push_back(json::object{{"metadata", json::object{{"name", group}, {"creationTimestamp", nullptr}}},
                                 {"versions", versions}});
  }
  return json::object{{"kind", "APIGroupDiscoveryList"},
                      {"apiVersion", "apidiscovery.k8s.io/v2"},
                      {"metadata", json::object{}},
                      {"items", items}};
}

bool wants_aggregated_discovery(std::string_view accept) {
  // kubectl lists the aggregated form first and plain JSON last; honour the
  // first acceptable entry only, so a plain "application/json" gets legacy.
  std::size_t start = 0;
  while (start < accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view entry = accept.substr(start, end - start);
    bool has_group = entry.find("g=apidiscovery.k8s.io") != std::string_view::npos;
    bool has_v2 = entry.find("v=v2") != std::string_view::npos &&
                  entry.find("v=v2beta1") == std::string_view::npos;
    bool has_as = entry.find("as=APIGroupDiscoveryList") != std::string_view::npos;
    if (has_group && has_v2 && has_as) return true;
    if (entry.find("application/json") != std::string_view::npos && !has_group) return false;
    start = end + 1;
  }
  return false;
}

}  // namespace kedge::control

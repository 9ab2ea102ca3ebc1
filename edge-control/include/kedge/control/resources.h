// The catalog of resources edge-control serves: one row per group/version/
// resource with what discovery, the registry and table printing need.
//
// Thread-safety: the catalog is immutable after static initialization.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kedge::control {

struct ResourceInfo {
  std::string_view group;     // "" for core
  std::string_view version;   // "v1"
  std::string_view resource;  // plural, "pods"
  std::string_view singular;  // "pod"
  std::string_view kind;      // "Pod"
  bool namespaced = true;
  std::vector<std::string_view> short_names;
  std::vector<std::string_view> categories;  // "all"
  bool has_status = false;  // a /status subresource with the spec/status split
  bool has_scale = false;   // a /scale subresource over spec.replicas
  // Verbs beyond the usual set; "create" only = a virtual resource such as
  // selfsubjectreviews.
  bool create_only = false;
  // Storage prefix under /registry/ (usually = resource; events.k8s.io events
  // keep their own prefix since edge-control does not convert between versions).
  std::string_view storage;

  std::string api_version() const;  // "apps/v1" or "v1"
  std::string group_version_path() const;  // "/apis/apps/v1" or "/api/v1"
};

// Every served resource, core group first (kubectl resolves short names and
// ambiguous plurals in this order).
std::span<const ResourceInfo> all_resources();

const ResourceInfo* find_resource(std::string_view group, std::string_view version,
                                  std::string_view resource);
const ResourceInfo* find_kind(std::string_view group, std::string_view version,
                              std::string_view kind);

struct GroupVersion {
  std::string_view group;
  std::string_view version;
};
// Served group versions, in discovery order (core first).
std::vector<GroupVersion> served_group_versions();

// Namespaces that exist from the first start.
inline constexpr std::string_view kDefaultNamespaces[] = {"default", "kube-system", "kube-public",
                                                          "kube-node-lease"};

}  // namespace kedge::control

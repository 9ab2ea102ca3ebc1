#include "kedge/controllers/transport.h"

#include "kedge/api/meta.h"

namespace kedge::controllers {

std::string Resource::prefix() const {
  if (group_version.find('/') == std::string::npos) return "/api/" + group_version;
  return "/apis/" + group_version;
}

std::string Resource::collection(std::string_view ns) const {
  std::string path = prefix();
  if (namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += ns;
  }
  path += "/";
  path += plural;
  return path;
}

std::string Resource::object(std::string_view ns, std::string_view name) const {
  std::string path = collection(ns);
  path += "/";
  path += name;
  return path;
}

const Resource& pods_resource() {
  static const Resource r{.group_version = "v1", .plural = "pods", .kind = "Pod"};
  return r;
}
const Resource& replicasets_resource() {
  static const Resource r{.group_version = "apps/v1", .plural = "replicasets", .kind = "ReplicaSet"};
  return r;
}
const Resource& deployments_resource() {
  static const Resource r{.group_version = "apps/v1", .plural = "deployments", .kind = "Deployment"};
  return r;
}

const Resource& nodes_resource() {
  static const Resource r{.group_version = "v1", .plural = "nodes", .kind = "Node", .namespaced = false};
  return r;
}
const Resource& namespaces_resource() {
  static const Resource r{.group_version = "v1", .plural = "namespaces", .kind = "Namespace", .namespaced = false};
  return r;
}

std::string object_key(const boost::json::value& obj) {
  std::string_view ns = api::get_namespace(obj);
  std::string key;
  if (!ns.empty()) {
    key = ns;
    key += "/";
  }
  key += api::get_name(obj);
  return key;
}

std::pair<std::string, std::string> split_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

}  // namespace kedge::controllers

#include "admission.h"

#include <algorithm>

#include <boost/json.hpp>

#include "kedge/control/registry.h"
#include "object_util.h"

namespace kedge::control {

namespace {

json::object api_access_volume(const std::string& name) {
  json::object token{{"serviceAccountToken", json::object{{"expirationSeconds", 3607}, {"path", "token"}}}};
  json::object ca{{"configMap", json::object{{"name", "kube-root-ca.crt"},
                                             {"items", json::array{json::object{{"key", "ca.crt"},
                                                                                {"path", "ca.crt"}}}}}}};
  json::object ns{{"downwardAPI",
                   json::object{{"items", json::array{json::object{
                                              {"path", "namespace"},
                                              {"fieldRef", json::object{{"apiVersion", "v1"},
                                                                        {"fieldPath", "metadata.namespace"}}}}}}}}};
  return json::object{{"name", name},
                      {"projected", json::object{{"defaultMode", 420},
                                                 {"sources", json::array{token, ca, ns}}}}};
}

bool mounts_path(const json::object& container, std::string_view path) {
  const auto* mounts = find_array(container, "volumeMounts");
  if (mounts == nullptr) return false;
  return std::any_of(mounts->begin(), mounts->end(), [&](const json::value& m) {
    return m.is_object() && get_string(m.as_object(), "mountPath") == path;
  });
}

void mount_into(json::object& spec, std::string_view list, const std::string& volume) {
  auto it = spec.find(list);
  if (it == spec.end() || !it->value().is_array()) return;
  for (auto& c : it->value().as_array()) {
    if (!c.is_object() || mounts_path(c.as_object(), kServiceAccountMountPath)) continue;
    auto& mounts = c.as_object()["volumeMounts"];
    if (!mounts.is_array()) mounts = json::array{};
    mounts.as_array().push_back(json::object{
        {"name", volume}, {"readOnly", true}, {"mountPath", kServiceAccountMountPath}});
  }
}

}  // namespace

ApiStatus admit_pod_service_account(Registry& registry, std::string_view ns, json::object& pod) {
  auto& spec = child_object(pod, "spec");
  std::string sa_name = get_string(spec, "serviceAccountName");
  if (sa_name.empty()) sa_name = get_string(spec, "serviceAccount");
  if (sa_name.empty()) sa_name = "default";
  spec["serviceAccountName"] = sa_name;
  spec["serviceAccount"] = sa_name;  // the deprecated alias, kept equal as upstream
  auto sa = registry.get(*find_resource("", "v1", "serviceaccounts"), ns, sa_name);
  if (!sa.ok() && sa_name != "default") {
    std::string pod_name = get_string(metadata_of(pod), "name");
    return forbidden_error("pods \"" + pod_name + "\" is forbidden: error looking up service account " +
                           std::string(ns) + "/" + sa_name + ": serviceaccount \"" + sa_name + "\" not found");
  }
  bool automount = true;
  if (auto it = spec.find("automountServiceAccountToken"); it != spec.end() && it->value().is_bool()) {
    automount = it->value().as_bool();
  } else if (sa.ok()) {
    if (auto sit = sa->find("automountServiceAccountToken"); sit != sa->end() && sit->value().is_bool()) {
      automount = sit->value().as_bool();
    }
  }
  if (!automount) return api_ok();
  std::string volume = "kube-api-access-" + random_suffix(5);
  auto& volumes = spec["volumes"];
  if (!volumes.is_array()) volumes = json::array{};
  volumes.as_array().push_back(api_access_volume(volume));
  mount_into(spec, "initContainers", volume);
  mount_into(spec, "containers", volume);
  return api_ok();
}

}  // namespace kedge::control

// Upstream's bootstrap RBAC policy (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy), the part kedge's users rely on: the user-facing roles
// cluster-admin, admin, edit and view (admin/edit/view aggregated from the
// system:aggregate-to-* roles, so labelled ClusterRoles extend them as
// upstream), and the roles every authenticated user holds.
#include <boost/json.hpp>

#include "object_util.h"
#include "rbac.h"

namespace kedge::control {

namespace {

const std::vector<std::string> kRead = {"get", "list", "watch"};
const std::vector<std::string> kWrite = {"create", "delete", "deletecollection", "patch", "update"};

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::object rule(const std::vector<std::string>& groups, const std::vector<std::string>& resources,
                  const std::vector<std::string>& verbs) {
  return json::object{{"apiGroups", to_array(groups)}, {"resources", to_array(resources)}, {"verbs", to_array(verbs)}};
}

json::object url_rule(const std::vector<std::string>& urls, const std::vector<std::string>& verbs) {
  return json::object{{"nonResourceURLs", to_array(urls)}, {"verbs", to_array(verbs)}};
}

json::object bootstrap_meta(std::string_view name, json::object labels = {}) {
  labels["kubernetes.io/bootstrapping"] = "rbac-defaults";
  return json::object{{"name", name},
                      {"labels", std::move(labels)},
                      {"annotations", json::object{{"rbac.authorization.kubernetes.io/autoupdate", "true"}}}};
}

json::object cluster_role(std::string_view name, json::array rules, json::object labels = {},
                          std::string_view aggregate_from = {}) {
  json::object o{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                 {"kind", "ClusterRole"},
                 {"metadata", bootstrap_meta(name, std::move(labels))},
                 {"rules", std::move(rules)}};
  if (!aggregate_from.empty()) {
    o["aggregationRule"] = json::object{
        {"clusterRoleSelectors",
         json::array{json::object{{"matchLabels", json::object{{aggregate_from, "true"}}}}}}};
  }
  return o;
}

json::object cluster_role_binding(std::string_view name, const std::vector<std::string>& groups) {
  json::array subjects;
  for (const auto& g : groups) {
    subjects.push_back(json::object{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", g}});
  }
  return json::object{{"apiVersion", "rbac.authorization.k8s.io/v1"},
                      {"kind", "ClusterRoleBinding"},
                      {"metadata", bootstrap_meta(name)},
                      {"roleRef", json::object{{"apiGroup", "rbac.authorization.k8s.io"},
                                               {"kind", "ClusterRole"},
                                               {"name", name}}},
                      {"subjects", std::move(subjects)}};
}

json::array view_rules() {
  return json::array{
      rule({""}, {"configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
                  "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                  "services/status"}, kRead),
      rule({""}, {"bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                  "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"}, kRead),
      rule({""}, {"namespaces"}, kRead),
      rule({"discovery.k8s.io"}, {"endpointslices"}, kRead),
      rule({"apps"}, {"controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                      "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
                      "statefulsets/scale", "statefulsets/status"}, kRead),
      rule({"autoscaling"}, {"horizontalpodautoscalers", "horizontalpodautoscalers/status"}, kRead),
      rule({"batch"}, {"cronjobs", "cronjobs/status", "jobs", "jobs/status"}, kRead),
      rule({"policy"}, {"poddisruptionbudgets", "poddisruptionbudgets/status"}, kRead),
      rule({"networking.k8s.io"}, {"ingresses", "ingresses/status", "networkpolicies"}, kRead)};
}

json::array edit_rules() {
  return json::array{
      rule({""}, {"pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"}, kRead),
      rule({""}, {"serviceaccounts"}, {"impersonate"}),
      rule({""}, {"pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"}, kWrite),
      rule({""}, {"pods/eviction"}, {"create"}),
      rule({""}, {"configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                  "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"}, kWrite),
      rule({""}, {"serviceaccounts/token"}, {"create"}),
      rule({"apps"}, {"daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                      "replicasets/scale", "statefulsets", "statefulsets/scale"}, kWrite),
      rule({"autoscaling"}, {"horizontalpodautoscalers"}, kWrite),
      rule({"batch"}, {"cronjobs", "jobs"}, kWrite),
      rule({"networking.k8s.io"}, {"ingresses", "networkpolicies"}, kWrite),
      rule({"policy"}, {"poddisruptionbudgets"}, kWrite)};
}

}  // namespace

std::vector<json::object> bootstrap_rbac_objects() {
  constexpr std::string_view kToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin";
  constexpr std::string_view kToEdit = "rbac.authorization.k8s.io/aggregate-to-edit";
  constexpr std::string_view kToView = "rbac.authorization.k8s.io/aggregate-to-view";
  const std::vector<std::string> all = {"*"};
  std::vector<json::object> out;
  out.push_back(cluster_role("cluster-admin", json::array{rule(all, all, all), url_rule(all, all)}));
  out.push_back(cluster_role("admin", {}, {}, kToAdmin));
  out.push_back(cluster_role("edit", {}, json::object{{kToAdmin, "true"}}, kToEdit));
  out.push_back(cluster_role("view", {}, json::object{{kToEdit, "true"}}, kToView));
  out.push_back(cluster_role(
      "system:aggregate-to-admin",
      json::array{rule({"authorization.k8s.io"}, {"localsubjectaccessreviews"}, {"create"}),
                  rule({"rbac.authorization.k8s.io"}, {"rolebindings", "roles"},
                       {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})},
      json::object{{kToAdmin, "true"}}));
  out.push_back(cluster_role("system:aggregate-to-edit", edit_rules(), json::object{{kToEdit, "true"}}));
  out.push_back(cluster_role("system:aggregate-to-view", view_rules(), json::object{{kToView, "true"}}));
  out.push_back(cluster_role(
      "system:discovery",
      json::array{url_rule({"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                            "/readyz", "/version", "/version/"},
                           {"get"})}));
  out.push_back(cluster_role(
      "system:basic-user",
      json::array{rule({"authorization.k8s.io"}, {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}, {"create"}),
                  rule({"authentication.k8s.io"}, {"selfsubjectreviews"}, {"create"})}));
  out.push_back(cluster_role(
      "system:public-info-viewer",
      json::array{url_rule({"/healthz", "/livez", "/readyz", "/version", "/version/"}, {"get"})}));
  out.push_back(cluster_role_binding("cluster-admin", {"system:masters"}));
  out.push_back(cluster_role_binding("system:discovery", {"system:authenticated"}));
  out.push_back(cluster_role_binding("system:basic-user", {"system:authenticated"}));
  out.push_back(cluster_role_binding("system:public-info-viewer", {"system:authenticated", "system:unauthenticated"}));
  return out;
}

}  // namespace kedge::control

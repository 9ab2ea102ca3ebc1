// RBAC authorization as upstream's RBAC authorizer: what a request asks for
// (RequestAttributes, parsed from method and URL like upstream's
// RequestInfoFactory), rule matching, and the policy made of Roles,
// ClusterRoles, RoleBindings and ClusterRoleBindings.
//
// RbacAuthorizer keeps the policy in memory, fed by store watches on the
// four RBAC prefixes (informer-style: one list at start, then events), so a
// request costs no store read. ClusterRoles with an aggregationRule get the
// rules of every ClusterRole matching its selectors' matchLabels.
//
// Internal to edge-control.
// Thread-safety: the pure functions are pure. RbacAuthorizer::authorize may
// run concurrently on any thread (it reads an immutable snapshot);
// start()/stop() once each from the owning thread. Store events arrive on
// the store's notifier thread and replace the snapshot.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "kedge/control/api_error.h"
#include "kedge/control/http.h"
#include "kedge/store/kv.h"

namespace kedge::control {

// What a request asks to do, as upstream's authorizer.Attributes.
struct RequestAttributes {
  std::string user;
  std::vector<std::string> groups;
  bool resource_request = false;
  std::string verb;  // get list watch create update patch delete deletecollection; or the
                     // lower-case method for non-resource requests
  std::string api_group, api_version, resource, subresource, ns, name;
  std::string path;  // non-resource requests
};

// Parses method + path (+ watch and fieldSelector=metadata.name=...) as upstream.
RequestAttributes request_attributes(const HttpRequest& request);

struct PolicyRule {
  std::vector<std::string> verbs, api_groups, resources, resource_names, non_resource_urls;
};
std::vector<PolicyRule> parse_rules(const boost::json::object& role);
bool rule_allows(const PolicyRule& rule, const RequestAttributes& a);

struct Subject {
  std::string kind;  // User, Group, ServiceAccount
  std::string name, ns;
};
struct RoleBindingInfo {
  std::string ns;  // "" for ClusterRoleBindings
  std::string name;
  std::string role_kind, role_name;  // Role | ClusterRole
  std::vector<Subject> subjects;
};

// The whole policy, immutable once built.
struct RbacPolicy {
  std::map<std::string, std::vector<PolicyRule>> cluster_roles;  // name → rules (aggregated)
  std::map<std::string, std::vector<PolicyRule>> roles;          // "ns/name" → rules
  std::vector<RoleBindingInfo> cluster_bindings;
  std::multimap<std::string, RoleBindingInfo> bindings;  // by namespace

  // The four kinds' stored objects; bindings and roles are told apart by kind.
  static RbacPolicy build(const std::vector<boost::json::object>& objects);
  bool allows(const RequestAttributes& a) const;
};

// Whether the subject names this user (a ServiceAccount subject without a
// namespace takes the binding's).
bool subject_matches(const Subject& s, const RequestAttributes& a, std::string_view binding_ns);

// The 403 Status upstream writes for a denied request.
ApiError forbidden_for(const RequestAttributes& a);

// Upstream's bootstrap ClusterRoles and ClusterRoleBindings that kedge uses
// (cluster-admin, admin, edit, view, system:discovery, system:basic-user,
// system:public-info-viewer and their bindings), as stored objects.
std::vector<boost::json::object> bootstrap_rbac_objects();

class RbacAuthorizer {
 public:
  explicit RbacAuthorizer(store::Store& store);
  ~RbacAuthorizer();
  RbacAuthorizer(const RbacAuthorizer&) = delete;
  RbacAuthorizer& operator=(const RbacAuthorizer&) = delete;

  // Lists the RBAC objects and starts the watches. Blocking.
  Status start();
  void stop();

  // system:masters bypass, then the policy.
  bool authorize(const RequestAttributes& a) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

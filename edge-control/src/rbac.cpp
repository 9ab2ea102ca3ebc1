#include "rbac.h"

#include <algorithm>

#include <boost/json.hpp>

#include "kedge/base/log.h"
#include "object_util.h"

namespace kedge::control {

namespace {

std::string method_verb(std::string_view method) {
  if (method == "POST") return "create";
  if (method == "GET" || method == "HEAD") return "get";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "";
}

bool contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* a = find_array(o, key)) {
    for (const auto& v : *a) {
      if (v.is_string()) out.emplace_back(v.as_string());
    }
  }
  return out;
}

// The name a fieldSelector pins a list/watch to (metadata.name=x), as upstream.
std::string selected_name(const HttpRequest& request) {
  std::string fs = request.param_or("fieldSelector", "");
  for (std::string_view prefix : {"metadata.name==", "metadata.name="}) {
    if (fs.starts_with(prefix) && fs.find(',') == std::string::npos) return fs.substr(prefix.size());
  }
  return "";
}

}  // namespace

RequestAttributes request_attributes(const HttpRequest& request) {
  RequestAttributes a;
  a.user = request.user.name;
  a.groups = request.user.groups;
  a.path = request.path;
  a.verb = request.method;
  std::transform(a.verb.begin(), a.verb.end(), a.verb.begin(), [](unsigned char c) { return std::tolower(c); });
  auto parts = split_path(request.path);
  if (parts.size() < 3 || (parts[0] != "api" && parts[0] != "apis")) return a;
  std::size_t i = 1;
  if (parts[0] == "apis") {
    if (parts.size() < 4) return a;
    a.api_group = parts[i++];
  }
  a.api_version = parts[i++];
  a.resource_request = true;
  std::vector<std::string> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
  if (rest.front() == "watch" || rest.front() == "proxy") {
    a.verb = rest.front();
    rest.erase(rest.begin());
    if (rest.empty()) return a;
  } else {
    a.verb = method_verb(request.method);
  }
  if (rest.front() == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.size() >= 3 && a.verb != "proxy") a.subresource = rest[2];
  if (rest.size() >= 2) a.name = rest[1];
  a.resource = rest[0];
  if (a.name.empty() && a.verb == "get") {
    std::string w = request.param_or("watch", "");
    a.verb = w == "true" || w == "1" ? "watch" : "list";
    a.name = selected_name(request);
  }
  if (a.name.empty() && a.verb == "delete") a.verb = "deletecollection";
  return a;
}

std::vector<PolicyRule> parse_rules(const json::object& role) {
  std::vector<PolicyRule> out;
  if (const auto* rules = find_array(role, "rules")) {
    for (const auto& r : *rules) {
      if (!r.is_object()) continue;
      const auto& o = r.as_object();
      out.push_back(PolicyRule{.verbs = strings(o, "verbs"),
                               .api_groups = strings(o, "apiGroups"),
                               .resources = strings(o, "resources"),
                               .resource_names = strings(o, "resourceNames"),
                               .non_resource_urls = strings(o, "nonResourceURLs")});
    }
  }
  return out;
}

bool rule_allows(const PolicyRule& rule, const RequestAttributes& a) {
  if (!contains(rule.verbs, "*") && !contains(rule.verbs, a.verb)) return false;
  if (!a.resource_request) {
    return std::any_of(rule.non_resource_urls.begin(), rule.non_resource_urls.end(), [&](const std::string& u) {
      if (u == "*" || u == a.path) return true;
      return u.ends_with('*') && a.path.starts_with(std::string_view(u).substr(0, u.size() - 1));
    });
  }
  if (!contains(rule.api_groups, "*") && !contains(rule.api_groups, a.api_group)) return false;
  const std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  bool resource_ok = std::any_of(rule.resources.begin(), rule.resources.end(), [&](const std::string& r) {
    if (r == "*" || r == combined) return true;
    // "*/scale" grants the scale subresource of every resource.
    return !a.subresource.empty() && r.size() == a.subresource.size() + 2 && r.starts_with("*/") &&
           r.ends_with(a.subresource);
  });
  if (!resource_ok) return false;
  return rule.resource_names.empty() || contains(rule.resource_names, a.name);
}

bool subject_matches(const Subject& s, const RequestAttributes& a, std::string_view binding_ns) {
  if (s.kind == "User") return s.name == a.user;
  if (s.kind == "Group") return contains(a.groups, s.name);
  if (s.kind == "ServiceAccount") {
    std::string ns = s.ns.empty() ? std::string(binding_ns) : s.ns;
    return !ns.empty() && a.user == "system:serviceaccount:" + ns + ":" + s.name;
  }
  return false;
}

namespace {

RoleBindingInfo parse_binding(const json::object& o) {
  const auto& meta = metadata_of(o);
  RoleBindingInfo b{.ns = get_string(meta, "namespace"), .name = get_string(meta, "name")};
  if (const auto* ref = find_object(o, "roleRef")) {
    b.role_kind = get_string(*ref, "kind");
    b.role_name = get_string(*ref, "name");
  }
  if (const auto* subjects = find_array(o, "subjects")) {
    for (const auto& s : *subjects) {
      if (!s.is_object()) continue;
      b.subjects.push_back(Subject{.kind = get_string(s.as_object(), "kind"),
                                   .name = get_string(s.as_object(), "name"),
                                   .ns = get_string(s.as_object(), "namespace")});
    }
  }
  return b;
}

bool labels_match(const json::object& role, const json::object& match_labels) {
  const auto* labels = find_object(metadata_of(role), "labels");
  for (const auto& [k, v] : match_labels) {
    if (labels == nullptr || !v.is_string() || get_string(*labels, k) != v.as_string()) return false;
  }
  return true;
}

// Rules of `role` plus, for an aggregated ClusterRole, those of every
// ClusterRole its selectors' matchLabels pick, transitively (upstream's
// admin aggregates edit, which aggregates view); `seen` breaks cycles.
void collect_rules(const json::object& role, const std::vector<const json::object*>& all,
                   std::vector<const json::object*>& seen, std::vector<PolicyRule>& out) {
  if (std::find(seen.begin(), seen.end(), &role) != seen.end()) return;
  seen.push_back(&role);
  auto own = parse_rules(role);
  out.insert(out.end(), own.begin(), own.end());
  const auto* agg = find_object(role, "aggregationRule");
  const auto* selectors = agg != nullptr ? find_array(*agg, "clusterRoleSelectors") : nullptr;
  if (selectors == nullptr) return;
  for (const auto& sel : *selectors) {
    const auto* ml = sel.is_object() ? find_object(sel.as_object(), "matchLabels") : nullptr;
    if (ml == nullptr || ml->empty()) continue;
    for (const auto* other : all) {
      if (labels_match(*other, *ml)) collect_rules(*other, all, seen, out);
    }
  }
}

std::vector<PolicyRule> effective_rules(const json::object& role, const std::vector<const json::object*>& all) {
  std::vector<PolicyRule> rules;
  std::vector<const json::object*> seen;
  collect_rules(role, all, seen, rules);
  return rules;
}

}  // namespace

RbacPolicy RbacPolicy::build(const std::vector<json::object>& objects) {
  RbacPolicy p;
  std::vector<const json::object*> cluster_roles;
  for (const auto& o : objects) {
    if (get_string(o, "kind") == "ClusterRole") cluster_roles.push_back(&o);
  }
  for (const auto& o : objects) {
    std::string kind = get_string(o, "kind");
    const auto& meta = metadata_of(o);
    if (kind == "ClusterRole") {
      p.cluster_roles[get_string(meta, "name")] = effective_rules(o, cluster_roles);
    } else if (kind == "Role") {
      p.roles[get_string(meta, "namespace") + "/" + get_string(meta, "name")] = parse_rules(o);
    } else if (kind == "ClusterRoleBinding") {
      p.cluster_bindings.push_back(parse_binding(o));
    } else if (kind == "RoleBinding") {
      auto b = parse_binding(o);
      std::string ns = b.ns;
      p.bindings.emplace(ns, std::move(b));
    }
  }
  return p;
}

bool RbacPolicy::allows(const RequestAttributes& a) const {
  auto grants = [&](const RoleBindingInfo& b) {
    if (!std::any_of(b.subjects.begin(), b.subjects.end(),
                     [&](const Subject& s) { return subject_matches(s, a, b.ns); })) {
      return false;
    }
    const std::vector<PolicyRule>* rules = nullptr;
    if (b.role_kind == "ClusterRole") {
      auto it = cluster_roles.find(b.role_name);
      if (it != cluster_roles.end()) rules = &it->second;
    } else if (b.role_kind == "Role" && !b.ns.empty()) {
      auto it = roles.find(b.ns + "/" + b.role_name);
      if (it != roles.end()) rules = &it->second;
    }
    return rules != nullptr &&
           std::any_of(rules->begin(), rules->end(), [&](const PolicyRule& r) { return rule_allows(r, a); });
  };
  if (std::any_of(cluster_bindings.begin(), cluster_bindings.end(), grants)) return true;
  if (a.ns.empty()) return false;
  auto [first, last] = bindings.equal_range(a.ns);
  for (auto it = first; it != last; ++it) {
    if (grants(it->second)) return true;
  }
  return false;
}

ApiError forbidden_for(const RequestAttributes& a) {
  std::string why;
  ApiError e = forbidden_error("");
  if (!a.resource_request) {
    e.message = "forbidden: User \"" + a.user + "\" cannot " + a.verb + " path \"" + a.path + "\"";
    return e;
  }
  std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  why = "User \"" + a.user + "\" cannot " + a.verb + " resource \"" + resource + "\" in API group \"" +
        a.api_group + "\"" + (a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"");
  std::string qualified = a.api_group.empty() ? a.resource : a.resource + "." + a.api_group;
  e.message = qualified + (a.name.empty() ? "" : " \"" + a.name + "\"") + " is forbidden: " + why;
  e.name = a.name;
  e.group = a.api_group;
  e.kind = a.resource;
  return e;
}

// ---- RbacAuthorizer ----

namespace {

// Key prefixes and the kind stored under each (stored objects may lack kind).
constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
    {"/registry/clusterroles/", "ClusterRole"},
    {"/registry/clusterrolebindings/", "ClusterRoleBinding"},
    {"/registry/roles/", "Role"},
    {"/registry/rolebindings/", "RoleBinding"}};
// Two ranges cover the four prefixes.
constexpr std::pair<std::string_view, std::string_view> kRanges[] = {
    {"/registry/clusterrole", "/registry/clusterrolf"}, {"/registry/role", "/registry/rolf"}};

std::string_view kind_for_key(std::string_view key) {
  for (const auto& [prefix, kind] : kPrefixes) {
    if (key.starts_with(prefix)) return kind;
  }
  return {};
}

}  // namespace

struct RbacAuthorizer::Impl final : store::WatchObserver {
  explicit Impl(store::Store& s) : store(s) {}
  store::Store& store;
  std::mutex reload_mu;  // serializes start/reload/stop
  std::vector<std::unique_ptr<store::Watch>> watches;  // guarded by reload_mu
  mutable std::mutex mu;
  std::map<std::string, json::object> objects;     // guarded by mu; by store key
  std::shared_ptr<const RbacPolicy> policy;        // guarded by mu
  bool stopped = false;                            // guarded by mu
  bool stale = false;                              // guarded by mu: a watch ended

  void ingest(const std::string& key, std::string_view value) {
    std::string_view kind = kind_for_key(key);
    if (kind.empty()) return;
    boost::system::error_code ec;
    auto v = json::parse(value, ec);
    if (ec || !v.is_object()) return;
    v.as_object()["kind"] = kind;
    objects[key] = std::move(v.as_object());
  }
  void rebuild() {
    std::vector<json::object> all;
    all.reserve(objects.size());
    for (const auto& [k, o] : objects) all.push_back(o);
    policy = std::make_shared<const RbacPolicy>(RbacPolicy::build(all));
  }
  void on_events(store::Revision, std::span<const store::Event> events) override {
    if (events.empty()) return;
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      if (e.type == store::Event::Type::kDelete) objects.erase(e.kv.key);
      else ingest(e.kv.key, e.kv.value);
    }
    rebuild();
  }
  void on_canceled(const Status& reason, store::Revision) override {
    std::lock_guard lock(mu);
    if (stopped) return;
    // Reloaded by the next authorize() call's caller thread (never this one:
    // a watch may not be destroyed from its own callback).
    stale = true;
    log::logger("apiserver")->warn("RBAC watch ended ({}); reloading", reason.message());
  }

  Status load() {
    std::lock_guard reload(reload_mu);
    watches.clear();
    store::Revision rev = 0;
    std::map<std::string, json::object> fresh;
    {
      std::lock_guard lock(mu);
      objects.clear();
      for (const auto& [key, end] : kRanges) {
        auto r = store.range(store::RangeRequest{.key = std::string(key), .range_end = std::string(end),
                                                 .revision = rev});
        if (!r.ok()) return r.status();
        if (rev == 0) rev = r->revision;
        for (const auto& kv : r->kvs) ingest(kv.key, kv.value);
      }
      rebuild();
      stale = false;
    }
    for (const auto& [key, end] : kRanges) {
      auto w = store.watch(store::WatchRequest{.key = std::string(key), .range_end = std::string(end),
                                               .start_revision = rev + 1},
                           *this);
      if (!w.ok()) return w.status();
      watches.push_back(std::move(*w));
    }
    return {};
  }
};

RbacAuthorizer::RbacAuthorizer(store::Store& store) : impl_(std::make_unique<Impl>(store)) {}
RbacAuthorizer::~RbacAuthorizer() { stop(); }

Status RbacAuthorizer::start() { return impl_->load(); }

void RbacAuthorizer::stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopped = true;
  }
  std::lock_guard reload(impl_->reload_mu);
  impl_->watches.clear();
}

bool RbacAuthorizer::authorize(const RequestAttributes& a) const {
  if (contains(a.groups, "system:masters")) return true;
  std::shared_ptr<const RbacPolicy> policy;
  bool reload = false;
  {
    std::lock_guard lock(impl_->mu);
    policy = impl_->policy;
    reload = impl_->stale && !impl_->stopped;
  }
  if (reload) {
    if (Status s = impl_->load(); !s.ok()) log::logger("apiserver")->warn("RBAC reload: {}", s.message());
    std::lock_guard lock(impl_->mu);
    policy = impl_->policy;
  }
  return policy != nullptr && policy->allows(a);
}

}  // namespace kedge::control

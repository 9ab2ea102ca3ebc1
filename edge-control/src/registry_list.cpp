// Registry: list with selectors and limit/continue, collection delete, and
// the namespace lifecycle (defaults at start, contents deleted with it).
#include <boost/json.hpp>

#include "kedge/base/log.h"
#include "kedge/control/registry.h"
#include "cached_list.h"
#include "object_util.h"
#include "selection.h"
#include "service_alloc.h"

namespace kedge::control {

namespace {

std::string end_of(const std::string& prefix) {
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

constexpr std::int64_t kBatch = 500;

}  // namespace

ApiResult<ListResult> Registry::list(const ResourceInfo& info, std::string_view ns,
                                     const ListOptions& options) {
  KEDGE_API_ASSIGN(auto selection,
                   Selection::compile(info, options.label_selector, options.field_selector));
  ListResult out;
  const std::string prefix = prefix_for(info, ns);
  std::string start = prefix;
  store::Revision at = options.revision;
  if (!options.continue_token.empty()) {
    std::string rel;
    KEDGE_API_RETURN_IF_ERROR(parse_continue_token(options.continue_token, at, rel));
    start = prefix + rel;
  }
  // metadata.name=<x> in one namespace is a point read.
  std::string single = selection->single_name();
  if (!single.empty() && (ns.size() > 0 || !info.namespaced) && options.continue_token.empty()) {
    auto r = store_.range(store::RangeRequest{.key = key_for(info, ns, single), .revision = at});
    if (!r.ok()) return from_store_status(r.status());
    out.revision = r->revision;
    for (const auto& kv : r->kvs) {
      KEDGE_API_ASSIGN(auto obj, decode(kv));
      if (selection->matches(obj)) out.items.push_back(std::move(obj));
    }
    return out;
  }
  const std::string end = end_of(prefix);
  while (true) {
    std::int64_t want = options.limit > 0 ? std::max<std::int64_t>(options.limit + 1, kBatch) : 0;
    auto r = store_.range(store::RangeRequest{.key = start, .range_end = end, .limit = want,
                                              .revision = at});
    if (!r.ok()) {
      auto e = from_store_status(r.status());
      if (e.code == 410 && !options.continue_token.empty()) {
        e.message = "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.";
      }
      return e;
    }
    if (at == 0) at = r->revision;
    out.revision = at;
    std::size_t i = 0;
    for (; i < r->kvs.size(); ++i) {
      const auto& kv = r->kvs[i];
      if (options.limit > 0 && static_cast<std::int64_t>(out.items.size()) >= options.limit) break;
      // Nested prefixes (pods in "a" vs "ab") are excluded by the trailing '/'.
      KEDGE_API_ASSIGN(auto obj, decode(kv));
      if (selection->matches(obj)) out.items.push_back(std::move(obj));
    }
    bool more_in_store = i < r->kvs.size() || r->more;
    if (options.limit > 0 && static_cast<std::int64_t>(out.items.size()) >= options.limit) {
      if (more_in_store) {
        const std::string& last = r->kvs[i - 1].key;
        out.continue_token = make_continue_token(at, last.substr(prefix.size()) + std::string(1, '\0'));
      }
      return out;
    }
    if (!r->more || r->kvs.empty()) return out;
    start = r->kvs.back().key + std::string(1, '\0');
  }
}

ApiResult<ListResult> Registry::remove_collection(const ResourceInfo& info, std::string_view ns,
                                                  const ListOptions& list_options,
                                                  const DeleteOptions& options) {
  ListOptions lo = list_options;
  lo.limit = 0;
  lo.continue_token.clear();
  KEDGE_API_ASSIGN(auto listed, list(info, ns, lo));
  ListResult out;
  out.revision = listed.revision;
  for (auto& item : listed.items) {
    const auto& meta = metadata_of(item);
    auto r = remove(info, get_string(meta, "namespace"), get_string(meta, "name"), options);
    if (r.ok()) out.items.push_back(std::move(*r));
    else if (r.error().code != 404) return r.error();
  }
  return out;
}

Status Registry::bootstrap() {
  const ResourceInfo* nsinfo = find_resource("", "v1", "namespaces");
  for (auto name : kDefaultNamespaces) {
    json::object ns{{"apiVersion", "v1"}, {"kind", "Namespace"},
                    {"metadata", json::object{{"name", name}}}};
    auto r = create(*nsinfo, "", std::move(ns), WriteOptions{});
    if (!r.ok() && r.error().code != 409) {
      return internal_error("creating namespace " + std::string(name) + ": " + r.error().message);
    }
  }
  // The kubernetes service holds the first service IP, as upstream.
  const ResourceInfo* svcinfo = find_resource("", "v1", "services");
  json::object svc{
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", json::object{{"name", "kubernetes"},
                                {"labels", json::object{{"component", "apiserver"},
                                                        {"provider", "kubernetes"}}}}},
      {"spec", json::object{{"type", "ClusterIP"},
                            {"clusterIP", services_->first_ip()},
                            {"ports", json::array{json::object{{"name", "https"},
                                                               {"port", 443},
                                                               {"protocol", "TCP"},
                                                               {"targetPort", 6443}}}}}}};
  // Checked first: on a restart the IP claim would refuse the create (422)
  // before the name check could answer AlreadyExists.
  auto existing = get(*svcinfo, "default", "kubernetes");
  auto s = existing.ok() ? ApiResult<WriteResult>(WriteResult{})
                         : create(*svcinfo, "default", std::move(svc), WriteOptions{});
  if (!s.ok() && s.error().code != 409) {
    return internal_error("creating the kubernetes service: " + s.error().message);
  }
  // Namespaces a previous run left Terminating.
  auto all = list(*nsinfo, "", ListOptions{});
  if (!all.ok()) return internal_error(all.error().message);
  for (const auto& item : all->items) {
    if (metadata_of(item).contains("deletionTimestamp")) {
      std::function<void(std::string)> hook;
      {
        std::lock_guard lock(hook_mu_);
        hook = namespace_hook_;
      }
      if (hook) hook(get_string(metadata_of(item), "name"));
    }
  }
  return {};
}

namespace {

// Inserts or replaces `desired` (same name) unless the stored object already
// has the same `fields`.
ApiStatus upsert(Registry& registry, const ResourceInfo& info, json::object desired,
                 std::initializer_list<std::string_view> fields) {
  const std::string name(get_string(metadata_of(desired), "name"));
  auto current = registry.get(info, "default", name);
  if (!current.ok()) {
    if (current.error().code != 404) return current.error();
    auto r = registry.create(info, "default", std::move(desired), WriteOptions{});
    if (!r.ok()) return r.error();
    return api_ok();
  }
  bool same = true;
  for (auto f : fields) {
    same = same && current->if_contains(f) != nullptr && *current->if_contains(f) == desired.at(f);
  }
  if (same) return api_ok();
  auto r = registry.modify(
      info, "default", name,
      [&](const json::object& stored) -> ApiResult<json::object> {
        json::object out = stored;
        for (auto f : fields) out[f] = desired.at(f);
        return out;
      },
      WriteOptions{}, Registry::Scope::kMain);
  if (!r.ok()) return r.error();
  return api_ok();
}

}  // namespace

Status Registry::publish_apiserver_endpoints(std::string_view address, int port) {
  const bool v6 = address.find(':') != std::string_view::npos;
  const json::object port_entry{{"name", "https"}, {"port", port}, {"protocol", "TCP"}};
  json::object endpoints{
      {"apiVersion", "v1"},
      {"kind", "Endpoints"},
      {"metadata", json::object{{"name", "kubernetes"}}},
      {"subsets", json::array{json::object{{"addresses", json::array{json::object{{"ip", address}}}},
                                           {"ports", json::array{port_entry}}}}}};
  json::object slice{
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata", json::object{{"name", "kubernetes"},
                                {"labels", json::object{{"kubernetes.io/service-name", "kubernetes"}}}}},
      {"addressType", v6 ? "IPv6" : "IPv4"},
      {"endpoints", json::array{json::object{{"addresses", json::array{address}},
                                             {"conditions", json::object{{"ready", true}}}}}},
      {"ports", json::array{port_entry}}};
  auto fail = [](std::string_view what, const ApiError& e) {
    return internal_error("publishing the API server's endpoints: " + std::string(what) + ": " + e.message);
  };
  if (auto st = upsert(*this, *find_resource("", "v1", "endpoints"), std::move(endpoints), {"subsets"}); !st.ok()) {
    return fail("endpoints", st.error());
  }
  if (auto st = upsert(*this, *find_resource("discovery.k8s.io", "v1", "endpointslices"), std::move(slice),
                       {"addressType", "endpoints", "ports"});
      !st.ok()) {
    return fail("endpointslice", st.error());
  }
  // The Service's targetPort follows the port this server really listens on.
  const ResourceInfo* svcinfo = find_resource("", "v1", "services");
  auto r = modify(
      *svcinfo, "default", "kubernetes",
      [&](const json::object& stored) -> ApiResult<json::object> {
        json::object out = stored;
        auto* ports = out["spec"].as_object()["ports"].if_array();
        if (ports != nullptr && !ports->empty()) ports->at(0).as_object()["targetPort"] = port;
        return out;
      },
      WriteOptions{}, Registry::Scope::kMain);
  if (!r.ok()) return fail("service", r.error());
  return {};
}

void Registry::finalize_namespace(const std::string& ns) {
  auto logger = log::logger("apiserver");
  for (const auto& info : all_resources()) {
    if (!info.namespaced || info.create_only) continue;
    auto listed = list(info, ns, ListOptions{});
    if (!listed.ok()) {
      logger->warn("namespace {}: listing {} failed: {}", ns, info.resource, listed.error().message);
      continue;
    }
    for (const auto& item : listed->items) {
      const std::string key = key_for(info, ns, get_string(metadata_of(item), "name"));
      store::KeyValue kv;
      kv.key = key;
      kv.mod_revision = std::stoll(get_string(metadata_of(item), "resourceVersion"));
      // Contents go without waiting for finalizers or grace periods: the
      // namespace is going away with them.
      auto r = delete_now(info, key, kv, item);
      if (!r.ok()) logger->warn("namespace {}: deleting {}: {}", ns, key, r.error().message);
    }
  }
  const ResourceInfo* nsinfo = find_resource("", "v1", "namespaces");
  auto cur = store_.range(store::RangeRequest{.key = key_for(*nsinfo, "", ns)});
  if (!cur.ok() || cur->kvs.empty()) return;
  auto obj = decode(cur->kvs[0]);
  if (!obj.ok()) return;
  auto r = delete_now(*nsinfo, cur->kvs[0].key, cur->kvs[0], *obj);
  if (!r.ok()) logger->warn("namespace {}: final delete: {}", ns, r.error().message);
  else logger->info("namespace {} deleted with its contents", ns);
}

}  // namespace kedge::control

#include "kedge/controllers/garbage_collector.h"

#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::controllers {

namespace json = boost::json;

class GarbageCollector::Handler final : public client::InformerHandler {
 public:
  Handler(GarbageCollector& gc, const Resource& r) : gc_(gc), r_(r) {}
  void on_add(const Object& obj) override { changed(*obj); }
  void on_update(const Object&, const Object& obj) override { changed(*obj); }
  void on_delete(const Object& obj) override {
    // Its dependents may now dangle, and a foreground owner waiting for it
    // may now be free to go.
    for (const auto& dep : gc_.dependents_of(api::get_uid(*obj))) {
      gc_.queue().add(gc_.key_for(*dep.resource, *dep.obj));
    }
    enqueue_owners(*obj);
  }

 private:
  void changed(const json::value& obj) {
    // Only objects with owners or in deletion have anything to collect.
    if (api::get_deletion_timestamp(obj) || !api::get_owner_references(obj).empty()) {
      gc_.queue().add(gc_.key_for(r_, obj));
    }
    if (api::get_deletion_timestamp(obj)) {
      // A foreground owner deletes its dependents: sync them too.
      for (const auto& dep : gc_.dependents_of(api::get_uid(obj))) {
        gc_.queue().add(gc_.key_for(*dep.resource, *dep.obj));
      }
    }
  }
  void enqueue_owners(const json::value& obj) {
    for (const auto& ref : api::get_owner_references(obj)) {
      const Resource* owner_r = gc_.resource_for(ref.api_version, ref.kind);
      if (!owner_r) continue;
      json::value owner = json::object{};
      api::set_name(owner, ref.name);
      if (owner_r->namespaced) api::set_namespace(owner, api::get_namespace(obj));
      gc_.queue().add(gc_.key_for(*owner_r, owner));
    }
  }
  GarbageCollector& gc_;
  const Resource& r_;
};

GarbageCollector::GarbageCollector(Transport& transport, GarbageCollectorOptions options)
    : Controller("garbage-collector", transport, options.queue), options_(std::move(options)) {}

GarbageCollector::~GarbageCollector() { stop(); }

void GarbageCollector::register_watches() {
  for (const auto& r : options_.resources) {
    handlers_.push_back(std::make_unique<Handler>(*this, r));
    transport_.watch(r, handlers_.back().get());
  }
}

std::string GarbageCollector::key_for(const Resource& resource, const json::value& obj) const {
  for (std::size_t i = 0; i < options_.resources.size(); ++i) {
    if (options_.resources[i].collection("") == resource.collection("")) {
      return std::to_string(i) + "|" + object_key(obj);
    }
  }
  return "";
}

void GarbageCollector::resync_all() {
  for (const auto& r : options_.resources) {
    for (const auto& obj : transport_.list(r, "")) {
      if (api::get_deletion_timestamp(*obj) || !api::get_owner_references(*obj).empty()) {
        queue().add(key_for(r, *obj));
      }
    }
  }
}

const Resource* GarbageCollector::resource_for(std::string_view api_version, std::string_view kind) const {
  for (const auto& r : options_.resources) {
    if (r.group_version == api_version && r.kind == kind) return &r;
  }
  return nullptr;
}

std::vector<GarbageCollector::Ref> GarbageCollector::dependents_of(std::string_view uid) const {
  std::vector<Ref> out;
  if (uid.empty()) return out;
  for (const auto& r : options_.resources) {
    for (const auto& obj : transport_.list(r, "")) {
      for (const auto& ref : api::get_owner_references(*obj)) {
        if (ref.uid == uid) {
          out.push_back(Ref{&r, obj});
          break;
        }
      }
    }
  }
  return out;
}

Status GarbageCollector::sync(const std::string& key) {
  auto bar = key.find('|');
  if (bar == std::string::npos) return ok_status();
  std::size_t index = std::stoul(key.substr(0, bar));
  if (index >= options_.resources.size()) return ok_status();
  const Resource& r = options_.resources[index];
  auto [ns, name] = split_key(std::string_view(key).substr(bar + 1));
  Object obj = transport_.get(r, ns, name);
  if (!obj) return ok_status();
  if (api::get_deletion_timestamp(*obj)) {
    KEDGE_RETURN_IF_ERROR(sync_deleting_owner(r, *obj));
  }
  return sync_dependent(r, *obj);
}

Status GarbageCollector::sync_deleting_owner(const Resource& r, const json::value& obj) {
  std::string uid(api::get_uid(obj));
  if (api::has_finalizer(obj, kOrphanFinalizer)) {
    for (const auto& dep : dependents_of(uid)) {
      json::array refs;
      for (const auto& ref : api::get_owner_references(*dep.obj)) {
        if (ref.uid != uid) refs.push_back(ref.to_json());
      }
      json::value patch = json::object{
          {"metadata", json::object{{"ownerReferences", refs.empty() ? json::value(nullptr) : json::value(refs)},
                                    {"uid", api::get_uid(*dep.obj)}}}};
      auto res = transport_.patch(*dep.resource, api::get_namespace(*dep.obj), api::get_name(*dep.obj), patch);
      if (!res.ok() && res.status().code() != Code::kNotFound) return res.status().with_context("orphaning");
    }
    return remove_finalizer(r, obj, kOrphanFinalizer);
  }
  if (api::has_finalizer(obj, kForegroundFinalizer)) {
    bool blocked = false;
    for (const auto& dep : dependents_of(uid)) {
      bool blocks = false;
      for (const auto& ref : api::get_owner_references(*dep.obj)) blocks = blocks || (ref.uid == uid && ref.block_owner_deletion);
      if (blocks) blocked = true;
      if (api::get_deletion_timestamp(*dep.obj)) continue;
      Status s = transport_.remove(*dep.resource, api::get_namespace(*dep.obj), api::get_name(*dep.obj),
                                   DeleteOptions{.propagation_policy = "Foreground",
                                                 .precondition_uid = std::string(api::get_uid(*dep.obj))});
      if (!s.ok() && s.code() != Code::kNotFound) return s.with_context("deleting dependents");
    }
    if (blocked) return ok_status();  // a dependent's deletion requeues us
    return remove_finalizer(r, obj, kForegroundFinalizer);
  }
  return ok_status();
}

Status GarbageCollector::sync_dependent(const Resource& r, const json::value& obj) {
  auto refs = api::get_owner_references(obj);
  if (refs.empty()) return ok_status();
  std::vector<api::OwnerReference> alive, dangling;
  for (const auto& ref : refs) {
    const Resource* owner_r = resource_for(ref.api_version, ref.kind);
    if (!owner_r) {
      alive.push_back(ref);  // a kind we do not track: assume it exists
      continue;
    }
    std::string_view owner_ns = owner_r->namespaced ? api::get_namespace(obj) : std::string_view();
    Object cached = transport_.get(*owner_r, owner_ns, ref.name);
    if (cached && api::get_uid(*cached) == ref.uid) {
      alive.push_back(ref);
      continue;
    }
    // The cache may lag behind a brand-new owner: ask the API.
    auto live = transport_.get_live(*owner_r, owner_ns, ref.name);
    if (live.ok() && api::get_uid(*live) == ref.uid) {
      alive.push_back(ref);
    } else if (live.ok() || live.status().code() == Code::kNotFound) {
      dangling.push_back(ref);
    } else {
      return live.status().with_context("looking up owner");
    }
  }
  if (dangling.empty()) return ok_status();
  if (alive.empty()) {
    log::logger("controllers")->info("garbage-collector: deleting {} {}: owner gone", r.kind, object_key(obj));
    Status s = transport_.remove(r, api::get_namespace(obj), api::get_name(obj),
                                 DeleteOptions{.propagation_policy = "Background",
                                               .precondition_uid = std::string(api::get_uid(obj))});
    if (!s.ok() && s.code() != Code::kNotFound) return s;
    return ok_status();
  }
  // Some owners remain: drop only the dangling references.
  json::array keep;
  for (const auto& ref : alive) keep.push_back(ref.to_json());
  json::value patch = json::object{{"metadata", json::object{{"ownerReferences", std::move(keep)},
                                                             {"uid", api::get_uid(obj)}}}};
  auto res = transport_.patch(r, api::get_namespace(obj), api::get_name(obj), patch);
  if (!res.ok() && res.status().code() != Code::kNotFound) return res.status();
  return ok_status();
}

Status GarbageCollector::remove_finalizer(const Resource& r, const json::value& obj, std::string_view finalizer) {
  json::array keep;
  for (const auto& f : api::get_finalizers(obj)) {
    if (f != finalizer) keep.push_back(json::value(f));
  }
  json::value patch = json::object{
      {"metadata", json::object{{"finalizers", keep.empty() ? json::value(nullptr) : json::value(keep)},
                                {"resourceVersion", api::get_resource_version(obj)}}}};
  auto res = transport_.patch(r, api::get_namespace(obj), api::get_name(obj), patch);
  if (!res.ok() && res.status().code() != Code::kNotFound) return res.status().with_context("removing finalizer");
  return ok_status();
}

}  // namespace kedge::controllers

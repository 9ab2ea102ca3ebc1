#include "kedge/controllers/rest_transport.h"

#include "kedge/api/meta.h"

namespace kedge::controllers {

namespace json = boost::json;

RestTransport::~RestTransport() { stop(); }

void RestTransport::watch(const Resource& resource, client::InformerHandler* handler) {
  auto& informer = informers_[resource];
  if (!informer) {
    informer = std::make_unique<client::Informer>(client_, client::InformerOptions{.path = resource.collection("")});
  }
  if (handler) informer->add_handler(handler);
}

void RestTransport::start() {
  for (auto& [resource, informer] : informers_) {
    client::Informer* inf = informer.get();
    threads_.emplace_back([inf] { (void)inf->run(); });
  }
}

bool RestTransport::wait_for_sync() {
  // Informers have no sync callback outside their handlers; a short wait on
  // our own condition variable between checks bounds the cost to a few
  // wakeups during start-up only.
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return false;
    bool all = true;
    for (auto& [resource, informer] : informers_) all = all && informer->has_synced();
    if (all) return true;
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void RestTransport::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& [resource, informer] : informers_) informer->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Object RestTransport::get(const Resource& resource, std::string_view ns, std::string_view name) const {
  auto it = informers_.find(resource);
  if (it == informers_.end()) return nullptr;
  return it->second->get(std::string(ns), std::string(name));
}

std::vector<Object> RestTransport::list(const Resource& resource, std::string_view ns) const {
  auto it = informers_.find(resource);
  if (it == informers_.end()) return {};
  std::vector<Object> all = it->second->list();
  if (ns.empty()) return all;
  std::vector<Object> out;
  for (auto& obj : all) {
    if (api::get_namespace(*obj) == ns) out.push_back(obj);
  }
  return out;
}

Result<json::value> RestTransport::get_live(const Resource& resource, std::string_view ns, std::string_view name) {
  return client_.get(resource.object(ns, name));
}

Result<json::value> RestTransport::create(const Resource& resource, std::string_view ns, const json::value& obj) {
  return client_.send("POST", resource.collection(ns), obj);
}

Result<json::value> RestTransport::update(const Resource& resource, const json::value& obj) {
  return client_.send("PUT", resource.object(api::get_namespace(obj), api::get_name(obj)), obj);
}

Result<json::value> RestTransport::update_status(const Resource& resource, const json::value& obj) {
  return client_.send("PUT", resource.object(api::get_namespace(obj), api::get_name(obj)) + "/status", obj);
}

Result<json::value> RestTransport::patch(const Resource& resource, std::string_view ns, std::string_view name,
                                         const json::value& merge_patch) {
  return client_.send("PATCH", resource.object(ns, name), merge_patch, "application/merge-patch+json");
}

Status RestTransport::remove(const Resource& resource, std::string_view ns, std::string_view name,
                             const DeleteOptions& options) {
  json::object body{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (!options.precondition_uid.empty()) body["preconditions"] = json::object{{"uid", options.precondition_uid}};
  auto result = client_.send("DELETE", resource.object(ns, name), body);
  return result.status();
}

}  // namespace kedge::controllers

#include "fake_transport.h"

#include <chrono>

#include "kedge/api/json_util.h"
#include "kedge/api/merge_patch.h"
#include "kedge/api/meta.h"

namespace kedge::controllers::testing {

namespace json = boost::json;

void FakeTransport::watch(const Resource& resource, client::InformerHandler* handler) {
  std::lock_guard lock(mu_);
  if (handler) handlers_[resource.collection("")].push_back(handler);
}

Object FakeTransport::get(const Resource& resource, std::string_view ns, std::string_view name) const {
  std::lock_guard lock(mu_);
  auto s = stores_.find(resource.collection(""));
  if (s == stores_.end()) return nullptr;
  auto it = s->second.find(std::string(ns) + "/" + std::string(name));
  return it == s->second.end() ? nullptr : it->second;
}

std::vector<Object> FakeTransport::list(const Resource& resource, std::string_view ns) const {
  std::lock_guard lock(mu_);
  std::vector<Object> out;
  auto s = stores_.find(resource.collection(""));
  if (s == stores_.end()) return out;
  for (const auto& [key, obj] : s->second) {
    if (ns.empty() || api::get_namespace(*obj) == ns) out.push_back(obj);
  }
  return out;
}

void FakeTransport::notify_update(const Resource& r, Object old_obj, Object obj,
                                  std::vector<std::function<void()>>& notify) {
  for (auto* h : handlers_[r.collection("")]) {
    if (!old_obj) {
      notify.push_back([h, obj] { h->on_add(obj); });
    } else if (!obj) {
      notify.push_back([h, old_obj] { h->on_delete(old_obj); });
    } else {
      notify.push_back([h, old_obj, obj] { h->on_update(old_obj, obj); });
    }
  }
}

Result<json::value> FakeTransport::store_locked(const Resource& r, json::value obj, bool is_new,
                                                std::vector<std::function<void()>>& notify) {
  auto& store = stores_[r.collection("")];
  std::string key = std::string(api::get_namespace(obj)) + "/" + std::string(api::get_name(obj));
  auto it = store.find(key);
  Object old_obj = it == store.end() ? nullptr : it->second;
  if (is_new && old_obj) return already_exists(r.plural + " \"" + std::string(api::get_name(obj)) + "\" already exists");
  if (!is_new && !old_obj) return not_found(r.plural + " \"" + std::string(api::get_name(obj)) + "\" not found");
  if (!is_new) {
    auto rv = api::get_resource_version(obj);
    if (!rv.empty() && rv != api::get_resource_version(*old_obj)) {
      return aborted("Operation cannot be fulfilled: the object has been modified");
    }
    if (!api::get_uid(obj).empty() && api::get_uid(obj) != api::get_uid(*old_obj)) {
      return aborted("Precondition failed: UID mismatch");
    }
  }
  api::set_resource_version(obj, std::to_string(++rv_));
  auto shared = std::make_shared<const json::value>(obj);
  if (!is_new && api::get_deletion_timestamp(obj) && api::get_finalizers(obj).empty()) {
    // The last finalizer is gone: the deletion completes.
    store.erase(key);
    notify_update(r, old_obj, nullptr, notify);
    return obj;
  }
  store[key] = shared;
  notify_update(r, old_obj, shared, notify);
  return obj;
}

Result<json::value> FakeTransport::get_live(const Resource& resource, std::string_view ns, std::string_view name) {
  Object obj = get(resource, ns, name);
  if (!obj) return not_found(resource.plural + " \"" + std::string(name) + "\" not found");
  return *obj;
}

Result<json::value> FakeTransport::create(const Resource& resource, std::string_view ns, const json::value& in) {
  std::vector<std::function<void()>> notify;
  Result<json::value> out = json::value();
  {
    std::lock_guard lock(mu_);
    ++writes_["create"];
    if (fail_creates_ > 0) {
      --fail_creates_;
      return fail_status_;
    }
    json::value obj = in;
    if (api::get_name(obj).empty()) {
      if (api::get_generate_name(obj).empty()) return invalid_argument("name or generateName is required");
      static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
      int n = ++name_seq_;
      std::string suffix;
      for (int i = 0; i < 5; ++i, n /= 27) suffix += kChars[n % 27];
      api::set_name(obj, std::string(api::get_generate_name(obj)) + suffix);
    }
    api::set_namespace(obj, ns);
    api::set_uid(obj, api::new_uid());
    api::set_generation(obj, 1);
    api::set_creation_timestamp(obj, api::format_rfc3339(std::chrono::system_clock::now()));
    if (lagging_) {
      api::set_resource_version(obj, std::to_string(++rv_));
      pending_.emplace_back(resource, obj);
      return obj;
    }
    out = store_locked(resource, std::move(obj), true, notify);
  }
  for (auto& f : notify) f();
  return out;
}

void FakeTransport::set_lagging(bool lagging) {
  std::lock_guard lock(mu_);
  lagging_ = lagging;
}

void FakeTransport::catch_up() {
  std::vector<std::pair<Resource, json::value>> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_);
  }
  for (auto& [r, obj] : pending) put(r, std::move(obj));
}

Result<json::value> FakeTransport::update(const Resource& resource, const json::value& in) {
  std::vector<std::function<void()>> notify;
  Result<json::value> out = json::value();
  {
    std::lock_guard lock(mu_);
    ++writes_["update"];
    json::value obj = in;
    Object cur = nullptr;
    auto& store = stores_[resource.collection("")];
    if (auto it = store.find(std::string(api::get_namespace(obj)) + "/" + std::string(api::get_name(obj)));
        it != store.end()) {
      cur = it->second;
    }
    if (cur) {
      // The status subresource is not writable through the main resource.
      if (auto* st = cur->as_object().if_contains("status")) {
        obj.as_object()["status"] = *st;
      } else {
        obj.as_object().erase("status");
      }
      std::int64_t gen = api::get_generation(*cur);
      const json::value* a = cur->as_object().if_contains("spec");
      const json::value* b = obj.as_object().if_contains("spec");
      bool changed = (a == nullptr) != (b == nullptr) || (a && b && !api::json_equal(*a, *b));
      api::set_generation(obj, changed ? gen + 1 : gen);
    }
    out = store_locked(resource, std::move(obj), false, notify);
  }
  for (auto& f : notify) f();
  return out;
}

Result<json::value> FakeTransport::update_status(const Resource& resource, const json::value& in) {
  std::vector<std::function<void()>> notify;
  Result<json::value> out = json::value();
  {
    std::lock_guard lock(mu_);
    ++writes_["update_status"];
    auto& store = stores_[resource.collection("")];
    auto it = store.find(std::string(api::get_namespace(in)) + "/" + std::string(api::get_name(in)));
    if (it == store.end()) return not_found("not found");
    json::value obj = *it->second;
    if (auto* st = in.as_object().if_contains("status")) obj.as_object()["status"] = *st;
    api::set_resource_version(obj, api::get_resource_version(in));
    out = store_locked(resource, std::move(obj), false, notify);
  }
  for (auto& f : notify) f();
  return out;
}

Result<json::value> FakeTransport::patch(const Resource& resource, std::string_view ns, std::string_view name,
                                         const json::value& merge_patch) {
  Object cur = get(resource, ns, name);
  if (!cur) return not_found(resource.plural + " \"" + std::string(name) + "\" not found");
  json::value merged = api::apply_merge_patch(*cur, merge_patch);
  {
    std::lock_guard lock(mu_);
    ++writes_["patch"];
  }
  // A patched status is ignored on the main resource, as the API does.
  if (auto* st = cur->as_object().if_contains("status")) merged.as_object()["status"] = *st;
  auto r = update(resource, merged);
  std::lock_guard lock(mu_);
  --writes_["update"];
  return r;
}

Status FakeTransport::remove(const Resource& resource, std::string_view ns, std::string_view name,
                             const DeleteOptions& options) {
  std::vector<std::function<void()>> notify;
  {
    std::lock_guard lock(mu_);
    ++writes_["delete"];
    auto& store = stores_[resource.collection("")];
    auto it = store.find(std::string(ns) + "/" + std::string(name));
    if (it == store.end()) return not_found(resource.plural + " \"" + std::string(name) + "\" not found");
    if (!options.precondition_uid.empty() && api::get_uid(*it->second) != options.precondition_uid) {
      return aborted("Precondition failed: UID in precondition does not match");
    }
    Object old_obj = it->second;
    // As the API server: a finalizer (present, or the one the policy asks
    // for) turns the delete into setting deletionTimestamp.
    json::value marked = *old_obj;
    bool keep = !api::get_finalizers(marked).empty();
    if (options.propagation_policy == "Foreground") keep = api::add_finalizer(marked, "foregroundDeletion") || keep;
    if (options.propagation_policy == "Orphan") keep = api::add_finalizer(marked, "orphan") || keep;
    if (keep) {
      if (!api::get_deletion_timestamp(marked)) {
        api::set_deletion_timestamp(marked, api::format_rfc3339(std::chrono::system_clock::now()));
      }
      api::set_resource_version(marked, std::to_string(++rv_));
      auto shared = std::make_shared<const json::value>(std::move(marked));
      it->second = shared;
      notify_update(resource, old_obj, shared, notify);
    } else {
      store.erase(it);
      notify_update(resource, old_obj, nullptr, notify);
    }
  }
  for (auto& f : notify) f();
  return ok_status();
}

void FakeTransport::put(const Resource& resource, json::value obj) {
  std::vector<std::function<void()>> notify;
  {
    std::lock_guard lock(mu_);
    auto& store = stores_[resource.collection("")];
    std::string key = std::string(api::get_namespace(obj)) + "/" + std::string(api::get_name(obj));
    if (api::get_uid(obj).empty()) api::set_uid(obj, api::new_uid());
    api::set_resource_version(obj, std::to_string(++rv_));
    auto it = store.find(key);
    Object old_obj = it == store.end() ? nullptr : it->second;
    auto shared = std::make_shared<const json::value>(std::move(obj));
    store[key] = shared;
    notify_update(resource, old_obj, shared, notify);
  }
  for (auto& f : notify) f();
}

int FakeTransport::writes(const std::string& verb) const {
  std::lock_guard lock(mu_);
  auto it = writes_.find(verb);
  return it == writes_.end() ? 0 : it->second;
}

void FakeTransport::fail_creates(int n, Status status) {
  std::lock_guard lock(mu_);
  fail_creates_ = n;
  fail_status_ = std::move(status);
}

}  // namespace kedge::controllers::testing

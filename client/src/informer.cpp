#include "kedge/client/informer.h"

#include <cctype>
#include <utility>

#include <boost/json/parse.hpp>

#include "kedge/base/log.h"

namespace kedge::client {
namespace {

namespace json = boost::json;

std::string string_at(const json::value& v, std::initializer_list<const char*> path) {
  const json::value* cur = &v;
  for (const char* key : path) {
    if (!cur->is_object()) return {};
    cur = cur->as_object().if_contains(key);
    if (cur == nullptr) return {};
  }
  return cur->is_string() ? std::string(cur->get_string()) : std::string();
}

std::string key_of(const json::value& obj) {
  return string_at(obj, {"metadata", "namespace"}) + "/" + string_at(obj, {"metadata", "name"});
}

std::string version_of(const json::value& obj) { return string_at(obj, {"metadata", "resourceVersion"}); }

// What a Cache::kVersions informer hands out for an object it no longer has.
Object stub_of(const std::string& key, const std::string& resource_version) {
  const auto slash = key.find('/');
  json::object meta;
  if (slash != 0) meta["namespace"] = key.substr(0, slash);
  meta["name"] = key.substr(slash + 1);
  meta["resourceVersion"] = resource_version;
  json::object obj;
  obj["metadata"] = std::move(meta);
  return std::make_shared<const json::value>(std::move(obj));
}

std::string url_escape(const std::string& s) {
  std::string out;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Informer::Informer(RestClient& client, InformerOptions options)
    : client_(client), options_(std::move(options)) {}

Informer::~Informer() { stop(); }

void Informer::add_handler(InformerHandler* handler) { handlers_.push_back(handler); }

std::string Informer::query(bool watch) const {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    q += q.empty() ? '?' : '&';
    q += k + "=" + v;
  };
  if (!options_.label_selector.empty()) add("labelSelector", url_escape(options_.label_selector));
  if (!options_.field_selector.empty()) add("fieldSelector", url_escape(options_.field_selector));
  if (watch) {
    add("watch", "true");
    add("allowWatchBookmarks", "true");
    add("timeoutSeconds", std::to_string(options_.watch_timeout.count()));
    std::lock_guard lock(mu_);
    add("resourceVersion", resource_version_);
  }
  return q;
}

Status Informer::list_and_replace() {
  KEDGE_ASSIGN_OR_RETURN(json::value list, client_.get(options_.path + query(false)));
  std::map<std::string, Object> fresh;
  if (const auto* items = list.as_object().if_contains("items"); items && items->is_array()) {
    for (auto& item : items->get_array()) {
      auto obj = std::make_shared<const json::value>(std::move(item));
      fresh.emplace(key_of(*obj), std::move(obj));
    }
  }
  // What handlers knew: objects, or (Cache::kVersions) key → version.
  std::map<std::string, Object> old;
  PackedMap old_versions;
  {
    std::lock_guard lock(mu_);
    if (keeps_objects()) {
      old.swap(cache_);
      cache_ = fresh;
    } else {
      old_versions = std::exchange(versions_, PackedMap{});
      versions_.begin_bulk();
      for (const auto& [key, obj] : fresh) versions_.put(key, {}, version_of(*obj));
      versions_.end_bulk();
    }
    resource_version_ = string_at(list, {"metadata", "resourceVersion"});
  }
  if (!keeps_objects()) {
    old_versions.for_each([&](std::string_view key, std::string_view version) {
      old.emplace_hint(old.end(), std::string(key), stub_of(std::string(key), std::string(version)));
    });
    old_versions = PackedMap{};
  }
  // Tell handlers the difference between what they knew and the new list.
  for (const auto& [key, obj] : fresh) {
    auto it = old.find(key);
    for (auto* h : handlers_) {
      if (it == old.end()) {
        h->on_add(obj);
      } else if (version_of(*it->second) != version_of(*obj)) {
        h->on_update(it->second, obj);
      }
    }
  }
  for (const auto& [key, obj] : old) {
    if (!fresh.contains(key)) {
      for (auto* h : handlers_) h->on_delete(obj);
    }
  }
  // The list's memory goes before handlers hear of the sync: the proxy
  // syncs then and hands freed memory back to the system (malloc_trim),
  // which cannot return what is still held here.
  fresh.clear();
  old.clear();
  list = json::value();
  for (auto* h : handlers_) h->on_synced();
  // Synced only once every handler has been told the whole list, as
  // client-go's HasSynced: a caller that waits for it and then looks at
  // what its handler saw must not see half the list.
  {
    std::lock_guard lock(mu_);
    synced_ = true;
  }
  return {};
}

void Informer::apply_event(std::string_view type, Object obj) {
  const std::string key = key_of(*obj);
  Object previous;
  {
    std::lock_guard lock(mu_);
    resource_version_ = version_of(*obj);
    if (type == "BOOKMARK") return;
    if (keeps_objects()) {
      auto it = cache_.find(key);
      if (it != cache_.end()) previous = it->second;
      if (type == "DELETED") {
        cache_.erase(key);
      } else {
        cache_[key] = obj;
      }
    } else {
      if (auto version = versions_.find(key)) previous = stub_of(key, std::string(*version));
      if (type == "DELETED") {
        versions_.erase(key);
      } else {
        versions_.put(key, {}, resource_version_);
      }
    }
  }
  for (auto* h : handlers_) {
    if (type == "DELETED") {
      h->on_delete(obj);
    } else if (previous) {
      h->on_update(previous, obj);
    } else {
      h->on_add(obj);
    }
  }
}

Status Informer::watch_once() {
  Status event_error;
  bool expired = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return {};
  }
  auto stream = client_.stream(options_.path + query(true), [&](std::string_view line) {
    boost::system::error_code ec;
    json::value event = json::parse(line, ec);
    if (ec || !event.is_object()) {
      event_error = internal_error("watch " + options_.path + ": event is not JSON");
      return false;
    }
    auto& eo = event.as_object();
    const std::string type = eo.contains("type") && eo["type"].is_string() ? std::string(eo["type"].get_string()) : "";
    if (type == "ERROR") {
      // A Status; 410 Expired means our resourceVersion was compacted away.
      expired = true;
      return false;
    }
    if (!eo.contains("object")) return true;
    apply_event(type, std::make_shared<const json::value>(std::move(eo["object"])));
    return true;
  });
  {
    std::lock_guard lock(mu_);
    if (stopping_) return {};
    stream_ = std::move(stream);
  }
  Status s = stream_->run();
  {
    std::lock_guard lock(mu_);
    stream_.reset();
  }
  if (!event_error.ok()) return event_error;
  if (expired || s.code() == Code::kOutOfRange) return out_of_range("watch " + options_.path + ": resourceVersion expired");
  return s;
}

bool Informer::sleep_backoff(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [this] { return stopping_; });
}

Status Informer::run() {
  auto log = log::logger("informer");
  auto backoff = options_.initial_backoff;
  bool need_list = true;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return {};
    }
    Status s = need_list ? list_and_replace() : watch_once();
    if (s.ok()) {
      if (need_list) backoff = options_.initial_backoff;
      need_list = false;  // a watch that ended cleanly resumes from the last version
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return {};
    }
    if (s.code() == Code::kOutOfRange) {
      log->info("{}; listing again", s.message());
      need_list = true;
      continue;
    }
    log->warn("{} {}: {}; retrying in {} ms", need_list ? "list" : "watch", options_.path, s.to_string(),
              backoff.count());
    need_list = true;
    if (!sleep_backoff(backoff)) return {};
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void Informer::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  if (stream_) stream_->cancel();
  wake_.notify_all();
}

bool Informer::has_synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

Object Informer::get(const std::string& ns, const std::string& name) const {
  const std::string key = ns + "/" + name;
  std::lock_guard lock(mu_);
  if (!keeps_objects()) {
    auto version = versions_.find(key);
    return version ? stub_of(key, std::string(*version)) : nullptr;
  }
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::vector<Object> Informer::list() const {
  std::lock_guard lock(mu_);
  std::vector<Object> out;
  out.reserve(keeps_objects() ? cache_.size() : versions_.size());
  for (const auto& [k, v] : cache_) out.push_back(v);
  versions_.for_each(
      [&](std::string_view k, std::string_view v) { out.push_back(stub_of(std::string(k), std::string(v))); });
  return out;
}

std::string Informer::resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

}  // namespace kedge::client

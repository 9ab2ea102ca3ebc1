#include "token_manager.h"

#include <ctime>

#include <boost/json.hpp>

namespace kedge::agent::detail {

namespace json = boost::json;

namespace {
constexpr std::int64_t kMaxTokenAgeSeconds = 24 * 3600;
}  // namespace

bool token_needs_refresh(std::int64_t issued, std::int64_t expires, std::int64_t now) {
  const std::int64_t lifetime = expires - issued;
  return now >= issued + lifetime * 8 / 10 || now - issued >= kMaxTokenAgeSeconds;
}

TokenManager::TokenManager(client::RestClient& api, std::function<std::int64_t()> now)
    : api_(api), now_(now ? std::move(now) : [] { return static_cast<std::int64_t>(std::time(nullptr)); }) {}

Result<TokenManager::Entry> TokenManager::request(const TokenKey& key) {
  json::object spec{{"expirationSeconds", key.seconds},
                    {"boundObjectRef", json::object{{"apiVersion", "v1"}, {"kind", "Pod"},
                                                    {"name", key.pod_name}, {"uid", key.pod_uid}}}};
  if (!key.audience.empty()) spec["audiences"] = json::array{json::value(key.audience)};
  json::object body{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", std::move(spec)}};
  const std::int64_t issued = now_();
  auto r = api_.send("POST", "/api/v1/namespaces/" + key.ns + "/serviceaccounts/" + key.service_account + "/token",
                     body);
  if (!r.ok()) {
    return Status(r.status().code(), "TokenRequest for service account " + key.ns + "/" + key.service_account +
                                         ": " + r.status().message());
  }
  const json::value* status = r->is_object() ? r->as_object().if_contains("status") : nullptr;
  const json::value* token = status != nullptr && status->is_object() ? status->as_object().if_contains("token") : nullptr;
  if (token == nullptr || !token->is_string() || token->as_string().empty()) {
    return internal_error("TokenRequest for " + key.ns + "/" + key.service_account + " returned no token");
  }
  std::int64_t seconds = key.seconds;
  if (const auto* s = r->as_object().if_contains("spec"); s != nullptr && s->is_object()) {
    if (const auto* e = s->as_object().if_contains("expirationSeconds"); e != nullptr && e->is_int64()) {
      seconds = e->as_int64();
    }
  }
  return Entry{.token = std::string(token->as_string()), .issued = issued, .expires = issued + seconds};
}

Result<std::string> TokenManager::get(const TokenKey& key) {
  const std::int64_t now = now_();
  std::optional<Entry> cached;
  {
    std::lock_guard lock(mu_);
    std::erase_if(cache_, [&](const auto& kv) { return kv.second.expires <= now; });
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (!token_needs_refresh(it->second.issued, it->second.expires, now)) return it->second.token;
      cached = it->second;
    }
  }
  auto fresh = request(key);
  if (!fresh.ok()) {
    if (cached) return cached->token;  // still valid: keep serving it and retry at the next sync
    return fresh.status();
  }
  std::lock_guard lock(mu_);
  cache_[key] = *fresh;
  return fresh->token;
}

}  // namespace kedge::agent::detail

// ObjectSource: the ConfigMaps and Secrets pods reference (env valueFrom,
// envFrom, volumes), fetched from the API with a short TTL cache so many pods
// (and every resync) referencing one object cost one GET per TTL; likewise
// the `kubernetes` Service's env variables. Service-account tokens come from
// a TokenManager (token_manager.h).
//
// Thread-safety: get() may be called from any thread (the pod workers).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"
#include "token_manager.h"

namespace kedge::agent::detail {

// A ConfigMap's or Secret's keys with their bytes (Secret data and
// ConfigMap binaryData are base64-decoded).
using DataMap = std::map<std::string, std::string>;

enum class ObjectKind { kConfigMap, kSecret };

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // NotFound when the object does not exist.
  virtual Result<DataMap> get(ObjectKind kind, const std::string& ns, const std::string& name) = 0;
  // A bound service-account token (projected serviceAccountToken sources).
  virtual Result<std::string> service_account_token(const TokenKey& key) {
    return unimplemented("no TokenRequest API for " + key.ns + "/" + key.service_account);
  }
  // The KUBERNETES_SERVICE_HOST/_PORT... variables of the `kubernetes`
  // Service in `default` (in-cluster clients find the API with them).
  virtual Result<std::vector<std::pair<std::string, std::string>>> kubernetes_service_env() {
    return std::vector<std::pair<std::string, std::string>>{};
  }
};

class ApiObjectSource final : public ObjectSource {
 public:
  ApiObjectSource(client::RestClient& api, std::chrono::milliseconds ttl) : api_(api), ttl_(ttl), tokens_(api) {}
  Result<DataMap> get(ObjectKind kind, const std::string& ns, const std::string& name) override;
  Result<std::string> service_account_token(const TokenKey& key) override { return tokens_.get(key); }
  Result<std::vector<std::pair<std::string, std::string>>> kubernetes_service_env() override;

 private:
  struct Entry {
    std::chrono::steady_clock::time_point fetched;    // last attempt (zero: never)
    std::chrono::steady_clock::time_point last_good;  // when `data` was last read from the API
    Result<DataMap> data{DataMap{}};
  };
  client::RestClient& api_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;  // guarded by mu_
  TokenManager tokens_;
  std::optional<std::chrono::steady_clock::time_point> service_env_fetched_;  // guarded by mu_
  std::vector<std::pair<std::string, std::string>> service_env_;            // guarded by mu_
};

// The docker-link style variables upstream's kubelet sets for a Service
// ("kubernetes" → KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT,
// KUBERNETES_SERVICE_PORT_<NAME>, KUBERNETES_PORT, KUBERNETES_PORT_443_TCP...);
// none for headless or IP-less Services.
std::vector<std::pair<std::string, std::string>> service_env_vars(const boost::json::value& service);

// RFC 4648 base64 (padding optional); InvalidArgument on bad input.
Result<std::string> base64_decode(std::string_view in);

}  // namespace kedge::agent::detail

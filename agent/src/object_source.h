// ObjectSource: the ConfigMaps and Secrets pods reference (env valueFrom,
// envFrom, volumes), fetched from the API with a short TTL cache so many pods
// (and every resync) referencing one object cost one GET per TTL.
//
// Thread-safety: get() may be called from any thread (the pod workers).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

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
};

class ApiObjectSource final : public ObjectSource {
 public:
  ApiObjectSource(client::RestClient& api, std::chrono::milliseconds ttl) : api_(api), ttl_(ttl), tokens_(api) {}
  Result<DataMap> get(ObjectKind kind, const std::string& ns, const std::string& name) override;
  Result<std::string> service_account_token(const TokenKey& key) override { return tokens_.get(key); }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point fetched;
    Result<DataMap> data{DataMap{}};
  };
  client::RestClient& api_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;  // guarded by mu_
  TokenManager tokens_;
};

// RFC 4648 base64 (padding optional); InvalidArgument on bad input.
Result<std::string> base64_decode(std::string_view in);

}  // namespace kedge::agent::detail

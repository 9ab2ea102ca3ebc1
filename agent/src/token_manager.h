// TokenManager: bound service-account tokens for projected
// serviceAccountToken volumes, as upstream's kubelet token manager.
//
// Each token is requested from the API (TokenRequest on
// serviceaccounts/<sa>/token, bound to the pod by name and UID) and cached
// per pod, service account, audience and lifetime. A cached token is handed
// out until 80 % of its lifetime has passed or it is 24 h old; then a new one
// is requested (the volume's atomic writer swaps it in). When a refresh
// fails, the old token is used while it is still valid. Entries of tokens
// that expired are dropped on the next call, so pods that are gone cost
// nothing for long.
//
// Thread-safety: get() may be called from any thread (the pod workers); the
// TokenRequest runs outside the lock.
// Ownership: borrows the RestClient, which must outlive the manager.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"

namespace kedge::agent::detail {

struct TokenKey {
  std::string ns, service_account, pod_name, pod_uid, audience;
  std::int64_t seconds = 3600;
  auto operator<=>(const TokenKey&) const = default;
};

// Whether a token issued at `issued` and expiring at `expires` (Unix seconds)
// should be replaced at `now`: past 80 % of its lifetime, or older than 24 h.
bool token_needs_refresh(std::int64_t issued, std::int64_t expires, std::int64_t now);

class TokenManager {
 public:
  // `now` returns Unix seconds (injectable for tests).
  explicit TokenManager(client::RestClient& api, std::function<std::int64_t()> now = {});

  // The token for `key`, cached or freshly requested. Errors name the
  // service account and why the API refused (e.g. 403, ServiceAccount gone).
  Result<std::string> get(const TokenKey& key);

 private:
  struct Entry {
    std::string token;
    std::int64_t issued = 0;
    std::int64_t expires = 0;
  };
  Result<Entry> request(const TokenKey& key);

  client::RestClient& api_;
  std::function<std::int64_t()> now_;
  std::mutex mu_;
  std::map<TokenKey, Entry> cache_;  // guarded by mu_
};

}  // namespace kedge::agent::detail

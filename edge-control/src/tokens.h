// Service-account tokens: ES256 JSON Web Tokens signed with the server's
// service-account key, with upstream's claims (iss, sub, aud, exp, iat, nbf,
// jti and the private "kubernetes.io" claim naming namespace, service
// account and the bound pod or secret).
//
// The key lives at <data-dir>/server/tls/service.key (EC P-256, mode 0600),
// created at first start and reused, so tokens survive restarts. Tokens carry
// `kid` = base64url(SHA-256(DER public key)) as upstream does.
//
// Internal to edge-control.
// Thread-safety: a TokenSigner is immutable after load; sign() and verify()
// may run concurrently on any thread (each call uses its own EVP context).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "kedge/base/status.h"

namespace kedge::control {

// The issuer and the API server's audience (k3s uses the same URL).
inline constexpr std::string_view kTokenIssuer = "https://kubernetes.default.svc.cluster.local";

// RFC 4648 §5 base64url without padding.
std::string base64url_encode(std::string_view in);
bool base64url_decode(std::string_view in, std::string& out);

class TokenSigner {
 public:
  // Loads the PEM private key at `key_file`, creating it first when missing.
  static Result<std::unique_ptr<TokenSigner>> load_or_create(const std::filesystem::path& key_file);
  ~TokenSigner();
  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;

  // A compact JWS (header.payload.signature) over `claims`.
  Result<std::string> sign(const boost::json::object& claims) const;
  // Checks the structure, algorithm, key id and signature; returns the
  // claims. Does not look at their values (see check_claims).
  Result<boost::json::object> verify(std::string_view token) const;

  const std::string& key_id() const { return kid_; }

 private:
  struct Key;
  explicit TokenSigner(std::unique_ptr<Key> key, std::string kid);
  std::unique_ptr<Key> key_;
  std::string kid_;
};

// What a service-account token says once its claims are checked.
struct TokenSubject {
  std::string ns;
  std::string service_account;
  std::string service_account_uid;
  std::string pod_name, pod_uid;        // bound pod, if any
  std::string secret_name, secret_uid;  // bound secret, if any
};

// The claims of a token for service account `ns`/`name` (uid `sa_uid`)
// valid from `now` for `seconds`.
struct TokenClaimsSpec {
  std::string ns;
  std::string service_account;
  std::string service_account_uid;
  std::vector<std::string> audiences;
  std::int64_t now = 0;
  std::int64_t seconds = 3600;
  std::string bound_kind;  // "", "Pod" or "Secret"
  std::string bound_name, bound_uid;
};
boost::json::object make_claims(const TokenClaimsSpec& spec);

// Checks issuer, exp/nbf (60 s leeway, as upstream), that `audience` is
// among aud, and that sub matches the kubernetes.io claim. The message of an
// error says which check failed (for the log; clients only see 401).
Result<TokenSubject> check_claims(const boost::json::object& claims, std::int64_t now,
                                  std::string_view audience);

}  // namespace kedge::control

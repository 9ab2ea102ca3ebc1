// AccessControl: who sends a request and whether they may — in front of
// every API request, as upstream's authentication and authorization filters.
//
// * Authentication: a verified client certificate (HttpServer) or, without
//   one, `Authorization: Bearer <service-account token>`: signature, expiry,
//   audience, and the ServiceAccount (and the bound Pod or Secret) still
//   existing with the token's UIDs. A bad token is 401; the user is then
//   system:serviceaccount:<ns>:<name> in groups system:serviceaccounts,
//   system:serviceaccounts:<ns> and system:authenticated.
// * Authorization: RBAC (rbac.h); system:masters bypasses it. Denied → 403
//   with upstream's message.
// * Endpoints served here: TokenRequest (POST serviceaccounts/<n>/token) and
//   SelfSubjectAccessReview (kubectl auth can-i).
//
// Internal to edge-control.
// Thread-safety: check()/handle() may run concurrently on worker threads
// (they block on the store); start()/stop() once each from the owning thread.
// Ownership: borrows the Store; owns the signer, the RBAC cache and a Registry
// used for lookups and the bootstrap policy.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "kedge/base/status.h"
#include "kedge/control/http.h"
#include "kedge/store/kv.h"

namespace kedge::control {

struct AccessControlOptions {
  store::Store* store = nullptr;          // required
  std::filesystem::path signing_key;      // service-account key (created when missing)
};

class AccessControl {
 public:
  explicit AccessControl(AccessControlOptions options);
  ~AccessControl();
  AccessControl(const AccessControl&) = delete;
  AccessControl& operator=(const AccessControl&) = delete;

  // Loads the signing key, creates the bootstrap RBAC objects that are
  // missing, fills the RBAC cache. Blocking.
  Status start();
  void stop();

  // Authenticates a bearer token (when the request has no certificate user)
  // and authorizes the request. Returns the response to send instead (401 or
  // 403), or nothing: then the request goes on — as `with_token_user`, a copy
  // carrying the token's user, when it was authenticated by a token.
  std::optional<HttpResponse> check(const HttpRequest& request,
                                    std::optional<HttpRequest>& with_token_user) const;

  // Whether `request` is one of the endpoints served by handle().
  static bool handles(const HttpRequest& request);
  // REQUIRES: handles(request) and check(request) passed. Blocking.
  HttpResponse handle(const HttpRequest& request) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

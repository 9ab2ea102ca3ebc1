#include "authn.h"

#include <algorithm>
#include <ctime>

#include <boost/json.hpp>

#include "kedge/api/protobuf.h"
#include "kedge/base/log.h"
#include "kedge/control/registry.h"
#include "object_util.h"
#include "rbac.h"
#include "tokens.h"

namespace kedge::control {

namespace {

constexpr std::int64_t kMinTokenSeconds = 600;             // upstream: 10 minutes
constexpr std::int64_t kMaxTokenSeconds = 1LL << 32;       // upstream: 2^32 seconds
constexpr std::int64_t kDefaultTokenSeconds = 3600;

HttpResponse status_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.code;
  r.body = json::serialize(e.to_json());
  return r;
}

HttpResponse object_created(const json::object& o) {
  HttpResponse r;
  r.status = 201;
  r.body = json::serialize(o);
  return r;
}

std::string bearer_token(const HttpRequest& request) {
  std::string h = request.header("authorization");
  if (h.size() < 7 || (h.compare(0, 7, "Bearer ") != 0 && h.compare(0, 7, "bearer ") != 0)) return "";
  std::string t = h.substr(7);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  while (!t.empty() && t.front() == ' ') t.erase(t.begin());
  return t;
}

// "/api/v1/namespaces/<ns>/serviceaccounts/<name>/token" → ns, name.
bool token_path(std::string_view path, std::string& ns, std::string& name) {
  constexpr std::string_view kPrefix = "/api/v1/namespaces/";
  if (!path.starts_with(kPrefix) || !path.ends_with("/token")) return false;
  std::string_view rest = path.substr(kPrefix.size(), path.size() - kPrefix.size() - 6);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  ns = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  constexpr std::string_view kSa = "serviceaccounts/";
  if (!rest.starts_with(kSa)) return false;
  name = rest.substr(kSa.size());
  return !ns.empty() && !name.empty() && name.find('/') == std::string::npos;
}

constexpr std::string_view kAccessReviewPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

// A small request body as JSON, from JSON or Kubernetes protobuf.
ApiResult<json::object> body_object(const HttpRequest& req, std::string_view api_version, std::string_view kind) {
  std::string ct = req.header("content-type");
  json::value v;
  if (ct.starts_with("application/vnd.kubernetes.protobuf")) {
    auto d = api::decode_k8s_protobuf(req.body, api_version, kind);
    if (!d.ok()) return bad_request_error("the body of the request could not be decoded: " + d.status().message());
    v = std::move(d->object);
  } else {
    boost::system::error_code ec;
    v = json::parse(req.body, ec);
    if (ec) return bad_request_error("the " + std::string(kind) + " in the body could not be decoded: " + ec.message());
  }
  if (!v.is_object()) return bad_request_error("the body of the request must be a JSON object");
  return std::move(v.as_object());
}

const ResourceInfo& core(std::string_view resource) { return *find_resource("", "v1", resource); }

}  // namespace

struct AccessControl::Impl {
  AccessControlOptions options;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<TokenSigner> signer;
  std::unique_ptr<RbacAuthorizer> rbac;

  // The ServiceAccount user, or why the token is refused (logged, never sent).
  Result<UserInfo> authenticate(const std::string& token) const;
  ApiResult<json::object> bound_object(const std::string& ns, const json::object& ref,
                                       const std::string& sa_name) const;
  HttpResponse token_request(const HttpRequest& req, const std::string& ns, const std::string& name) const;
  HttpResponse access_review(const HttpRequest& req) const;
};

AccessControl::AccessControl(AccessControlOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->registry = std::make_unique<Registry>(*impl_->options.store);
  impl_->rbac = std::make_unique<RbacAuthorizer>(*impl_->options.store);
}

AccessControl::~AccessControl() { stop(); }

Status AccessControl::start() {
  KEDGE_ASSIGN_OR_RETURN(impl_->signer, TokenSigner::load_or_create(impl_->options.signing_key));
  for (auto& obj : bootstrap_rbac_objects()) {
    const auto* info = find_kind("rbac.authorization.k8s.io", "v1", get_string(obj, "kind"));
    auto r = impl_->registry->create(*info, "", std::move(obj), WriteOptions{});
    if (!r.ok() && r.error().reason != "AlreadyExists") {
      return internal_error("bootstrap RBAC: " + r.error().message);
    }
  }
  return impl_->rbac->start();
}

void AccessControl::stop() {
  if (impl_ && impl_->rbac) impl_->rbac->stop();
}

Result<UserInfo> AccessControl::Impl::authenticate(const std::string& token) const {
  KEDGE_ASSIGN_OR_RETURN(json::object claims, signer->verify(token));
  KEDGE_ASSIGN_OR_RETURN(TokenSubject sub, check_claims(claims, std::time(nullptr), kTokenIssuer));
  auto sa = registry->get(core("serviceaccounts"), sub.ns, sub.service_account);
  if (!sa.ok() || get_string(metadata_of(*sa), "uid") != sub.service_account_uid) {
    return unauthenticated("service account " + sub.ns + "/" + sub.service_account + " no longer exists");
  }
  auto check_bound = [&](std::string_view resource, const std::string& name, const std::string& uid) -> Status {
    if (name.empty()) return {};
    auto o = registry->get(core(resource), sub.ns, name);
    if (!o.ok() || get_string(metadata_of(*o), "uid") != uid) {
      return unauthenticated("the token's bound object " + std::string(resource) + " " + sub.ns + "/" + name +
                             " no longer exists");
    }
    return {};
  };
  KEDGE_RETURN_IF_ERROR(check_bound("pods", sub.pod_name, sub.pod_uid));
  KEDGE_RETURN_IF_ERROR(check_bound("secrets", sub.secret_name, sub.secret_uid));
  return UserInfo{.name = "system:serviceaccount:" + sub.ns + ":" + sub.service_account,
                  .groups = {"system:serviceaccounts", "system:serviceaccounts:" + sub.ns, "system:authenticated"},
                  .authenticated = true};
}

std::optional<HttpResponse> AccessControl::check(const HttpRequest& original,
                                                 std::optional<HttpRequest>& with_token_user) const {
  const HttpRequest* current = &original;
  if (!original.user.authenticated) {
    std::string token = bearer_token(original);
    if (token.empty()) return std::nullopt;  // the router answers 401 (health endpoints stay open)
    auto user = impl_->authenticate(token);
    if (!user.ok()) {
      log::logger("apiserver")->info("{} {}: bearer token refused: {}", original.method, original.path,
                                     user.status().message());
      return status_response(unauthorized_error());
    }
    with_token_user = original;
    with_token_user->user = std::move(*user);
    current = &*with_token_user;
  }
  const auto& groups = current->user.groups;
  if (std::find(groups.begin(), groups.end(), "system:masters") != groups.end()) return std::nullopt;
  RequestAttributes attrs = request_attributes(*current);
  if (impl_->rbac->authorize(attrs)) return std::nullopt;
  return status_response(forbidden_for(attrs));
}

bool AccessControl::handles(const HttpRequest& request) {
  // Anonymous requests fall through to the router's 401.
  if (request.method != "POST" || !request.user.authenticated) return false;
  std::string ns, name;
  return request.path == kAccessReviewPath || token_path(request.path, ns, name);
}

HttpResponse AccessControl::handle(const HttpRequest& request) const {
  if (!request.user.authenticated) return status_response(unauthorized_error());
  std::string ns, name;
  if (token_path(request.path, ns, name)) return impl_->token_request(request, ns, name);
  return impl_->access_review(request);
}

ApiResult<json::object> AccessControl::Impl::bound_object(const std::string& ns, const json::object& ref,
                                                          const std::string& sa_name) const {
  std::string kind = get_string(ref, "kind");
  std::string name = get_string(ref, "name");
  if (kind != "Pod" && kind != "Secret") {
    return bad_request_error("cannot bind token for serviceaccount \"" + sa_name + "\" to object of kind \"" +
                             kind + "\"");
  }
  if (name.empty()) {
    return invalid_error("authentication.k8s.io", "TokenRequest", sa_name,
                         {{"FieldValueRequired", "spec.boundObjectRef.name", "Required value"}});
  }
  auto obj = registry->get(core(kind == "Pod" ? "pods" : "secrets"), ns, name);
  if (!obj.ok()) return obj.error();
  std::string uid = get_string(ref, "uid");
  if (!uid.empty() && uid != get_string(metadata_of(*obj), "uid")) {
    return conflict_error("", kind == "Pod" ? "pods" : "secrets", name,
                          "the UID in the bound object reference (" + uid +
                              ") does not match the UID in record. The object might have been deleted and then "
                              "recreated");
  }
  if (kind == "Pod") {
    const auto* spec = find_object(*obj, "spec");
    if (spec == nullptr || get_string(*spec, "serviceAccountName") != sa_name) {
      return bad_request_error("cannot bind token for serviceaccount \"" + sa_name +
                               "\" to pod running with different serviceaccount name.");
    }
  }
  return obj;
}

HttpResponse AccessControl::Impl::token_request(const HttpRequest& req, const std::string& ns,
                                                const std::string& name) const {
  auto body = body_object(req, "authentication.k8s.io/v1", "TokenRequest");
  if (!body.ok()) return status_response(body.error());
  json::object spec;
  if (const auto* s = find_object(*body, "spec")) spec = *s;
  std::int64_t seconds = get_int(spec, "expirationSeconds", 0);
  if (seconds == 0) seconds = kDefaultTokenSeconds;
  if (seconds < kMinTokenSeconds || seconds > kMaxTokenSeconds) {
    return status_response(invalid_error(
        "authentication.k8s.io", "TokenRequest", name,
        {{"FieldValueInvalid", "spec.expirationSeconds",
          "Invalid value: " + std::to_string(seconds) +
              (seconds < kMinTokenSeconds ? ": may not specify a duration less than 10 minutes"
                                          : ": may not specify a duration larger than 2^32 seconds")}}));
  }
  std::vector<std::string> audiences;
  if (const auto* a = find_array(spec, "audiences")) {
    for (const auto& v : *a) {
      if (v.is_string() && !v.as_string().empty()) audiences.emplace_back(v.as_string());
    }
  }
  if (audiences.empty()) audiences.emplace_back(kTokenIssuer);
  auto sa = registry->get(core("serviceaccounts"), ns, name);
  if (!sa.ok()) return status_response(sa.error());
  TokenClaimsSpec claims{.ns = ns,
                         .service_account = name,
                         .service_account_uid = get_string(metadata_of(*sa), "uid"),
                         .audiences = audiences,
                         .now = std::time(nullptr),
                         .seconds = seconds};
  if (const auto* ref = find_object(spec, "boundObjectRef")) {
    auto bound = bound_object(ns, *ref, name);
    if (!bound.ok()) return status_response(bound.error());
    claims.bound_kind = get_string(*ref, "kind");
    claims.bound_name = get_string(*ref, "name");
    claims.bound_uid = get_string(metadata_of(*bound), "uid");
    json::object& out_ref = child_object(spec, "boundObjectRef");
    out_ref["uid"] = claims.bound_uid;
    if (!out_ref.contains("apiVersion")) out_ref["apiVersion"] = "v1";
  }
  auto token = signer->sign(make_claims(claims));
  if (!token.ok()) return status_response(internal_api_error(token.status().message()));
  json::array aud;
  for (const auto& a : audiences) aud.emplace_back(a);
  spec["audiences"] = std::move(aud);
  spec["expirationSeconds"] = seconds;
  return object_created(json::object{
      {"kind", "TokenRequest"},
      {"apiVersion", "authentication.k8s.io/v1"},
      {"metadata", json::object{{"name", name}, {"namespace", ns}, {"creationTimestamp", json::value(nullptr)}}},
      {"spec", std::move(spec)},
      {"status", json::object{{"token", *token}, {"expirationTimestamp", now_rfc3339(seconds)}}}});
}

HttpResponse AccessControl::Impl::access_review(const HttpRequest& req) const {
  auto body = body_object(req, "authorization.k8s.io/v1", "SelfSubjectAccessReview");
  if (!body.ok()) return status_response(body.error());
  const auto* spec = find_object(*body, "spec");
  const auto* ra = spec != nullptr ? find_object(*spec, "resourceAttributes") : nullptr;
  const auto* nra = spec != nullptr ? find_object(*spec, "nonResourceAttributes") : nullptr;
  if ((ra == nullptr) == (nra == nullptr)) {
    return status_response(invalid_error(
        "authorization.k8s.io", "SelfSubjectAccessReview", "",
        {{"FieldValueRequired", "spec.resourceAttributes",
          "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified"}}));
  }
  RequestAttributes a{.user = req.user.name, .groups = req.user.groups};
  if (ra != nullptr) {
    a.resource_request = true;
    a.verb = get_string(*ra, "verb");
    a.api_group = get_string(*ra, "group");
    a.api_version = get_string(*ra, "version");
    a.resource = get_string(*ra, "resource");
    a.subresource = get_string(*ra, "subresource");
    a.ns = get_string(*ra, "namespace");
    a.name = get_string(*ra, "name");
  } else {
    a.verb = get_string(*nra, "verb");
    a.path = get_string(*nra, "path");
  }
  json::object out = *body;
  out["kind"] = "SelfSubjectAccessReview";
  out["apiVersion"] = "authorization.k8s.io/v1";
  child_object(out, "metadata")["creationTimestamp"] = nullptr;
  bool allowed = rbac->authorize(a);
  json::object status{{"allowed", allowed}};
  if (allowed) status["reason"] = "allowed by RBAC";
  out["status"] = std::move(status);
  return object_created(out);
}

}  // namespace kedge::control

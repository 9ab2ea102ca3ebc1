// Service-account tokens (ES256 JWTs), RBAC rule matching and request
// attributes, and AccessControl (bearer authentication, RBAC, TokenRequest,
// SelfSubjectAccessReview) over an in-memory store.
#include <gtest/gtest.h>

#include <ctime>

#include <boost/json.hpp>

#include "../../edge-control/src/admission.h"
#include "../../edge-control/src/authn.h"
#include "../../edge-control/src/rbac.h"
#include "../../edge-control/src/tokens.h"
#include "fake_store.h"
#include "kedge/control/registry.h"
#include "kedge/control/resources.h"
#include "kedge/testing/process.h"

namespace kedge::control {
namespace {

namespace json = boost::json;
using kedge::testing::eventually;

json::object parse(std::string_view text) { return json::parse(text).as_object(); }

TokenClaimsSpec claims_for(std::int64_t now, std::int64_t seconds = 3600) {
  return TokenClaimsSpec{.ns = "default",
                         .service_account = "robot",
                         .service_account_uid = "sa-uid",
                         .audiences = {std::string(kTokenIssuer)},
                         .now = now,
                         .seconds = seconds,
                         .bound_kind = "Pod",
                         .bound_name = "p",
                         .bound_uid = "pod-uid"};
}

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = TokenSigner::load_or_create(dir_.path() / "service.key");
    ASSERT_TRUE(s.ok()) << s.status().message();
    signer_ = std::move(*s);
  }
  kedge::testing::TempDir dir_;
  std::unique_ptr<TokenSigner> signer_;
};

TEST_F(TokenTest, SignedTokenVerifiesAndCarriesUpstreamClaims) {
  std::int64_t now = std::time(nullptr);
  auto token = signer_->sign(make_claims(claims_for(now)));
  ASSERT_TRUE(token.ok());
  auto claims = signer_->verify(*token);
  ASSERT_TRUE(claims.ok()) << claims.status().message();
  EXPECT_EQ(claims->at("sub").as_string(), "system:serviceaccount:default:robot");
  EXPECT_EQ(claims->at("iss").as_string(), kTokenIssuer);
  EXPECT_EQ(claims->at("exp").as_int64(), now + 3600);
  EXPECT_EQ(claims->at("kubernetes.io").at("pod").at("uid").as_string(), "pod-uid");
  auto sub = check_claims(*claims, now, kTokenIssuer);
  ASSERT_TRUE(sub.ok()) << sub.status().message();
  EXPECT_EQ(sub->service_account_uid, "sa-uid");
  EXPECT_EQ(sub->pod_name, "p");
  // The header names the algorithm and this key.
  std::string header;
  ASSERT_TRUE(base64url_decode(token->substr(0, token->find('.')), header));
  EXPECT_EQ(parse(header).at("alg").as_string(), "ES256");
  EXPECT_EQ(parse(header).at("kid").as_string(), signer_->key_id());
}

TEST_F(TokenTest, TamperedTruncatedOrForeignTokensAreRefused) {
  std::int64_t now = std::time(nullptr);
  std::string token = *signer_->sign(make_claims(claims_for(now)));
  // A payload claiming another service account, keeping the old signature.
  auto dot1 = token.find('.');
  auto dot2 = token.find('.', dot1 + 1);
  json::object forged = make_claims(claims_for(now));
  forged["sub"] = "system:serviceaccount:kube-system:admin";
  std::string swapped = token.substr(0, dot1 + 1) + base64url_encode(json::serialize(forged)) + token.substr(dot2);
  EXPECT_FALSE(signer_->verify(swapped).ok());
  std::string flipped = token;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(signer_->verify(flipped).ok());
  EXPECT_FALSE(signer_->verify(token.substr(0, dot2)).ok());
  EXPECT_FALSE(signer_->verify("not.a.jwt").ok());
  EXPECT_FALSE(signer_->verify("").ok());
  // alg=none with no signature.
  std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(json::serialize(forged)) + ".";
  EXPECT_FALSE(signer_->verify(none).ok());
  // Another server's key.
  kedge::testing::TempDir other_dir;
  auto other = TokenSigner::load_or_create(other_dir.path() / "service.key");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(signer_->verify(*(*other)->sign(make_claims(claims_for(now)))).ok());
}

TEST_F(TokenTest, KeyIsReusedAcrossLoads) {
  std::string token = *signer_->sign(make_claims(claims_for(std::time(nullptr))));
  auto again = TokenSigner::load_or_create(dir_.path() / "service.key");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->key_id(), signer_->key_id());
  EXPECT_TRUE((*again)->verify(token).ok());
}

TEST(TokenClaims, ExpiryNotBeforeAudienceAndIssuerAreChecked) {
  std::int64_t now = 1'800'000'000;
  auto claims = make_claims(claims_for(now, 600));
  EXPECT_TRUE(check_claims(claims, now + 600, kTokenIssuer).ok());
  EXPECT_TRUE(check_claims(claims, now + 650, kTokenIssuer).ok());   // 60 s leeway
  EXPECT_FALSE(check_claims(claims, now + 700, kTokenIssuer).ok());  // expired
  EXPECT_FALSE(check_claims(claims, now - 120, kTokenIssuer).ok());  // not yet valid
  EXPECT_FALSE(check_claims(claims, now, "https://other.example").ok());
  auto wrong_iss = claims;
  wrong_iss["iss"] = "https://evil.example";
  EXPECT_FALSE(check_claims(wrong_iss, now, kTokenIssuer).ok());
  auto mismatch = claims;
  mismatch["sub"] = "system:serviceaccount:default:other";
  EXPECT_FALSE(check_claims(mismatch, now, kTokenIssuer).ok());
}

// ---- request attributes and rules ----

HttpRequest request(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> query = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = std::move(query);
  r.user = UserInfo{.name = "system:serviceaccount:default:robot",
                    .groups = {"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"},
                    .authenticated = true};
  return r;
}

TEST(RequestAttributesTest, VerbsResourcesAndSubresourcesAsUpstream) {
  auto a = request_attributes(request("GET", "/api/v1/namespaces/default/pods"));
  EXPECT_TRUE(a.resource_request);
  EXPECT_EQ(a.verb, "list");
  EXPECT_EQ(a.resource, "pods");
  EXPECT_EQ(a.ns, "default");
  a = request_attributes(request("GET", "/api/v1/pods", {{"watch", "true"}}));
  EXPECT_EQ(a.verb, "watch");
  EXPECT_EQ(a.ns, "");
  a = request_attributes(request("GET", "/api/v1/namespaces/default/pods", {{"fieldSelector", "metadata.name=web"}}));
  EXPECT_EQ(a.verb, "list");
  EXPECT_EQ(a.name, "web");
  a = request_attributes(request("DELETE", "/apis/apps/v1/namespaces/x/deployments"));
  EXPECT_EQ(a.verb, "deletecollection");
  EXPECT_EQ(a.api_group, "apps");
  a = request_attributes(request("PUT", "/apis/apps/v1/namespaces/x/deployments/web/scale"));
  EXPECT_EQ(a.verb, "update");
  EXPECT_EQ(a.name, "web");
  EXPECT_EQ(a.subresource, "scale");
  a = request_attributes(request("POST", "/api/v1/namespaces/default/serviceaccounts/robot/token"));
  EXPECT_EQ(a.verb, "create");
  EXPECT_EQ(a.subresource, "token");
  a = request_attributes(request("GET", "/api/v1/namespaces/kube-system"));
  EXPECT_EQ(a.verb, "get");
  EXPECT_EQ(a.resource, "namespaces");
  EXPECT_EQ(a.name, "kube-system");
  EXPECT_EQ(a.ns, "kube-system");
  a = request_attributes(request("PUT", "/api/v1/namespaces/x/finalize"));
  EXPECT_EQ(a.resource, "namespaces");
  EXPECT_EQ(a.subresource, "finalize");
  a = request_attributes(request("GET", "/apis/apps/v1"));
  EXPECT_FALSE(a.resource_request);
  EXPECT_EQ(a.verb, "get");
  EXPECT_EQ(a.path, "/apis/apps/v1");
}

TEST(RbacRules, WildcardsResourceNamesSubresourcesAndUrls) {
  PolicyRule pods{.verbs = {"get", "list"}, .api_groups = {""}, .resources = {"pods"}};
  auto list_pods = request_attributes(request("GET", "/api/v1/namespaces/default/pods"));
  EXPECT_TRUE(rule_allows(pods, list_pods));
  EXPECT_FALSE(rule_allows(pods, request_attributes(request("DELETE", "/api/v1/namespaces/default/pods/x"))));
  EXPECT_FALSE(rule_allows(pods, request_attributes(request("GET", "/api/v1/namespaces/default/pods/x/log"))));
  EXPECT_FALSE(rule_allows(pods, request_attributes(request("GET", "/apis/apps/v1/namespaces/default/deployments"))));
  PolicyRule logs{.verbs = {"get"}, .api_groups = {""}, .resources = {"pods/log"}};
  EXPECT_TRUE(rule_allows(logs, request_attributes(request("GET", "/api/v1/namespaces/default/pods/x/log"))));
  EXPECT_FALSE(rule_allows(logs, request_attributes(request("GET", "/api/v1/namespaces/default/pods/x"))));
  PolicyRule any_scale{.verbs = {"*"}, .api_groups = {"*"}, .resources = {"*/scale"}};
  EXPECT_TRUE(rule_allows(any_scale, request_attributes(request("PUT", "/apis/apps/v1/namespaces/a/deployments/w/scale"))));
  EXPECT_FALSE(rule_allows(any_scale, request_attributes(request("PUT", "/apis/apps/v1/namespaces/a/deployments/w"))));
  PolicyRule named{.verbs = {"get"}, .api_groups = {""}, .resources = {"configmaps"}, .resource_names = {"cfg"}};
  EXPECT_TRUE(rule_allows(named, request_attributes(request("GET", "/api/v1/namespaces/a/configmaps/cfg"))));
  EXPECT_FALSE(rule_allows(named, request_attributes(request("GET", "/api/v1/namespaces/a/configmaps/other"))));
  EXPECT_FALSE(rule_allows(named, request_attributes(request("GET", "/api/v1/namespaces/a/configmaps"))));
  PolicyRule urls{.verbs = {"get"}, .non_resource_urls = {"/healthz", "/apis/*"}};
  EXPECT_TRUE(rule_allows(urls, request_attributes(request("GET", "/healthz"))));
  EXPECT_TRUE(rule_allows(urls, request_attributes(request("GET", "/apis/apps/v1"))));
  EXPECT_FALSE(rule_allows(urls, request_attributes(request("GET", "/metrics"))));
  EXPECT_FALSE(rule_allows(urls, list_pods));  // URL rules never grant resources
}

TEST(RbacPolicyTest, BindingsSubjectsAndAggregation) {
  std::vector<json::object> objects = bootstrap_rbac_objects();
  objects.push_back(parse(R"({"kind":"Role","metadata":{"name":"reader","namespace":"team"},
      "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["list"]}]})"));
  objects.push_back(parse(R"({"kind":"RoleBinding","metadata":{"name":"robot-reads","namespace":"team"},
      "roleRef":{"kind":"Role","name":"reader"},
      "subjects":[{"kind":"ServiceAccount","name":"robot","namespace":"default"}]})"));
  objects.push_back(parse(R"({"kind":"RoleBinding","metadata":{"name":"view","namespace":"default"},
      "roleRef":{"kind":"ClusterRole","name":"view"},"subjects":[{"kind":"ServiceAccount","name":"robot"}]})"));
  objects.push_back(parse(R"({"kind":"ClusterRole","metadata":{"name":"crd-view",
      "labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},
      "rules":[{"apiGroups":["example.com"],"resources":["widgets"],"verbs":["get","list"]}]})"));
  auto policy = RbacPolicy::build(objects);
  auto robot = [](std::string method, std::string path) { return request_attributes(request(method, path)); };
  EXPECT_TRUE(policy.allows(robot("GET", "/api/v1/namespaces/team/pods")));
  EXPECT_FALSE(policy.allows(robot("GET", "/api/v1/namespaces/team/secrets")));
  EXPECT_FALSE(policy.allows(robot("GET", "/api/v1/namespaces/other/pods")));
  EXPECT_FALSE(policy.allows(robot("GET", "/api/v1/pods")));  // cluster-wide list
  // view in default (a ServiceAccount subject without namespace takes the binding's).
  EXPECT_TRUE(policy.allows(robot("GET", "/apis/apps/v1/namespaces/default/deployments")));
  EXPECT_FALSE(policy.allows(robot("GET", "/api/v1/namespaces/default/secrets")));  // view excludes secrets
  EXPECT_FALSE(policy.allows(robot("DELETE", "/api/v1/namespaces/default/pods/x")));
  // Aggregated into view from a labelled ClusterRole.
  EXPECT_TRUE(policy.allows(robot("GET", "/apis/example.com/v1/namespaces/default/widgets")));
  // Bootstrap bindings for every authenticated user.
  EXPECT_TRUE(policy.allows(robot("GET", "/apis")));
  EXPECT_TRUE(policy.allows(robot("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")));
  EXPECT_FALSE(policy.allows(robot("GET", "/metrics")));
  // edit and admin include view's rules through aggregation.
  objects.push_back(parse(R"({"kind":"ClusterRoleBinding","metadata":{"name":"alice-admin"},
      "roleRef":{"kind":"ClusterRole","name":"admin"},"subjects":[{"kind":"User","name":"alice"}]})"));
  policy = RbacPolicy::build(objects);
  auto alice = request("DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/x/roles/r");
  alice.user = UserInfo{.name = "alice", .groups = {"system:authenticated"}, .authenticated = true};
  EXPECT_TRUE(policy.allows(request_attributes(alice)));
  alice.method = "GET";
  alice.path = "/apis/apps/v1/namespaces/x/deployments";
  EXPECT_TRUE(policy.allows(request_attributes(alice)));
  alice.path = "/api/v1/nodes";  // admin is namespaced power only
  EXPECT_FALSE(policy.allows(request_attributes(alice)));
}

TEST(RbacPolicyTest, ForbiddenMessageAsUpstream) {
  auto a = request_attributes(request("GET", "/api/v1/namespaces/default/pods"));
  auto e = forbidden_for(a);
  EXPECT_EQ(e.code, 403);
  EXPECT_EQ(e.reason, "Forbidden");
  EXPECT_EQ(e.message,
            "pods is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource \"pods\" in API "
            "group \"\" in the namespace \"default\"");
  e = forbidden_for(request_attributes(request("GET", "/apis/apps/v1/deployments")));
  EXPECT_EQ(e.message,
            "deployments.apps is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource "
            "\"deployments\" in API group \"apps\" at the cluster scope");
  e = forbidden_for(request_attributes(request("GET", "/api/v1/namespaces/a/secrets/s")));
  EXPECT_TRUE(e.message.starts_with("secrets \"s\" is forbidden: "));
}

// ---- AccessControl over a store ----

class AccessControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.bootstrap().ok());
    ASSERT_TRUE(access_.start().ok());
    create("", "serviceaccounts", "default", R"({"metadata":{"name":"robot"}})");
    create("", "pods", "default",
           R"({"metadata":{"name":"p"},"spec":{"serviceAccountName":"robot","automountServiceAccountToken":false,
               "containers":[{"name":"c","image":"busybox"}]}})");
  }
  void TearDown() override { access_.stop(); }
  json::object create(std::string_view group, std::string_view resource, std::string_view ns, std::string_view body) {
    auto r = registry_.create(*find_resource(group, "v1", resource), ns, parse(body), WriteOptions{});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->object : json::object{};
  }
  HttpRequest admin(std::string method, std::string path, std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    r.user = UserInfo{.name = "system:admin", .groups = {"system:masters", "system:authenticated"},
                      .authenticated = true};
    return r;
  }
  // Issues a token through the TokenRequest endpoint as the admin.
  std::string issue(std::string body, int* code = nullptr) {
    auto req = admin("POST", "/api/v1/namespaces/default/serviceaccounts/robot/token", std::move(body));
    std::optional<HttpRequest> unused;
    EXPECT_FALSE(access_.check(req, unused).has_value());
    EXPECT_TRUE(AccessControl::handles(req));
    auto resp = access_.handle(req);
    if (code != nullptr) *code = resp.status;
    if (resp.status != 201) return "";
    return std::string(json::parse(resp.body).at("status").at("token").as_string());
  }
  // check() of a bearer request: the HTTP code it refuses with, or 0 with `user` set.
  int bearer(const std::string& token, std::string method, std::string path, std::string* user = nullptr) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.headers["authorization"] = "Bearer " + token;
    std::optional<HttpRequest> authed;
    auto refused = access_.check(r, authed);
    if (refused) return refused->status;
    if (user != nullptr && authed) *user = authed->user.name;
    return 0;
  }
  kedge::testing::TempDir dir_;
  kedge::testing::FakeStore store_;
  Registry registry_{store_};
  AccessControl access_{AccessControlOptions{.store = &store_, .signing_key = dir_.path() / "service.key"}};
};

TEST_F(AccessControlTest, TokenAuthenticatesTheServiceAccountAndRbacDecides) {
  int code = 0;
  std::string token = issue(R"({"spec":{}})", &code);
  ASSERT_EQ(code, 201);
  std::string user;
  EXPECT_EQ(bearer(token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", &user), 0);
  EXPECT_EQ(user, "system:serviceaccount:default:robot");
  EXPECT_EQ(bearer(token, "GET", "/api/v1/namespaces/default/pods"), 403);
  create("rbac.authorization.k8s.io", "rolebindings", "default",
         R"({"metadata":{"name":"robot-view"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole",
             "name":"view"},"subjects":[{"kind":"ServiceAccount","name":"robot","namespace":"default"}]})");
  EXPECT_TRUE(eventually([&] { return bearer(token, "GET", "/api/v1/namespaces/default/pods") == 0; }));
  EXPECT_EQ(bearer(token, "GET", "/api/v1/namespaces/kube-system/pods"), 403);
  EXPECT_EQ(bearer(token, "DELETE", "/api/v1/namespaces/default/pods/p"), 403);
  // A deleted binding takes the permission away again.
  ASSERT_TRUE(registry_.remove(*find_resource("rbac.authorization.k8s.io", "v1", "rolebindings"), "default",
                               "robot-view", DeleteOptions{}).ok());
  EXPECT_TRUE(eventually([&] { return bearer(token, "GET", "/api/v1/namespaces/default/pods") == 403; }));
  // Garbage and tampered tokens are 401.
  EXPECT_EQ(bearer("garbage", "GET", "/api"), 401);
  std::string tampered = token;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'x' ? 'y' : 'x';
  EXPECT_EQ(bearer(tampered, "GET", "/api"), 401);
}

TEST_F(AccessControlTest, TokensOfDeletedServiceAccountsOrPodsStopWorking) {
  std::string pod_token = issue(R"({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p"}}})");
  ASSERT_FALSE(pod_token.empty());
  EXPECT_EQ(bearer(pod_token, "GET", "/api"), 0);
  ASSERT_TRUE(registry_.remove(*find_resource("", "v1", "pods"), "default", "p",
                               DeleteOptions{.grace_period_seconds = 0}).ok());
  EXPECT_EQ(bearer(pod_token, "GET", "/api"), 401);
  std::string token = issue(R"({"spec":{}})");
  EXPECT_EQ(bearer(token, "GET", "/api"), 0);
  ASSERT_TRUE(registry_.remove(*find_resource("", "v1", "serviceaccounts"), "default", "robot", DeleteOptions{}).ok());
  EXPECT_EQ(bearer(token, "GET", "/api"), 401);
  // Recreated with the same name: a new UID, the old token stays invalid.
  create("", "serviceaccounts", "default", R"({"metadata":{"name":"robot"}})");
  EXPECT_EQ(bearer(token, "GET", "/api"), 401);
}

TEST_F(AccessControlTest, AnonymousRequestsGetNoTokenAndNoReview) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/api/v1/namespaces/default/serviceaccounts/robot/token";
  r.body = "{}";
  std::optional<HttpRequest> authed;
  EXPECT_FALSE(access_.check(r, authed).has_value());  // the router answers 401
  EXPECT_FALSE(AccessControl::handles(r));
  EXPECT_EQ(access_.handle(r).status, 401);
  r.path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
  EXPECT_FALSE(AccessControl::handles(r));
}

TEST_F(AccessControlTest, TokenRequestValidation) {
  int code = 0;
  issue(R"({"spec":{"expirationSeconds":599}})", &code);
  EXPECT_EQ(code, 422);
  issue(R"({"spec":{"boundObjectRef":{"kind":"Pod","name":"missing"}}})", &code);
  EXPECT_EQ(code, 404);
  issue(R"({"spec":{"boundObjectRef":{"kind":"Pod","name":"p","uid":"stale"}}})", &code);
  EXPECT_EQ(code, 409);
  issue(R"({"spec":{"boundObjectRef":{"kind":"Node","name":"n"}}})", &code);
  EXPECT_EQ(code, 400);
  issue("{not json", &code);
  EXPECT_EQ(code, 400);
  // Another audience is not accepted by the API server itself.
  std::string other = issue(R"({"spec":{"audiences":["vault"],"expirationSeconds":600}})", &code);
  EXPECT_EQ(code, 201);
  EXPECT_EQ(bearer(other, "GET", "/api"), 401);
}

TEST_F(AccessControlTest, SelfSubjectAccessReviewAnswersForTheCaller) {
  std::string token = issue(R"({"spec":{}})");
  HttpRequest r;
  r.method = "POST";
  r.path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
  r.headers["authorization"] = "Bearer " + token;
  r.body = R"({"spec":{"resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}}})";
  std::optional<HttpRequest> authed;
  ASSERT_FALSE(access_.check(r, authed).has_value());
  ASSERT_TRUE(authed.has_value());
  auto resp = access_.handle(*authed);
  ASSERT_EQ(resp.status, 201);
  EXPECT_FALSE(json::parse(resp.body).at("status").at("allowed").as_bool());
  auto as_admin = admin("POST", r.path, r.body);
  resp = access_.handle(as_admin);
  EXPECT_TRUE(json::parse(resp.body).at("status").at("allowed").as_bool());
}

}  // namespace
}  // namespace kedge::control

namespace kedge::control {
namespace {

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(registry_.bootstrap().ok()); }
  ApiResult<WriteResult> create_pod(std::string_view body) {
    return registry_.create(*find_resource("", "v1", "pods"), "default", json::parse(body).as_object(),
                            WriteOptions{});
  }
  kedge::testing::FakeStore store_;
  Registry registry_{store_};
};

TEST_F(AdmissionTest, PodsGetTheDefaultServiceAccountAndItsTokenVolume) {
  auto r = create_pod(R"({"metadata":{"name":"p"},"spec":{
      "initContainers":[{"name":"init","image":"busybox"}],
      "containers":[{"name":"a","image":"busybox"},
                    {"name":"b","image":"busybox","volumeMounts":[{"name":"own","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]}],
      "volumes":[{"name":"own","emptyDir":{}}]}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& spec = r->object.at("spec").as_object();
  EXPECT_EQ(spec.at("serviceAccountName").as_string(), "default");
  const auto& volumes = spec.at("volumes").as_array();
  ASSERT_EQ(volumes.size(), 2u);
  std::string name(volumes[1].at("name").as_string());
  EXPECT_TRUE(name.starts_with("kube-api-access-"));
  EXPECT_EQ(name.size(), std::string("kube-api-access-").size() + 5);
  const auto& sources = volumes[1].at("projected").at("sources").as_array();
  EXPECT_EQ(sources[0].at("serviceAccountToken").at("expirationSeconds").as_int64(), 3607);
  EXPECT_EQ(sources[1].at("configMap").at("name").as_string(), "kube-root-ca.crt");
  EXPECT_EQ(sources[2].at("downwardAPI").at("items").at(0).at("fieldRef").at("fieldPath").as_string(),
            "metadata.namespace");
  auto mount_of = [&](std::string_view list, std::size_t i) {
    const auto& mounts = spec.at(list).at(i).at("volumeMounts").as_array();
    return mounts.back().as_object();
  };
  EXPECT_EQ(mount_of("initContainers", 0).at("name").as_string(), name);
  EXPECT_EQ(mount_of("containers", 0).at("name").as_string(), name);
  EXPECT_TRUE(mount_of("containers", 0).at("readOnly").as_bool());
  EXPECT_EQ(mount_of("containers", 0).at("mountPath").as_string(), kServiceAccountMountPath);
  EXPECT_EQ(mount_of("containers", 1).at("name").as_string(), "own");  // its own mount is kept
}

TEST_F(AdmissionTest, AutomountFalseOnPodOrServiceAccountAndMissingServiceAccounts) {
  auto r = create_pod(R"({"metadata":{"name":"p1"},"spec":{"automountServiceAccountToken":false,
      "containers":[{"name":"a","image":"busybox"}]}})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->object.at("spec").as_object().contains("volumes"));
  ASSERT_TRUE(registry_.create(*find_resource("", "v1", "serviceaccounts"), "default",
                               json::parse(R"({"metadata":{"name":"quiet"},"automountServiceAccountToken":false})")
                                   .as_object(),
                               WriteOptions{}).ok());
  r = create_pod(R"({"metadata":{"name":"p2"},"spec":{"serviceAccountName":"quiet","containers":[{"name":"a","image":"busybox"}]}})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->object.at("spec").as_object().contains("volumes"));
  // The pod's own setting wins over the ServiceAccount's.
  r = create_pod(R"({"metadata":{"name":"p3"},"spec":{"serviceAccountName":"quiet","automountServiceAccountToken":true,
      "containers":[{"name":"a","image":"busybox"}]}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->object.at("spec").at("volumes").as_array().size(), 1u);
  r = create_pod(R"({"metadata":{"name":"p4"},"spec":{"serviceAccountName":"ghost","containers":[{"name":"a","image":"busybox"}]}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 403);
  EXPECT_EQ(r.error().message, "pods \"p4\" is forbidden: error looking up service account default/ghost: "
                               "serviceaccount \"ghost\" not found");
}

}  // namespace
}  // namespace kedge::control

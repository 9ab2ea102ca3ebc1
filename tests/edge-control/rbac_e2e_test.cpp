// e2e: service-account tokens and RBAC through stock kubectl v1.32 against
// the real `kedge server` (controllers on, so every namespace gets its
// `default` ServiceAccount): `kubectl create token`, `--token` requests
// allowed or forbidden per a RoleBinding, `auth whoami`, `auth can-i`, and
// tampered / expired / orphaned tokens refused with 401.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "../../edge-control/src/tokens.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::testing {
namespace {

namespace fs = std::filesystem;

class RbacE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists("/usr/bin/kubectl")) return;
    dir_ = new TempDir("kedge-rbac-e2e");
    port_ = free_port();
    kubeconfig_ = dir_->path() / "kedge.yaml";
    server_ = new Process(
        {kedge_binary(), "server", "--disable-agent", "--disable-proxy", "--data-dir", (dir_->path() / "data").string(),
         "--https-listen-port", std::to_string(port_), "--bind-address", "127.0.0.1", "--write-kubeconfig",
         kubeconfig_.string(), "--config", "/dev/null"},
        dir_->path() / "server.log");
    ready_ = eventually([] { return server_->log().find("kedge server is ready") != std::string::npos || !server_->running(); },
                        std::chrono::seconds(30)) &&
             server_->running();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    KEDGE_REQUIRE(fs::exists("/usr/bin/kubectl"), "/usr/bin/kubectl");
    ASSERT_TRUE(ready_) << server_->log();
  }

  std::map<std::string, std::string> env() {
    return {{"HOME", dir_->path().string()}, {"KUBECACHEDIR", (dir_->path() / "cache").string()}};
  }
  // kubectl as the admin (client certificate, system:masters).
  CommandResult admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/kubectl", "--kubeconfig", kubeconfig_.string()});
    return run(args, CommandOptions{.env = env(), .timeout = std::chrono::seconds(30)});
  }
  // kubectl with only a bearer token (no client certificate at all).
  CommandResult as_token(const std::string& token, std::vector<std::string> args) {
    fs::path empty = dir_->path() / "empty-kubeconfig";
    if (!fs::exists(empty)) run({"touch", empty.string()});
    args.insert(args.begin(), {"/usr/bin/kubectl", "--kubeconfig", empty.string(), "--server",
                               "https://127.0.0.1:" + std::to_string(port_), "--certificate-authority",
                               (dir_->path() / "data" / "server" / "tls" / "ca.crt").string(), "--token", token});
    return run(args, CommandOptions{.env = env(), .timeout = std::chrono::seconds(30)});
  }
  // A namespace with ServiceAccount `robot`; returns a fresh token for it.
  std::string namespace_with_robot(const std::string& ns) {
    EXPECT_EQ(admin({"create", "namespace", ns}).exit_code, 0);
    auto sa = admin({"-n", ns, "create", "serviceaccount", "robot"});
    EXPECT_EQ(sa.exit_code, 0) << sa.err;
    auto t = admin({"-n", ns, "create", "token", "robot"});
    EXPECT_EQ(t.exit_code, 0) << t.err;
    std::string token = t.out;
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    return token;
  }

  static TempDir* dir_;
  static Process* server_;
  static int port_;
  static fs::path kubeconfig_;
  static bool ready_;
};

TempDir* RbacE2E::dir_ = nullptr;
Process* RbacE2E::server_ = nullptr;
int RbacE2E::port_ = 0;
fs::path RbacE2E::kubeconfig_;
bool RbacE2E::ready_ = false;

TEST_F(RbacE2E, CreateTokenWhoamiAndRoleBindingDecideAccess) {
  std::string token = namespace_with_robot("rb1");
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;

  auto who = as_token(token, {"auth", "whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("system:serviceaccount:rb1:robot"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("system:serviceaccounts:rb1"), std::string::npos) << who.out;

  auto denied = as_token(token, {"-n", "rb1", "get", "pods"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("pods is forbidden: User \"system:serviceaccount:rb1:robot\" cannot list resource "
                            "\"pods\" in API group \"\" in the namespace \"rb1\""),
            std::string::npos)
      << denied.err;
  auto cannot = as_token(token, {"-n", "rb1", "auth", "can-i", "list", "pods"});
  EXPECT_EQ(cannot.out, "no\n") << cannot.err;

  auto bind = admin({"-n", "rb1", "create", "rolebinding", "robot-view", "--clusterrole=view",
                     "--serviceaccount=rb1:robot"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err;
  EXPECT_TRUE(eventually([&] { return as_token(token, {"-n", "rb1", "get", "pods"}).exit_code == 0; }));
  auto can = as_token(token, {"-n", "rb1", "auth", "can-i", "list", "pods"});
  EXPECT_EQ(can.out, "yes\n") << can.err;
  EXPECT_EQ(as_token(token, {"-n", "rb1", "auth", "can-i", "delete", "pods"}).out, "no\n");
  EXPECT_EQ(as_token(token, {"-n", "rb1", "auth", "can-i", "get", "secrets"}).out, "no\n");
  EXPECT_EQ(as_token(token, {"-n", "default", "auth", "can-i", "list", "pods"}).out, "no\n");
  auto other_ns = as_token(token, {"-n", "default", "get", "configmaps"});
  EXPECT_NE(other_ns.exit_code, 0);
  EXPECT_NE(other_ns.err.find("cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""),
            std::string::npos)
      << other_ns.err;
  auto nodes = as_token(token, {"get", "nodes"});
  EXPECT_NE(nodes.err.find("at the cluster scope"), std::string::npos) << nodes.err;
  // The admin (system:masters) may do anything.
  EXPECT_EQ(admin({"auth", "can-i", "*", "*"}).out, "yes\n");
  // Upstream's bootstrap roles exist.
  auto roles = admin({"get", "clusterroles", "-o", "name"});
  for (const char* r : {"clusterrole.rbac.authorization.k8s.io/cluster-admin", "clusterrole.rbac.authorization.k8s.io/view",
                        "clusterrole.rbac.authorization.k8s.io/system:basic-user"}) {
    EXPECT_NE(roles.out.find(r), std::string::npos) << roles.out;
  }
}

TEST_F(RbacE2E, TamperedExpiredAndOrphanedTokensAreUnauthorized) {
  std::string token = namespace_with_robot("rb2");
  ASSERT_EQ(as_token(token, {"auth", "whoami"}).exit_code, 0);
  // kubectl's words for a 401: "(Unauthorized)" when the request itself was
  // refused, "(the server has asked for the client to provide credentials)"
  // when its discovery call was (no fresh discovery cache) — both are 401s.
  const std::string unauthorized = "error: You must be logged in to the server (";

  std::string tampered = token;
  char& c = tampered[tampered.size() - 4];
  c = c == 'A' ? 'B' : 'A';
  auto r = as_token(tampered, {"auth", "whoami"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(unauthorized), std::string::npos) << r.err;
  r = as_token("not-a-token", {"get", "pods"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(unauthorized), std::string::npos) << r.err;

  // A correctly signed token (the server's own key) that expired an hour ago.
  auto signer = control::TokenSigner::load_or_create(dir_->path() / "data" / "server" / "tls" / "service.key");
  ASSERT_TRUE(signer.ok());
  std::string uid = admin({"-n", "rb2", "get", "sa", "robot", "-o", "jsonpath={.metadata.uid}"}).out;
  std::int64_t now = std::time(nullptr);
  control::TokenClaimsSpec spec{.ns = "rb2", .service_account = "robot", .service_account_uid = uid,
                                .audiences = {std::string(control::kTokenIssuer)}, .now = now, .seconds = 600};
  auto fresh = (*signer)->sign(control::make_claims(spec));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(as_token(*fresh, {"auth", "whoami"}).exit_code, 0);  // the same claims, still valid: accepted
  spec.now = now - 3600;
  auto expired = (*signer)->sign(control::make_claims(spec));
  r = as_token(*expired, {"auth", "whoami"});
  EXPECT_NE(r.err.find(unauthorized), std::string::npos) << r.err;

  // Bound to a pod: valid while the pod exists.
  auto pod = admin({"-n", "rb2", "run", "p", "--image=busybox", "--restart=Never",
                    "--overrides={\"spec\":{\"serviceAccountName\":\"robot\"}}"});
  ASSERT_EQ(pod.exit_code, 0) << pod.err;
  auto bound = admin({"-n", "rb2", "create", "token", "robot", "--bound-object-kind=Pod", "--bound-object-name=p"});
  ASSERT_EQ(bound.exit_code, 0) << bound.err;
  std::string pod_token = bound.out.substr(0, bound.out.find('\n'));
  EXPECT_EQ(as_token(pod_token, {"auth", "whoami"}).exit_code, 0);
  ASSERT_EQ(admin({"-n", "rb2", "delete", "pod", "p", "--grace-period=0", "--force"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return as_token(pod_token, {"auth", "whoami"}).err.find(unauthorized) != std::string::npos; }));

  // The ServiceAccount deleted: its tokens die with it.
  ASSERT_EQ(admin({"-n", "rb2", "delete", "sa", "robot"}).exit_code, 0);
  r = as_token(token, {"auth", "whoami"});
  EXPECT_NE(r.err.find(unauthorized), std::string::npos) << r.err;

  // TokenRequest validation is the server's.
  admin({"-n", "rb2", "create", "serviceaccount", "robot2"});
  auto short_token = admin({"-n", "rb2", "create", "token", "robot2", "--duration=5m"});
  EXPECT_NE(short_token.exit_code, 0);
  EXPECT_NE(short_token.err.find("may not specify a duration less than 10 minutes"), std::string::npos)
      << short_token.err;
  auto missing = admin({"-n", "rb2", "create", "token", "ghost"});
  EXPECT_NE(missing.err.find("serviceaccounts \"ghost\" not found"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace kedge::testing

#include "kedge/client/kubeconfig.h"

#include <fstream>

#include <gtest/gtest.h>

#include "kedge/testing/process.h"

namespace kedge::client {
namespace {

constexpr const char* kInline = R"(apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://10.0.0.1:6443"}
- name: kedge
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: Q0EtUEVN
contexts:
- name: admin@kedge
  context: {cluster: kedge, user: admin, namespace: kube-system}
current-context: admin@kedge
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZLUJZVEVT
)";

TEST(Kubeconfig, InlineDataOfTheCurrentContext) {
  auto k = Kubeconfig::parse(kInline, "/nonexistent");
  ASSERT_TRUE(k.ok()) << k.status().to_string();
  EXPECT_EQ(k->server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(k->ca_pem, "CA-PEM");
  EXPECT_EQ(k->client_cert_pem, "CERT");
  EXPECT_EQ(k->client_key_pem, "KEY-BYTES");
  EXPECT_EQ(k->context_namespace, "kube-system");
  EXPECT_FALSE(k->insecure_skip_tls_verify);
}

TEST(Kubeconfig, RelativeFilesResolveAgainstTheKubeconfig) {
  testing::TempDir dir;
  std::ofstream(dir / "ca.crt") << "ca from file";
  std::ofstream(dir / "token-user.yaml") << R"(
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: ca.crt}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {token: abc123}}]
current-context: x
)";
  auto k = Kubeconfig::load(dir / "token-user.yaml");
  ASSERT_TRUE(k.ok()) << k.status().to_string();
  EXPECT_EQ(k->ca_pem, "ca from file");
  EXPECT_EQ(k->token, "abc123");
  EXPECT_EQ(k->context_namespace, "default");
}

TEST(Kubeconfig, ErrorsNameWhatIsMissing) {
  auto no_ctx = Kubeconfig::parse("clusters: []\ncurrent-context: gone\n", "/");
  ASSERT_FALSE(no_ctx.ok());
  EXPECT_EQ(no_ctx.status().message(), "context \"gone\" not found");
  auto no_current = Kubeconfig::parse("clusters: []\n", "/");
  EXPECT_EQ(no_current.status().message(), "no current-context");
  auto bad_yaml = Kubeconfig::parse("clusters: [\n", "/");
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_NE(bad_yaml.status().message().find("kubeconfig YAML"), std::string::npos);
  auto missing_file = Kubeconfig::load("/nonexistent/kubeconfig");
  ASSERT_FALSE(missing_file.ok());
  EXPECT_EQ(missing_file.status().code(), Code::kNotFound);
  auto bad_b64 = Kubeconfig::parse(R"(
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: "%%%"}}]
contexts: [{name: x, context: {cluster: c}}]
current-context: x
)", "/");
  ASSERT_FALSE(bad_b64.ok());
  EXPECT_NE(bad_b64.status().message().find("certificate-authority-data"), std::string::npos);
}

}  // namespace
}  // namespace kedge::client

// A pod on real containerd calls the API with the service-account token the
// kubelet projected into it (issue 4/6: TokenRequest, ServiceAccount
// admission, RBAC), through the `kubernetes` Service (10.43.0.1:443, the
// nftables proxy) with KUBERNETES_SERVICE_HOST/PORT from its environment:
// 403 without a RoleBinding, 200 once `view` is bound to its ServiceAccount.
//
// The caller is sa_probe (a static OpenSSL client built with the tests, in
// an image made at test time): busybox's wget has no TLS on these hosts.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "kedge/agent/oci_image.h"
#include "kubelet_fixture.h"

namespace kedge::agent {
namespace {

using namespace kubelet_e2e;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

constexpr std::string_view kProbeImage = "kedge.local/saprobe:1";

class ServiceAccountE2E : public KubeletE2E {
 protected:
  void SetUp() override {
    with_proxy_ = true;
    // Pods reach the API through the node's address, not loopback.
    extra_server_args_ = {"--bind-address", "0.0.0.0"};
    KEDGE_REQUIRE(fs::exists("/usr/sbin/nft"), "nft (nftables) for the kubernetes Service");
    const fs::path probe = fs::path(testing::build_dir()) / "tests" / "agent" / "kedge_sa_probe";
    ASSERT_TRUE(fs::exists(probe)) << probe;
    std::ifstream in(probe, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto layer = busybox_layer({});
    ASSERT_TRUE(layer.ok());
    layer->push_back(TarEntry{.kind = TarEntry::Kind::kFile, .path = "bin/sa-probe", .mode = 0755,
                              .content = bytes.str()});
    ASSERT_TRUE(write_oci_image(OciImageConfig{.name = std::string(kProbeImage), .cmd = {"sh"}}, *layer,
                                dir_ / "images" / "saprobe.tar")
                    .ok());
    KubeletE2E::SetUp();
  }
};

TEST_F(ServiceAccountE2E, PodCallsTheApiWithItsProjectedTokenAndRbacDecides) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  // The default ServiceAccount and kube-root-ca.crt come from the controllers.
  ASSERT_TRUE(testing::eventually([&] { return kubectl({"get", "sa", "default"}).exit_code == 0; }, seconds(30)));
  const std::string pod =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: caller\nspec:\n"
      "  terminationGracePeriodSeconds: 1\n"
      "  containers:\n  - name: c\n    image: " + std::string(kProbeImage) + "\n"
      "    command: [sh, -c, 'while true; do /bin/sa-probe; sleep 1; done']\n";
  ASSERT_EQ(apply(pod).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return at(get("pod/caller"), {"status", "phase"}) == "Running"; }, seconds(90)))
      << json::serialize(get("pod/caller")) << server_->log();

  // Admission gave it the default ServiceAccount and the projected volume.
  const json::value p = get("pod/caller");
  EXPECT_EQ(at(p, {"spec", "serviceAccountName"}), "default");
  auto ns_file = kubectl({"exec", "caller", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"});
  EXPECT_EQ(ns_file.out, "default") << ns_file.err;
  auto env = kubectl({"exec", "caller", "--", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"});
  EXPECT_EQ(env.out, "10.43.0.1:443\n") << env.err;
  auto token = kubectl({"exec", "caller", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"});
  EXPECT_EQ(std::count(token.out.begin(), token.out.end(), '.'), 2) << token.out << token.err;
  // The token is bound to this pod: the API accepts it as the ServiceAccount.
  auto who = testing::run({"curl", "-sS", "--cacert", (dir_ / "server" / "tls" / "ca.crt").string(), "-H",
                            "Authorization: Bearer " + token.out, "-H", "Content-Type: application/json", "-d",
                            R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                            "https://127.0.0.1:" + std::to_string(api_port_) +
                                "/apis/authentication.k8s.io/v1/selfsubjectreviews"});
  EXPECT_NE(who.out.find(R"("username":"system:serviceaccount:default:default")"), std::string::npos)
      << who.out << who.err;

  // No binding yet: the ServiceAccount may not list pods.
  EXPECT_TRUE(testing::eventually([&] { return pod_log("caller", "c").find("403\n") != std::string::npos; }, seconds(30)))
      << pod_log("caller", "c") << server_->log();
  EXPECT_EQ(pod_log("caller", "c").find("200\n"), std::string::npos);

  auto bind = kubectl({"create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err;
  EXPECT_TRUE(testing::eventually([&] { return pod_log("caller", "c").find("200\n") != std::string::npos; }, seconds(30)))
      << pod_log("caller", "c");
}

}  // namespace
}  // namespace kedge::agent

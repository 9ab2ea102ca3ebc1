// A Deployment and a Service on real containerd, reached through the
// nftables proxy of the same `kedge server`: the ClusterIP and a NodePort
// answer from the node (issue 7's "together with the agent" acceptance).
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "kubelet_fixture.h"

namespace kedge::agent {
namespace {

using namespace kubelet_e2e;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

class ServiceE2E : public KubeletE2E {
 protected:
  void SetUp() override {
    with_proxy_ = true;
    KEDGE_REQUIRE(fs::exists("/usr/sbin/nft"), "nft (nftables) to inspect the proxy's tables");
    KEDGE_REQUIRE(!testing::find_binary("curl").empty(), "curl on PATH");
    KubeletE2E::SetUp();
  }

  // One HTTP GET from the node; the body, or "" on failure. curl, not
  // busybox wget: the static busybox's wget segfaults on these hosts before
  // it sends anything (its static glibc), which once looked like a proxy bug.
  static std::string http_get(const std::string& host, const std::string& port) {
    const std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port + "/";
    auto r = testing::run({"curl", "-s", "-f", "-m", "2", url}, {.timeout = seconds(5)});
    return r.exit_code == 0 ? r.out : "";
  }

  // GETs until every backend answered at least once (load spreads), or gives up.
  static std::set<std::string> backends_seen(const std::string& host, const std::string& port, std::size_t want) {
    std::set<std::string> seen;
    testing::eventually(
        [&] {
          if (std::string body = http_get(host, port); !body.empty()) seen.insert(body);
          return seen.size() >= want;
        },
        seconds(60));
    return seen;
  }
};

TEST_F(ServiceE2E, DeploymentReachableThroughClusterIpAndNodePort) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  // Each pod serves its own name, so the answers show which backend replied.
  const std::string deploy =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
      "  selector: {matchLabels: {app: web}}\n"
      "  template:\n    metadata: {labels: {app: web}}\n    spec:\n"
      "      terminationGracePeriodSeconds: 2\n"
      "      containers:\n      - name: web\n        image: kedge.local/busybox:latest\n"
      "        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']\n"
      "        ports: [{containerPort: 8080}]\n"
      "        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}\n";
  ASSERT_EQ(apply(deploy).exit_code, 0);
  auto expose = kubectl({"expose", "deployment", "web", "--type=NodePort", "--port=80", "--target-port=8080"});
  ASSERT_EQ(expose.exit_code, 0) << expose.err;

  std::set<std::string> pods;
  ASSERT_TRUE(testing::eventually(
      [&] {
        pods.clear();
        const json::value list = get("pods");
        for (const auto& p : list.is_object() ? list.at("items").as_array() : json::array{}) {
          if (at(p, {"metadata", "labels", "app"}) == "web" && condition(p, "Ready") == "True") {
            pods.insert(at(p, {"metadata", "name"}) + "\n");
          }
        }
        return pods.size() == 2;
      },
      seconds(90)))
      << json::serialize(get("pods")) << server_->log();
  // The proxy programs only ready endpoints; wait for the slice to list both.
  ASSERT_TRUE(testing::eventually(
      [&] {
        const json::value eps = get("endpoints/web");
        return at(eps, {"subsets", "0", "addresses", "1", "ip"}) != "";
      },
      seconds(30)))
      << json::serialize(get("endpoints/web"));

  const json::value svc = get("service/web");
  const std::string cluster_ip = at(svc, {"spec", "clusterIP"});
  const std::string node_port = at(svc, {"spec", "ports", "0", "nodePort"});
  ASSERT_FALSE(cluster_ip.empty()) << json::serialize(svc);
  ASSERT_FALSE(node_port.empty()) << json::serialize(svc);

  EXPECT_EQ(backends_seen(cluster_ip, "80", 2), pods)
      << "ClusterIP " << cluster_ip << "\n" << testing::run({"nft", "list", "ruleset"}).out << server_->log();

  std::string node_ip;
  const json::value node = get("node/" + node_);
  for (const auto& a : node.at("status").at("addresses").as_array()) {
    const std::string address = at(a, {"address"});
    if (at(a, {"type"}) == "InternalIP" && address.find(':') == std::string::npos && node_ip.empty()) node_ip = address;
  }
  ASSERT_FALSE(node_ip.empty()) << json::serialize(node);
  EXPECT_EQ(backends_seen(node_ip, node_port, 2), pods)
      << "NodePort " << node_ip << ":" << node_port << "\n" << testing::run({"nft", "list", "ruleset"}).out;

  // Deleting the Service removes its rules: the ClusterIP stops answering.
  ASSERT_EQ(kubectl({"delete", "service", "web"}).exit_code, 0);
  EXPECT_TRUE(testing::eventually([&] { return http_get(cluster_ip, "80").empty(); }, seconds(10)));
}

}  // namespace
}  // namespace kedge::agent

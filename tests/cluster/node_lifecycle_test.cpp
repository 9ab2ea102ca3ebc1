// Node health, IPAM and leader election in `kedge server`, with hollow nodes:
// a node that stops heartbeating becomes Ready=Unknown with upstream's
// reason and message, gets the unreachable taints, its pods are evicted
// after their tolerationSeconds and the Deployment replaces them elsewhere;
// nodes get podCIDRs; two servers on one etcd 3.4 run one scheduler, and
// killing the leader moves scheduling to the other.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>

#include "cluster.h"
#include "kedge/testing/prereq.h"

namespace kedge::testing {
namespace {

std::string ready_of(Cluster& c, const std::string& node) {
  return c.out({"get", "node", node, "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}/"
                "{.status.conditions[?(@.type==\"Ready\")].reason}/"
                "{.status.conditions[?(@.type==\"Ready\")].message}"});
}

TEST(NodeLifecycle, SilentNodeIsUnknownTaintedAndItsPodsMoveAfterTolerationSeconds) {
  KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
  Cluster c;
  ASSERT_TRUE(c.start_server());
  ASSERT_NE(c.add_hollow("stable-", 1), nullptr);
  Process* doomed = c.add_hollow("doomed-", 1);
  ASSERT_NE(doomed, nullptr);

  // Each node got a /24 of 10.42.0.0/16, all different.
  std::set<std::string> cidrs;
  for (const char* n : {"stable-0", "doomed-0"}) {
    std::string cidr;
    ASSERT_TRUE(eventually([&] {
      cidr = c.out({"get", "node", n, "-o", "jsonpath={.spec.podCIDR}"});
      return !cidr.empty();
    }));
    EXPECT_EQ(cidr.rfind("10.42.", 0), 0u) << cidr;
    EXPECT_EQ(cidr.substr(cidr.size() - 3), "/24") << cidr;
    EXPECT_EQ(c.out({"get", "node", n, "-o", "jsonpath={.spec.podCIDRs[0]}"}), cidr);
    cidrs.insert(cidr);
  }
  EXPECT_EQ(cidrs.size(), 2u);

  // Admission gave a plain pod upstream's default 300 s tolerations.
  const std::string yaml = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: nginx}]
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
)";
  ASSERT_EQ(c.kubectl({"apply", "-f", "-"}, yaml).exit_code, 0);
  auto status = c.kubectl({"rollout", "status", "deployment/app", "--timeout=60s"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  // Two equal nodes, two replicas: LeastAllocated puts one on each.
  std::string doomed_pod = c.out({"get", "pods", "-l", "app=app", "--field-selector", "spec.nodeName=doomed-0", "-o",
                                  "jsonpath={.items[*].metadata.name}"});
  ASSERT_FALSE(doomed_pod.empty()) << c.out({"get", "pods", "-o", "wide"});
  EXPECT_EQ(c.out({"get", "pod", doomed_pod, "-o",
                   "jsonpath={.spec.tolerations[?(@.key==\"node.kubernetes.io/not-ready\")].tolerationSeconds}"}),
            "300");

  // The node goes silent.
  doomed->kill_and_wait(SIGKILL);
  std::string ready;
  ASSERT_TRUE(eventually([&] { return (ready = ready_of(c, "doomed-0")).rfind("Unknown/", 0) == 0; },
                         std::chrono::seconds(15)))
      << ready;
  EXPECT_EQ(ready, "Unknown/NodeStatusUnknown/Kubelet stopped posting node status.");
  EXPECT_EQ(ready_of(c, "stable-0").rfind("True/", 0), 0u);
  EXPECT_TRUE(eventually([&] {
    auto taints = c.out({"get", "node", "doomed-0", "-o", "jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}"});
    return taints.find("node.kubernetes.io/unreachable:NoExecute") != std::string::npos &&
           taints.find("node.kubernetes.io/unreachable:NoSchedule") != std::string::npos;
  }));
  EXPECT_EQ(c.out({"get", "nodes"}).find("doomed-0   NotReady") != std::string::npos, true)
      << c.out({"get", "nodes"});

  // Evicted after tolerationSeconds (2 s), replaced on the healthy node.
  EXPECT_TRUE(eventually(
      [&] { return !c.out({"get", "pod", doomed_pod, "-o", "jsonpath={.metadata.deletionTimestamp}"}).empty(); },
      std::chrono::seconds(10)));
  EXPECT_TRUE(eventually(
      [&] {
        return c.out({"get", "pods", "-l", "app=app", "--field-selector", "spec.nodeName=stable-0", "-o",
                      "jsonpath={range .items[?(@.status.phase==\"Running\")]}{.metadata.name} {end}"})
                   .size() > 0 &&
               c.out({"get", "deploy", "app", "-o", "jsonpath={.status.availableReplicas}"}) == "2";
      },
      std::chrono::seconds(20)))
      << c.out({"get", "pods", "-o", "wide"});
}

TEST(LeaderElection, TwoServersOnOneEtcdKillingTheLeaderMovesScheduling) {
  KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
  const std::string etcd = find_binary("etcd");
  KEDGE_REQUIRE(!etcd.empty(), "etcd (Debian etcd-server)");
  TempDir etcd_dir("kedge-etcd");  // etcd outlives the servers (declared first)
  const int client_port = free_port();
  const int peer_port = free_port();
  const std::string client_url = "http://127.0.0.1:" + std::to_string(client_port);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port);
  Process etcd_proc({etcd, "--data-dir", (etcd_dir / "data").string(), "--listen-client-urls", client_url,
                     "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
                     "--initial-advertise-peer-urls", peer_url, "--initial-cluster", "default=" + peer_url},
                    etcd_dir / "etcd.log");
  Cluster c;
  const std::vector<std::string> fast = {"--datastore-endpoint", client_url, "--leader-elect-lease-duration", "3",
                                         "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "1"};
  ASSERT_TRUE(c.start_server(fast));
  ASSERT_TRUE(eventually([&] { return c.server(0).proc->log().find("became leader") != std::string::npos; }));
  ASSERT_TRUE(c.start_server(fast));
  // The hollow node talks to the second server, which survives.
  ASSERT_NE(c.add_hollow("n-", 1, {}, 1), nullptr);
  const std::string pod =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME}\nspec:\n  containers: [{name: c, image: x}]\n";
  auto make = [&](const std::string& name) {
    std::string y = pod;
    y.replace(y.find("NAME"), 4, name);
    return c.kubectl({"apply", "-f", "-"}, y, 1);
  };
  ASSERT_EQ(make("before").exit_code, 0);
  EXPECT_TRUE(
      eventually([&] { return c.out({"get", "pod", "before", "-o", "jsonpath={.spec.nodeName}"}, 1) == "n-0"; }));
  // Only one of them runs the scheduler.
  EXPECT_EQ(c.server(1).proc->log().find("became leader"), std::string::npos);
  EXPECT_NE(c.server(0).proc->log().find("scheduler default-scheduler running"), std::string::npos);
  EXPECT_EQ(c.server(1).proc->log().find("scheduler default-scheduler running"), std::string::npos);

  c.server(0).proc->kill_and_wait(SIGKILL);
  ASSERT_TRUE(eventually([&] { return c.server(1).proc->log().find("became leader") != std::string::npos; },
                         std::chrono::seconds(15)))
      << c.server(1).proc->log();
  ASSERT_EQ(make("after").exit_code, 0);
  EXPECT_TRUE(eventually([&] { return c.out({"get", "pod", "after", "-o", "jsonpath={.spec.nodeName}"}, 1) == "n-0"; },
                         std::chrono::seconds(10)));
  EXPECT_NE(c.out({"get", "lease", "-n", "kube-system", "kedge-controllers", "-o",
                   "jsonpath={.spec.holderIdentity}"},
                  1),
            "");
}

}  // namespace
}  // namespace kedge::testing

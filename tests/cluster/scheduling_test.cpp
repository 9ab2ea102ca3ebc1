// The scheduler inside `kedge server`, seen as a user sees it: pods land only
// where nodeSelector, taints and resources allow; a pod that fits nowhere gets
// PodScheduled=False and a FailedScheduling event with upstream's reasons
// (kubectl describe), and schedules once a node frees up.
#include <gtest/gtest.h>

#include "cluster.h"
#include "kedge/testing/prereq.h"

namespace kedge::testing {
namespace {

std::string pod_yaml(const std::string& name, const std::string& extra_spec) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n" + extra_spec;
}

std::string node_of(Cluster& c, const std::string& pod) {
  return c.out({"get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"});
}

bool scheduled_on(Cluster& c, const std::string& pod, const std::string& node) {
  return eventually([&] { return node_of(c, pod) == node; }, std::chrono::seconds(10));
}

class SchedulingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
    ASSERT_TRUE(cluster_.start_server());
    // ssd-0: 2 cpu, labelled disk=ssd; plain-0, plain-1: 4 cpu.
    ASSERT_NE(cluster_.add_hollow("ssd-", 1, {"--cpu", "2", "--node-label", "disk=ssd"}), nullptr);
    ASSERT_NE(cluster_.add_hollow("plain-", 2, {"--cpu", "4"}), nullptr);
  }
  Cluster cluster_;
};

TEST_F(SchedulingTest, NodeSelectorTaintsAndResourcesDecideWherePodsLand) {
  // nodeSelector.
  ASSERT_EQ(cluster_.kubectl({"apply", "-f", "-"}, pod_yaml("on-ssd", "  nodeSelector: {disk: ssd}\n")).exit_code, 0);
  EXPECT_TRUE(scheduled_on(cluster_, "on-ssd", "ssd-0"));

  // Resources: 3 cpu fits only the 4-cpu nodes.
  ASSERT_EQ(cluster_
                .kubectl({"apply", "-f", "-"},
                         pod_yaml("big", "    resources: {requests: {cpu: \"3\"}}\n"))
                .exit_code,
            0);
  ASSERT_TRUE(eventually([&] { return !node_of(cluster_, "big").empty(); }));
  EXPECT_EQ(node_of(cluster_, "big").rfind("plain-", 0), 0u) << node_of(cluster_, "big");

  // Taints: a pod pinned to a tainted node waits with the taint named, and
  // schedules there once it tolerates the taint.
  ASSERT_EQ(cluster_.kubectl({"taint", "node", "plain-1", "dedicated=infra:NoSchedule"}).exit_code, 0);
  ASSERT_EQ(cluster_
                .kubectl({"apply", "-f", "-"},
                         pod_yaml("pinned", "  nodeSelector: {kubernetes.io/hostname: plain-1}\n"))
                .exit_code,
            0);
  ASSERT_TRUE(eventually(
      [&] {
        return cluster_.out({"describe", "pod", "pinned"}).find("node(s) had untolerated taint {dedicated: infra}") !=
               std::string::npos;
      },
      std::chrono::seconds(10)))
      << cluster_.out({"describe", "pod", "pinned"});
  EXPECT_EQ(node_of(cluster_, "pinned"), "");
  ASSERT_EQ(cluster_.kubectl({"delete", "pod", "pinned", "--wait=false"}).exit_code, 0);
  ASSERT_EQ(cluster_
                .kubectl({"apply", "-f", "-"},
                         pod_yaml("tolerant", "  nodeSelector: {kubernetes.io/hostname: plain-1}\n"
                                              "  tolerations: [{key: dedicated, value: infra, effect: NoSchedule}]\n"))
                .exit_code,
            0);
  EXPECT_TRUE(scheduled_on(cluster_, "tolerant", "plain-1"));
}

TEST_F(SchedulingTest, PodThatFitsNowhereShowsWhyAndSchedulesOnceANodeFreesUp) {
  // Fill ssd-0's 2 cpu, then ask for 1 more cpu on an ssd node.
  ASSERT_EQ(cluster_
                .kubectl({"apply", "-f", "-"},
                         pod_yaml("hog", "    resources: {requests: {cpu: \"2\"}}\n  nodeSelector: {disk: ssd}\n"))
                .exit_code,
            0);
  ASSERT_TRUE(scheduled_on(cluster_, "hog", "ssd-0"));
  ASSERT_EQ(cluster_
                .kubectl({"apply", "-f", "-"},
                         pod_yaml("waiter", "    resources: {requests: {cpu: \"1\"}}\n  nodeSelector: {disk: ssd}\n"))
                .exit_code,
            0);
  const std::string expected =
      "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.";
  std::string describe;
  ASSERT_TRUE(eventually(
      [&] {
        describe = cluster_.out({"describe", "pod", "waiter"});
        return describe.find("FailedScheduling") != std::string::npos &&
               describe.find(expected) != std::string::npos;
      },
      std::chrono::seconds(10)))
      << describe;
  EXPECT_NE(describe.find("default-scheduler"), std::string::npos) << describe;
  EXPECT_EQ(cluster_.out({"get", "pod", "waiter", "-o",
                          "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}/"
                          "{.status.conditions[?(@.type==\"PodScheduled\")].reason}"}),
            "False/Unschedulable");
  auto events = cluster_.out({"get", "events", "--field-selector", "involvedObject.name=waiter,reason=FailedScheduling",
                              "-o", "jsonpath={range .items[*]}{.type} {.source.component} {.count}{\"\\n\"}{end}"});
  EXPECT_EQ(events.rfind("Warning default-scheduler ", 0), 0u) << events;

  // Freeing the node schedules the waiting pod there (a cluster event, not
  // the 5-minute flush).
  ASSERT_EQ(cluster_.kubectl({"delete", "pod", "hog", "--wait=false"}).exit_code, 0);
  EXPECT_TRUE(scheduled_on(cluster_, "waiter", "ssd-0"));
  EXPECT_EQ(cluster_.out({"get", "pod", "waiter", "-o",
                          "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}"}),
            "True");
}

}  // namespace
}  // namespace kedge::testing

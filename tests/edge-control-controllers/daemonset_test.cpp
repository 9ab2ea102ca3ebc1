// DaemonSet controller against the in-memory API: one pod per eligible node
// (selector, affinity, taints), pinned the way upstream pins them, rolled
// within maxUnavailable.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/daemonset.h"
#include "kedge/controllers/workload_resources.h"
#include "workload_fixtures.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

json::value make_ds(std::string_view extra_pod_spec = "") {
  return json::parse(R"({"apiVersion": "apps/v1", "kind": "DaemonSet",
    "metadata": {"name": "agent", "namespace": "kube-system", "generation": 1},
    "spec": {"selector": {"matchLabels": {"app": "agent"}},
             "template": {"metadata": {"labels": {"app": "agent"}},
                          "spec": {)" + std::string(extra_pod_spec) + R"("containers": [{"name": "c", "image": "busybox"}]}}}})");
}

class DaemonSetTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 200 && controller_.process_one(); ++i) {
    }
  }
  void put_node(const std::string& name, json::object labels = {}, json::array taints = {}) {
    json::value node = json::object{{"apiVersion", "v1"}, {"kind", "Node"},
                                    {"metadata", json::object{{"name", name}, {"labels", std::move(labels)}}},
                                    {"spec", json::object{{"taints", std::move(taints)}}}};
    t_.put(nodes_resource(), std::move(node));
  }
  // node → pods (by the node the pod is pinned to), live ones only.
  std::map<std::string, std::vector<Object>> pods_by_node() {
    std::map<std::string, std::vector<Object>> out;
    for (const auto& p : t_.list(pods_resource(), "kube-system")) {
      if (api::get_deletion_timestamp(*p)) continue;
      const auto& v = p->at("spec").at("affinity").at("nodeAffinity")
                          .at("requiredDuringSchedulingIgnoredDuringExecution").at("nodeSelectorTerms")
                          .at(0).at("matchFields").at(0).at("values").at(0);
      out[std::string(v.as_string())].push_back(p);
    }
    return out;
  }
  std::int64_t status_of(const char* field) {
    const auto* st = t_.get(daemonsets_resource(), "kube-system", "agent")->as_object().if_contains("status");
    if (!st || !st->as_object().contains(field)) return 0;
    return st->at(field).as_int64();
  }
  void make_ready(const Object& p) {
    json::value v = *p;
    v.as_object()["status"] = json::object{
        {"phase", "Running"},
        {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"},
                                                {"lastTransitionTime", "2020-01-01T00:00:00Z"}}}}};
    t_.put(pods_resource(), std::move(v));
  }

  testing::ManualClock clock_;
  FakeTransport t_;
  DaemonSetController controller_{t_, {.queue = {.clock = &clock_}, .clock = &clock_}};
};

TEST_F(DaemonSetTest, OnePodPerNodePinnedByNodeAffinityIncludingLaterNodes) {
  put_node("n1");
  put_node("n2");
  t_.put(daemonsets_resource(), make_ds());
  drain();
  auto by_node = pods_by_node();
  ASSERT_EQ(by_node.size(), 2u);
  EXPECT_EQ(by_node["n1"].size(), 1u);
  EXPECT_EQ(by_node["n2"].size(), 1u);
  const auto& pod = *by_node["n1"][0];
  EXPECT_EQ(api::get_name(pod).substr(0, 6), "agent-");
  EXPECT_FALSE(pod.at("spec").as_object().contains("nodeName"));  // the scheduler binds it
  auto ref = api::get_controller_ref(pod);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->kind, "DaemonSet");
  EXPECT_TRUE(api::get_label(pod, "controller-revision-hash"));
  // The default DaemonSet tolerations.
  std::set<std::string> tolerated;
  for (const auto& t : pod.at("spec").at("tolerations").as_array()) {
    tolerated.insert(std::string(t.at("key").as_string()) + ":" + std::string(t.at("effect").as_string()));
  }
  EXPECT_TRUE(tolerated.contains("node.kubernetes.io/not-ready:NoExecute"));
  EXPECT_TRUE(tolerated.contains("node.kubernetes.io/unreachable:NoExecute"));
  EXPECT_TRUE(tolerated.contains("node.kubernetes.io/unschedulable:NoSchedule"));
  EXPECT_TRUE(tolerated.contains("node.kubernetes.io/disk-pressure:NoSchedule"));
  EXPECT_FALSE(tolerated.contains("node.kubernetes.io/network-unavailable:NoSchedule"));  // not hostNetwork
  EXPECT_EQ(status_of("desiredNumberScheduled"), 2);
  EXPECT_EQ(status_of("currentNumberScheduled"), 2);
  // A node joins later.
  put_node("n3");
  drain();
  EXPECT_EQ(pods_by_node().size(), 3u);
  EXPECT_EQ(status_of("desiredNumberScheduled"), 3);
  // Converged: a resync creates nothing.
  int creates = t_.writes("create");
  controller_.resync_all();
  drain();
  EXPECT_EQ(t_.writes("create"), creates);
}

TEST_F(DaemonSetTest, NodeSelectorAffinityAndTaintsChooseNodes) {
  put_node("edge-1", {{"role", "edge"}, {"zone", "a"}});
  put_node("edge-2", {{"role", "edge"}, {"zone", "b"}});
  put_node("core", {{"role", "core"}, {"zone", "a"}});
  put_node("tainted", {{"role", "edge"}, {"zone", "a"}},
           json::array{json::object{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}}});
  put_node("cordoned", {{"role", "edge"}, {"zone", "a"}},
           json::array{json::object{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}}});
  put_node("soft", {{"role", "edge"}, {"zone", "a"}},
           json::array{json::object{{"key", "x"}, {"effect", "PreferNoSchedule"}}});
  t_.put(daemonsets_resource(), make_ds(R"("nodeSelector": {"role": "edge"},
      "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},)"));
  drain();
  auto by_node = pods_by_node();
  std::set<std::string> nodes;
  for (const auto& [n, ps] : by_node) nodes.insert(n);
  // edge-2: zone b; core: selector; tainted: untolerated NoSchedule.
  EXPECT_EQ(nodes, (std::set<std::string>{"cordoned", "edge-1", "soft"}));
  // Tolerating the taint brings the pod to that node.
  json::value ds = *t_.get(daemonsets_resource(), "kube-system", "agent");
  ds.as_object()["spec"].as_object()["template"].as_object()["spec"].as_object()["tolerations"] =
      json::array{json::object{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "gpu"}}};
  ASSERT_TRUE(t_.update(daemonsets_resource(), ds).ok());
  drain();
  EXPECT_EQ(pods_by_node().count("tainted"), 1u);
}

TEST_F(DaemonSetTest, PodsLeaveNodesThatStopMatchingOrVanish) {
  put_node("n1", {{"run", "yes"}});
  put_node("n2", {{"run", "yes"}});
  t_.put(daemonsets_resource(), make_ds(R"("nodeSelector": {"run": "yes"},)"));
  drain();
  ASSERT_EQ(pods_by_node().size(), 2u);
  put_node("n1", {{"run", "no"}});
  ASSERT_TRUE(t_.remove(nodes_resource(), "", "n2", {}).ok());
  drain();
  EXPECT_TRUE(pods_by_node().empty());
  EXPECT_EQ(status_of("desiredNumberScheduled"), 0);
}

TEST_F(DaemonSetTest, FailedPodIsReplaced) {
  put_node("n1");
  t_.put(daemonsets_resource(), make_ds());
  drain();
  Object pod = pods_by_node()["n1"][0];
  json::value v = *pod;
  v.as_object()["status"] = json::object{{"phase", "Failed"}};
  t_.put(pods_resource(), std::move(v));
  drain();
  auto by_node = pods_by_node();
  ASSERT_EQ(by_node["n1"].size(), 1u);
  EXPECT_NE(api::get_name(*by_node["n1"][0]), api::get_name(*pod));
}

TEST_F(DaemonSetTest, RollingUpdateReplacesAtMostMaxUnavailableAtATime) {
  for (int i = 1; i <= 4; ++i) put_node("n" + std::to_string(i));
  t_.put(daemonsets_resource(), make_ds());
  drain();
  for (auto& [n, ps] : pods_by_node()) make_ready(ps[0]);
  drain();
  EXPECT_EQ(status_of("numberAvailable"), 4);
  std::string old_hash = *api::get_label(*pods_by_node()["n1"][0], "controller-revision-hash");
  json::value ds = *t_.get(daemonsets_resource(), "kube-system", "agent");
  auto& spec = ds.as_object()["spec"].as_object();
  spec["template"].as_object()["spec"].as_object()["containers"].as_array()[0].as_object()["image"] = "busybox:2";
  spec["updateStrategy"] = json::parse(R"({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}})");
  ASSERT_TRUE(t_.update(daemonsets_resource(), ds).ok());
  for (int round = 0; round < 10; ++round) {
    drain();
    auto by_node = pods_by_node();
    int available_old = 0, updated = 0;
    for (auto& [n, ps] : by_node) {
      ASSERT_LE(ps.size(), 1u);
      bool is_new = api::get_label(*ps[0], "controller-revision-hash") != old_hash;
      if (is_new) ++updated;
      bool ready = ps[0]->as_object().contains("status");
      if (!is_new && ready) ++available_old;
    }
    // Never fewer than 4 - 2 nodes with an available pod.
    int available = 0;
    for (auto& [n, ps] : by_node) available += ps[0]->as_object().contains("status") ? 1 : 0;
    EXPECT_GE(available, 2) << "round " << round;
    if (updated == 4 && available == 4) break;
    for (auto& [n, ps] : by_node) {
      if (!ps[0]->as_object().contains("status")) make_ready(ps[0]);  // the kubelet starts the new pod
    }
  }
  auto by_node = pods_by_node();
  ASSERT_EQ(by_node.size(), 4u);
  for (auto& [n, ps] : by_node) {
    EXPECT_EQ(ps[0]->at("spec").at("containers").at(0).at("image"), "busybox:2") << n;
  }
  drain();
  EXPECT_EQ(status_of("updatedNumberScheduled"), 4);
}

TEST_F(DaemonSetTest, OnDeleteKeepsOldPods) {
  put_node("n1");
  t_.put(daemonsets_resource(), make_ds());
  drain();
  std::string first(api::get_name(*pods_by_node()["n1"][0]));
  json::value ds = *t_.get(daemonsets_resource(), "kube-system", "agent");
  auto& spec = ds.as_object()["spec"].as_object();
  spec["template"].as_object()["spec"].as_object()["containers"].as_array()[0].as_object()["image"] = "busybox:2";
  spec["updateStrategy"] = json::object{{"type", "OnDelete"}};
  ASSERT_TRUE(t_.update(daemonsets_resource(), ds).ok());
  drain();
  EXPECT_EQ(api::get_name(*pods_by_node()["n1"][0]), first);
}

}  // namespace
}  // namespace kedge::controllers

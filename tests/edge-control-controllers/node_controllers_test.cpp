// Node IPAM and node lifecycle controllers over the in-memory API.
#include <gtest/gtest.h>

#include <thread>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/controllers/node_ipam.h"
#include "kedge/controllers/node_lifecycle.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

json::value node(const std::string& name, const std::string& cidr = "", const std::string& ready = "True") {
  json::object n{{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", json::object{{"name", name}}}};
  if (!cidr.empty()) n["spec"] = json::object{{"podCIDR", cidr}, {"podCIDRs", json::array{json::value(cidr)}}};
  n["status"] = json::object{
      {"conditions", json::array{json::object{{"type", "Ready"},
                                              {"status", ready},
                                              {"lastHeartbeatTime", "2026-01-01T00:00:00Z"}},
                                 json::object{{"type", "MemoryPressure"}, {"status", "False"}}}}};
  return n;
}

std::string cidr_of(FakeTransport& t, const std::string& name) {
  auto n = t.get(nodes_resource(), "", name);
  if (!n) return "";
  const auto* spec = n->as_object().if_contains("spec");
  if (!spec || !spec->as_object().contains("podCIDR")) return "";
  const auto& cidrs = spec->as_object().at("podCIDRs").as_array();
  EXPECT_EQ(cidrs.size(), 1u);
  EXPECT_EQ(cidrs[0], spec->as_object().at("podCIDR"));
  return std::string(spec->as_object().at("podCIDR").as_string());
}

bool has_taints(const Object& n) {
  const auto* spec = n->as_object().if_contains("spec");
  return spec && spec->as_object().contains("taints");
}

void drain(Controller& c) {
  while (c.process_one()) {
  }
}

TEST(NodeIpam, EachNodeGetsItsOwnSubnet) {
  FakeTransport t;
  NodeIpamController ipam(t);
  ipam.register_watches();
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(t.create(nodes_resource(), "", node(n)).ok());
  drain(ipam);
  EXPECT_EQ(cidr_of(t, "a"), "10.42.0.0/24");
  EXPECT_EQ(cidr_of(t, "b"), "10.42.1.0/24");
  EXPECT_EQ(cidr_of(t, "c"), "10.42.2.0/24");
}

TEST(NodeIpam, RestartRebuildsFromExistingNodesAndDeletionFreesASubnet) {
  FakeTransport t;
  // Two /25s in a /24: room for two nodes.
  NodeIpamOptions options{.cluster_cidr = "10.50.7.0/24", .node_mask_size = 25};
  t.put(nodes_resource(), node("old", "10.50.7.0/25"));
  NodeIpamController ipam(t, options);
  ipam.register_watches();
  ASSERT_TRUE(t.create(nodes_resource(), "", node("new")).ok());
  drain(ipam);
  EXPECT_EQ(cidr_of(t, "new"), "10.50.7.128/25");  // not the one "old" holds

  ASSERT_TRUE(t.create(nodes_resource(), "", node("third")).ok());
  auto key = ipam.queue().try_get();
  ASSERT_TRUE(key.has_value());
  Status full = ipam.sync(*key);
  ipam.queue().done(*key);
  EXPECT_EQ(full.code(), Code::kResourceExhausted) << full.to_string();
  EXPECT_NE(full.message().find("10.50.7.0/24"), std::string::npos);
  EXPECT_EQ(cidr_of(t, "third"), "");

  ASSERT_TRUE(t.remove(nodes_resource(), "", "old", {}).ok());
  drain(ipam);
  ipam.queue().add("third");
  drain(ipam);
  EXPECT_EQ(cidr_of(t, "third"), "10.50.7.0/25");
}

TEST(NodeIpam, ValidateNamesTheBadFlag) {
  EXPECT_TRUE(NodeIpamController::validate({}).ok());
  auto bad_cidr = NodeIpamController::validate({.cluster_cidr = "10.42.0.0/33"});
  EXPECT_EQ(bad_cidr.code(), Code::kInvalidArgument);
  EXPECT_NE(bad_cidr.message().find("--cluster-cidr=10.42.0.0/33"), std::string::npos);
  EXPECT_FALSE(NodeIpamController::validate({.cluster_cidr = "fd00::/64"}).ok());
  auto bad_mask = NodeIpamController::validate({.cluster_cidr = "10.42.0.0/16", .node_mask_size = 8});
  EXPECT_NE(bad_mask.message().find("--node-cidr-mask-size=8"), std::string::npos);
}

json::value pod(const std::string& name, const std::string& node_name, json::array tolerations) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", json::object{{"name", name}, {"namespace", "default"}}},
                      {"spec", json::object{{"nodeName", node_name}, {"tolerations", std::move(tolerations)}}},
                      {"status", json::object{{"phase", "Running"}}}};
}

TEST(NodeLifecycle, SilentNodeBecomesUnknownTaintedAndEvictsByTolerations) {
  FakeTransport t;
  NodeLifecycleController c(t, {.grace_period = std::chrono::milliseconds(50),
                                .monitor_period = std::chrono::milliseconds(10)});
  c.register_watches();
  ASSERT_TRUE(t.create(nodes_resource(), "", node("n1")).ok());
  json::object unreachable_forever{{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoExecute"}};
  json::object unreachable_long = unreachable_forever;
  unreachable_long["tolerationSeconds"] = 3600;
  ASSERT_TRUE(t.create(pods_resource(), "default", pod("plain", "n1", {})).ok());
  ASSERT_TRUE(t.create(pods_resource(), "default", pod("patient", "n1", {unreachable_long})).ok());
  ASSERT_TRUE(t.create(pods_resource(), "default", pod("loyal", "n1", {unreachable_forever})).ok());
  ASSERT_TRUE(t.create(pods_resource(), "default", pod("elsewhere", "n2", {})).ok());

  // Within the grace period nothing changes.
  drain(c);
  auto n = t.get(nodes_resource(), "", "n1");
  EXPECT_EQ(n->at("status").at("conditions").at(0).at("status"), "True");
  EXPECT_FALSE(has_taints(n));

  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  c.queue().add("n1");
  drain(c);
  n = t.get(nodes_resource(), "", "n1");
  const auto& ready = n->at("status").at("conditions").at(0);
  EXPECT_EQ(ready.at("status"), "Unknown");
  EXPECT_EQ(ready.at("reason"), "NodeStatusUnknown");
  EXPECT_EQ(ready.at("message"), "Kubelet stopped posting node status.");
  EXPECT_EQ(n->at("status").at("conditions").at(1).at("status"), "Unknown");  // MemoryPressure
  const auto& taints = n->at("spec").at("taints").as_array();
  ASSERT_EQ(taints.size(), 2u);
  EXPECT_EQ(taints[0].at("key"), kTaintUnreachable);
  EXPECT_EQ(taints[0].at("effect"), "NoSchedule");
  EXPECT_EQ(taints[1].at("effect"), "NoExecute");
  EXPECT_TRUE(taints[1].as_object().contains("timeAdded"));

  // The pod without a toleration goes at once; the tolerating ones stay.
  EXPECT_FALSE(t.get(pods_resource(), "default", "plain"));
  EXPECT_TRUE(t.get(pods_resource(), "default", "patient"));
  EXPECT_TRUE(t.get(pods_resource(), "default", "loyal"));
  EXPECT_TRUE(t.get(pods_resource(), "default", "elsewhere"));

  // The kubelet comes back: Ready=True removes the taints.
  t.put(nodes_resource(), [&] {
    json::value back = *t.get(nodes_resource(), "", "n1");
    back.at("status").at("conditions").at(0).as_object()["status"] = "True";
    back.at("status").at("conditions").at(0).as_object()["lastHeartbeatTime"] = "2026-01-01T00:01:00Z";
    return back;
  }());
  c.queue().add("n1");
  drain(c);
  EXPECT_FALSE(has_taints(t.get(nodes_resource(), "", "n1")));
}

}  // namespace
}  // namespace kedge::controllers

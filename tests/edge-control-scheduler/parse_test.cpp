// Parsing Pods and Nodes into the scheduler's snapshot types.
#include <gtest/gtest.h>

#include "fixtures.h"

namespace kedge::scheduler {
namespace {

using testing::J;

TEST(ParsePod, RequestsFollowTheInitContainerMaxRuleAndAddOverhead) {
  // Upstream's computePodResourceRequest example: containers sum to cpu 3 /
  // 2G, the largest init container needs 3G, so the pod needs cpu 3, 3G; the
  // overhead comes on top.
  auto r = parse_pod(J(R"({"metadata":{"name":"p","namespace":"ns"},"spec":{
    "initContainers":[{"name":"i1","image":"a","resources":{"requests":{"cpu":"2","memory":"1G"}}},
                      {"name":"i2","image":"a","resources":{"requests":{"cpu":"2","memory":"3G"}}}],
    "containers":[{"name":"c1","image":"a","resources":{"requests":{"cpu":"2","memory":"1G"}}},
                  {"name":"c2","image":"a","resources":{"requests":{"cpu":"1","memory":"1G","example.com/gpu":"2"}}}],
    "overhead":{"cpu":"250m","memory":"10M"}}})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const PodInfo& p = **r;
  EXPECT_EQ(p.requests.milli_cpu, 3250);
  EXPECT_EQ(p.requests.memory, 3'010'000'000);
  EXPECT_EQ(p.requests.scalar_value("example.com/gpu"), 2);
  EXPECT_EQ(p.ns, "ns");
  EXPECT_EQ(p.scheduler_name, "default-scheduler");
}

TEST(ParsePod, ContainersWithoutRequestsGetUpstreamDefaultsForScoringOnly) {
  auto r = parse_pod(J(R"({"metadata":{"name":"p"},"spec":{"containers":[
    {"name":"a","image":"x"},{"name":"b","image":"x","resources":{"requests":{"cpu":"500m"}}}]}})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->requests.milli_cpu, 500);
  EXPECT_EQ((*r)->requests.memory, 0);
  EXPECT_EQ((*r)->non_zero_milli_cpu, 600);
  EXPECT_EQ((*r)->non_zero_memory, 2 * kDefaultMemoryRequest);
  EXPECT_EQ((*r)->ns, "default");
}

TEST(ParsePod, ErrorsNameTheField) {
  struct Case {
    const char* spec;
    const char* want;
  };
  const Case cases[] = {
      {R"({"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"lots"}}}]})",
       "spec.containers[0].resources.requests[cpu]"},
      {R"({"containers":[{"name":"c","image":"x"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
         {"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Near","values":["x"]}]}]}}}})",
       "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator"},
      {R"({"containers":[{"name":"c","image":"x"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
         {"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Gt","values":["x"]}]}]}}}})",
       "matchExpressions[0].values[0]: Invalid value: \"x\": must be an integer"},
      {R"({"containers":[{"name":"c","image":"x"}],"tolerations":[{"key":"k","effect":"Sometimes"}]})",
       "spec.tolerations[0].effect: Unsupported value: \"Sometimes\""},
      {R"({"containers":[{"name":"c","image":"x"}],"topologySpreadConstraints":[{"maxSkew":0,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]})",
       "spec.topologySpreadConstraints[0].maxSkew"},
      {R"({"containers":[{"name":"c","image":"x"}],"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
         [{"labelSelector":{"matchLabels":{"app":"x"}}}]}}})",
       "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value"},
      {R"({"containers":[{"name":"c","image":"x","ports":[{"containerPort":80,"hostPort":70000}]}]})",
       "spec.containers[0].ports[0].hostPort"},
      {R"({"containers":"nope"})", "spec.containers: Required value"},
  };
  for (const auto& c : cases) {
    auto v = J(R"({"metadata":{"name":"p"}})");
    v.as_object()["spec"] = J(c.spec);
    auto r = parse_pod(v);
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << r.status().message() << "\nwant: " << c.want;
  }
}

TEST(ParsePod, AffinityTermsDefaultToThePodsNamespace) {
  auto p = testing::pod("p", {.ns = "team", .labels = {{"app", "web"}}, .spec = R"({
    "affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
      {"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"},
      {"labelSelector":{"matchLabels":{"app":"web"}},"namespaces":["b","a"],"topologyKey":"zone"},
      {"labelSelector":{"matchLabels":{"app":"web"}},"namespaceSelector":{},"topologyKey":"zone"}]}},
    "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway",
      "labelSelector":{"matchLabels":{"app":"web"}},"matchLabelKeys":["app","missing"]}]})"});
  ASSERT_TRUE(p);
  ASSERT_EQ(p->required_anti_affinity.size(), 3u);
  EXPECT_EQ(p->required_anti_affinity[0].namespaces, std::vector<std::string>{"team"});
  EXPECT_EQ(p->required_anti_affinity[1].namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(p->required_anti_affinity[2].namespaces.empty());
  EXPECT_TRUE(p->required_anti_affinity[2].namespace_selector.has_value());
  ASSERT_EQ(p->spread_constraints.size(), 1u);
  EXPECT_EQ(p->spread_constraints[0].when_unsatisfiable, WhenUnsatisfiable::kScheduleAnyway);
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(p->spread_constraints[0].match_labels_from_keys, (std::vector<Pair>{{"app", "web"}}));
}

TEST(ParsePod, HostPortsDefaultIpAndProtocol) {
  auto p = testing::pod("p", {.ports = R"([{"containerPort":80,"hostPort":8080},{"containerPort":53,"hostPort":53,"protocol":"UDP","hostIP":"10.0.0.1"},{"containerPort":9}])"});
  ASSERT_TRUE(p);
  ASSERT_EQ(p->host_ports.size(), 2u);
  EXPECT_EQ(p->host_ports[0].host_ip, "0.0.0.0");
  EXPECT_EQ(p->host_ports[0].protocol, "TCP");
  EXPECT_EQ(p->host_ports[1].host_ip, "10.0.0.1");
  EXPECT_EQ(p->host_ports[1].protocol, "UDP");
  EXPECT_EQ(p->images, std::vector<std::string>{"busybox:1.36"});
}

TEST(ParseNode, AllocatableLabelsTaintsAndReadiness) {
  auto n = testing::node("n1", {.cpu = "3500m", .memory = "2Gi", .pods = "20", .labels = {{"zone", "a"}},
                                .taints = R"([{"key":"dedicated","value":"gpu","effect":"NoSchedule"}])",
                                .extra_allocatable = R"({"example.com/gpu":"4","hugepages-2Mi":"0"})"});
  ASSERT_TRUE(n);
  EXPECT_EQ(n->allocatable.milli_cpu, 3500);
  EXPECT_EQ(n->allocatable.memory, 2LL << 30);
  EXPECT_EQ(n->allocatable.pods, 20);
  EXPECT_EQ(n->allocatable.scalar_value("example.com/gpu"), 4);
  ASSERT_NE(n->label("zone"), nullptr);
  EXPECT_EQ(*n->label("zone"), "a");
  EXPECT_EQ(*n->label("kubernetes.io/hostname"), "n1");
  ASSERT_EQ(n->taints.size(), 1u);
  EXPECT_EQ(n->ready, NodeReadiness::kTrue);
}

TEST(ParseNode, NotReadyNodesGetTheLifecycleTaint) {
  struct Case {
    std::string ready;
    const char* want_taint;
  };
  for (const auto& c : {Case{"False", "node.kubernetes.io/not-ready"}, Case{"Unknown", "node.kubernetes.io/unreachable"},
                        Case{"", "node.kubernetes.io/not-ready"}}) {
    auto n = testing::node("n", {.ready = c.ready});
    ASSERT_TRUE(n);
    ASSERT_EQ(n->taints.size(), 1u) << c.ready;
    EXPECT_EQ(n->taints[0].key, c.want_taint);
    EXPECT_EQ(n->taints[0].effect, TaintEffect::kNoSchedule);
  }
  // A node that already carries the controller's taint gets no second one.
  auto n = testing::node("n", {.taints = R"([{"key":"node.kubernetes.io/not-ready","effect":"NoExecute"}])", .ready = "False"});
  ASSERT_TRUE(n);
  EXPECT_EQ(n->taints.size(), 1u);
}

TEST(ParseNode, ErrorsNameTheField) {
  auto v = testing::node_json("n", {.taints = R"([{"key":"k","effect":"Never"}])"});
  auto r = parse_node(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("spec.taints[0].effect"), std::string::npos) << r.status().message();
  auto v2 = testing::node_json("n", {.memory = "12 GB"});
  auto r2 = parse_node(v2);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("status.allocatable[memory]"), std::string::npos) << r2.status().message();
}

TEST(Toleration, MatchesAsUpstream) {
  Taint t{.key = "k", .value = "v", .effect = TaintEffect::kNoSchedule};
  EXPECT_TRUE((Toleration{.key = "k", .value = "v"}).tolerates(t));
  EXPECT_FALSE((Toleration{.key = "k", .value = "w"}).tolerates(t));
  EXPECT_TRUE((Toleration{.key = "k", .op_exists = true}).tolerates(t));
  EXPECT_TRUE((Toleration{.op_exists = true}).tolerates(t));
  EXPECT_FALSE((Toleration{.key = "k", .op_exists = true, .effect = TaintEffect::kNoExecute}).tolerates(t));
  EXPECT_TRUE((Toleration{.key = "k", .op_exists = true, .effect = TaintEffect::kNoSchedule}).tolerates(t));
}

}  // namespace
}  // namespace kedge::scheduler

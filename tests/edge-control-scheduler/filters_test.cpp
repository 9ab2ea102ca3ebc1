// Filters, table-driven: each case builds a small cluster, then checks every
// node's verdict for one incoming pod, with upstream's reason texts.
#include <functional>

#include <gtest/gtest.h>

#include "cluster.h"

namespace kedge::scheduler {
namespace {

using testing::Cluster;
using testing::NodeOpts;
using testing::PodOpts;
using Verdicts = std::map<std::string, std::string>;

struct Case {
  const char* name;
  std::function<void(Cluster&)> setup;
  PodOpts pod;
  Verdicts want;
};

void run(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Cluster cluster;
    c.setup(cluster);
    EXPECT_EQ(cluster.verdicts(c.pod), c.want);
  }
}

TEST(NodeResourcesFit, Filter) {
  run({
      {"fits beside existing pods",
       [](Cluster& k) {
         k.add_node("n1", {.cpu = "2", .memory = "4Gi"});
         k.add_pod("a", "n1", {.cpu = "1", .memory = "1Gi"});
       },
       {.cpu = "1", .memory = "3Gi"},
       {{"n1", ""}}},
      {"insufficient cpu and memory, every reason kept",
       [](Cluster& k) {
         k.add_node("n1", {.cpu = "2", .memory = "4Gi"});
         k.add_pod("a", "n1", {.cpu = "1500m", .memory = "3Gi"});
       },
       {.cpu = "1", .memory = "2Gi"},
       {{"n1", "Insufficient cpu; Insufficient memory"}}},
      {"too many pods even for a pod without requests",
       [](Cluster& k) {
         k.add_node("n1", {.pods = "1"});
         k.add_pod("a", "n1");
       },
       {},
       {{"n1", "Too many pods"}}},
      {"extended resources and ephemeral storage",
       [](Cluster& k) {
         k.add_node("n1", {.extra_allocatable = R"({"example.com/gpu":"1","ephemeral-storage":"1Gi"})"});
         k.add_node("n2", {.extra_allocatable = R"({"example.com/gpu":"2","ephemeral-storage":"10Gi"})"});
       },
       {.spec = R"({"containers":[{"name":"c","image":"x","resources":{"requests":{"example.com/gpu":"2","ephemeral-storage":"2Gi"}}}]})"},
       {{"n1", "Insufficient ephemeral-storage; Insufficient example.com/gpu"}, {"n2", ""}}},
  });
}

TEST(NodeName, Filter) {
  run({{"only the named node",
        [](Cluster& k) {
          k.add_node("n1");
          k.add_node("n2");
        },
        {.node_name = "n2"},
        {{"n1", "node(s) didn't match the requested node name"}, {"n2", ""}}}});
}

TEST(NodeUnschedulable, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("cordoned", {.unschedulable = true});
    k.add_node("open");
  };
  run({
      {"cordoned node rejected", setup, {}, {{"cordoned", "node(s) were unschedulable"}, {"open", ""}}},
      {"tolerating the unschedulable taint passes",
       setup,
       {.spec = R"({"tolerations":[{"key":"node.kubernetes.io/unschedulable","operator":"Exists","effect":"NoSchedule"}]})"},
       {{"cordoned", ""}, {"open", ""}}},
  });
}

TEST(TaintToleration, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("cp", {.taints = R"([{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}])"});
    k.add_node("gpu", {.taints = R"([{"key":"dedicated","value":"gpu","effect":"NoExecute"}])"});
    k.add_node("soft", {.taints = R"([{"key":"spot","value":"true","effect":"PreferNoSchedule"}])"});
    k.add_node("down", {.ready = "False"});
  };
  run({
      {"untolerated NoSchedule/NoExecute reject; PreferNoSchedule does not",
       setup,
       {},
       {{"cp", "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
        {"gpu", "node(s) had untolerated taint {dedicated: gpu}"},
        {"soft", ""},
        {"down", "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}}},
      {"tolerations by key/value and by Exists",
       setup,
       {.spec = R"({"tolerations":[{"key":"dedicated","operator":"Equal","value":"gpu"},
                                   {"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}]})"},
       {{"cp", ""}, {"gpu", ""}, {"soft", ""}, {"down", "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}}},
      {"a toleration for the wrong effect does not help",
       setup,
       {.spec = R"({"tolerations":[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]})"},
       {{"cp", "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
        {"gpu", "node(s) had untolerated taint {dedicated: gpu}"},
        {"soft", ""},
        {"down", "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}}},
      {"tolerate everything (as DaemonSets often do)",
       setup,
       {.spec = R"({"tolerations":[{"operator":"Exists"}]})"},
       {{"cp", ""}, {"gpu", ""}, {"soft", ""}, {"down", ""}}},
  });
}

TEST(NodeAffinity, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("a1", {.labels = {{"zone", "a"}, {"disk", "ssd"}, {"cores", "8"}}});
    k.add_node("a2", {.labels = {{"zone", "a"}, {"cores", "2"}}});
    k.add_node("b1", {.labels = {{"zone", "b"}, {"disk", "hdd"}, {"cores", "16"}}});
  };
  const std::string no = "node(s) didn't match Pod's node affinity/selector";
  auto required = [](const std::string& terms) {
    return R"({"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":)" + terms +
           "}}}}";
  };
  run({
      {"nodeSelector", setup, {.spec = R"({"nodeSelector":{"zone":"a","disk":"ssd"}})"}, {{"a1", ""}, {"a2", no}, {"b1", no}}},
      {"nodeSelector with an unknown value", setup, {.spec = R"({"nodeSelector":{"zone":"c"}})"}, {{"a1", no}, {"a2", no}, {"b1", no}}},
      {"In", setup, {.spec = required(R"([{"matchExpressions":[{"key":"zone","operator":"In","values":["b","c"]}]}])")},
       {{"a1", no}, {"a2", no}, {"b1", ""}}},
      {"NotIn matches nodes without the label", setup,
       {.spec = required(R"([{"matchExpressions":[{"key":"disk","operator":"NotIn","values":["hdd"]}]}])")},
       {{"a1", ""}, {"a2", ""}, {"b1", no}}},
      {"Exists / DoesNotExist", setup,
       {.spec = required(R"([{"matchExpressions":[{"key":"disk","operator":"DoesNotExist"},{"key":"zone","operator":"Exists"}]}])")},
       {{"a1", no}, {"a2", ""}, {"b1", no}}},
      {"Gt / Lt compare integers", setup,
       {.spec = required(R"([{"matchExpressions":[{"key":"cores","operator":"Gt","values":["4"]},{"key":"cores","operator":"Lt","values":["10"]}]}])")},
       {{"a1", ""}, {"a2", no}, {"b1", no}}},
      {"terms are ORed", setup,
       {.spec = required(R"([{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]},
                             {"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}])")},
       {{"a1", ""}, {"a2", no}, {"b1", ""}}},
      {"matchFields metadata.name", setup,
       {.spec = required(R"([{"matchFields":[{"key":"metadata.name","operator":"In","values":["a2"]}]}])")},
       {{"a1", no}, {"a2", ""}, {"b1", no}}},
      {"an empty term matches nothing", setup, {.spec = required(R"([{}])")}, {{"a1", no}, {"a2", no}, {"b1", no}}},
      {"nodeSelector and affinity both apply", setup,
       {.spec = R"({"nodeSelector":{"zone":"a"},"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
           {"nodeSelectorTerms":[{"matchExpressions":[{"key":"disk","operator":"Exists"}]}]}}}})"},
       {{"a1", ""}, {"a2", no}, {"b1", no}}},
  });
}

TEST(NodePorts, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("wild");
    k.add_node("specific");
    k.add_node("udp");
    k.add_pod("w", "wild", {.ports = R"([{"containerPort":80,"hostPort":8080}])"});
    k.add_pod("s", "specific", {.ports = R"([{"containerPort":80,"hostPort":8080,"hostIP":"10.0.0.1"}])"});
    k.add_pod("u", "udp", {.ports = R"([{"containerPort":80,"hostPort":8080,"protocol":"UDP"}])"});
  };
  const std::string no = "node(s) didn't have free ports for the requested pod ports";
  run({
      {"wildcard host IP conflicts with everything on the port", setup,
       {.ports = R"([{"containerPort":80,"hostPort":8080}])"}, {{"wild", no}, {"specific", no}, {"udp", ""}}},
      {"different specific IPs do not conflict", setup,
       {.ports = R"([{"containerPort":80,"hostPort":8080,"hostIP":"10.0.0.2"}])"}, {{"wild", no}, {"specific", ""}, {"udp", ""}}},
      {"protocol matters", setup,
       {.ports = R"([{"containerPort":80,"hostPort":8080,"protocol":"UDP"}])"}, {{"wild", ""}, {"specific", ""}, {"udp", no}}},
  });
}

TEST(InterPodAffinity, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("a1", {.labels = {{"zone", "a"}}});
    k.add_node("a2", {.labels = {{"zone", "a"}}});
    k.add_node("b1", {.labels = {{"zone", "b"}}});
    k.add_node("nozone");
    k.add_pod("web-1", "a1", {.labels = {{"app", "web"}}});
  };
  auto anti = [](const std::string& key, const std::string& extra = "") {
    return R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":")" +
           key + "\"" + extra + "}]}}}";
  };
  auto aff = [](const std::string& app, const std::string& key) {
    return R"({"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":")" + app +
           R"("}},"topologyKey":")" + key + R"("}]}}})";
  };
  const std::string anti_no = "node(s) didn't match pod anti-affinity rules";
  const std::string aff_no = "node(s) didn't match pod affinity rules";
  const std::string existing_no = "node(s) didn't satisfy existing pods anti-affinity rules";
  run({
      {"anti-affinity per host", setup, {.labels = {{"app", "web"}}, .spec = anti("kubernetes.io/hostname")},
       {{"a1", anti_no}, {"a2", ""}, {"b1", ""}, {"nozone", ""}}},
      {"anti-affinity per zone; nodes without the key cannot conflict", setup, {.labels = {{"app", "web"}}, .spec = anti("zone")},
       {{"a1", anti_no}, {"a2", anti_no}, {"b1", ""}, {"nozone", ""}}},
      {"anti-affinity terms only see their namespaces", setup,
       {.ns = "other", .labels = {{"app", "web"}}, .spec = anti("zone")},
       {{"a1", ""}, {"a2", ""}, {"b1", ""}, {"nozone", ""}}},
      {"namespaceSelector {} sees every namespace", setup,
       {.ns = "other", .labels = {{"app", "web"}}, .spec = anti("zone", R"(,"namespaceSelector":{})")},
       {{"a1", anti_no}, {"a2", anti_no}, {"b1", ""}, {"nozone", ""}}},
      {"affinity to existing pods' zone; nodes without the key fail", setup, {.spec = aff("web", "zone")},
       {{"a1", ""}, {"a2", ""}, {"b1", aff_no}, {"nozone", aff_no}}},
      {"affinity with no matching pod anywhere fails", setup, {.spec = aff("db", "zone")},
       {{"a1", aff_no}, {"a2", aff_no}, {"b1", aff_no}, {"nozone", aff_no}}},
      {"the first pod of a self-affine group may go anywhere with the key", setup,
       {.labels = {{"app", "db"}}, .spec = aff("db", "zone")},
       {{"a1", ""}, {"a2", ""}, {"b1", ""}, {"nozone", aff_no}}},
      {"existing pods' anti-affinity repels the incoming pod",
       [&](Cluster& k) {
         k.add_node("a1", {.labels = {{"zone", "a"}}});
         k.add_node("b1", {.labels = {{"zone", "b"}}});
         k.add_pod("guard", "a1", {.labels = {{"app", "guard"}}, .spec = anti("zone")});
       },
       {.labels = {{"app", "web"}}},
       {{"a1", existing_no}, {"b1", ""}}},
  });
}

TEST(PodTopologySpread, Filter) {
  auto setup = [](Cluster& k) {
    k.add_node("a1", {.labels = {{"zone", "a"}}});
    k.add_node("a2", {.labels = {{"zone", "a"}}});
    k.add_node("b1", {.labels = {{"zone", "b"}}});
    k.add_node("nozone");
    k.add_pod("w1", "a1", {.labels = {{"app", "web"}}});
    k.add_pod("w2", "a2", {.labels = {{"app", "web"}}});
    k.add_pod("other", "b1", {.labels = {{"app", "db"}}});
  };
  auto spread = [](int skew, const std::string& key, const std::string& extra = "") {
    return R"({"topologySpreadConstraints":[{"maxSkew":)" + std::to_string(skew) + R"(,"topologyKey":")" + key +
           R"(","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}})" + extra + "}]}";
  };
  const std::string no = "node(s) didn't match pod topology spread constraints";
  const std::string missing = "node(s) didn't match pod topology spread constraints (missing required label)";
  run({
      {"zone a has 2, zone b 0: skew 1 allows only b", setup, {.labels = {{"app", "web"}}, .spec = spread(1, "zone")},
       {{"a1", no}, {"a2", no}, {"b1", ""}, {"nozone", missing}}},
      {"maxSkew 3 allows both zones", setup, {.labels = {{"app", "web"}}, .spec = spread(3, "zone")},
       {{"a1", ""}, {"a2", ""}, {"b1", ""}, {"nozone", missing}}},
      {"a pod that does not match the selector does not count itself", setup,
       {.labels = {{"app", "other"}}, .spec = spread(2, "zone")},
       {{"a1", ""}, {"a2", ""}, {"b1", ""}, {"nozone", missing}}},
      {"per host", setup, {.labels = {{"app", "web"}}, .spec = spread(1, "kubernetes.io/hostname")},
       {{"a1", no}, {"a2", no}, {"b1", ""}, {"nozone", ""}}},
      {"minDomains above the domain count makes the global minimum 0", setup,
       {.labels = {{"app", "web"}}, .spec = spread(2, "zone", R"(,"minDomains":3)")},
       {{"a1", no}, {"a2", no}, {"b1", ""}, {"nozone", missing}}},
      {"nodeAffinityPolicy Honor: domains outside the pod's nodeSelector do not count",
       setup,
       {.labels = {{"app", "web"}}, .spec = R"({"nodeSelector":{"zone":"a"},"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone",
          "whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}}}]})"},
       {{"a1", ""}, {"a2", ""}, {"b1", "node(s) didn't match Pod's node affinity/selector"},
        {"nozone", "node(s) didn't match Pod's node affinity/selector"}}},
  });
}

}  // namespace
}  // namespace kedge::scheduler

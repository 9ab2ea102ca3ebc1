// Scores, table-driven, with expected values worked out from upstream's
// formulas (each plugin's normalized 0..100 score, before weights).
#include <functional>

#include <gtest/gtest.h>

#include "cluster.h"

namespace kedge::scheduler {
namespace {

using testing::Cluster;
using testing::PodOpts;
using Scores = std::map<std::string, std::int64_t>;

struct Case {
  const char* name;
  std::function<void(Cluster&)> setup;
  PodOpts pod;
  Scores want;
};

void run(std::string_view plugin, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Cluster cluster;
    c.setup(cluster);
    EXPECT_EQ(cluster.scores(c.pod, plugin), c.want);
  }
}

// Upstream's least_allocated_test "differently sized nodes": a pod asking
// 3000m cpu and 5000 bytes on nodes of 4000m/10000 and 6000m/10000.
const auto kSizedNodes = [](Cluster& k) {
  k.add_node("small", {.cpu = "4000m", .memory = "10000"});
  k.add_node("large", {.cpu = "6000m", .memory = "10000"});
};
const PodOpts kSizedPod = {.spec = R"({"containers":[
  {"name":"a","image":"x","resources":{"requests":{"cpu":"1000m","memory":"2000"}}},
  {"name":"b","image":"x","resources":{"requests":{"cpu":"2000m","memory":"3000"}}}]})"};

TEST(NodeResourcesFit, LeastAllocatedScore) {
  run("NodeResourcesFit",
      {
          {"differently sized nodes", kSizedNodes, kSizedPod, {{"small", 37}, {"large", 50}}},
          {"existing pods count, and requests default to 100m/200Mi",
           [](Cluster& k) {
             k.add_node("busy", {.cpu = "1", .memory = "1000Mi"});
             k.add_node("idle", {.cpu = "1", .memory = "1000Mi"});
             k.add_pod("p", "busy");  // no requests: counts as 100m / 200Mi
           },
           {},
           // busy: cpu (1000-200)/1000 -> 80, mem (1000-400)/1000 -> 60 => 70; idle: 90, 80 => 85
           {{"busy", 70}, {"idle", 85}}},
      });
}

TEST(NodeResourcesBalancedAllocation, Score) {
  run("NodeResourcesBalancedAllocation",
      {
          // small: cpu 0.75, memory 0.5 -> std 0.125 -> 87; large: 0.5, 0.5 -> 100
          {"differently sized nodes", kSizedNodes, kSizedPod, {{"small", 87}, {"large", 100}}},
          {"actual requests, not the scoring defaults",
           [](Cluster& k) {
             k.add_node("n", {.cpu = "1000m", .memory = "1000"});
             k.add_pod("p", "n", {.cpu = "500m"});  // memory stays 0 for this plugin
           },
           {.memory = "500"},
           // cpu 0.5, memory 0.5 -> 100 (with the 200Mi default memory would be 1)
           {{"n", 100}}},
      });
}

TEST(TaintToleration, Score) {
  run("TaintToleration",
      {
          {"fewer intolerable PreferNoSchedule taints score higher",
           [](Cluster& k) {
             k.add_node("clean");
             k.add_node("one", {.taints = R"([{"key":"a","value":"1","effect":"PreferNoSchedule"}])"});
             k.add_node("two", {.taints = R"([{"key":"a","value":"1","effect":"PreferNoSchedule"},{"key":"b","effect":"PreferNoSchedule"}])"});
           },
           {},
           {{"clean", 100}, {"one", 50}, {"two", 0}}},
          {"tolerated ones do not count",
           [](Cluster& k) {
             k.add_node("clean");
             k.add_node("one", {.taints = R"([{"key":"a","value":"1","effect":"PreferNoSchedule"}])"});
           },
           {.spec = R"({"tolerations":[{"key":"a","operator":"Equal","value":"1","effect":"PreferNoSchedule"}]})"},
           {{"clean", 100}, {"one", 100}}},
      });
}

TEST(NodeAffinity, PreferredScore) {
  run("NodeAffinity",
      {{"weights of matching terms, normalized to the best node",
        [](Cluster& k) {
          k.add_node("both", {.labels = {{"zone", "a"}, {"disk", "ssd"}}});
          k.add_node("ssd", {.labels = {{"disk", "ssd"}}});
          k.add_node("a", {.labels = {{"zone", "a"}}});
          k.add_node("none");
        },
        {.spec = R"({"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
            {"weight":2,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}},
            {"weight":8,"preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}}]}}})"},
        {{"both", 100}, {"ssd", 80}, {"a", 20}, {"none", 0}}}});
}

TEST(InterPodAffinity, PreferredScore) {
  auto setup = [](Cluster& k) {
    k.add_node("a1", {.labels = {{"zone", "a"}}});
    k.add_node("a2", {.labels = {{"zone", "a"}}});
    k.add_node("b1", {.labels = {{"zone", "b"}}});
    k.add_pod("db", "a1", {.labels = {{"app", "db"}}});
  };
  auto pref = [](const char* kind) {
    return std::string(R"({"affinity":{")") + kind +
           R"(":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"podAffinityTerm":{
             "labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"zone"}}]}}})";
  };
  run("InterPodAffinity",
      {
          {"affinity pulls to the zone", setup, {.spec = pref("podAffinity")}, {{"a1", 100}, {"a2", 100}, {"b1", 0}}},
          {"anti-affinity pushes away", setup, {.spec = pref("podAntiAffinity")}, {{"a1", 0}, {"a2", 0}, {"b1", 100}}},
          {"existing pods' preferred terms attract matching pods",
           [](Cluster& k) {
             k.add_node("a1", {.labels = {{"zone", "a"}}});
             k.add_node("b1", {.labels = {{"zone", "b"}}});
             k.add_pod("cache", "b1", {.labels = {{"app", "cache"}}, .spec = R"({"affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[
               {"weight":5,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"zone"}}]}}})"});
           },
           {.labels = {{"app", "db"}}},
           {{"a1", 0}, {"b1", 100}}},
          {"no terms anywhere: all zero", setup, {}, {{"a1", 0}, {"a2", 0}, {"b1", 0}}},
      });
}

TEST(PodTopologySpread, ScheduleAnywayScore) {
  run("PodTopologySpread",
      {{"per host: fewer matching pods score higher",
        [](Cluster& k) {
          k.add_node("n0");
          k.add_node("n1");
          k.add_node("n2");
          k.add_pod("w1", "n1", {.labels = {{"app", "web"}}});
          k.add_pod("w2", "n2", {.labels = {{"app", "web"}}});
          k.add_pod("w3", "n2", {.labels = {{"app", "web"}}});
        },
        {.labels = {{"app", "web"}}, .spec = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname",
            "whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}]})"},
        // raw = count*ln(3+2): 0, 1.61->2, 3.22->3; normalized 100*(3+0-raw)/3
        {{"n0", 100}, {"n1", 33}, {"n2", 0}}},
       {"nodes without the topology key score 0",
        [](Cluster& k) {
          k.add_node("a1", {.labels = {{"zone", "a"}}});
          k.add_node("b1", {.labels = {{"zone", "b"}}});
          k.add_node("nozone");
          k.add_pod("w1", "a1", {.labels = {{"app", "web"}}});
        },
        {.labels = {{"app", "web"}}, .spec = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone",
            "whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}]})"},
        // raw: a1 = 1*ln(4) = 1.39 -> 1, b1 = 0; normalized a1 100*(1+0-1)/1 = 0, b1 100
        {{"a1", 0}, {"b1", 100}, {"nozone", 0}}}});
}

TEST(ImageLocality, Score) {
  run("ImageLocality",
      {{"a big image present on half the nodes",
        [](Cluster& k) {
          k.add_node("has", {.images = R"([{"names":["registry.local/app:v1"],"sizeBytes":524288000}])"});
          k.add_node("lacks");
        },
        {.image = "registry.local/app:v1"},
        // 500 MiB * 1/2 nodes = 250 MiB; 100 * (250-23)/(1000-23) = 23
        {{"has", 23}, {"lacks", 0}}}});
}

}  // namespace
}  // namespace kedge::scheduler

// The whole cycle: choice, tie-breaking, the FitError message, and a pod that
// fits nowhere until the cache frees room.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "cluster.h"
#include "kedge/scheduler/queue.h"

namespace kedge::scheduler {
namespace {

using testing::Cluster;
using testing::NodeOpts;
using testing::PodOpts;

TEST(Scheduler, UnschedulableMessageHasUpstreamsFormat) {
  Cluster k;
  k.add_node("worker", {.cpu = "2"});
  k.add_pod("busy", "worker", {.cpu = "1500m"});
  const NodeOpts cp{.taints = R"([{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}])"};
  k.add_node("cp1", cp);
  k.add_node("cp2", cp);
  auto r = k.schedule("p", {.cpu = "1"});
  ASSERT_EQ(r.outcome, ScheduleResult::Outcome::kUnschedulable);
  EXPECT_EQ(r.message,
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint "
            "{node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: "
            "1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.");
  EXPECT_EQ(r.rejected_by, (std::vector<Plugin>{Plugin::kTaintToleration, Plugin::kNodeResourcesFit}));
  EXPECT_EQ(r.nodes_evaluated, 3);
}

TEST(Scheduler, RequestsLargerThanANodeAreNotHelpedByPreemption) {
  Cluster k;
  k.add_node("small", {.cpu = "1", .memory = "1Gi"});
  k.add_node("big", {.cpu = "8", .memory = "1Gi"});
  k.add_pod("hog", "big", {.cpu = "7"});  // cpu could be freed on big, but no node has 2Gi of memory
  auto r = k.schedule("p", {.cpu = "2", .memory = "2Gi"});
  ASSERT_EQ(r.outcome, ScheduleResult::Outcome::kUnschedulable);
  EXPECT_EQ(r.message,
            "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory. preemption: 0/2 nodes are available: "
            "2 Preemption is not helpful for scheduling.");
}

TEST(Scheduler, PreemptionPolicyNeverSaysSo) {
  Cluster k;
  k.add_node("n1", {.unschedulable = true});
  auto r = k.schedule("p", {.spec = R"({"preemptionPolicy":"Never"})"});
  EXPECT_EQ(r.message, "0/1 nodes are available: 1 node(s) were unschedulable. preemption: not eligible due to preemptionPolicy=Never.");
}

TEST(Scheduler, NoNodes) {
  Cluster k;
  auto r = k.schedule("p", {});
  EXPECT_EQ(r.outcome, ScheduleResult::Outcome::kUnschedulable);
  EXPECT_EQ(r.message, "no nodes available to schedule pods");
}

TEST(Scheduler, OtherSchedulersPodsAreRefused) {
  Cluster k;
  k.add_node("n1");
  auto r = k.schedule("p", {.spec = R"({"schedulerName":"my-scheduler"})"});
  EXPECT_EQ(r.outcome, ScheduleResult::Outcome::kError);
  EXPECT_NE(r.message.find("my-scheduler"), std::string::npos);
}

TEST(Scheduler, PicksTheBestScoredNode) {
  Cluster k;
  k.add_node("full", {.cpu = "4", .memory = "8Gi"});
  k.add_node("empty", {.cpu = "4", .memory = "8Gi"});
  k.add_pod("a", "full", {.cpu = "3", .memory = "6Gi"});
  for (int i = 0; i < 5; ++i) {
    auto r = k.schedule("p" + std::to_string(i), {.cpu = "100m", .memory = "100Mi"});
    ASSERT_TRUE(r.scheduled()) << r.message;
    EXPECT_EQ(r.node, "empty");
  }
}

TEST(Scheduler, TiesAreBrokenRandomlyButReproduciblyWithASeed) {
  auto run = [](std::uint64_t seed) {
    Cluster k({.seed = seed});
    for (int i = 0; i < 8; ++i) k.add_node("n" + std::to_string(i));
    std::vector<std::string> picks;
    for (int i = 0; i < 40; ++i) picks.push_back(k.schedule("p", {}).node);  // never assumed: all nodes stay equal
    return picks;
  };
  auto a = run(7), b = run(7), c = run(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_GE(distinct.size(), 4u) << "ties should spread over the equal nodes";
}

TEST(Scheduler, NodesToFindFollowsUpstreamsAdaptivePercentage) {
  EXPECT_EQ(Scheduler::nodes_to_find(50, 0), 50);
  EXPECT_EQ(Scheduler::nodes_to_find(200, 0), 100);    // 48% = 96 -> at least 100
  EXPECT_EQ(Scheduler::nodes_to_find(1000, 0), 420);   // 50 - 1000/125 = 42%
  EXPECT_EQ(Scheduler::nodes_to_find(5000, 0), 500);   // 10%
  EXPECT_EQ(Scheduler::nodes_to_find(10000, 0), 500);  // floor of 5%
  EXPECT_EQ(Scheduler::nodes_to_find(1000, 100), 1000);
  EXPECT_EQ(Scheduler::nodes_to_find(1000, 30), 300);
}

TEST(Scheduler, StopsAfterEnoughFeasibleNodesAndRotatesTheStart) {
  Cluster k;
  for (int i = 0; i < 1000; ++i) k.add_node("n" + std::to_string(i));
  auto r1 = k.schedule("p", {});
  ASSERT_TRUE(r1.scheduled());
  EXPECT_EQ(r1.nodes_evaluated, 420);
  EXPECT_EQ(r1.feasible_nodes, 420);
  // A pod that fits nowhere looks at every node.
  auto r2 = k.schedule("q", {.cpu = "64"});
  EXPECT_EQ(r2.nodes_evaluated, 1000);
  EXPECT_EQ(r2.message.rfind("0/1000 nodes are available: 1000 Insufficient cpu.", 0), 0u) << r2.message;
}

TEST(Scheduler, AssumedPodsCountAtOnceAndForgetFreesThem) {
  Cluster k;
  k.add_node("n1", {.cpu = "1"});
  auto p = testing::pod("p", {.cpu = "800m"});
  auto r = k.scheduler().schedule(*p);
  ASSERT_TRUE(r.scheduled());
  ASSERT_TRUE(k.cache().assume_pod(p, r.node).ok());
  EXPECT_TRUE(k.cache().is_assumed("default/p"));
  auto r2 = k.schedule("q", {.cpu = "800m"});
  EXPECT_EQ(r2.outcome, ScheduleResult::Outcome::kUnschedulable);
  k.cache().forget_pod("default/p");
  EXPECT_TRUE(k.schedule("q", {.cpu = "800m"}).scheduled());
  // Confirmation by the informer replaces the assumed pod, without double counting.
  ASSERT_TRUE(k.cache().assume_pod(p, "n1").ok());
  testing::bind(k.cache(), "p", "n1", {.cpu = "800m"});
  EXPECT_FALSE(k.cache().is_assumed("default/p"));
  EXPECT_EQ(k.cache().requested_on("n1")->milli_cpu, 800);
}

TEST(Scheduler, AntiAffinityReplicasSpreadOnePerNodeThenFail) {
  Cluster k;
  for (int i = 0; i < 3; ++i) k.add_node("n" + std::to_string(i));
  const PodOpts replica{.labels = {{"app", "web"}}, .spec = R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
      {"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}]}}})"};
  std::set<std::string> used;
  for (int i = 0; i < 3; ++i) {
    auto p = testing::pod("web-" + std::to_string(i), replica);
    auto r = k.scheduler().schedule(*p);
    ASSERT_TRUE(r.scheduled()) << r.message;
    used.insert(r.node);
    ASSERT_TRUE(k.cache().assume_pod(p, r.node).ok());
  }
  EXPECT_EQ(used.size(), 3u);
  auto r = k.schedule("web-3", replica);
  EXPECT_EQ(r.message,
            // Its own anti-affinity is checked before the replicas' (upstream's order).
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod.");
}

TEST(Scheduler, SpreadConstraintBalancesZones) {
  Cluster k;
  for (const char* z : {"a", "b", "c"}) {
    for (int i = 0; i < 2; ++i) k.add_node(std::string(z) + std::to_string(i), {.labels = {{"zone", z}}});
  }
  const PodOpts replica{.labels = {{"app", "web"}}, .spec = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone",
      "whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}}}]})"};
  std::map<char, int> per_zone;
  for (int i = 0; i < 9; ++i) {
    auto p = testing::pod("web-" + std::to_string(i), replica);
    auto r = k.scheduler().schedule(*p);
    ASSERT_TRUE(r.scheduled()) << r.message;
    ASSERT_TRUE(k.cache().assume_pod(p, r.node).ok());
    ++per_zone[r.node[0]];
    int lo = 100, hi = 0;
    for (char z : {'a', 'b', 'c'}) {
      lo = std::min(lo, per_zone[z]);
      hi = std::max(hi, per_zone[z]);
    }
    EXPECT_LE(hi - lo, 1) << "after " << i + 1 << " pods";
  }
}

// The acceptance path: a pod that fits nowhere is parked by the queue with
// upstream's message, and schedules once a bound pod is deleted (through the
// cache) and the queue hears about it.
TEST(Scheduler, PodThatFitsNowhereSchedulesOnceANodeFreesUp) {
  SteadyTime t0{};
  SteadyTime now = t0;
  SchedulingQueue queue({.now = [&] { return now; }});
  Cluster k;
  k.add_node("n1", {.cpu = "2"});
  k.add_node("n2", {.cpu = "2"});
  k.add_pod("big-1", "n1", {.cpu = "1500m"});
  k.add_pod("big-2", "n2", {.cpu = "1500m"});

  queue.add(testing::pod("waiting", {.cpu = "1"}));
  auto qp = queue.pop();
  ASSERT_TRUE(qp);
  auto r = k.scheduler().schedule(*qp->pod);
  ASSERT_EQ(r.outcome, ScheduleResult::Outcome::kUnschedulable);
  EXPECT_EQ(r.message, "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
  queue.add_unschedulable(*qp, r);
  EXPECT_EQ(queue.unschedulable_size(), 1u);
  now += std::chrono::seconds(30);
  EXPECT_FALSE(queue.pop()) << "nothing changed: the pod stays parked";

  // An unrelated change does not wake it; a deleted pod does.
  queue.on_event(ClusterEvent::kAssignedPodAdded);
  EXPECT_EQ(queue.unschedulable_size(), 1u);
  k.cache().remove_pod("default/big-2");
  queue.on_event(ClusterEvent::kAssignedPodDeleted);
  auto again = queue.pop();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  auto r2 = k.scheduler().schedule(*again->pod);
  ASSERT_TRUE(r2.scheduled()) << r2.message;
  EXPECT_EQ(r2.node, "n2");
  ASSERT_TRUE(k.cache().assume_pod(again->pod, r2.node).ok());
  queue.done(again->pod->key());
  EXPECT_FALSE(queue.contains("default/waiting"));
}

TEST(Scheduler, CompletedPodsFreeTheirNode) {
  Cluster k;
  k.add_node("n1", {.cpu = "1"});
  k.add_pod("job-1", "n1", {.cpu = "1"});
  EXPECT_EQ(k.schedule("p", {.cpu = "500m"}).outcome, ScheduleResult::Outcome::kUnschedulable);
  auto done = testing::pod_json("job-1", {.cpu = "1", .node_name = "n1"});
  done.as_object()["status"] = testing::J(R"({"phase":"Succeeded"})");
  ASSERT_TRUE(k.cache().add_pod(done).ok());
  EXPECT_FALSE(k.cache().has_pod("default/job-1"));
  EXPECT_TRUE(k.schedule("p", {.cpu = "500m"}).scheduled());
}

TEST(Scheduler, NodeLabelChangesMoveExistingPodsTopology) {
  Cluster k;
  k.add_node("n1", {.labels = {{"zone", "a"}}});
  k.add_node("n2", {.labels = {{"zone", "b"}}});
  k.add_pod("guard", "n1", {.labels = {{"app", "guard"}}, .spec = R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
      {"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"zone"}]}}})"});
  auto before = k.verdicts({.labels = {{"app", "web"}}});
  EXPECT_EQ(before["n1"], "node(s) didn't satisfy existing pods anti-affinity rules");
  EXPECT_EQ(before["n2"], "");
  // n1 moves to zone b: the guard now repels zone b.
  k.add_node("n1", {.labels = {{"zone", "b"}}});
  auto after = k.verdicts({.labels = {{"app", "web"}}});
  EXPECT_EQ(after["n1"], "node(s) didn't satisfy existing pods anti-affinity rules");
  EXPECT_EQ(after["n2"], "node(s) didn't satisfy existing pods anti-affinity rules");
  k.cache().remove_pod("default/guard");
  auto gone = k.verdicts({.labels = {{"app", "web"}}});
  EXPECT_EQ(gone["n1"], "");
  EXPECT_EQ(gone["n2"], "");
}

}  // namespace
}  // namespace kedge::scheduler

namespace kedge::scheduler {
namespace {

// Invariants over a random mixed workload on a small cluster (every node is
// evaluated below 100 nodes): the chosen node passes every filter and has the
// best total score; "unschedulable" means no node passes.
TEST(Scheduler, RandomWorkloadPlacementsAreFeasibleAndBestScored) {
  testing::Cluster k({.seed = 3});
  const char* zones[] = {"a", "b", "c"};
  for (int i = 0; i < 30; ++i) {
    std::string taints = i % 6 == 0 ? R"([{"key":"dedicated","value":"edge","effect":"NoSchedule"}])"
                                    : (i % 5 == 0 ? R"([{"key":"spot","effect":"PreferNoSchedule"}])" : "[]");
    k.add_node("n" + std::to_string(i), {.cpu = std::to_string(2 + i % 3), .memory = std::to_string(4 + i % 4) + "Gi",
                                         .labels = {{"zone", zones[i % 3]}, {"disk", i % 2 ? "ssd" : "hdd"}}, .taints = taints});
  }
  std::uint64_t rng = 12345;
  auto next = [&] { return (rng = rng * 6364136223846793005ULL + 1442695040888963407ULL) >> 33; };
  int scheduled = 0, unschedulable = 0;
  for (int i = 0; i < 300; ++i) {
    std::string app = "app" + std::to_string(next() % 8);
    std::string spec;
    switch (next() % 6) {
      case 0: spec = R"({"nodeSelector":{"disk":"ssd"}})"; break;
      case 1: spec = R"({"tolerations":[{"key":"dedicated","operator":"Exists"}]})"; break;
      case 2:
        spec = R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":")" +
               app + R"("}},"topologyKey":"kubernetes.io/hostname"}]}}})";
        break;
      case 3:
        spec = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":")" +
               app + R"("}}},{"maxSkew":2,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":")" + app + R"("}}}]})";
        break;
      case 4:
        spec = R"({"affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":30,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":")" +
               app + R"("}},"topologyKey":"zone"}}]}}})";
        break;
      default: spec = "{}";
    }
    testing::PodOpts opts{.cpu = std::to_string(100 + 100 * (next() % 8)) + "m", .memory = std::to_string(256 * (1 + next() % 4)) + "Mi",
                          .labels = {{"app", app}}, .spec = spec};
    auto p = testing::pod("p" + std::to_string(i), opts);
    ASSERT_TRUE(p);
    auto evals = k.scheduler().evaluate(*p);
    auto r = k.scheduler().schedule(*p);
    std::int64_t best = -1;
    for (const auto& ev : evals) {
      if (ev.feasible) best = std::max(best, ev.total);
    }
    if (!r.scheduled()) {
      EXPECT_EQ(best, -1) << "unschedulable but a node was feasible: " << r.message;
      ++unschedulable;
      continue;
    }
    auto chosen = std::find_if(evals.begin(), evals.end(), [&](const NodeEvaluation& ev) { return ev.node == r.node; });
    ASSERT_NE(chosen, evals.end());
    EXPECT_TRUE(chosen->feasible) << r.node;
    EXPECT_EQ(chosen->total, best) << r.node;
    ASSERT_TRUE(k.cache().assume_pod(p, r.node).ok());
    ++scheduled;
  }
  EXPECT_GT(scheduled, 100);
  EXPECT_GT(unschedulable, 0) << "the cluster should fill up";
}

}  // namespace
}  // namespace kedge::scheduler

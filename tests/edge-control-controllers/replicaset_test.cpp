// ReplicaSet controller against the in-memory API: what a user would see in
// pods and status after each sync.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/replicaset.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTransport;

json::value make_rs(int replicas, int min_ready = 0) {
  json::value rs = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "ReplicaSet",
    "metadata": {"name": "web", "namespace": "ns", "generation": 1},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})");
  rs.as_object()["spec"].as_object()["replicas"] = replicas;
  if (min_ready) rs.as_object()["spec"].as_object()["minReadySeconds"] = min_ready;
  return rs;
}

class ReplicaSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    controller_.register_watches();
  }
  void drain() {
    for (int i = 0; i < 100 && controller_.process_one(); ++i) {
    }
  }
  std::vector<Object> pods() { return t_.list(pods_resource(), "ns"); }
  Object rs() { return t_.get(replicasets_resource(), "ns", "web"); }
  std::int64_t status_of(const char* field) {
    auto* st = rs()->as_object().if_contains("status");
    if (!st || !st->as_object().contains(field)) return 0;
    return st->as_object().at(field).as_int64();
  }
  void set_replicas(int n) {
    json::value v = *rs();
    v.as_object()["spec"].as_object()["replicas"] = n;
    ASSERT_TRUE(t_.update(replicasets_resource(), v).ok());
  }
  // What a kubelet reports for a pod.
  void set_pod(const Object& p, std::string node, std::string phase, bool ready, std::chrono::seconds ready_for) {
    json::value v = *p;
    if (!node.empty()) v.as_object()["spec"].as_object()["nodeName"] = node;
    json::array conds;
    conds.push_back(json::object{{"type", "Ready"},
                                 {"status", ready ? "True" : "False"},
                                 {"lastTransitionTime", api::format_rfc3339(now_ - ready_for)}});
    v.as_object()["status"] = json::object{{"phase", phase}, {"conditions", std::move(conds)}};
    t_.put(pods_resource(), std::move(v));
  }

  SystemTime now_ = std::chrono::system_clock::now();
  FakeTransport t_;
  ReplicaSetController controller_{t_, {.now = [this] { return now_; }}};
};

TEST_F(ReplicaSetTest, CreatesPodsFromTemplateWithControllerOwner) {
  t_.put(replicasets_resource(), make_rs(3));
  drain();
  auto ps = pods();
  ASSERT_EQ(ps.size(), 3u);
  for (const auto& p : ps) {
    EXPECT_EQ(api::get_name(*p).substr(0, 4), "web-");
    EXPECT_EQ(api::get_label(*p, "tier"), "fe");
    auto ref = api::get_controller_ref(*p);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->kind, "ReplicaSet");
    EXPECT_EQ(ref->api_version, "apps/v1");
    EXPECT_EQ(ref->name, "web");
    EXPECT_EQ(ref->uid, api::get_uid(*rs()));
    EXPECT_TRUE(ref->block_owner_deletion);
    EXPECT_EQ(p->at("spec").at("containers").at(0).at("image"), "busybox");
  }
  EXPECT_EQ(status_of("replicas"), 3);
  EXPECT_EQ(status_of("fullyLabeledReplicas"), 3);
  EXPECT_EQ(status_of("readyReplicas"), 0);
  EXPECT_EQ(status_of("observedGeneration"), 1);
  // Nothing more to do: a resync writes nothing.
  int writes = t_.writes("create") + t_.writes("update_status");
  controller_.resync_all();
  drain();
  EXPECT_EQ(t_.writes("create") + t_.writes("update_status"), writes);
}

TEST_F(ReplicaSetTest, ExpectationsPreventDoubleCreateWhileCacheLags) {
  t_.put(replicasets_resource(), make_rs(3));
  t_.set_lagging(true);
  ASSERT_TRUE(controller_.sync("ns/web").ok());
  EXPECT_EQ(t_.writes("create"), 3);
  // The cache does not show the pods yet; without expectations this would create 3 more.
  ASSERT_TRUE(controller_.sync("ns/web").ok());
  EXPECT_EQ(t_.writes("create"), 3);
  t_.set_lagging(false);
  t_.catch_up();
  drain();
  EXPECT_EQ(t_.writes("create"), 3);
  EXPECT_EQ(pods().size(), 3u);
}

TEST_F(ReplicaSetTest, ScaleDownDeletesUnscheduledAndNotReadyFirst) {
  t_.put(replicasets_resource(), make_rs(4));
  drain();
  auto ps = pods();
  ASSERT_EQ(ps.size(), 4u);
  set_pod(ps[0], "n1", "Running", true, 3600s);
  set_pod(ps[1], "n2", "Running", true, 3600s);
  set_pod(ps[2], "", "Pending", false, 0s);           // unscheduled
  set_pod(ps[3], "n3", "Running", false, 0s);         // not ready
  std::string keep1(api::get_name(*ps[0])), keep2(api::get_name(*ps[1]));
  drain();
  set_replicas(2);
  drain();
  auto left = pods();
  ASSERT_EQ(left.size(), 2u);
  std::set<std::string> names;
  for (auto& p : left) names.emplace(api::get_name(*p));
  EXPECT_EQ(names, (std::set<std::string>{keep1, keep2}));
  EXPECT_EQ(status_of("replicas"), 2);
  EXPECT_EQ(status_of("readyReplicas"), 2);
  EXPECT_EQ(status_of("availableReplicas"), 2);
}

TEST_F(ReplicaSetTest, AdoptsMatchingOrphansAndReleasesPodsThatStopMatching) {
  json::value orphan = json::parse(R"({"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":"stray","namespace":"ns","labels":{"app":"web"}},"spec":{}})");
  t_.put(pods_resource(), orphan);
  json::value other = json::parse(R"({"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":"unrelated","namespace":"ns","labels":{"app":"db"}},"spec":{}})");
  t_.put(pods_resource(), other);
  t_.put(replicasets_resource(), make_rs(1));
  drain();
  ASSERT_EQ(pods().size(), 2u);  // adopted, no new pod
  auto stray = t_.get(pods_resource(), "ns", "stray");
  auto ref = api::get_controller_ref(*stray);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->uid, api::get_uid(*rs()));
  EXPECT_FALSE(api::get_controller_ref(*t_.get(pods_resource(), "ns", "unrelated")));

  // Relabel it: the ReplicaSet lets go and replaces it.
  json::value relabeled = *stray;
  api::set_label(relabeled, "app", "debug");
  t_.put(pods_resource(), relabeled);
  drain();
  EXPECT_FALSE(api::get_controller_ref(*t_.get(pods_resource(), "ns", "stray")));
  EXPECT_EQ(pods().size(), 3u);
  EXPECT_EQ(status_of("replicas"), 1);
}

TEST_F(ReplicaSetTest, FailingCreatesSlowStartAndBackOff) {
  t_.fail_creates(1000, invalid_argument("pods \"web-\" is forbidden: exceeded quota"));
  t_.put(replicasets_resource(), make_rs(10));
  auto s = controller_.sync("ns/web");
  EXPECT_FALSE(s.ok());
  // Slow start: the first batch is one pod; its failure stops the rest.
  EXPECT_EQ(t_.writes("create"), 1);
  EXPECT_TRUE(controller_.expectations().satisfied("ns/web"));
  // Through the queue, the failure is retried with backoff, not at once.
  controller_.queue().add("ns/web");
  ASSERT_TRUE(controller_.process_one());
  EXPECT_EQ(controller_.queue().size(), 0u);
  EXPECT_EQ(controller_.queue().delayed(), 1u);
  EXPECT_EQ(controller_.queue().num_requeues("ns/web"), 1);
}

TEST_F(ReplicaSetTest, AvailableWaitsForMinReadySeconds) {
  t_.put(replicasets_resource(), make_rs(2, /*min_ready=*/10));
  drain();
  auto ps = pods();
  ASSERT_EQ(ps.size(), 2u);
  set_pod(ps[0], "n1", "Running", true, 5s);
  set_pod(ps[1], "n1", "Running", true, 60s);
  drain();
  EXPECT_EQ(status_of("readyReplicas"), 2);
  EXPECT_EQ(status_of("availableReplicas"), 1);
  EXPECT_GE(controller_.queue().delayed(), 1u);  // rechecked when the first becomes available
  now_ += 6s;
  ASSERT_TRUE(controller_.sync("ns/web").ok());
  EXPECT_EQ(status_of("availableReplicas"), 2);
}

TEST_F(ReplicaSetTest, DeletedReplicaSetIsANoOp) {
  EXPECT_TRUE(controller_.sync("ns/missing").ok());
  EXPECT_EQ(t_.writes("create"), 0);
}

}  // namespace
}  // namespace kedge::controllers

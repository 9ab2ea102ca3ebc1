// Garbage collector with the Deployment and ReplicaSet controllers: what
// `kubectl delete deployment --cascade=background|foreground|orphan` leaves.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/deployment.h"
#include "kedge/controllers/garbage_collector.h"
#include "kedge/controllers/replicaset.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rs_.register_watches();
    d_.register_watches();
    gc_.register_watches();
    json::value d = json::parse(R"({
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web", "namespace": "ns", "generation": 1},
      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "v1"}]}}}})");
    t_.put(deployments_resource(), d);
    settle();
    ASSERT_EQ(t_.list(replicasets_resource(), "ns").size(), 1u);
    ASSERT_EQ(t_.list(pods_resource(), "ns").size(), 3u);
  }
  void settle() {
    for (int round = 0; round < 200; ++round) {
      bool any = false;
      while (rs_.process_one()) any = true;
      while (d_.process_one()) any = true;
      while (gc_.process_one()) any = true;
      if (!any) return;
    }
    FAIL() << "did not settle";
  }
  void delete_deployment(const std::string& policy) {
    ASSERT_TRUE(t_.remove(deployments_resource(), "ns", "web", DeleteOptions{.propagation_policy = policy}).ok());
  }

  FakeTransport t_;
  ReplicaSetController rs_{t_};
  DeploymentController d_{t_};
  GarbageCollector gc_{t_};
};

TEST_F(GcTest, BackgroundDeletesReplicaSetsAndPods) {
  delete_deployment("Background");
  EXPECT_FALSE(t_.get(deployments_resource(), "ns", "web"));  // gone at once
  settle();
  EXPECT_EQ(t_.list(replicasets_resource(), "ns").size(), 0u);
  EXPECT_EQ(t_.list(pods_resource(), "ns").size(), 0u);
}

TEST_F(GcTest, ForegroundKeepsOwnerUntilDependentsAreGone) {
  delete_deployment("Foreground");
  auto d = t_.get(deployments_resource(), "ns", "web");
  ASSERT_TRUE(d);
  EXPECT_TRUE(api::has_finalizer(*d, "foregroundDeletion"));
  EXPECT_TRUE(api::get_deletion_timestamp(*d));
  settle();
  EXPECT_EQ(t_.list(pods_resource(), "ns").size(), 0u);
  EXPECT_EQ(t_.list(replicasets_resource(), "ns").size(), 0u);
  EXPECT_FALSE(t_.get(deployments_resource(), "ns", "web"));
}

TEST_F(GcTest, OrphanLeavesReplicaSetsAndPodsWithoutOwner) {
  delete_deployment("Orphan");
  settle();
  EXPECT_FALSE(t_.get(deployments_resource(), "ns", "web"));
  auto rss = t_.list(replicasets_resource(), "ns");
  ASSERT_EQ(rss.size(), 1u);
  EXPECT_TRUE(api::get_owner_references(*rss[0]).empty());
  auto pods = t_.list(pods_resource(), "ns");
  EXPECT_EQ(pods.size(), 3u);
  for (const auto& p : pods) {
    auto ref = api::get_controller_ref(*p);
    ASSERT_TRUE(ref);  // still owned by the (now orphaned) ReplicaSet
    EXPECT_EQ(ref->kind, "ReplicaSet");
  }
}

TEST_F(GcTest, DanglingReferenceAmongLiveOnesIsDroppedNotDeleted) {
  auto pod = t_.list(pods_resource(), "ns")[0];
  json::value v = *pod;
  api::add_owner_reference(v, api::OwnerReference{.api_version = "apps/v1", .kind = "ReplicaSet", .name = "ghost",
                                                  .uid = "no-such-uid"});
  t_.put(pods_resource(), v);
  settle();
  auto after = t_.get(pods_resource(), "ns", api::get_name(*pod));
  ASSERT_TRUE(after);
  EXPECT_EQ(api::get_owner_references(*after).size(), 1u);
}

}  // namespace
}  // namespace kedge::controllers

namespace kedge::controllers {
namespace {

// The same controllers on their own worker threads (run/stop), as
// kedge-controllers runs them: no test-driven stepping.
TEST(ControllersThreaded, DeploymentConvergesAndScalesWithWorkers) {
  FakeTransport t;
  ReplicaSetController rs(t);
  DeploymentController d(t);
  GarbageCollector gc(t);
  rs.register_watches();
  d.register_watches();
  gc.register_watches();
  rs.run(2);
  d.run(2);
  gc.run(1);
  json::value dep = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "generation": 1},
    "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "v1"}]}}}})");
  t.put(deployments_resource(), dep);
  auto wait_for = [](const std::function<bool()>& cond) {
    for (int i = 0; i < 1000; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  EXPECT_TRUE(wait_for([&] { return t.list(pods_resource(), "ns").size() == 5; }));
  ASSERT_TRUE(t.patch(deployments_resource(), "ns", "web", json::parse(R"({"spec":{"replicas":2}})")).ok());
  EXPECT_TRUE(wait_for([&] { return t.list(pods_resource(), "ns").size() == 2; }));
  ASSERT_TRUE(t.remove(deployments_resource(), "ns", "web", DeleteOptions{.propagation_policy = "Background"}).ok());
  EXPECT_TRUE(wait_for([&] {
    return t.list(pods_resource(), "ns").empty() && t.list(replicasets_resource(), "ns").empty();
  }));
  gc.stop();
  d.stop();
  rs.stop();
}

}  // namespace
}  // namespace kedge::controllers

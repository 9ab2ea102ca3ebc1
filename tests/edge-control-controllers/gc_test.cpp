// Garbage collector with the Deployment and ReplicaSet controllers: what
// `kubectl delete deployment --cascade=background|foreground|orphan` leaves.
#include <gtest/gtest.h>

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

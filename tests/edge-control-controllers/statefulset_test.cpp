// StatefulSet controller against the in-memory API: stable names and claims,
// ordered start and stop, partitioned rolling updates.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/daemonset.h"
#include "kedge/controllers/statefulset.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

json::value make_sts(int replicas, std::string_view policy = "OrderedReady") {
  json::value v = json::parse(R"({"apiVersion": "apps/v1", "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "ns", "generation": 1},
    "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
             "template": {"metadata": {"labels": {"app": "db"}},
                          "spec": {"containers": [{"name": "c", "image": "postgres:16"}]}},
             "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                       "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]}})");
  auto& spec = v.as_object()["spec"].as_object();
  spec["replicas"] = replicas;
  spec["podManagementPolicy"] = policy;
  return v;
}

class StatefulSetTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 200 && controller_.process_one(); ++i) {
    }
  }
  std::vector<std::string> pod_names() {
    std::vector<std::string> out;
    for (const auto& p : t_.list(pods_resource(), "ns")) out.emplace_back(api::get_name(*p));
    std::sort(out.begin(), out.end());
    return out;
  }
  void make_ready(const std::string& name) {
    json::value v = *t_.get(pods_resource(), "ns", name);
    v.as_object()["status"] = json::object{
        {"phase", "Running"}, {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}}}}};
    // Running pods terminate gracefully: deletion only marks them.
    api::add_finalizer(v, "kedge.test/kubelet");
    t_.put(pods_resource(), std::move(v));
    drain();
  }
  // The kubelet finishes the graceful deletions.
  void finish_deleting() {
    for (const auto& p : t_.list(pods_resource(), "ns")) {
      if (!api::get_deletion_timestamp(*p)) continue;
      json::value v = *p;
      api::remove_finalizer(v, "kedge.test/kubelet");
      ASSERT_TRUE(t_.update(pods_resource(), v).ok());
    }
    drain();
  }
  void update_sts(const std::function<void(json::object& spec)>& f) {
    json::value v = *t_.get(statefulsets_resource(), "ns", "db");
    f(v.as_object()["spec"].as_object());
    ASSERT_TRUE(t_.update(statefulsets_resource(), v).ok());
    drain();
  }
  std::string image_of(const std::string& pod) {
    return std::string(t_.get(pods_resource(), "ns", pod)->at("spec").at("containers").at(0).at("image").as_string());
  }

  FakeTransport t_;
  StatefulSetController controller_{t_};
};

TEST_F(StatefulSetTest, OrderedStartWithStableNamesAndClaims) {
  t_.put(statefulsets_resource(), make_sts(3));
  drain();
  EXPECT_EQ(pod_names(), std::vector<std::string>{"db-0"});  // the next waits for db-0 to be ready
  make_ready("db-0");
  EXPECT_EQ(pod_names(), (std::vector<std::string>{"db-0", "db-1"}));
  make_ready("db-1");
  make_ready("db-2");
  EXPECT_EQ(pod_names(), (std::vector<std::string>{"db-0", "db-1", "db-2"}));
  auto pod = t_.get(pods_resource(), "ns", "db-1");
  EXPECT_EQ(api::get_label(*pod, "statefulset.kubernetes.io/pod-name"), "db-1");
  EXPECT_EQ(api::get_label(*pod, "apps.kubernetes.io/pod-index"), "1");
  EXPECT_EQ(pod->at("spec").at("hostname"), "db-1");
  EXPECT_EQ(pod->at("spec").at("subdomain"), "db");
  EXPECT_EQ(pod->at("spec").at("volumes").at(0).at("persistentVolumeClaim").at("claimName"), "data-db-1");
  auto pvc = t_.get(persistentvolumeclaims_resource(), "ns", "data-db-1");
  ASSERT_TRUE(pvc);
  EXPECT_EQ(pvc->at("spec").at("resources").at("requests").at("storage"), "1Gi");
  EXPECT_EQ(api::get_label(*pvc, "app"), "db");
  const auto& st = t_.get(statefulsets_resource(), "ns", "db")->at("status");
  EXPECT_EQ(st.at("replicas"), 3);
  EXPECT_EQ(st.at("readyReplicas"), 3);
  EXPECT_EQ(st.at("currentRevision"), st.at("updateRevision"));
}

TEST_F(StatefulSetTest, ScaleDownRemovesHighestOrdinalFirstOneAtATimeAndKeepsClaims) {
  t_.put(statefulsets_resource(), make_sts(3));
  drain();
  for (const char* p : {"db-0", "db-1", "db-2"}) make_ready(p);
  update_sts([](json::object& spec) { spec["replicas"] = 1; });
  // db-2 is terminating; db-1 waits for it to be gone.
  EXPECT_TRUE(api::get_deletion_timestamp(*t_.get(pods_resource(), "ns", "db-2")));
  EXPECT_FALSE(api::get_deletion_timestamp(*t_.get(pods_resource(), "ns", "db-1")));
  finish_deleting();
  EXPECT_EQ(pod_names(), (std::vector<std::string>{"db-0", "db-1"}));
  EXPECT_TRUE(api::get_deletion_timestamp(*t_.get(pods_resource(), "ns", "db-1")));
  finish_deleting();
  EXPECT_EQ(pod_names(), std::vector<std::string>{"db-0"});
  EXPECT_TRUE(t_.get(persistentvolumeclaims_resource(), "ns", "data-db-2"));  // Retain
  // Scaling up again reuses the names and claims.
  update_sts([](json::object& spec) { spec["replicas"] = 2; });
  EXPECT_EQ(pod_names(), (std::vector<std::string>{"db-0", "db-1"}));
  EXPECT_EQ(t_.get(pods_resource(), "ns", "db-1")->at("spec").at("volumes").at(0).at("persistentVolumeClaim")
                .at("claimName"),
            "data-db-1");
}

TEST_F(StatefulSetTest, ParallelStartsAllAtOnce) {
  t_.put(statefulsets_resource(), make_sts(3, "Parallel"));
  drain();
  EXPECT_EQ(pod_names(), (std::vector<std::string>{"db-0", "db-1", "db-2"}));
}

TEST_F(StatefulSetTest, RollingUpdateHonoursThePartition) {
  t_.put(statefulsets_resource(), make_sts(3));
  drain();
  for (const char* p : {"db-0", "db-1", "db-2"}) make_ready(p);
  update_sts([](json::object& spec) {
    spec["template"].as_object()["spec"].as_object()["containers"].as_array()[0].as_object()["image"] = "postgres:17";
    spec["updateStrategy"] = json::parse(R"({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})");
  });
  // Highest ordinal first, one at a time, each coming back on the new template.
  for (int round = 0; round < 6; ++round) {
    finish_deleting();
    for (const auto& n : pod_names()) {
      const auto* st = t_.get(pods_resource(), "ns", n)->as_object().if_contains("status");
      if (!st) make_ready(n);
    }
  }
  EXPECT_EQ(image_of("db-2"), "postgres:17");
  EXPECT_EQ(image_of("db-1"), "postgres:17");
  EXPECT_EQ(image_of("db-0"), "postgres:16");  // below the partition
  const auto& st = t_.get(statefulsets_resource(), "ns", "db")->at("status");
  EXPECT_EQ(st.at("updatedReplicas"), 2);
  EXPECT_NE(st.at("currentRevision"), st.at("updateRevision"));
}

TEST_F(StatefulSetTest, FailedPodIsRecreatedUnderTheSameName) {
  t_.put(statefulsets_resource(), make_sts(1));
  drain();
  std::string uid(api::get_uid(*t_.get(pods_resource(), "ns", "db-0")));
  json::value v = *t_.get(pods_resource(), "ns", "db-0");
  v.as_object()["status"] = json::object{{"phase", "Failed"}};
  t_.put(pods_resource(), std::move(v));
  drain();
  ASSERT_TRUE(t_.get(pods_resource(), "ns", "db-0"));
  EXPECT_NE(api::get_uid(*t_.get(pods_resource(), "ns", "db-0")), uid);
}

}  // namespace
}  // namespace kedge::controllers

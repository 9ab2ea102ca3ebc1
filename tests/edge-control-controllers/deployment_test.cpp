// Deployment + ReplicaSet controllers together against the in-memory API,
// with a simulated kubelet that runs pods: rollouts are checked after every
// single sync for the surge/unavailable limits a user was promised.
#include <gtest/gtest.h>

#include <functional>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/deployment.h"
#include "kedge/controllers/replicaset.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTransport;

json::value make_deployment(int replicas, const std::string& strategy_json) {
  json::value d = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "generation": 1, "uid": "d-uid-1"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "v1"}]}}}})");
  d.as_object()["spec"].as_object()["replicas"] = replicas;
  d.as_object()["spec"].as_object()["strategy"] = json::parse(strategy_json);
  return d;
}

class DeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rs_.register_watches();
    d_.register_watches();
  }

  Object deployment() { return t_.get(deployments_resource(), "ns", "web"); }
  std::vector<Object> replicasets() { return t_.list(replicasets_resource(), "ns"); }
  std::vector<Object> pods() { return t_.list(pods_resource(), "ns"); }
  std::int64_t dstatus(const char* field) {
    auto* st = deployment()->as_object().if_contains("status");
    if (!st || !st->as_object().contains(field)) return 0;
    return st->as_object().at(field).as_int64();
  }
  std::string condition(const char* type, const char* what) {
    auto* st = deployment()->as_object().if_contains("status");
    if (!st || !st->as_object().contains("conditions")) return "";
    for (auto& c : st->as_object().at("conditions").as_array()) {
      if (c.at("type") == type) return std::string(c.at(what).as_string());
    }
    return "";
  }
  // kubectl rollout status's test for "successfully rolled out".
  bool rolled_out() {
    auto d = deployment();
    return api::get_generation(*d) <= dstatus("observedGeneration") &&
           dstatus("updatedReplicas") == d->at("spec").at("replicas").as_int64() &&
           dstatus("replicas") == dstatus("updatedReplicas") && dstatus("availableReplicas") == dstatus("updatedReplicas");
  }
  void set_image(const std::string& image) {
    json::value d = *deployment();
    d.as_object()["spec"].as_object()["template"].as_object()["spec"].as_object()["containers"].as_array()[0]
        .as_object()["image"] = image;
    ASSERT_TRUE(t_.update(deployments_resource(), d).ok());
  }
  void patch_spec(const json::value& spec_patch) {
    ASSERT_TRUE(t_.patch(deployments_resource(), "ns", "web", json::object{{"spec", spec_patch}}).ok());
  }

  // The kubelet: runs every pending pod; pods whose image is "broken" never get ready.
  bool kubelet() {
    bool changed = false;
    int i = 0;
    for (const auto& p : pods()) {
      ++i;
      if (auto* st = p->as_object().if_contains("status"); st && st->is_object()) continue;
      json::value v = *p;
      bool ok = v.at("spec").at("containers").at(0).at("image") != "broken";
      v.as_object()["spec"].as_object()["nodeName"] = "node" + std::to_string(i % 3);
      json::array conds;
      conds.push_back(json::object{{"type", "Ready"},
                                   {"status", ok ? "True" : "False"},
                                   {"lastTransitionTime", api::format_rfc3339(now_)}});
      v.as_object()["status"] = json::object{{"phase", "Running"}, {"conditions", std::move(conds)}};
      t_.put(pods_resource(), std::move(v));
      changed = true;
    }
    return changed;
  }

  // Runs controllers and kubelet until nothing changes, calling `check`
  // after every single step.
  void settle(const std::function<void()>& check = [] {}) {
    for (int round = 0; round < 500; ++round) {
      bool any = false;
      while (rs_.process_one()) {
        any = true;
        check();
      }
      while (d_.process_one()) {
        any = true;
        check();
      }
      if (kubelet()) {
        any = true;
        check();
      }
      if (!any) return;
    }
    FAIL() << "controllers did not settle";
  }

  int ready_pods() {
    int n = 0;
    for (const auto& p : pods()) n += is_pod_ready(*p) ? 1 : 0;
    return n;
  }

  SystemTime now_ = std::chrono::system_clock::now();
  FakeTransport t_;
  ReplicaSetController rs_{t_, {.now = [this] { return now_; }}};
  DeploymentController d_{t_, {.now = [this] { return now_; }}};
};

TEST_F(DeploymentTest, CreatesReplicaSetAndReportsCompletion) {
  json::value d = make_deployment(3, R"({"type":"RollingUpdate"})");
  api::set_annotation(d, "kubernetes.io/change-cause", "first release");
  api::set_annotation(d, "kubectl.kubernetes.io/last-applied-configuration", "{}");
  t_.put(deployments_resource(), d);
  settle();
  auto rss = replicasets();
  ASSERT_EQ(rss.size(), 1u);
  auto hash = api::get_label(*rss[0], "pod-template-hash");
  ASSERT_TRUE(hash);
  EXPECT_EQ(api::get_name(*rss[0]), "web-" + *hash);
  EXPECT_EQ(api::get_annotation(*rss[0], "deployment.kubernetes.io/revision"), "1");
  EXPECT_EQ(api::get_annotation(*deployment(), "deployment.kubernetes.io/revision"), "1");
  // What `kubectl rollout history` prints as CHANGE-CAUSE.
  EXPECT_EQ(api::get_annotation(*rss[0], "kubernetes.io/change-cause"), "first release");
  EXPECT_FALSE(api::get_annotation(*rss[0], "kubectl.kubernetes.io/last-applied-configuration"));
  auto ref = api::get_controller_ref(*rss[0]);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->kind, "Deployment");
  EXPECT_EQ(ref->uid, "d-uid-1");
  ASSERT_EQ(pods().size(), 3u);
  for (const auto& p : pods()) EXPECT_EQ(api::get_label(*p, "pod-template-hash"), hash);
  EXPECT_TRUE(rolled_out());
  EXPECT_EQ(dstatus("unavailableReplicas"), 0);
  EXPECT_EQ(dstatus("readyReplicas"), 3);
  EXPECT_EQ(condition("Available", "status"), "True");
  EXPECT_EQ(condition("Available", "reason"), "MinimumReplicasAvailable");
  EXPECT_EQ(condition("Progressing", "reason"), "NewReplicaSetAvailable");
  EXPECT_EQ(condition("Progressing", "message"), "ReplicaSet \"web-" + *hash + "\" has successfully progressed.");
}

TEST_F(DeploymentTest, RollingUpdateRespectsSurgeAndUnavailableAtEveryStep) {
  t_.put(deployments_resource(),
         make_deployment(10, R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"20%","maxUnavailable":1}})"));
  settle();
  ASSERT_TRUE(rolled_out());
  set_image("v2");
  int max_pods = 0, min_ready = 100, checks = 0;
  settle([&] {
    ++checks;
    max_pods = std::max(max_pods, static_cast<int>(pods().size()));
    min_ready = std::min(min_ready, ready_pods());
  });
  EXPECT_LE(max_pods, 12);  // 10 + 20% surge
  EXPECT_GE(min_ready, 9);  // 10 - 1 unavailable
  EXPECT_EQ(max_pods, 12);  // and the surge was used
  EXPECT_GT(checks, 5);
  EXPECT_TRUE(rolled_out());
  for (const auto& p : pods()) EXPECT_EQ(p->at("spec").at("containers").at(0).at("image"), "v2");
  auto rss = replicasets();
  ASSERT_EQ(rss.size(), 2u);
  int total_old = 0;
  for (const auto& rs : rss) {
    if (api::get_annotation(*rs, "deployment.kubernetes.io/revision") == "1") total_old += rs->at("spec").at("replicas").as_int64();
  }
  EXPECT_EQ(total_old, 0);
  EXPECT_EQ(api::get_annotation(*deployment(), "deployment.kubernetes.io/revision"), "2");
}

TEST_F(DeploymentTest, UndoRevivesThePreviousReplicaSetAsNewestRevision) {
  t_.put(deployments_resource(), make_deployment(2, R"({"type":"RollingUpdate"})"));
  settle();
  Object first = replicasets()[0];
  set_image("v2");
  settle();
  ASSERT_EQ(replicasets().size(), 2u);
  // What `kubectl rollout undo` does client-side: copy revision 1's template
  // (without pod-template-hash) into the Deployment.
  json::value tmpl = first->at("spec").at("template");
  api::remove_label(tmpl, "pod-template-hash");
  patch_spec(json::object{{"template", tmpl}});
  settle();
  EXPECT_EQ(replicasets().size(), 2u);  // no third ReplicaSet
  Object revived = t_.get(replicasets_resource(), "ns", api::get_name(*first));
  ASSERT_TRUE(revived);
  EXPECT_EQ(api::get_annotation(*revived, "deployment.kubernetes.io/revision"), "3");
  EXPECT_EQ(revived->at("spec").at("replicas").as_int64(), 2);
  EXPECT_EQ(api::get_annotation(*deployment(), "deployment.kubernetes.io/revision"), "3");
  for (const auto& p : pods()) EXPECT_EQ(p->at("spec").at("containers").at(0).at("image"), "v1");
  EXPECT_TRUE(rolled_out());
}

TEST_F(DeploymentTest, RecreateNeverRunsOldAndNewTogether) {
  t_.put(deployments_resource(), make_deployment(3, R"({"type":"Recreate"})"));
  settle();
  ASSERT_TRUE(rolled_out());
  set_image("v2");
  bool mixed = false;
  settle([&] {
    std::set<std::string> images;
    for (const auto& p : pods()) images.emplace(p->at("spec").at("containers").at(0).at("image").as_string());
    mixed = mixed || images.size() > 1;
  });
  EXPECT_FALSE(mixed);
  EXPECT_TRUE(rolled_out());
  EXPECT_EQ(pods().size(), 3u);
}

TEST_F(DeploymentTest, RevisionHistoryLimitDeletesOldestEmptyReplicaSets) {
  json::value d = make_deployment(1, R"({"type":"RollingUpdate"})");
  d.as_object()["spec"].as_object()["revisionHistoryLimit"] = 1;
  t_.put(deployments_resource(), d);
  settle();
  for (const char* image : {"v2", "v3", "v4"}) {
    set_image(image);
    settle();
  }
  auto rss = replicasets();
  ASSERT_EQ(rss.size(), 2u);  // the current one and one old
  std::set<std::string> revs;
  for (const auto& rs : rss) revs.emplace(*api::get_annotation(*rs, "deployment.kubernetes.io/revision"));
  EXPECT_EQ(revs, (std::set<std::string>{"3", "4"}));
}

TEST_F(DeploymentTest, ScaleUpAndDownWithoutRollout) {
  t_.put(deployments_resource(), make_deployment(2, R"({"type":"RollingUpdate"})"));
  settle();
  patch_spec(json::object{{"replicas", 5}});
  settle();
  EXPECT_EQ(pods().size(), 5u);
  EXPECT_TRUE(rolled_out());
  patch_spec(json::object{{"replicas", 1}});
  settle();
  EXPECT_EQ(pods().size(), 1u);
  EXPECT_EQ(replicasets().size(), 1u);
  EXPECT_TRUE(rolled_out());
}

TEST_F(DeploymentTest, PausedDeploymentDoesNotRollOut) {
  t_.put(deployments_resource(), make_deployment(2, R"({"type":"RollingUpdate"})"));
  settle();
  patch_spec(json::object{{"paused", true}});
  set_image("v2");
  settle();
  EXPECT_EQ(replicasets().size(), 1u);
  EXPECT_EQ(condition("Progressing", "reason"), "DeploymentPaused");
  EXPECT_EQ(condition("Progressing", "status"), "Unknown");
  patch_spec(json::object{{"paused", false}});
  settle();
  EXPECT_EQ(replicasets().size(), 2u);
  EXPECT_TRUE(rolled_out());
  EXPECT_EQ(condition("Progressing", "reason"), "NewReplicaSetAvailable");
}

TEST_F(DeploymentTest, StuckRolloutExceedsProgressDeadline) {
  json::value d = make_deployment(4, R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":1}})");
  d.as_object()["spec"].as_object()["progressDeadlineSeconds"] = 30;
  t_.put(deployments_resource(), d);
  settle();
  set_image("broken");
  int min_ready = 100;
  settle([&] { min_ready = std::min(min_ready, ready_pods()); });
  EXPECT_GE(min_ready, 3);  // the broken rollout never takes more than maxUnavailable
  EXPECT_FALSE(rolled_out());
  EXPECT_EQ(condition("Progressing", "reason"), "ReplicaSetUpdated");
  EXPECT_EQ(condition("Available", "status"), "True");
  now_ += 31s;
  ASSERT_TRUE(d_.sync("ns/web").ok());
  EXPECT_EQ(condition("Progressing", "status"), "False");
  EXPECT_EQ(condition("Progressing", "reason"), "ProgressDeadlineExceeded");
  EXPECT_NE(condition("Progressing", "message").find("has timed out progressing."), std::string::npos);
}

}  // namespace
}  // namespace kedge::controllers

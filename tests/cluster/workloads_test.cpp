// Deployments through `kedge server`'s controllers and scheduler onto hollow
// nodes, driven by kubectl: create, scale, set image with the rollout
// watched (maxSurge/maxUnavailable hold at every observed state), rollout
// undo, and deletion with each cascade mode.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "cluster.h"
#include "kedge/api/meta.h"
#include "kedge/client/informer.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/testing/prereq.h"

namespace kedge::testing {
namespace {

// Watches the pods of one Deployment and records the extremes a rollout
// must respect: the most pods at once (not terminating) and the fewest
// ready ones.
class PodWatcher final : public client::InformerHandler {
 public:
  PodWatcher(const std::filesystem::path& kubeconfig, const std::string& selector) {
    auto config = client::Kubeconfig::load(kubeconfig.string());
    EXPECT_TRUE(config.ok()) << config.status().to_string();
    auto c = client::RestClient::create({.config = *config});
    EXPECT_TRUE(c.ok());
    client_ = std::move(*c);
    informer_ = std::make_unique<client::Informer>(
        *client_, client::InformerOptions{.path = "/api/v1/namespaces/default/pods", .label_selector = selector});
    informer_->add_handler(this);
    thread_ = std::thread([this] { (void)informer_->run(); });
    eventually([&] { return informer_->has_synced(); });
  }
  ~PodWatcher() override {
    informer_->stop();
    thread_.join();
  }
  void reset() {
    std::lock_guard lock(mu_);
    max_pods_ = count_locked().first;
    min_ready_ = count_locked().second;
  }
  int max_pods() {
    std::lock_guard lock(mu_);
    return max_pods_;
  }
  int min_ready() {
    std::lock_guard lock(mu_);
    return min_ready_;
  }

  void on_add(const client::Object& obj) override { record(obj, false); }
  void on_update(const client::Object&, const client::Object& obj) override { record(obj, false); }
  void on_delete(const client::Object& obj) override { record(obj, true); }

 private:
  void record(const client::Object& obj, bool deleted) {
    std::lock_guard lock(mu_);
    std::string name(api::get_name(*obj));
    if (deleted || api::get_deletion_timestamp(*obj)) {
      pods_.erase(name);
    } else {
      bool ready = false;
      const auto* st = obj->as_object().if_contains("status");
      if (st && st->is_object()) {
        if (const auto* conds = st->as_object().if_contains("conditions"); conds && conds->is_array()) {
          for (const auto& c : conds->as_array()) {
            const auto& o = c.as_object();
            if (o.contains("type") && o.at("type") == "Ready" && o.contains("status") && o.at("status") == "True") {
              ready = true;
            }
          }
        }
      }
      pods_[name] = ready;
    }
    auto [total, ready] = count_locked();
    max_pods_ = std::max(max_pods_, total);
    min_ready_ = std::min(min_ready_, ready);
  }
  std::pair<int, int> count_locked() const {
    int ready = 0;
    for (const auto& [n, r] : pods_) ready += r ? 1 : 0;
    return {static_cast<int>(pods_.size()), ready};
  }

  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<client::Informer> informer_;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, bool> pods_;  // not terminating: name → ready
  int max_pods_ = 0;
  int min_ready_ = 1 << 30;
};

class WorkloadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
    ASSERT_TRUE(cluster_.start_server());
    ASSERT_NE(cluster_.add_hollow("node-", 3), nullptr);
  }

  std::string image() {
    return cluster_.out({"get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"});
  }
  void rollout_status() {
    auto r = cluster_.kubectl({"rollout", "status", "deployment/web", "--timeout=60s"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("successfully rolled out"), std::string::npos) << r.out;
  }
  int count(const std::string& kind, const std::string& selector) {
    auto out = cluster_.out({"get", kind, "-l", selector, "-o", "name"});
    int n = 0;
    for (char ch : out) n += ch == '\n' ? 1 : 0;
    return out.empty() ? 0 : n + 1;
  }

  Cluster cluster_;
};

TEST_F(WorkloadsTest, CreateScaleSetImageUndoRespectSurgeAndUnavailable) {
  auto r = cluster_.kubectl({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rollout_status();
  ASSERT_EQ(cluster_.kubectl({"scale", "deployment", "web", "--replicas=4"}).exit_code, 0);
  rollout_status();
  EXPECT_EQ(cluster_.out({"get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}"}), "4");
  // Spread over the three nodes (LeastAllocated + BalancedAllocation).
  auto nodes = cluster_.out({"get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"});
  for (const char* n : {"node-0", "node-1", "node-2"}) EXPECT_NE(nodes.find(n), std::string::npos) << nodes;

  // maxSurge 1, maxUnavailable 1 on 4 replicas: at most 5 pods, at least 3 ready.
  ASSERT_EQ(cluster_
                .kubectl({"patch", "deployment", "web", "-p",
                          R"({"spec":{"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":1}}}})"})
                .exit_code,
            0);
  PodWatcher watcher(cluster_.server().kubeconfig, "app=web");
  watcher.reset();
  ASSERT_EQ(cluster_.kubectl({"set", "image", "deployment/web", "nginx=nginx:1.26"}).exit_code, 0);
  rollout_status();
  EXPECT_EQ(image(), "nginx:1.26");
  EXPECT_LE(watcher.max_pods(), 5);
  EXPECT_GE(watcher.min_ready(), 3);
  EXPECT_GT(watcher.max_pods(), 4) << "the rollout never surged: the watch saw nothing";
  EXPECT_EQ(cluster_.out({"get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"}),
            "nginx:1.26 nginx:1.26 nginx:1.26 nginx:1.26");

  ASSERT_EQ(cluster_.kubectl({"rollout", "undo", "deployment/web"}).exit_code, 0);
  rollout_status();
  EXPECT_EQ(image(), "nginx:1.25");
  EXPECT_TRUE(eventually(
      [&] {
        return cluster_.out({"get", "pods", "-l", "app=web", "-o",
                             "jsonpath={.items[*].spec.containers[0].image}"}) ==
               "nginx:1.25 nginx:1.25 nginx:1.25 nginx:1.25";
      },
      std::chrono::seconds(10)));
}

// rollout history / pause / resume / restart as kubectl drives them.
TEST_F(WorkloadsTest, RolloutHistoryPauseResumeAndRestart) {
  ASSERT_EQ(cluster_.kubectl({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=2"}).exit_code, 0);
  rollout_status();
  ASSERT_EQ(cluster_.kubectl({"set", "image", "deployment/web", "nginx=nginx:1.26"}).exit_code, 0);
  rollout_status();
  auto history = cluster_.kubectl({"rollout", "history", "deployment/web"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_NE(history.out.find("REVISION"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("\n1 "), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("\n2 "), std::string::npos) << history.out;
  auto rev2 = cluster_.kubectl({"rollout", "history", "deployment/web", "--revision=2"});
  EXPECT_NE(rev2.out.find("nginx:1.26"), std::string::npos) << rev2.out << rev2.err;

  // Paused: a template change makes no new ReplicaSet until resumed.
  ASSERT_EQ(cluster_.kubectl({"rollout", "pause", "deployment/web"}).exit_code, 0);
  ASSERT_EQ(cluster_.kubectl({"set", "image", "deployment/web", "nginx=nginx:1.27"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(count("replicasets", "app=web"), 2);
  EXPECT_EQ(cluster_.out({"get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"}),
            "nginx:1.26 nginx:1.26");
  ASSERT_EQ(cluster_.kubectl({"rollout", "resume", "deployment/web"}).exit_code, 0);
  rollout_status();
  EXPECT_EQ(count("replicasets", "app=web"), 3);
  EXPECT_TRUE(eventually(
      [&] {
        return cluster_.out({"get", "pods", "-l", "app=web", "-o",
                             "jsonpath={.items[*].spec.containers[0].image}"}) == "nginx:1.27 nginx:1.27";
      },
      std::chrono::seconds(10)));

  // restart: a new ReplicaSet with the same image, stamped restartedAt.
  ASSERT_EQ(cluster_.kubectl({"rollout", "restart", "deployment/web"}).exit_code, 0);
  rollout_status();
  EXPECT_EQ(count("replicasets", "app=web"), 4);
  EXPECT_FALSE(cluster_
                   .out({"get", "deploy", "web", "-o",
                         "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}"})
                   .empty());
  EXPECT_EQ(image(), "nginx:1.27");
}

TEST_F(WorkloadsTest, DeletingADeploymentCascadesUnlessOrphaned) {
  for (const char* name : {"bg", "fg", "orphan"}) {
    ASSERT_EQ(cluster_.kubectl({"create", "deployment", name, "--image=nginx", "--replicas=2"}).exit_code, 0);
  }
  for (const char* name : {"bg", "fg", "orphan"}) {
    auto r = cluster_.kubectl({"rollout", "status", std::string("deployment/") + name, "--timeout=60s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(count("rs", std::string("app=") + name), 1);
  }

  ASSERT_EQ(cluster_.kubectl({"delete", "deployment", "bg"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return count("rs", "app=bg") == 0 && count("pods", "app=bg") == 0; },
                         std::chrono::seconds(15)));

  // Foreground: the owner stays, marked with the foregroundDeletion
  // finalizer, while a dependent exists (a finalizer of our own holds the
  // ReplicaSet here, so the state can be seen), then goes after it.
  const std::string fg_rs = cluster_.out({"get", "rs", "-l", "app=fg", "-o", "jsonpath={.items[0].metadata.name}"});
  ASSERT_EQ(cluster_.kubectl({"patch", "rs", fg_rs, "--type=merge", "-p",
                              R"({"metadata":{"finalizers":["example.com/hold"]}})"})
                .exit_code,
            0);
  auto fg = cluster_.kubectl({"delete", "deployment", "fg", "--cascade=foreground", "--wait=false"});
  ASSERT_EQ(fg.exit_code, 0) << fg.err;
  EXPECT_EQ(cluster_.out({"get", "deploy", "fg", "-o", "jsonpath={.metadata.finalizers}"}), R"(["foregroundDeletion"])");
  EXPECT_FALSE(cluster_.out({"get", "deploy", "fg", "-o", "jsonpath={.metadata.deletionTimestamp}"}).empty());
  EXPECT_TRUE(eventually([&] { return count("pods", "app=fg") == 0; }, std::chrono::seconds(15)));
  EXPECT_EQ(count("deploy", "app=fg"), 1) << "the owner went before its ReplicaSet";
  ASSERT_EQ(cluster_.kubectl({"patch", "rs", fg_rs, "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"})
                .exit_code,
            0);
  EXPECT_TRUE(eventually([&] { return count("deploy", "app=fg") == 0; }, std::chrono::seconds(15)));
  EXPECT_EQ(count("rs", "app=fg"), 0);
  EXPECT_TRUE(eventually([&] { return count("pods", "app=fg") == 0; }, std::chrono::seconds(15)));

  ASSERT_EQ(cluster_.kubectl({"delete", "deployment", "orphan", "--cascade=orphan"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return count("deploy", "app=orphan") == 0; }, std::chrono::seconds(10)));
  // The ReplicaSet and its pods stay, without an owner.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(count("rs", "app=orphan"), 1);
  EXPECT_EQ(count("pods", "app=orphan"), 2);
  EXPECT_EQ(cluster_.out({"get", "rs", "-l", "app=orphan", "-o", "jsonpath={.items[0].metadata.ownerReferences}"}),
            "");
}

}  // namespace
}  // namespace kedge::testing

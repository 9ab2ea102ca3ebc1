// Job controller against the in-memory API: pods created, counted and
// cleaned up as `kubectl get jobs,pods` would show, with a fake clock.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "workload_fixtures.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/job.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTransport;

json::value make_job(std::string_view extra_spec = "") {
  std::string text = R"({"apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "pi", "namespace": "ns"},
    "spec": {"parallelism": 2, "completions": 3, "backoffLimit": 2,)" + std::string(extra_spec) + R"(
             "template": {"metadata": {"labels": {"app": "pi"}},
                          "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})";
  return json::parse(text);
}

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 200 && controller_.process_one(); ++i) {
    }
  }
  // Due delayed keys are processed too (the fake clock moved).
  void advance(std::chrono::seconds s) {
    now_ += s;
    clock_.advance(s);
    drain();
  }
  Object job() { return t_.get(jobs_resource(), "ns", "pi"); }
  std::vector<Object> active_pods() {
    std::vector<Object> out;
    for (const auto& p : t_.list(pods_resource(), "ns")) {
      const auto* st = p->as_object().if_contains("status");
      const auto* ph = st && st->is_object() ? st->as_object().if_contains("phase") : nullptr;
      std::string_view phase = ph ? std::string_view(ph->as_string()) : std::string_view("Pending");
      if (phase != "Succeeded" && phase != "Failed" && !api::get_deletion_timestamp(*p)) out.push_back(p);
    }
    return out;
  }
  std::int64_t status_of(const char* field) {
    const auto* st = job()->as_object().if_contains("status");
    if (!st || !st->as_object().contains(field)) return 0;
    return st->at(field).as_int64();
  }
  std::string condition(const char* type, const char* field = "status") {
    const auto* st = job()->as_object().if_contains("status");
    if (!st || !st->as_object().contains("conditions")) return "";
    for (const auto& c : st->at("conditions").as_array()) {
      if (c.at("type") == type) return std::string(c.at(field).as_string());
    }
    return "";
  }
  void finish(const Object& pod, const char* phase, std::int64_t restarts = 0) {
    json::value v = *pod;
    v.as_object()["status"] = json::object{
        {"phase", phase},
        {"containerStatuses",
         json::array{json::object{{"name", "c"},
                                  {"restartCount", restarts},
                                  {"state", json::object{{"terminated",
                                                          json::object{{"exitCode", 1},
                                                                       {"finishedAt", api::format_rfc3339(now_)}}}}}}}}};
    t_.put(pods_resource(), std::move(v));
  }

  SystemTime now_ = std::chrono::system_clock::now();
  testing::ManualClock clock_;
  FakeTransport t_;
  JobController controller_{t_, {.queue = {.clock = &clock_},
                                 .clock = &clock_,
                                 .now = [this] { return now_; },
                                 .pod_failure_backoff = 0s}};
};

TEST_F(JobTest, DefaultsSelectorAndRunsParallelismPodsWithJobLabels) {
  t_.put(jobs_resource(), make_job());
  drain();
  std::string uid(api::get_uid(*job()));
  EXPECT_EQ(job()->at("spec").at("selector").at("matchLabels").at("batch.kubernetes.io/controller-uid").as_string(), uid);
  auto pods = active_pods();
  ASSERT_EQ(pods.size(), 2u);  // parallelism
  for (const auto& p : pods) {
    EXPECT_EQ(api::get_label(*p, "batch.kubernetes.io/controller-uid"), uid);
    EXPECT_EQ(api::get_label(*p, "batch.kubernetes.io/job-name"), "pi");
    EXPECT_EQ(api::get_label(*p, "job-name"), "pi");
    EXPECT_EQ(api::get_label(*p, "app"), "pi");
    EXPECT_EQ(api::get_name(*p).substr(0, 3), "pi-");
    auto ref = api::get_controller_ref(*p);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->kind, "Job");
    EXPECT_EQ(ref->api_version, "batch/v1");
    EXPECT_EQ(ref->uid, uid);
  }
  EXPECT_EQ(status_of("active"), 2);
  EXPECT_TRUE(job()->at("status").as_object().contains("startTime"));
}

TEST_F(JobTest, CompletesAfterCompletionsSucceeded) {
  t_.put(jobs_resource(), make_job());
  drain();
  for (const auto& p : active_pods()) finish(p, "Succeeded");
  drain();
  // 2 done, 1 to go: one more pod, not two.
  auto pods = active_pods();
  ASSERT_EQ(pods.size(), 1u);
  EXPECT_EQ(status_of("succeeded"), 2);
  EXPECT_EQ(condition("Complete"), "");
  finish(pods[0], "Succeeded");
  drain();
  EXPECT_EQ(condition("Complete"), "True");
  EXPECT_EQ(condition("Complete", "reason"), "CompletionsReached");
  EXPECT_EQ(status_of("succeeded"), 3);
  EXPECT_EQ(status_of("active"), 0);
  EXPECT_TRUE(job()->at("status").as_object().contains("completionTime"));
  EXPECT_TRUE(active_pods().empty());
  EXPECT_EQ(t_.list(pods_resource(), "ns").size(), 3u);  // finished pods are kept for logs
}

TEST_F(JobTest, FailingJobStopsAtBackoffLimit) {
  t_.put(jobs_resource(), make_job(R"("completions": 1, "parallelism": 1,)"));
  drain();
  int created = 0;
  for (int round = 0; round < 10 && condition("Failed").empty(); ++round) {
    auto pods = active_pods();
    ASSERT_EQ(pods.size(), 1u) << "round " << round;
    ++created;
    finish(pods[0], "Failed");
    drain();
  }
  EXPECT_EQ(created, 3);  // backoffLimit 2: the third failure ends it
  EXPECT_EQ(condition("Failed"), "True");
  EXPECT_EQ(condition("Failed", "reason"), "BackoffLimitExceeded");
  EXPECT_EQ(condition("Failed", "message"), "Job has reached the specified backoff limit");
  EXPECT_EQ(status_of("failed"), 3);
  EXPECT_TRUE(active_pods().empty());
  controller_.resync_all();
  drain();
  EXPECT_TRUE(active_pods().empty());  // a failed Job creates nothing more
}

TEST_F(JobTest, ReplacementWaitsForThePodFailureBackoff) {
  JobController slow{t_, {.queue = {.clock = &clock_}, .clock = &clock_, .now = [this] { return now_; }}};
  controller_.stop();
  slow.register_watches();
  t_.put(jobs_resource(), make_job(R"("completions": 1, "parallelism": 1,)"));
  auto run = [&] {
    for (int i = 0; i < 100 && slow.process_one(); ++i) {
    }
  };
  run();
  ASSERT_EQ(active_pods().size(), 1u);
  finish(active_pods()[0], "Failed");
  run();
  EXPECT_TRUE(active_pods().empty());  // 10 s backoff after the first failure
  now_ += 9s;
  clock_.advance(9s);
  run();
  EXPECT_TRUE(active_pods().empty());
  now_ += 2s;
  clock_.advance(2s);
  run();
  EXPECT_EQ(active_pods().size(), 1u);
  slow.stop();
}

TEST_F(JobTest, BackoffEndsEvenWhenTheKubeletGaveNoFinishTime) {
  JobController slow{t_, {.queue = {.clock = &clock_}, .clock = &clock_, .now = [this] { return now_; }}};
  controller_.stop();
  slow.register_watches();
  t_.put(jobs_resource(), make_job(R"("completions": 1, "parallelism": 1,)"));
  auto run = [&] {
    for (int i = 0; i < 100 && slow.process_one(); ++i) {
    }
  };
  run();
  ASSERT_EQ(active_pods().size(), 1u);
  // Failed with only a Ready condition time (what hollow nodes report).
  json::value v = *active_pods()[0];
  v.as_object()["status"] = json::object{
      {"phase", "Failed"},
      {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "False"},
                                              {"lastTransitionTime", api::format_rfc3339(now_)}}}}};
  t_.put(pods_resource(), std::move(v));
  run();
  EXPECT_TRUE(active_pods().empty());
  now_ += 11s;
  clock_.advance(11s);
  run();
  EXPECT_EQ(active_pods().size(), 1u);
  slow.stop();
}

TEST_F(JobTest, OnFailureRestartsCountTowardsBackoffLimit) {
  json::value j = make_job(R"("completions": 1, "parallelism": 1,)");
  j.as_object()["spec"].as_object()["template"].as_object()["spec"].as_object()["restartPolicy"] = "OnFailure";
  t_.put(jobs_resource(), j);
  drain();
  auto pods = active_pods();
  ASSERT_EQ(pods.size(), 1u);
  json::value v = *pods[0];
  v.as_object()["status"] = json::object{
      {"phase", "Running"},
      {"containerStatuses", json::array{json::object{{"name", "c"}, {"restartCount", 3}}}}};
  t_.put(pods_resource(), std::move(v));
  drain();
  EXPECT_EQ(condition("Failed", "reason"), "BackoffLimitExceeded");
  EXPECT_TRUE(active_pods().empty());
}

TEST_F(JobTest, ActiveDeadlineFailsTheJobAndDeletesItsPods) {
  t_.put(jobs_resource(), make_job(R"("activeDeadlineSeconds": 30,)"));
  drain();
  ASSERT_EQ(active_pods().size(), 2u);
  advance(20s);
  EXPECT_EQ(condition("Failed"), "");
  advance(11s);  // the controller requeued itself for the deadline
  EXPECT_EQ(condition("Failed"), "True");
  EXPECT_EQ(condition("Failed", "reason"), "DeadlineExceeded");
  EXPECT_EQ(condition("Failed", "message"), "Job was active longer than specified deadline");
  EXPECT_TRUE(active_pods().empty());
}

TEST_F(JobTest, TtlAfterFinishedDeletesTheJob) {
  t_.put(jobs_resource(), make_job(R"("completions": 1, "parallelism": 1, "ttlSecondsAfterFinished": 60,)"));
  drain();
  finish(active_pods()[0], "Succeeded");
  drain();
  ASSERT_EQ(condition("Complete"), "True");
  advance(30s);
  ASSERT_TRUE(job());
  EXPECT_FALSE(api::get_deletion_timestamp(*job()));
  advance(31s);
  // Foreground: marked for deletion; the garbage collector removes the pods, then the Job.
  ASSERT_TRUE(job());
  EXPECT_TRUE(api::get_deletion_timestamp(*job()));
  EXPECT_TRUE(api::has_finalizer(*job(), "foregroundDeletion"));
}

TEST_F(JobTest, SuspendDeletesActivePodsAndResumeRecreatesThem) {
  t_.put(jobs_resource(), make_job());
  drain();
  ASSERT_EQ(active_pods().size(), 2u);
  json::value j = *job();
  j.as_object()["spec"].as_object()["suspend"] = true;
  ASSERT_TRUE(t_.update(jobs_resource(), j).ok());
  drain();
  EXPECT_TRUE(active_pods().empty());
  EXPECT_EQ(condition("Suspended"), "True");
  j = *job();
  j.as_object()["spec"].as_object()["suspend"] = false;
  ASSERT_TRUE(t_.update(jobs_resource(), j).ok());
  drain();
  EXPECT_EQ(active_pods().size(), 2u);
  EXPECT_EQ(condition("Suspended"), "False");
}

TEST_F(JobTest, WorkQueueJobWithoutCompletionsEndsWhenOnePodSucceededAndNoneRuns) {
  json::value j = make_job();
  j.as_object()["spec"].as_object().erase("completions");
  t_.put(jobs_resource(), j);
  drain();
  auto pods = active_pods();
  ASSERT_EQ(pods.size(), 2u);
  finish(pods[0], "Succeeded");
  drain();
  EXPECT_EQ(active_pods().size(), 1u);  // no replacement once one succeeded
  EXPECT_EQ(condition("Complete"), "");
  finish(pods[1], "Succeeded");
  drain();
  EXPECT_EQ(condition("Complete"), "True");
}

}  // namespace
}  // namespace kedge::controllers

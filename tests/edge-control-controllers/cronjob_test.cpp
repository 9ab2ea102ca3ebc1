// CronJob controller against the in-memory API with a hand-driven clock:
// Jobs appear at their scheduled minutes, named as upstream names them.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/cronjob.h"
#include "kedge/controllers/job.h"
#include "kedge/controllers/workload_resources.h"
#include "workload_fixtures.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeTransport;

SystemTime at(const char* rfc3339) { return *api::parse_rfc3339(rfc3339); }

class CronJobTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 200 && controller_.process_one(); ++i) {
    }
  }
  void advance_to(const char* rfc3339) {
    SystemTime target = at(rfc3339);
    clock_.advance(std::chrono::duration_cast<Duration>(target - now_));
    now_ = target;
    drain();
  }
  void put_cronjob(const std::string& schedule, std::string_view extra_spec = "") {
    json::value cj = json::parse(R"({"apiVersion": "batch/v1", "kind": "CronJob",
      "metadata": {"name": "tick", "namespace": "ns", "creationTimestamp": "2026-01-01T10:00:30Z"},
      "spec": {)" + std::string(extra_spec) + R"("schedule": ")" + schedule + R"(",
        "jobTemplate": {"metadata": {"labels": {"app": "tick"}},
                        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                 "containers": [{"name": "c", "image": "busybox"}]}}}}}})");
    t_.put(cronjobs_resource(), std::move(cj));
    drain();
  }
  std::vector<std::string> job_names() {
    std::vector<std::string> out;
    for (const auto& j : t_.list(jobs_resource(), "ns")) {
      if (!api::get_deletion_timestamp(*j)) out.emplace_back(api::get_name(*j));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string name_at(const char* rfc3339) {
    return cronjob_job_name("tick", std::chrono::floor<std::chrono::seconds>(at(rfc3339)));
  }
  void finish(const std::string& job, const char* type, const char* when) {
    json::value j = *t_.get(jobs_resource(), "ns", job);
    json::object st{{"conditions", json::array{json::object{{"type", type}, {"status", "True"},
                                                             {"lastTransitionTime", when}}}}};
    if (std::string_view(type) == "Complete") st["completionTime"] = when;
    j.as_object()["status"] = std::move(st);
    t_.put(jobs_resource(), std::move(j));
    drain();
  }
  json::value status() {
    const auto* st = t_.get(cronjobs_resource(), "ns", "tick")->as_object().if_contains("status");
    return st ? *st : json::value(json::object{});
  }

  SystemTime now_ = at("2026-01-01T10:00:30Z");
  testing::ManualClock clock_;
  FakeTransport t_;
  CronJobController controller_{t_, {.queue = {.clock = &clock_}, .now = [this] { return now_; },
                                     .default_time_zone = "UTC"}};
};

TEST_F(CronJobTest, CreatesTheJobAtTheScheduledMinute) {
  put_cronjob("*/5 * * * *");
  EXPECT_TRUE(job_names().empty());
  advance_to("2026-01-01T10:04:59Z");
  EXPECT_TRUE(job_names().empty());
  advance_to("2026-01-01T10:05:00.200Z");  // the controller requeued itself for 10:05
  ASSERT_EQ(job_names(), std::vector<std::string>{name_at("2026-01-01T10:05:00Z")});
  EXPECT_EQ(name_at("2026-01-01T10:05:00Z"), "tick-" + std::to_string(1767261900 / 60));
  auto job = t_.get(jobs_resource(), "ns", name_at("2026-01-01T10:05:00Z"));
  auto ref = api::get_controller_ref(*job);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->kind, "CronJob");
  EXPECT_EQ(ref->name, "tick");
  EXPECT_EQ(api::get_label(*job, "app"), "tick");
  EXPECT_EQ(api::get_annotation(*job, "batch.kubernetes.io/cronjob-scheduled-timestamp"), "2026-01-01T10:05:00Z");
  EXPECT_EQ(job->at("spec").at("template").at("spec").at("restartPolicy"), "Never");
  EXPECT_EQ(status().at("lastScheduleTime"), "2026-01-01T10:05:00Z");
  ASSERT_EQ(status().at("active").as_array().size(), 1u);
  EXPECT_EQ(status().at("active").at(0).at("name").as_string(), name_at("2026-01-01T10:05:00Z"));
  // A resync in the same minute starts nothing more.
  controller_.resync_all();
  drain();
  EXPECT_EQ(job_names().size(), 1u);
}

TEST_F(CronJobTest, ForbidSkipsWhileAJobRunsAndStartsLateAfterIt) {
  put_cronjob("*/5 * * * *", R"("concurrencyPolicy": "Forbid",)");
  advance_to("2026-01-01T10:05:01Z");
  ASSERT_EQ(job_names().size(), 1u);
  advance_to("2026-01-01T10:10:01Z");
  EXPECT_EQ(job_names().size(), 1u);  // the 10:05 Job still runs
  finish(name_at("2026-01-01T10:05:00Z"), "Complete", "2026-01-01T10:11:00Z");
  EXPECT_EQ(job_names(), (std::vector<std::string>{name_at("2026-01-01T10:05:00Z"), name_at("2026-01-01T10:10:00Z")}));
  EXPECT_EQ(status().at("lastSuccessfulTime"), "2026-01-01T10:11:00Z");
}

TEST_F(CronJobTest, ReplaceDeletesTheRunningJob) {
  put_cronjob("*/5 * * * *", R"("concurrencyPolicy": "Replace",)");
  advance_to("2026-01-01T10:05:01Z");
  advance_to("2026-01-01T10:10:01Z");
  EXPECT_EQ(job_names(), std::vector<std::string>{name_at("2026-01-01T10:10:00Z")});
  EXPECT_EQ(status().at("active").as_array().size(), 1u);
}

TEST_F(CronJobTest, AllowRunsJobsSideBySide) {
  put_cronjob("*/5 * * * *");
  advance_to("2026-01-01T10:05:01Z");
  advance_to("2026-01-01T10:10:01Z");
  EXPECT_EQ(job_names().size(), 2u);
  EXPECT_EQ(status().at("active").as_array().size(), 2u);
}

TEST_F(CronJobTest, SuspendedCronJobStartsNothing) {
  put_cronjob("*/5 * * * *", R"("suspend": true,)");
  advance_to("2026-01-01T10:05:01Z");
  controller_.resync_all();
  drain();
  EXPECT_TRUE(job_names().empty());
}

TEST_F(CronJobTest, MissedStartingDeadlineIsNotRunLate) {
  put_cronjob("0 * * * *", R"("startingDeadlineSeconds": 10,)");
  // The controller was down at 11:00 and comes back at 11:00:30.
  now_ = at("2026-01-01T11:00:30Z");
  controller_.resync_all();
  drain();
  EXPECT_TRUE(job_names().empty());
  // Within the deadline it runs.
  now_ = at("2026-01-01T12:00:05Z");
  controller_.resync_all();
  drain();
  EXPECT_EQ(job_names(), std::vector<std::string>{name_at("2026-01-01T12:00:00Z")});
}

TEST_F(CronJobTest, OnlyTheMostRecentMissedActivationRuns) {
  put_cronjob("* * * * *");
  now_ = at("2026-01-03T10:00:30Z");  // two days of missed minutes
  controller_.resync_all();
  drain();
  EXPECT_EQ(job_names(), std::vector<std::string>{name_at("2026-01-03T10:00:00Z")});
}

TEST_F(CronJobTest, HistoryLimitsDeleteTheOldestFinishedJobs) {
  put_cronjob("* * * * *", R"("successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1,)");
  // One second past each activation (the controller wakes 100 ms after it).
  const char* minutes[] = {"2026-01-01T10:01:01Z", "2026-01-01T10:02:01Z", "2026-01-01T10:03:01Z",
                           "2026-01-01T10:04:01Z", "2026-01-01T10:05:01Z", "2026-01-01T10:06:01Z"};
  for (const char* m : minutes) {
    advance_to(m);
    ASSERT_TRUE(t_.get(jobs_resource(), "ns", name_at(m))) << m;
  }
  finish(name_at(minutes[0]), "Complete", "2026-01-01T10:06:01Z");
  finish(name_at(minutes[1]), "Complete", "2026-01-01T10:06:02Z");
  finish(name_at(minutes[2]), "Complete", "2026-01-01T10:06:03Z");
  finish(name_at(minutes[3]), "Failed", "2026-01-01T10:06:04Z");
  finish(name_at(minutes[4]), "Failed", "2026-01-01T10:06:05Z");
  EXPECT_EQ(job_names(), (std::vector<std::string>{name_at(minutes[1]), name_at(minutes[2]), name_at(minutes[4]),
                                                   name_at(minutes[5])}));
  EXPECT_EQ(status().at("active").as_array().size(), 1u);
}

TEST_F(CronJobTest, TimeZoneShiftsTheSchedule) {
  put_cronjob("0 9 * * *", R"("timeZone": "Asia/Tokyo",)");
  advance_to("2026-01-02T00:00:01Z");  // 09:00 in Tokyo
  ASSERT_EQ(job_names(), std::vector<std::string>{name_at("2026-01-02T00:00:00Z")});
  auto job = t_.get(jobs_resource(), "ns", name_at("2026-01-02T00:00:00Z"));
  EXPECT_EQ(api::get_annotation(*job, "batch.kubernetes.io/cronjob-scheduled-timestamp"),
            "2026-01-02T09:00:00+09:00");
}

TEST_F(CronJobTest, BadScheduleOrZoneStartsNothing) {
  put_cronjob("61 * * * *");
  now_ = at("2026-01-01T12:00:00Z");
  controller_.resync_all();
  drain();
  EXPECT_TRUE(job_names().empty());
  put_cronjob("* * * * *", R"("timeZone": "Nowhere/Atlantis",)");
  controller_.resync_all();
  drain();
  EXPECT_TRUE(job_names().empty());
}

}  // namespace
}  // namespace kedge::controllers

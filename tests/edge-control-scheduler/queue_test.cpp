// The scheduling queue with a fake clock: ordering, backoff, parking and
// requeue on cluster events.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "kedge/scheduler/queue.h"

namespace kedge::scheduler {
namespace {

using namespace std::chrono_literals;

class QueueTest : public ::testing::Test {
 protected:
  SteadyTime now_{};
  SchedulingQueue queue_{{.now = [this] { return now_; }}};

  std::shared_ptr<const PodInfo> pod(const std::string& name, int priority = 0) {
    return testing::pod(name, {.spec = R"({"priority":)" + std::to_string(priority) + "}"});
  }
  ScheduleResult unschedulable(std::vector<Plugin> by) {
    ScheduleResult r;
    r.outcome = ScheduleResult::Outcome::kUnschedulable;
    r.rejected_by = std::move(by);
    return r;
  }
  // Pops one pod and fails it as unschedulable by `by`.
  void fail(std::vector<Plugin> by = {Plugin::kNodeResourcesFit}) {
    auto qp = queue_.pop();
    ASSERT_TRUE(qp);
    queue_.add_unschedulable(*qp, unschedulable(std::move(by)));
  }
};

TEST_F(QueueTest, BackoffDoublesFromOneToTenSeconds) {
  EXPECT_EQ(queue_.backoff_for(1), 1000ms);
  EXPECT_EQ(queue_.backoff_for(2), 2000ms);
  EXPECT_EQ(queue_.backoff_for(3), 4000ms);
  EXPECT_EQ(queue_.backoff_for(4), 8000ms);
  EXPECT_EQ(queue_.backoff_for(5), 10000ms);
  EXPECT_EQ(queue_.backoff_for(50), 10000ms);
}

TEST_F(QueueTest, HigherPriorityFirstThenOlder) {
  queue_.add(pod("low", 0));
  now_ += 1ms;
  queue_.add(pod("high", 100));
  now_ += 1ms;
  queue_.add(pod("low2", 0));
  EXPECT_EQ(queue_.pop()->pod->name, "high");
  EXPECT_EQ(queue_.pop()->pod->name, "low");
  EXPECT_EQ(queue_.pop()->pod->name, "low2");
  EXPECT_FALSE(queue_.pop());
  EXPECT_FALSE(queue_.next_wakeup()) << "only in-flight pods: nothing to wake up for";
}

TEST_F(QueueTest, UnschedulablePodWaitsForAnEventThenForItsBackoff) {
  queue_.add(pod("p"));
  fail();
  EXPECT_EQ(queue_.unschedulable_size(), 1u);
  EXPECT_FALSE(queue_.pop());
  // A node appears 200 ms later: the pod still has 800 ms of backoff left.
  now_ += 200ms;
  queue_.on_event(ClusterEvent::kNodeAdded);
  EXPECT_EQ(queue_.backoff_size(), 1u);
  EXPECT_FALSE(queue_.pop());
  ASSERT_TRUE(queue_.next_wakeup());
  EXPECT_EQ(*queue_.next_wakeup(), SteadyTime{} + 1000ms);
  now_ = SteadyTime{} + 1000ms;
  auto qp = queue_.pop();
  ASSERT_TRUE(qp);
  EXPECT_EQ(qp->attempts, 2);
  // Second failure: 2 s of backoff from now.
  queue_.add_unschedulable(*qp, unschedulable({Plugin::kNodeResourcesFit}));
  queue_.on_event(ClusterEvent::kNodeAdded);
  EXPECT_EQ(*queue_.next_wakeup(), now_ + 2000ms);
  now_ += 1999ms;
  EXPECT_FALSE(queue_.pop());
  now_ += 1ms;
  EXPECT_TRUE(queue_.pop());
}

TEST_F(QueueTest, OnlyEventsThatMayHelpMoveAPod) {
  queue_.add(pod("affinity"));
  fail({Plugin::kNodeAffinity});
  queue_.add(pod("ports"));
  fail({Plugin::kNodePorts});
  now_ += 20s;
  queue_.on_event(ClusterEvent::kAssignedPodDeleted);  // frees ports, not labels
  EXPECT_EQ(queue_.unschedulable_size(), 1u);
  EXPECT_EQ(queue_.pop()->pod->name, "ports");
  queue_.on_event(ClusterEvent::kNodeUpdated);  // labels may now match
  EXPECT_EQ(queue_.pop()->pod->name, "affinity");
}

TEST_F(QueueTest, AnEventDuringTheAttemptSendsTheFailedPodToBackoff) {
  queue_.add(pod("p"));
  auto qp = queue_.pop();
  ASSERT_TRUE(qp);
  queue_.on_event(ClusterEvent::kAssignedPodDeleted);  // while p is being scheduled
  queue_.add_unschedulable(*qp, unschedulable({Plugin::kNodeResourcesFit}));
  EXPECT_EQ(queue_.unschedulable_size(), 0u);
  EXPECT_EQ(queue_.backoff_size(), 1u);
  now_ += 1s;
  EXPECT_TRUE(queue_.pop());
}

TEST_F(QueueTest, ParkedPodsAreRetriedAfterFiveMinutes) {
  queue_.add(pod("p"));
  fail();
  EXPECT_EQ(*queue_.next_wakeup(), SteadyTime{} + 5min);
  now_ += 4min;
  EXPECT_FALSE(queue_.pop());
  now_ += 1min;
  EXPECT_TRUE(queue_.pop());
}

TEST_F(QueueTest, ParkedPodsTimeOutOldestFirst) {
  queue_.add(pod("first"));
  fail();
  now_ += 2min;
  queue_.add(pod("second"));
  fail();
  now_ += 3min;  // first parked 5 min ago, second 3 min ago
  auto qp = queue_.pop();
  ASSERT_TRUE(qp);
  EXPECT_EQ(qp->pod->name, "first");
  EXPECT_FALSE(queue_.pop());
  EXPECT_EQ(*queue_.next_wakeup(), SteadyTime{} + 7min);
  now_ += 2min;
  ASSERT_TRUE(queue_.pop());
}

TEST_F(QueueTest, UpdatesAndRemovals) {
  queue_.add(pod("p"));
  fail();
  now_ += 5s;
  queue_.add(pod("p", 5));  // the pending pod changed: try it again
  auto qp = queue_.pop();
  ASSERT_TRUE(qp);
  EXPECT_EQ(qp->pod->priority, 5);
  queue_.add_backoff(*qp);  // e.g. the binding failed
  EXPECT_EQ(queue_.backoff_size(), 1u);
  queue_.remove("default/p");
  EXPECT_EQ(queue_.backoff_size(), 0u);
  EXPECT_FALSE(queue_.contains("default/p"));
  // A pod deleted while in flight is not resurrected by a late failure report.
  queue_.add(pod("q"));
  auto q = queue_.pop();
  queue_.remove("default/q");
  queue_.add_unschedulable(*q, unschedulable({}));
  EXPECT_FALSE(queue_.contains("default/q"));
}

}  // namespace
}  // namespace kedge::scheduler

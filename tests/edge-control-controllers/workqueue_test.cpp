// WorkQueue, rate limiters and Expectations, with an injected clock.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kedge/controllers/expectations.h"
#include "kedge/controllers/workqueue.h"

namespace kedge::controllers {
namespace {

using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return t_; }
  void advance(Duration d) { t_ += d; }

 private:
  TimePoint t_{std::chrono::hours(1)};
};

TEST(ItemExponentialBackoff, DoublesFrom5msAndCapsAt1000s) {
  ItemExponentialBackoff b(5ms, 1000s);
  EXPECT_EQ(b.when("a"), 5ms);
  EXPECT_EQ(b.when("a"), 10ms);
  EXPECT_EQ(b.when("a"), 20ms);
  EXPECT_EQ(b.when("b"), 5ms);  // per key
  for (int i = 0; i < 30; ++i) (void)b.when("a");
  EXPECT_EQ(b.when("a"), Duration(1000s));
  EXPECT_EQ(b.failures("a"), 34);
  b.forget("a");
  EXPECT_EQ(b.when("a"), 5ms);
}

TEST(TokenBucket, BurstThenQps) {
  FakeClock clock;
  TokenBucket bucket(10, 100, clock.now());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(bucket.reserve(clock.now()), Duration::zero()) << i;
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(bucket.reserve(clock.now())), 100ms);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(bucket.reserve(clock.now())), 200ms);
  clock.advance(10s);  // refills, but never above the burst
  for (int i = 0; i < 98; ++i) ASSERT_EQ(bucket.reserve(clock.now()), Duration::zero()) << i;
}

TEST(WorkQueue, DeduplicatesQueuedKeys) {
  FakeClock clock;
  WorkQueue q({.clock = &clock});
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.try_get(), "a");
  EXPECT_EQ(q.try_get(), "b");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(WorkQueue, KeyAddedWhileProcessingIsRequeuedOnDone) {
  FakeClock clock;
  WorkQueue q({.clock = &clock});
  q.add("a");
  auto k = q.try_get();
  ASSERT_EQ(k, "a");
  q.add("a");  // must not be handed to a second worker now
  EXPECT_EQ(q.try_get(), std::nullopt);
  q.add("a");
  q.done("a");
  EXPECT_EQ(q.try_get(), "a");
  q.done("a");
  EXPECT_EQ(q.try_get(), std::nullopt);
}

TEST(WorkQueue, RateLimitedAddsWaitForBackoff) {
  FakeClock clock;
  WorkQueue q({.clock = &clock});
  q.add_rate_limited("a");  // 5 ms
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_EQ(q.delayed(), 1u);
  clock.advance(4ms);
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.advance(1ms);
  ASSERT_EQ(q.try_get(), "a");
  q.done("a");
  q.add_rate_limited("a");  // 10 ms now
  clock.advance(9ms);
  EXPECT_EQ(q.try_get(), std::nullopt);
  clock.advance(1ms);
  ASSERT_EQ(q.try_get(), "a");
  q.done("a");
  EXPECT_EQ(q.num_requeues("a"), 2);
  q.forget("a");
  EXPECT_EQ(q.num_requeues("a"), 0);
}

TEST(WorkQueue, AddAfterKeepsEarliestDueTime) {
  FakeClock clock;
  WorkQueue q({.clock = &clock});
  q.add_after("a", 10s);
  q.add_after("a", 1s);
  q.add_after("a", 5s);
  EXPECT_EQ(q.delayed(), 1u);
  clock.advance(1s);
  EXPECT_EQ(q.try_get(), "a");
}

TEST(WorkQueue, GetBlocksUntilAddAndShutdownWakesAll) {
  WorkQueue q;
  std::atomic<int> got{0};
  std::thread a([&] {
    while (auto k = q.get()) {
      ++got;
      q.done(*k);
    }
  });
  std::thread b([&] {
    while (auto k = q.get()) {
      ++got;
      q.done(*k);
    }
  });
  q.add("x");
  q.add_after("y", 20ms);  // real clock: the sleeper wakes when it is due
  for (int i = 0; i < 200 && got < 2; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(got, 2);
  q.shut_down();
  a.join();
  b.join();
  EXPECT_TRUE(q.shutting_down());
}

TEST(Expectations, PendingCreatesBlockUntilObservedOrExpired) {
  FakeClock clock;
  Expectations e(&clock, std::chrono::minutes(5));
  EXPECT_TRUE(e.satisfied("ns/rs"));
  e.expect("ns/rs", 2, 0);
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creation_observed("ns/rs");
  EXPECT_FALSE(e.satisfied("ns/rs"));
  e.creation_observed("ns/rs");
  EXPECT_TRUE(e.satisfied("ns/rs"));
  e.expect("ns/rs", 0, 1);
  EXPECT_FALSE(e.satisfied("ns/rs"));
  clock.advance(std::chrono::minutes(5) + 1s);
  EXPECT_TRUE(e.satisfied("ns/rs"));  // a lost event must not wedge the controller
  e.expect("ns/rs", 1, 0);
  e.forget("ns/rs");
  EXPECT_TRUE(e.satisfied("ns/rs"));
}

}  // namespace
}  // namespace kedge::controllers

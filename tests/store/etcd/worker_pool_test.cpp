// The etcd front's worker pool: grows under blocked work, and hands freed
// heap back to the kernel once per quiet spell (never while work runs).
#include "worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

namespace kedge::store::etcd {
namespace {

using namespace std::chrono_literals;

// Polls `pred` up to `limit`: the pool's threads act on their own schedule.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST(WorkerPool, BlockedWorkGetsMoreThreadsUpToTheCap) {
  WorkerPool pool(1, 8);
  std::latch all_running(8);
  std::latch release(1);
  for (int i = 0; i < 8; ++i) {
    pool.post([&] {
      all_running.count_down();
      release.wait();
    });
  }
  // Eight items that block each other's completion finish only if each got
  // a thread of its own.
  all_running.wait();
  release.count_down();
}

TEST(WorkerPool, TrimsOnceAfterEachQuietSpell) {
  WorkerPool pool(2, 4, 50ms);
  EXPECT_EQ(pool.trims(), 0u) << "no work yet: nothing to hand back";
  std::atomic<int> ran = 0;
  for (int i = 0; i < 10; ++i) pool.post([&] { ++ran; });
  ASSERT_TRUE(eventually([&] { return pool.trims() == 1; }));
  EXPECT_EQ(ran.load(), 10);
  // Idle with no new work: no further trims (the pool sleeps untimed).
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pool.trims(), 1u);
  pool.post([&] { ++ran; });
  ASSERT_TRUE(eventually([&] { return pool.trims() == 2; }));
}

TEST(WorkerPool, NoTrimWhileWorkRuns) {
  WorkerPool pool(1, 2, 20ms);
  std::latch release(1);
  pool.post([&] { release.wait(); });
  pool.post([] {});
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(pool.trims(), 0u) << "one thread is still busy";
  release.count_down();
  ASSERT_TRUE(eventually([&] { return pool.trims() == 1; }));
}

TEST(WorkerPool, StopRunsWhatIsQueued) {
  std::atomic<int> ran = 0;
  {
    WorkerPool pool(1, 1, 10ms);
    for (int i = 0; i < 100; ++i) pool.post([&] { ++ran; });
    pool.stop();
    pool.post([&] { ++ran; });  // dropped after stop
  }
  EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace kedge::store::etcd

// WatchCache: replay from a resourceVersion, 410 for one older than the
// buffer, live fan-out from one store watch.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "fake_store.h"
#include "kedge/control/watch_cache.h"

namespace kedge::control {
namespace {

class Recorder : public CacheWatcher {
 public:
  bool on_event(const CacheEvent& e) override {
    std::lock_guard lock(mu);
    revisions.push_back(e.revision);
    cv.notify_all();
    return true;
  }
  bool on_progress(store::Revision r) override {
    std::lock_guard lock(mu);
    progress = r;
    cv.notify_all();
    return true;
  }
  void on_terminated(const ApiError& e) override {
    std::lock_guard lock(mu);
    terminated = e.code;
    cv.notify_all();
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return revisions.size() >= n; });
  }
  std::mutex mu;
  std::condition_variable cv;
  std::vector<store::Revision> revisions;
  store::Revision progress = 0;
  int terminated = 0;
};

store::Revision put(testing::FakeStore& s, const std::string& key) {
  return s.put(store::PutRequest{.key = key, .value = "{}"})->revision;
}

TEST(WatchCache, ReplaysFromRevisionAndFansOut) {
  testing::FakeStore store;
  WatchCache cache(store, {.prefix = "/registry/pods/", .capacity = 4});
  ASSERT_TRUE(cache.start().ok());
  store::Revision r1 = put(store, "/registry/pods/a/1");
  put(store, "/registry/pods/a/2");
  put(store, "/registry/configmaps/a/x");  // other prefix: not seen
  put(store, "/registry/pods/a/3");
  auto late = std::make_shared<Recorder>();
  // Wait until the cache has the events, then join from r1: sees 2 and 3.
  auto probe = std::make_shared<Recorder>();
  ASSERT_TRUE(cache.add_watcher(probe, r1 - 1).ok());
  ASSERT_TRUE(probe->wait_for(3));
  ASSERT_TRUE(cache.add_watcher(late, r1).ok());
  ASSERT_TRUE(late->wait_for(2));
  EXPECT_EQ(late->revisions.size(), 2u);
  store::Revision r4 = put(store, "/registry/pods/b/4");
  ASSERT_TRUE(late->wait_for(3));
  ASSERT_TRUE(probe->wait_for(4));
  EXPECT_EQ(late->revisions.back(), r4);
  EXPECT_EQ(cache.watcher_count(), 2u);
}

TEST(WatchCache, TooOldRevisionIsExpired) {
  testing::FakeStore store;
  WatchCache cache(store, {.prefix = "/registry/pods/", .capacity = 2});
  ASSERT_TRUE(cache.start().ok());
  store::Revision first = put(store, "/registry/pods/a/1");
  auto probe = std::make_shared<Recorder>();
  ASSERT_TRUE(cache.add_watcher(probe, first - 1).ok());
  for (int i = 0; i < 5; ++i) put(store, "/registry/pods/a/x" + std::to_string(i));
  ASSERT_TRUE(probe->wait_for(6));
  auto r = cache.add_watcher(std::make_shared<Recorder>(), first);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 410);
  EXPECT_EQ(r.error().reason, "Expired");
}

TEST(WatchCache, ProgressBecomesBookmarkRevision) {
  testing::FakeStore store;
  WatchCache cache(store, {.prefix = "/registry/pods/"});
  ASSERT_TRUE(cache.start().ok());
  auto rec = std::make_shared<Recorder>();
  ASSERT_TRUE(cache.add_watcher(rec, cache.revision()).ok());
  put(store, "/registry/other/x");
  cache.request_progress();
  std::unique_lock lock(rec->mu);
  ASSERT_TRUE(rec->cv.wait_for(lock, std::chrono::seconds(5), [&] { return rec->progress > 0; }));
  EXPECT_EQ(rec->progress, store.revision());
}

}  // namespace
}  // namespace kedge::control

// WatchCache: replay from a resourceVersion, 410 for one older than the
// buffer, live fan-out from one store watch; lists from the cached objects
// (kept serialized), consistent reads, relist after the store watch ends.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "fake_store.h"
#include "kedge/control/watch_cache.h"
#include "kedge/testing/process.h"

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

store::Revision put_pod(testing::FakeStore& s, const std::string& ns, const std::string& name,
                        const std::string& node) {
  std::string v = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":")" + ns +
                  R"(","labels":{"app":")" + name.substr(0, 1) + R"("}},"spec":{"nodeName":")" + node +
                  R"(","containers":[{"name":"c","image":"i"}]}})";
  return s.put(store::PutRequest{.key = "/registry/pods/" + ns + "/" + name, .value = v})->revision;
}

std::vector<std::string> names(const CacheList& l) {
  std::vector<std::string> out;
  for (const auto& o : l.items) {
    out.push_back(boost::json::parse(o->json).at("metadata").at("name").as_string().c_str());
  }
  return out;
}

TEST(CachedObject, KeepsTheBytesWithTheResourceVersionAndTheSelectableFields) {
  auto o = CachedObject::make(
      "/registry/pods/a/p",
      R"({"kind":"Pod","metadata":{"name":"p","resourceVersion":"1","labels":{"x":"y"},)"
      R"("annotations":{"big":"zzz"}},"spec":{"nodeName":"n1","containers":[{"name":"c"}]},"status":{"phase":"Running"}})",
      42);
  ASSERT_NE(o, nullptr);
  auto v = boost::json::parse(o->json);
  EXPECT_EQ(v.at("metadata").at("resourceVersion"), "42");  // the stored one is replaced
  EXPECT_EQ(v.at("metadata").at("labels").at("x"), "y");
  EXPECT_EQ(v.at("spec").at("containers").as_array().size(), 1u);
  EXPECT_EQ(boost::json::parse(o->json_at(1234)).at("metadata").at("resourceVersion").as_string(), "1234");
  EXPECT_EQ(o->fields.at("spec").at("nodeName"), "n1");
  EXPECT_EQ(o->fields.at("status").at("phase"), "Running");
  EXPECT_EQ(o->fields.at("metadata").at("labels").at("x"), "y");
  EXPECT_FALSE(o->fields.at("spec").as_object().contains("containers"));
  EXPECT_FALSE(o->fields.at("metadata").as_object().contains("annotations"));
  // An object without metadata gets one; garbage is refused.
  EXPECT_EQ(boost::json::parse(CachedObject::make("k", "{}", 7)->json).at("metadata").at("resourceVersion"), "7");
  EXPECT_EQ(CachedObject::make("k", "[1]", 7), nullptr);
  EXPECT_EQ(CachedObject::make("k", "{not json", 7), nullptr);
}

TEST(WatchCache, ListsCurrentObjectsByNamespaceSelectorAndPage) {
  testing::FakeStore store;
  put_pod(store, "a", "p1", "n1");  // before start: read by the initial list
  WatchCache cache(store, {.prefix = "/registry/pods/"});
  ASSERT_TRUE(cache.start().ok());
  put_pod(store, "a", "p2", "n2");
  put_pod(store, "ab", "q1", "n1");  // namespace "ab" is not under "a/"
  store::Revision last = put_pod(store, "b", "p3", "n1");
  ASSERT_TRUE(store.delete_range(store::DeleteRangeRequest{.key = "/registry/pods/a/p2"}).ok());
  ASSERT_TRUE(cache.wait_for_revision(store.revision(), std::chrono::seconds(5)));
  CacheList all;
  ASSERT_TRUE(cache.list({.prefix = "/registry/pods/"}, all));
  EXPECT_EQ(names(all), (std::vector<std::string>{"p1", "q1", "p3"}));
  EXPECT_EQ(all.revision, store.revision());
  CacheList in_a;
  ASSERT_TRUE(cache.list({.prefix = "/registry/pods/a/"}, in_a));
  EXPECT_EQ(names(in_a), (std::vector<std::string>{"p1"}));
  CacheList on_n1;
  ASSERT_TRUE(cache.list({.prefix = "/registry/pods/",
                          .match = [](const CachedObject& o) { return o.fields.at("spec").at("nodeName") == "n1"; }},
                         on_n1));
  EXPECT_EQ(names(on_n1), (std::vector<std::string>{"p1", "q1", "p3"}));
  // Pages: the first two, then the rest from after the second key.
  CacheList page;
  ASSERT_TRUE(cache.list({.prefix = "/registry/pods/", .limit = 2}, page));
  EXPECT_EQ(names(page), (std::vector<std::string>{"p1", "q1"}));
  EXPECT_TRUE(page.more);
  const std::string next = page.items.back()->key + std::string(1, '\0');
  CacheList rest;
  ASSERT_TRUE(cache.list({.prefix = "/registry/pods/", .start = next, .limit = 2, .at = page.revision}, rest));
  EXPECT_EQ(names(rest), (std::vector<std::string>{"p3"}));
  EXPECT_FALSE(rest.more);
  EXPECT_EQ(rest.revision, page.revision);
  EXPECT_EQ(boost::json::parse(rest.items[0]->json).at("metadata").at("resourceVersion").as_string(),
            std::to_string(last));
  // A change past the page's start after its revision: the cache cannot
  // answer that snapshot (the store must), one before it does not matter.
  put_pod(store, "a", "p0", "n1");
  ASSERT_TRUE(cache.wait_for_revision(store.revision(), std::chrono::seconds(5)));
  EXPECT_TRUE(cache.list({.prefix = "/registry/pods/", .start = next, .at = page.revision}, rest));
  put_pod(store, "b", "p4", "n1");
  ASSERT_TRUE(cache.wait_for_revision(store.revision(), std::chrono::seconds(5)));
  EXPECT_FALSE(cache.list({.prefix = "/registry/pods/", .start = next, .at = page.revision}, rest));
}

TEST(WatchCache, ConsistentReadWaitsForAProgressNotification) {
  testing::FakeStore store;
  WatchCache cache(store, {.prefix = "/registry/pods/"});
  ASSERT_TRUE(cache.start().ok());
  // Only another resource changed: the cache learns the revision by progress.
  put(store, "/registry/configmaps/a/x");
  EXPECT_LT(cache.revision(), store.revision());
  EXPECT_TRUE(cache.wait_for_revision(store.revision(), std::chrono::seconds(5)));
  EXPECT_EQ(cache.revision(), store.revision());
  EXPECT_FALSE(cache.wait_for_revision(store.revision() + 5, std::chrono::milliseconds(50)));
}

// Runs posted work on threads it joins at the end; schedule sleeps first.
struct TestExecutor {
  std::mutex mu;
  std::vector<std::thread> threads;
  void post(std::function<void()> fn) {
    std::lock_guard lock(mu);
    threads.emplace_back(std::move(fn));
  }
  void schedule(std::chrono::milliseconds d, std::function<void()> fn) {
    post([d, fn = std::move(fn)] {
      std::this_thread::sleep_for(d);
      fn();
    });
  }
  void join() {
    for (std::size_t i = 0;; ++i) {
      std::thread t;
      {
        std::lock_guard lock(mu);
        if (i >= threads.size()) return;
        t = std::move(threads[i]);
      }
      t.join();
    }
  }
};

// A store whose reads can be made to fail (an outage).
class FlakyStore : public testing::FakeStore {
 public:
  std::atomic<int> failing_ranges{0};
  Result<store::RangeResponse> range(const store::RangeRequest& r) override {
    if (failing_ranges > 0) {
      --failing_ranges;
      return Status(Code::kUnavailable, "connection refused");
    }
    return FakeStore::range(r);
  }
};

TEST(WatchCache, RelistsWithBackoffAfterTheStoreWatchEnds) {
  FlakyStore store;
  TestExecutor ex;
  {
    WatchCache cache(store, {.prefix = "/registry/pods/",
                             .post = [&](std::function<void()> fn) { ex.post(std::move(fn)); },
                             .schedule = [&](std::chrono::milliseconds d, std::function<void()> fn) {
                               ex.schedule(d, std::move(fn));
                             },
                             .min_backoff = std::chrono::milliseconds(10)});
    ASSERT_TRUE(cache.start().ok());
    // From the revision before the put: the cache may apply the put before or
    // after the watcher joins, and either way the watcher must get it.
    const auto before_put = cache.revision();
    put_pod(store, "a", "p1", "n1");
    auto watcher = std::make_shared<Recorder>();
    ASSERT_TRUE(cache.add_watcher(watcher, before_put).ok());
    ASSERT_TRUE(watcher->wait_for(1));
    // The store watch ends and the next three reads fail (store down).
    store.failing_ranges = 3;
    cache.on_canceled(Status(Code::kUnavailable, "etcd closed the watch stream"), 0);
    EXPECT_FALSE(cache.ready());
    CacheList l;
    EXPECT_FALSE(cache.list({.prefix = "/registry/pods/"}, l)) << "not ready: lists go to the store";
    auto refused = cache.add_watcher(std::make_shared<Recorder>(), cache.revision());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, 429);
    {
      std::unique_lock lock(watcher->mu);
      ASSERT_TRUE(watcher->cv.wait_for(lock, std::chrono::seconds(5), [&] { return watcher->terminated != 0; }));
      EXPECT_EQ(watcher->terminated, 410) << "clients relist";
    }
    // Changed while the cache was down: seen by the relist.
    put_pod(store, "a", "p2", "n1");
    ASSERT_TRUE(store.delete_range(store::DeleteRangeRequest{.key = "/registry/pods/a/p1"}).ok());
    ASSERT_TRUE(testing::eventually([&] { return cache.ready(); }, std::chrono::seconds(5)));
    EXPECT_EQ(store.failing_ranges.load(), 0);
    ASSERT_TRUE(cache.list({.prefix = "/registry/pods/"}, l));
    EXPECT_EQ(names(l), (std::vector<std::string>{"p2"}));
    // And it watches again.
    put_pod(store, "a", "p3", "n1");
    ASSERT_TRUE(cache.wait_for_revision(store.revision(), std::chrono::seconds(5)));
    ASSERT_TRUE(cache.list({.prefix = "/registry/pods/"}, l = {}));
    EXPECT_EQ(names(l), (std::vector<std::string>{"p2", "p3"}));
    cache.stop();
  }
  ex.join();
}

}  // namespace
}  // namespace kedge::control

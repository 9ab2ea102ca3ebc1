// The watch hub: live events, history replay without gap or duplicate,
// filters, prev_kv, progress, compaction and slow-watcher cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT
using namespace std::chrono_literals;

// Records what the notifier thread delivers; tests wait on it.
class Recorder : public WatchObserver {
 public:
  void on_events(Revision header, std::span<const Event> events) override {
    std::lock_guard lock(mu_);
    if (events.empty()) progress_.push_back(header);
    for (const Event& e : events) events_.push_back(e);
    cv_.notify_all();
  }
  void on_canceled(const Status& reason, Revision compact) override {
    std::lock_guard lock(mu_);
    canceled_ = true;
    reason_ = reason;
    compact_ = compact;
    cv_.notify_all();
  }
  bool wait_events(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
  }
  bool wait_canceled(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return canceled_; });
  }
  bool wait_progress(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return progress_.size() >= n; });
  }
  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<Revision> progress() {
    std::lock_guard lock(mu_);
    return progress_;
  }
  Status reason() {
    std::lock_guard lock(mu_);
    return reason_;
  }
  Revision compact() {
    std::lock_guard lock(mu_);
    return compact_;
  }
  bool canceled() {
    std::lock_guard lock(mu_);
    return canceled_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::vector<Revision> progress_;
  bool canceled_ = false;
  Status reason_;
  Revision compact_ = 0;
};

// Blocks inside on_events until released: a consumer that stopped reading.
class StuckObserver : public WatchObserver {
 public:
  void on_events(Revision, std::span<const Event> events) override {
    delivered_ += events.size();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return released_; });
  }
  void on_canceled(const Status& reason, Revision) override {
    std::lock_guard lock(mu_);
    canceled_ = true;
    reason_ = reason;
    cv_.notify_all();
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool wait_canceled(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return canceled_; });
  }
  Status reason() {
    std::lock_guard lock(mu_);
    return reason_;
  }
  std::atomic<std::size_t> delivered_{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  bool canceled_ = false;
  Status reason_;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { open(options_in(dir_.path())); }
  void open(SqliteStoreOptions options) {
    store_.reset();
    store_ = open_or_die(options);
  }
  Revision put(const std::string& k, const std::string& v) {
    auto r = store_->put(put_req(k, v));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? r->revision : 0;
  }
  std::unique_ptr<Watch> watch(WatchRequest req, WatchObserver& observer) {
    auto w = store_->watch(req, observer);
    EXPECT_TRUE(w.ok()) << w.status().to_string();
    return w.ok() ? std::move(w).value() : nullptr;
  }
  kedge::testing::TempDir dir_{"kedge-store-watch"};
  std::unique_ptr<SqliteStore> store_;
};

WatchRequest prefix_watch(const std::string& prefix, Revision start = 0) {
  WatchRequest w;
  w.key = prefix;
  w.range_end = prefix_end(prefix);
  w.start_revision = start;
  return w;
}

TEST_F(WatchTest, LiveEventsForPrefixWithPrevKv) {
  Recorder rec;
  auto req = prefix_watch("/p/");
  req.prev_kv = true;
  auto w = watch(req, rec);
  put("/p/a", "1");
  put("/other", "x");
  put("/p/a", "2");
  DeleteRangeRequest del;
  del.key = "/p/a";
  ASSERT_OK(store_->delete_range(del));
  ASSERT_TRUE(rec.wait_events(3));
  auto events = rec.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, Event::Type::kPut);
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_FALSE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[1].kv.mod_revision, 4);
  ASSERT_TRUE(events[1].prev_kv.has_value());
  EXPECT_EQ(events[1].prev_kv->value, "1");
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/p/a");
  EXPECT_EQ(events[2].kv.mod_revision, 5);
  EXPECT_EQ(events[2].kv.version, 0);
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(events[2].prev_kv->value, "2");
}

TEST_F(WatchTest, FiltersAndNoPrevKvByDefault) {
  Recorder puts_only, deletes_only;
  auto a = prefix_watch("k");
  a.filter_nodelete = true;
  auto b = prefix_watch("k");
  b.filter_noput = true;
  auto wa = watch(a, puts_only);
  auto wb = watch(b, deletes_only);
  put("k1", "v");
  DeleteRangeRequest del;
  del.key = "k1";
  ASSERT_OK(store_->delete_range(del));
  put("k2", "v");
  ASSERT_TRUE(puts_only.wait_events(2));
  ASSERT_TRUE(deletes_only.wait_events(1));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(puts_only.events().size(), 2u);
  EXPECT_FALSE(puts_only.events()[0].prev_kv.has_value());
  ASSERT_EQ(deletes_only.events().size(), 1u);
  EXPECT_EQ(deletes_only.events()[0].type, Event::Type::kDelete);
}

TEST_F(WatchTest, TxnEventsShareOneRevisionInOrder) {
  Recorder rec;
  auto w = watch(prefix_watch("t/"), rec);
  TxnRequest txn;
  txn.success.push_back({put_req("t/b", "1")});
  txn.success.push_back({put_req("t/a", "1")});
  ASSERT_OK(store_->txn(txn));
  ASSERT_TRUE(rec.wait_events(2));
  auto events = rec.events();
  EXPECT_EQ(events[0].kv.key, "t/b");
  EXPECT_EQ(events[1].kv.key, "t/a");
  EXPECT_EQ(events[0].kv.mod_revision, events[1].kv.mod_revision);
}

TEST_F(WatchTest, HistoryReplayThenLiveWithoutGapOrDuplicate) {
  for (int i = 0; i < 600; ++i) put("h/" + std::to_string(i % 7), std::to_string(i));  // revisions 2..601
  Recorder rec;
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  // Writers keep going while the watch replays history.
  std::thread writer([&] {
    for (int i = 0; i < 400 && !stop; ++i) {
      put("h/live", std::to_string(i));
      ++written;
    }
  });
  auto w = watch(prefix_watch("h/", 2), rec);
  writer.join();
  const std::size_t expected = 600 + static_cast<std::size_t>(written.load());
  ASSERT_TRUE(rec.wait_events(expected, 30s)) << rec.events().size();
  std::this_thread::sleep_for(100ms);
  auto events = rec.events();
  ASSERT_EQ(events.size(), expected);
  for (std::size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].kv.mod_revision, static_cast<Revision>(i + 2)) << "at " << i;
  }
}

TEST_F(WatchTest, StartInTheFutureWaitsForThatRevision) {
  put("f", "1");  // 2
  Recorder rec;
  auto w = watch(prefix_watch("f", 4), rec);
  put("f", "2");  // 3: before the start, not delivered
  put("f", "3");  // 4
  ASSERT_TRUE(rec.wait_events(1));
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(rec.events().size(), 1u);
  EXPECT_EQ(rec.events()[0].kv.mod_revision, 4);
}

TEST_F(WatchTest, StartAtCompactedRevisionIsCanceledWithCompactRevision) {
  for (int i = 0; i < 10; ++i) put("c", std::to_string(i));  // 2..11
  ASSERT_OK(store_->compact(8, true));
  Recorder rec;
  auto w = watch(prefix_watch("c", 5), rec);
  ASSERT_TRUE(rec.wait_canceled());
  EXPECT_EQ(rec.compact(), 8);
  EXPECT_EQ(rec.reason().code(), Code::kOutOfRange);
  EXPECT_EQ(rec.reason().message(), "etcdserver: mvcc: required revision has been compacted");
  EXPECT_TRUE(rec.events().empty());
  // At the compact revision itself the watch works.
  Recorder ok;
  auto w2 = watch(prefix_watch("c", 8), ok);
  ASSERT_TRUE(ok.wait_events(4));
  EXPECT_EQ(ok.events()[0].kv.mod_revision, 8);
  EXPECT_FALSE(ok.canceled());
}

TEST_F(WatchTest, ProgressRequestReportsCurrentRevision) {
  put("x", "1");
  put("x", "2");  // 3
  Recorder rec;
  auto w = watch(prefix_watch("nothing-here/"), rec);
  w->request_progress();
  ASSERT_TRUE(rec.wait_progress(1));
  EXPECT_EQ(rec.progress()[0], 3);
  EXPECT_TRUE(rec.events().empty());
}

TEST_F(WatchTest, DestroyingTheWatchStopsDelivery) {
  Recorder rec;
  auto w = watch(prefix_watch("d"), rec);
  put("d1", "v");
  ASSERT_TRUE(rec.wait_events(1));
  w.reset();
  put("d2", "v");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.events().size(), 1u);
  EXPECT_FALSE(rec.canceled());
}

TEST_F(WatchTest, SlowWatcherIsCanceledAndNeverBlocksWriters) {
  auto options = options_in(dir_.path());
  options.watch_buffer_events = 50;
  open(options);
  StuckObserver stuck;
  auto slow = watch(prefix_watch("s"), stuck);
  put("s", "first");  // the stuck observer blocks inside this delivery
  ASSERT_TRUE(kedge::testing::eventually([&] { return stuck.delivered_.load() >= 1; }));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) put("s", std::to_string(i));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Writers went on (they never wait for observers): all 200 puts happened.
  auto r = store_->range(get_req("s"));
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.at(0).version, 201);
  EXPECT_LT(elapsed, 20s);
  stuck.release();
  ASSERT_TRUE(stuck.wait_canceled(10s));
  EXPECT_EQ(stuck.reason().code(), Code::kResourceExhausted);
  EXPECT_NE(stuck.reason().message().find("fell behind"), std::string::npos);
  // After the cancel nothing more is delivered to it.
  const std::size_t delivered = stuck.delivered_.load();
  put("s", "after");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(stuck.delivered_.load(), delivered);
  // A new watcher works normally.
  Recorder fresh;
  auto again = watch(prefix_watch("s"), fresh);
  put("s", "again");
  ASSERT_TRUE(fresh.wait_events(1));
}

TEST_F(WatchTest, ManyWatchesOnOneKey) {
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < 50; ++i) {
    recs.push_back(std::make_unique<Recorder>());
    watches.push_back(watch(prefix_watch("m"), *recs.back()));
  }
  put("m", "1");
  put("m", "2");
  for (auto& rec : recs) ASSERT_TRUE(rec->wait_events(2));
}

}  // namespace
}  // namespace kedge::store

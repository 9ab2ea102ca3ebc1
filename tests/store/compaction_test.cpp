// Compaction: etcd's errors, reads at and below the compact revision,
// physical removal of history, automatic retention and Status().
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT
using namespace std::chrono_literals;

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = open_or_die(options_in(dir_.path())); }
  kedge::testing::TempDir dir_{"kedge-store-compact"};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(CompactionTest, ErrorsAndReadsAroundTheCompactRevision) {
  for (int i = 0; i < 10; ++i) ASSERT_OK(store_->put(put_req("k", std::to_string(i))));  // 2..11
  ASSERT_OK(store_->put(put_req("gone", "x")));                                          // 12
  DeleteRangeRequest del;
  del.key = "gone";
  ASSERT_OK(store_->delete_range(del));  // 13
  expect_error(store_->compact(14, false), Code::kOutOfRange, "etcdserver: mvcc: required revision is a future revision");
  auto c = store_->compact(6, true);
  ASSERT_OK(c);
  EXPECT_EQ(c->revision, 13);
  expect_error(store_->compact(6, false), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  expect_error(store_->compact(3, false), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  auto req = get_req("k");
  req.revision = 5;
  expect_error(store_->range(req), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  req.revision = 6;  // the compact revision itself is still readable
  auto r = store_->range(req);
  ASSERT_OK(r);
  EXPECT_EQ(r->kvs.at(0).value, "4");
  req.revision = 12;
  r = store_->range(get_req("gone"));
  ASSERT_OK(r);
  EXPECT_TRUE(r->kvs.empty());
  // A txn whose range reads a compacted revision fails as a whole.
  TxnRequest txn;
  auto old = get_req("k");
  old.revision = 2;
  txn.success.push_back({put_req("x", "1")});
  txn.success.push_back({old});
  expect_error(store_->txn(txn), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  auto status = store_->status();
  ASSERT_OK(status);
  EXPECT_EQ(status->revision, 13);
  EXPECT_EQ(status->compact_revision, 6);
}

// Reads while compaction deletes history (rows and the in-memory index):
// each answer is right for its revision or "compacted", never a wrong
// version, a missing key or an internal error.
TEST_F(CompactionTest, ReadsRacingCompactionAreRightOrCompacted) {
  constexpr int kKeys = 8;
  // One writer, so revision r (2, 3, ...) puts key (r - 2) % kKeys with value "v<r>".
  auto key_of = [](Revision r) { return "race/" + std::to_string((r - 2) % kKeys); };
  std::atomic<bool> stop{false};
  std::atomic<Revision> written{1};
  std::thread writer([&] {
    for (Revision r = 2; !stop; ++r) {
      auto p = store_->put(put_req(key_of(r), "v" + std::to_string(r)));
      ASSERT_OK(p);
      ASSERT_EQ(p->revision, r);
      written = r;
    }
  });
  std::thread compactor([&] {
    while (!stop) {
      const Revision target = written.load() - 40;
      if (target > 2 + kKeys) {
        auto c = store_->compact(target, true);
        if (!c.ok()) {
          EXPECT_EQ(c.status().code(), Code::kOutOfRange) << c.status().to_string();
        }
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  std::atomic<int> checked{0}, compacted{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::uint64_t seed = 12345 + t;
      while (!stop) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        // Often below the compaction; never before every key was written.
        const Revision at = written.load() - static_cast<Revision>((seed >> 33) % 60);
        if (at < 2 + kKeys) continue;
        auto req = get_req("race/", prefix_end("race/"));
        req.revision = at;
        auto r = store_->range(req);
        if (!r.ok()) {
          ASSERT_EQ(r.status().code(), Code::kOutOfRange) << r.status().to_string();
          ++compacted;
          continue;
        }
        ASSERT_EQ(r->kvs.size(), static_cast<std::size_t>(kKeys)) << "at " << at;
        for (const KeyValue& kv : r->kvs) {
          // The newest revision <= at that wrote this key.
          const int index = std::stoi(kv.key.substr(5));
          const Revision expected = at - ((at - 2 - index) % kKeys + kKeys) % kKeys;
          ASSERT_EQ(kv.mod_revision, expected) << kv.key << " at " << at;
          ASSERT_EQ(kv.value, "v" + std::to_string(expected));
        }
        ++checked;
      }
    });
  }
  std::this_thread::sleep_for(2s);
  stop = true;
  writer.join();
  compactor.join();
  for (auto& r : readers) r.join();
  auto status = store_->status();
  ASSERT_OK(status);
  EXPECT_GT(status->compact_revision, 100);  // compaction kept running
  EXPECT_GT(checked.load(), 100);
  EXPECT_GT(compacted.load(), 0);  // some reads did ask below it
  std::printf("%d reads checked, %d compacted, revision %lld compacted at %lld\n", checked.load(), compacted.load(),
              static_cast<long long>(status->revision), static_cast<long long>(status->compact_revision));
}

TEST_F(CompactionTest, PhysicalCompactionRemovesHistoryButKeepsLatest) {
  for (int i = 0; i < 1000; ++i) ASSERT_OK(store_->put(put_req("k" + std::to_string(i % 10), std::string(200, 'v'))));
  DeleteRangeRequest del;
  del.key = "k0";
  ASSERT_OK(store_->delete_range(del));  // 1002
  ASSERT_OK(store_->put(put_req("late", "v")));  // 1003
  ASSERT_OK(store_->compact(1003, true));
  ASSERT_OK(store_->wait_compacted());
  // Everything still readable at the current revision.
  auto all = store_->range(get_req(std::string(1, '\0'), std::string(1, '\0')));
  ASSERT_OK(all);
  EXPECT_EQ(all->count, 10);  // k1..k9 + late
  // Replaying from the compact revision yields only what is left: one row.
  class Rec : public WatchObserver {
   public:
    void on_events(Revision, std::span<const Event> events) override { n += events.size(); }
    void on_canceled(const Status&, Revision) override {}
    std::atomic<std::size_t> n{0};
  } rec;
  WatchRequest w;
  w.key = std::string(1, '\0');
  w.range_end = std::string(1, '\0');
  w.start_revision = 1003;
  auto watch = store_->watch(w, rec);
  ASSERT_OK(watch);
  ASSERT_TRUE(kedge::testing::eventually([&] { return rec.n.load() == 1; }));
}

TEST_F(CompactionTest, CompactionReclaimsSpace) {
  const std::string value(4000, 'v');
  for (int i = 0; i < 1500; ++i) ASSERT_OK(store_->put(put_req("k" + std::to_string(i % 20), value)));
  auto before = store_->status();
  ASSERT_OK(before);
  ASSERT_OK(store_->compact(before->revision, true));
  ASSERT_OK(store_->wait_compacted());
  auto after = store_->status();
  ASSERT_OK(after);
  // 20 live keys of 4 kB: well under 1 MB in use after 6 MB of history.
  EXPECT_LT(after->db_size_in_use, 1 << 20) << after->db_size_in_use;
  EXPECT_LT(after->db_size, before->db_size / 2) << before->db_size << " -> " << after->db_size;
}

TEST(AutoCompactionTest, RevisionRetentionCompactsInTheBackground) {
  kedge::testing::TempDir dir("kedge-store-autocompact");
  auto options = options_in(dir.path());
  options.auto_compaction_retention_revisions = 50;
  options.auto_compaction_interval = 100ms;
  auto store = open_or_die(options);
  for (int i = 0; i < 300; ++i) ASSERT_OK(store->put(put_req("k", std::to_string(i))));
  ASSERT_TRUE(kedge::testing::eventually([&] {
    auto s = store->status();
    return s.ok() && s->compact_revision >= 251;
  }));
  auto req = get_req("k");
  req.revision = 100;
  expect_error(store->range(req), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
}

TEST(AutoCompactionTest, PeriodRetentionKeepsTheWindow) {
  kedge::testing::TempDir dir("kedge-store-autocompact-period");
  auto options = options_in(dir.path());
  options.auto_compaction_retention_period = 1s;
  options.auto_compaction_interval = 100ms;
  auto store = open_or_die(options);
  ASSERT_OK(store->put(put_req("k", "old")));  // 2
  std::this_thread::sleep_for(300ms);
  auto s = store->status();
  ASSERT_OK(s);
  EXPECT_EQ(s->compact_revision, 0);  // nothing is a second old yet
  for (int i = 0; i < 5; ++i) ASSERT_OK(store->put(put_req("k", std::to_string(i))));  // ..7
  ASSERT_TRUE(kedge::testing::eventually([&] {
    auto st = store->status();
    return st.ok() && st->compact_revision >= 2;
  }, 5s));
}

}  // namespace
}  // namespace kedge::store

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT

TEST(CompactionRestartTest, PhysicalCompactionResumesAfterRestart) {
  kedge::testing::TempDir dir("kedge-store-compact-resume");
  auto options = options_in(dir.path());
  options.durability = Durability::kRelaxed;
  options.compaction_batch_rows = 8;  // tiny steps: the first store cannot finish
  Revision target = 0;
  {
    auto store = open_or_die(options);
    for (int i = 0; i < 1500; ++i) ASSERT_OK(store->put(put_req("k" + std::to_string(i % 5), std::string(100, 'v'))));
    auto c = store->compact(1400, false);
    ASSERT_OK(c);
    target = 1400;
  }  // closes with physical compaction unfinished
  auto store = open_or_die(options);
  ASSERT_OK(store->wait_compacted());
  const auto stats = store->stats();
  // The reopened store did the rest of the work from where it stopped.
  EXPECT_GT(stats.compaction_rows_deleted, 0);
  EXPECT_LT(stats.compaction_rows_deleted, 1400);
  auto status = store->status();
  ASSERT_OK(status);
  EXPECT_EQ(status->compact_revision, target);
  // History at and above the compact revision is intact; below it is gone.
  auto at = get_req("k0");
  at.revision = target;
  ASSERT_OK(store->range(at));
  at.revision = target - 1;
  expect_error(store->range(at), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  auto all = store->range(get_req("k", prefix_end("k")));
  ASSERT_OK(all);
  EXPECT_EQ(all->count, 5);
}

}  // namespace
}  // namespace kedge::store

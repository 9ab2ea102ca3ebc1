// Steady churn with automatic compaction: a fixed key set updated ~1M times
// by concurrent writers; the database plus its WAL must stay under the bound
// stated in store/README.md ("Size bound") the whole time.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT
using namespace std::chrono_literals;

// README: with L live bytes and R retained rows of V-byte values (the
// retention window plus what is written during one auto-compaction
// interval), DB+WAL <= 3 * (L + R * (V + 100)) + 24 MiB (WAL limit + one
// checkpoint interval + SQLite slack).
std::int64_t stated_bound(std::int64_t keys, std::int64_t value_bytes, std::int64_t retained) {
  const std::int64_t live = keys * (value_bytes + 100);
  const std::int64_t history = retained * (value_bytes + 100);
  return 3 * (live + history) + (24LL << 20);
}

TEST(StoreChurnTest, MillionUpdatesStayUnderTheSizeBound) {
  kedge::testing::TempDir dir("kedge-store-churn");
  auto options = options_in(dir.path());
  // Relaxed durability only to finish in under two minutes on a VM disk; the
  // file layout, compaction and checkpoints are the same as with strict.
  options.durability = Durability::kRelaxed;
  options.auto_compaction_retention_revisions = 2000;
  options.auto_compaction_interval = 100ms;
  auto store = open_or_die(options);

  constexpr int kKeys = 1000;
  constexpr int kValueBytes = 256;
  constexpr int kThreads = 16;
  constexpr int kOpsPerTxn = 8;  // puts per request; each request is one revision
  constexpr std::int64_t kUpdates = 1000000;

  std::atomic<std::int64_t> done{0};
  std::atomic<bool> failed{false};
  std::atomic<std::int64_t> max_size{0};
  std::atomic<bool> stop{false};
  std::thread sampler([&] {
    while (!stop) {
      auto s = store->status();
      if (s.ok() && s->db_size > max_size) max_size = s->db_size;
      std::this_thread::sleep_for(200ms);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      const std::string value(kValueBytes, static_cast<char>('a' + t));
      std::int64_t i = t;
      while (!failed) {
        const std::int64_t first = done.fetch_add(kOpsPerTxn);
        if (first >= kUpdates) break;
        TxnRequest txn;
        for (int op = 0; op < kOpsPerTxn; ++op) {
          // Disjoint keys per thread and op, so no duplicate keys in a txn.
          const std::int64_t key = (i * kOpsPerTxn + op) % kKeys;
          txn.success.push_back({put_req("churn/" + std::to_string(key), value)});
        }
        i += kThreads;
        auto r = store->txn(txn);
        if (!r.ok()) {
          ADD_FAILURE() << r.status().to_string();
          failed = true;
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_OK(store->wait_compacted());
  stop = true;
  sampler.join();
  ASSERT_FALSE(failed);
  auto s = store->status();
  ASSERT_OK(s);
  const double seconds = std::chrono::duration<double>(elapsed).count();
  // Retained rows: the window, plus the rows written (at this run's rate)
  // during one auto-compaction interval.
  const auto per_interval = static_cast<std::int64_t>(static_cast<double>(kUpdates) / seconds *
                                                      std::chrono::duration<double>(options.auto_compaction_interval).count());
  const std::int64_t bound =
      stated_bound(kKeys, kValueBytes, options.auto_compaction_retention_revisions * kOpsPerTxn + per_interval);
  std::printf("churn: %lld updates in %.1f s (%.0f puts/s), revision %lld, compacted %lld, "
              "max DB+WAL %.1f MiB, final %.1f MiB (in use %.1f MiB), bound %.1f MiB\n",
              static_cast<long long>(kUpdates), seconds, static_cast<double>(kUpdates) / seconds,
              static_cast<long long>(s->revision), static_cast<long long>(s->compact_revision),
              static_cast<double>(max_size.load()) / (1 << 20), static_cast<double>(s->db_size) / (1 << 20),
              static_cast<double>(s->db_size_in_use) / (1 << 20), static_cast<double>(bound) / (1 << 20));
  const SqliteStoreStats stats = store->stats();
  std::printf("churn: %lld requests in %lld commits (max %lld per commit), longest commit %.1f ms, "
              "%lld compaction steps deleted %lld rows, longest step %.1f ms\n",
              static_cast<long long>(stats.write_requests), static_cast<long long>(stats.commits),
              static_cast<long long>(stats.max_batch), static_cast<double>(stats.max_commit_us) / 1000,
              static_cast<long long>(stats.compaction_steps), static_cast<long long>(stats.compaction_rows_deleted),
              static_cast<double>(stats.max_compaction_step_us) / 1000);
  EXPECT_GE(s->revision, kUpdates / kOpsPerTxn);
  EXPECT_GT(s->compact_revision, s->revision - 3 * options.auto_compaction_retention_revisions);
  EXPECT_LT(max_size.load(), bound);
  EXPECT_LT(s->db_size, bound);
  auto all = store->range(get_req("churn/", prefix_end("churn/")));
  ASSERT_OK(all);
  EXPECT_EQ(all->count, kKeys);
}

}  // namespace
}  // namespace kedge::store

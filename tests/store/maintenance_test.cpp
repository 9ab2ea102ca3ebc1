// Maintenance: defragment returns every free page, snapshots are consistent
// copies a store starts from, hash_kv is a function of the history only.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT

std::int64_t bytes_of(const std::filesystem::path& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// Puts `keys` keys (from `first`) with `bytes`-byte values, 50 per txn.
void put_many(Store& store, int first, int keys, std::size_t bytes) {
  for (int i = first; i < first + keys; i += 50) {
    TxnRequest txn;
    for (int k = i; k < std::min(first + keys, i + 50); ++k) {
      txn.success.push_back({put_req("k" + std::to_string(k), std::string(bytes, 'v'))});
    }
    ASSERT_OK(store.txn(txn));
  }
}

TEST(MaintenanceTest, DefragmentReturnsEveryFreePageWhileWritesGoOn) {
  kedge::testing::TempDir dir("kedge-store-defrag");
  auto options = options_in(dir.path());
  options.defragment_step_pages = 16;
  auto store = open_or_die(options);
  // 2.4 MB live, then 400 KB of it overwritten and compacted away: about
  // 15 % of the file becomes free, below the quarter at which compaction
  // vacuums by itself, so only defragment returns it.
  put_many(*store, 0, 1200, 2000);
  put_many(*store, 0, 200, 2000);
  auto st = store->status();
  ASSERT_OK(st);
  ASSERT_OK(store->compact(st->revision, true));
  ASSERT_OK(store->wait_compacted());  // also checkpoints the WAL into the file
  st = store->status();
  ASSERT_OK(st);
  const std::int64_t before = bytes_of(store->db_path());
  ASSERT_GT(before - st->db_size_in_use, 300 * 1000) << "free pages before defragment";

  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    while (!stop) {
      if (store->put(put_req("live", std::to_string(writes.load()))).ok()) ++writes;
    }
  });
  ASSERT_OK(store->defragment());
  stop = true;
  writer.join();
  EXPECT_GT(writes.load(), 0);
  EXPECT_GT(store->stats().max_maintenance_us, 0);

  // Quiet now: one more (cheap) pass only to checkpoint the writer's puts
  // into the file, so its size can be compared with the pages in use.
  ASSERT_OK(store->defragment());
  st = store->status();
  ASSERT_OK(st);
  const std::int64_t after = bytes_of(store->db_path());
  EXPECT_EQ(st->db_size_in_use, after);
  EXPECT_LT(after, before - 300 * 1000);
  auto r = store->range(get_req("k1"));
  ASSERT_OK(r);
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].value.size(), 2000u);
}

TEST(MaintenanceTest, SnapshotIsAConsistentCopyAStoreStartsFrom) {
  kedge::testing::TempDir dir("kedge-store-snap");
  auto store = open_or_die(options_in(dir.path() / "a"));
  for (int i = 0; i < 100; ++i) ASSERT_OK(store->put(put_req("k" + std::to_string(i % 10), std::to_string(i))));
  ASSERT_OK(store->compact(50, true));
  auto lease = store->lease_grant(600, 0);
  ASSERT_OK(lease);
  ASSERT_OK(store->put(put_req("leased", "x", lease->id)));
  auto hash = store->hash_kv(0);
  ASSERT_OK(hash);

  auto reader = store->snapshot();
  ASSERT_OK(reader);
  ASSERT_OK(store->put(put_req("after", "not in the snapshot")));
  std::filesystem::create_directories(dir.path() / "b");
  {
    std::ofstream out(dir.path() / "b" / "store.db", std::ios::binary);
    while (true) {
      auto chunk = (*reader)->read(4096);
      ASSERT_OK(chunk);
      if (chunk->empty()) break;
      out.write(chunk->data(), static_cast<std::streamsize>(chunk->size()));
    }
  }
  reader->reset();
  // No temporary copy is left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "a")) {
    EXPECT_FALSE(e.path().filename().string().starts_with("snapshot-")) << e.path();
  }

  auto copy = open_or_die(options_in(dir.path() / "b"));
  auto st = copy->status();
  ASSERT_OK(st);
  EXPECT_EQ(st->revision, hash->revision);
  EXPECT_EQ(st->compact_revision, 50);
  auto copied_hash = copy->hash_kv(0);
  ASSERT_OK(copied_hash);
  EXPECT_EQ(copied_hash->hash, hash->hash);
  auto after = copy->range(get_req("after"));
  ASSERT_OK(after);
  EXPECT_TRUE(after->kvs.empty());
  auto ttl = copy->lease_time_to_live(lease->id, true);
  ASSERT_OK(ttl);
  EXPECT_EQ(ttl->granted_ttl, 600);
  EXPECT_EQ(ttl->keys, std::vector<std::string>{"leased"});
  // The copy is a full store: it takes writes.
  ASSERT_OK(copy->put(put_req("new", "1")));
}

// The same requests, in the same order, on a store.
void write_history(Store& store) {
  for (int i = 0; i < 200; ++i) ASSERT_OK(store.put(put_req("k" + std::to_string(i % 7), std::to_string(i))));
  DeleteRangeRequest del;
  del.key = "k3";
  ASSERT_OK(store.delete_range(del));
  TxnRequest txn;
  txn.success.push_back({put_req("t1", "a")});
  txn.success.push_back({put_req("t2", "b")});
  ASSERT_OK(store.txn(txn));
}

TEST(MaintenanceTest, HashKvDependsOnHistoryOnly) {
  kedge::testing::TempDir dir("kedge-store-hash");
  auto a = open_or_die(options_in(dir.path() / "a"));
  auto b = open_or_die(options_in(dir.path() / "b"));
  write_history(*a);
  write_history(*b);
  auto ha = a->hash_kv(0);
  auto hb = b->hash_kv(0);
  ASSERT_OK(ha);
  ASSERT_OK(hb);
  EXPECT_EQ(ha->hash, hb->hash);
  EXPECT_EQ(ha->revision, 203);
  EXPECT_EQ(ha->compact_revision, 0);
  auto at100 = a->hash_kv(100);
  ASSERT_OK(at100);
  EXPECT_NE(at100->hash, ha->hash);
  expect_error(a->hash_kv(204), Code::kOutOfRange, "etcdserver: mvcc: required revision is a future revision");

  // One store waits for physical compaction, the other hashes while it may
  // still be running: same compaction point, same hash.
  ASSERT_OK(a->compact(150, true));
  auto hc = a->hash_kv(0);
  ASSERT_OK(hc);
  EXPECT_EQ(hc->compact_revision, 150);
  EXPECT_NE(hc->hash, ha->hash);  // history below 150 is gone
  expect_error(a->hash_kv(149), Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted");
  ASSERT_OK(b->compact(150, false));
  auto hd = b->hash_kv(0);
  ASSERT_OK(hd);
  EXPECT_EQ(hd->hash, hc->hash);

  // Stable across a restart; a new write changes it.
  a.reset();
  a = open_or_die(options_in(dir.path() / "a"));
  auto he = a->hash_kv(0);
  ASSERT_OK(he);
  EXPECT_EQ(he->hash, hc->hash);
  ASSERT_OK(a->put(put_req("k1", "changed")));
  auto hf = a->hash_kv(0);
  ASSERT_OK(hf);
  EXPECT_NE(hf->hash, he->hash);
  auto whole = a->hash();
  ASSERT_OK(whole);
  EXPECT_EQ(whole->revision, 204);
}

}  // namespace
}  // namespace kedge::store

// Leases: grant, keep-alive, time-to-live with keys, revoke (one revision),
// expiry from the timer, persistence across restarts, and etcd's errors.
#include <gtest/gtest.h>

#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT
using namespace std::chrono_literals;

class LeaseTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void open() {
    store_.reset();
    auto options = options_in(dir_.path());
    options.min_lease_ttl_seconds = 1;
    store_ = open_or_die(options);
  }
  kedge::testing::TempDir dir_{"kedge-store-lease"};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(LeaseTest, GrantWithChosenAndGeneratedIds) {
  auto chosen = store_->lease_grant(30, 42);
  ASSERT_OK(chosen);
  EXPECT_EQ(chosen->id, 42);
  EXPECT_EQ(chosen->ttl, 30);
  EXPECT_EQ(chosen->revision, 1);
  auto generated = store_->lease_grant(30, 0);
  ASSERT_OK(generated);
  EXPECT_GT(generated->id, 0);
  EXPECT_NE(generated->id, 42);
  expect_error(store_->lease_grant(30, 42), Code::kFailedPrecondition, "etcdserver: lease already exists");
  expect_error(store_->lease_grant(kMaxLeaseTtl + 1, 0), Code::kOutOfRange, "etcdserver: too large lease TTL");
  auto list = store_->lease_list();
  ASSERT_OK(list);
  EXPECT_EQ(list->size(), 2u);
}

TEST_F(LeaseTest, MinimumTtlIsEnforcedLikeEtcd) {
  kedge::testing::TempDir dir("kedge-store-lease-min");
  auto store = open_or_die(options_in(dir.path()));  // default minimum: 2 s, etcd's
  auto grant = store->lease_grant(1, 0);
  ASSERT_OK(grant);
  EXPECT_EQ(grant->ttl, 2);
}

TEST_F(LeaseTest, TimeToLiveWithKeysAndUnknownLease) {
  ASSERT_OK(store_->lease_grant(100, 7));
  ASSERT_OK(store_->put(put_req("b", "1", 7)));
  ASSERT_OK(store_->put(put_req("a", "1", 7)));
  auto ttl = store_->lease_time_to_live(7, true);
  ASSERT_OK(ttl);
  EXPECT_EQ(ttl->granted_ttl, 100);
  EXPECT_GE(ttl->ttl, 98);
  EXPECT_LE(ttl->ttl, 100);
  EXPECT_EQ(ttl->keys, (std::vector<std::string>{"a", "b"}));
  auto unknown = store_->lease_time_to_live(999, true);
  ASSERT_OK(unknown);
  EXPECT_EQ(unknown->ttl, -1);
  EXPECT_TRUE(unknown->keys.empty());
  // Moving a key to no lease detaches it.
  ASSERT_OK(store_->put(put_req("b", "2")));
  EXPECT_EQ(store_->lease_time_to_live(7, true)->keys, (std::vector<std::string>{"a"}));
}

TEST_F(LeaseTest, RevokeDeletesAttachedKeysInOneRevision) {
  ASSERT_OK(store_->lease_grant(100, 9));
  for (const char* k : {"r/1", "r/2", "r/3"}) ASSERT_OK(store_->put(put_req(k, "v", 9)));
  ASSERT_OK(store_->put(put_req("keep", "v")));  // 5
  auto revoked = store_->lease_revoke(9);
  ASSERT_OK(revoked);
  EXPECT_EQ(*revoked, 6);
  auto r = store_->range(get_req(std::string(1, '\0'), std::string(1, '\0')));
  ASSERT_OK(r);
  EXPECT_EQ(r->count, 1);
  EXPECT_EQ(r->revision, 6);
  expect_error(store_->lease_revoke(9), Code::kNotFound, "etcdserver: requested lease not found");
  expect_error(store_->lease_keep_alive(9), Code::kNotFound, "etcdserver: requested lease not found");
  // A lease with no keys: revoking does not bump the revision.
  ASSERT_OK(store_->lease_grant(100, 10));
  auto empty = store_->lease_revoke(10);
  ASSERT_OK(empty);
  EXPECT_EQ(*empty, 6);
}

TEST_F(LeaseTest, ExpiryDeletesKeysAndKeepAliveExtends) {
  ASSERT_OK(store_->lease_grant(1, 1));
  ASSERT_OK(store_->lease_grant(1, 2));
  ASSERT_OK(store_->put(put_req("exp", "v", 1)));
  ASSERT_OK(store_->put(put_req("kept", "v", 2)));
  const auto start = std::chrono::steady_clock::now();
  // Keep lease 2 alive while lease 1 runs out.
  bool expired = false;
  while (std::chrono::steady_clock::now() - start < 5s) {
    auto ttl = store_->lease_keep_alive(2);
    ASSERT_OK(ttl);
    EXPECT_EQ(*ttl, 1);
    auto r = store_->range(get_req("exp"));
    ASSERT_OK(r);
    if (r->kvs.empty()) {
      expired = true;
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(expired);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
  auto gone = store_->lease_time_to_live(1, false);
  ASSERT_OK(gone);
  EXPECT_EQ(gone->ttl, -1);
  EXPECT_EQ(store_->range(get_req("kept"))->kvs.size(), 1u);
}

TEST_F(LeaseTest, LeasesSurviveRestartWithRemainingTtl) {
  ASSERT_OK(store_->lease_grant(60, 5));
  ASSERT_OK(store_->put(put_req("persist", "v", 5)));
  std::this_thread::sleep_for(2100ms);
  open();
  auto ttl = store_->lease_time_to_live(5, true);
  ASSERT_OK(ttl);
  EXPECT_EQ(ttl->granted_ttl, 60);
  EXPECT_LE(ttl->ttl, 58);  // remaining, not refreshed to the full TTL
  EXPECT_GE(ttl->ttl, 50);
  EXPECT_EQ(ttl->keys, (std::vector<std::string>{"persist"}));
  ASSERT_OK(store_->lease_revoke(5));
  EXPECT_TRUE(store_->range(get_req("persist"))->kvs.empty());
}

TEST_F(LeaseTest, LeaseThatExpiredWhileDownIsRevokedAtStart) {
  ASSERT_OK(store_->lease_grant(1, 3));
  ASSERT_OK(store_->put(put_req("short", "v", 3)));
  store_.reset();
  std::this_thread::sleep_for(1500ms);
  open();
  ASSERT_TRUE(kedge::testing::eventually([&] { return store_->range(get_req("short"))->kvs.empty(); }, 5s));
}

}  // namespace
}  // namespace kedge::store

// etcd 3.4 KV semantics of the SQLite store: revisions, versions, ranges,
// puts, deletes, txns and every error string clientv3 relies on.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <fstream>
#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT

class KvTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = open_or_die(options_in(dir_.path())); }
  PutResponse put(const std::string& k, const std::string& v) {
    auto r = store_->put(put_req(k, v));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : PutResponse{};
  }
  RangeResponse get(RangeRequest r) {
    auto out = store_->range(r);
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    return out.ok() ? *out : RangeResponse{};
  }
  std::vector<std::string> keys_of(const RangeResponse& r) {
    std::vector<std::string> keys;
    for (const auto& kv : r.kvs) keys.push_back(kv.key);
    return keys;
  }
  kedge::testing::TempDir dir_{"kedge-store-kv"};
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(KvTest, FreshStoreIsAtRevisionOne) {
  auto r = get(get_req("a"));
  EXPECT_EQ(r.revision, 1);
  EXPECT_EQ(r.count, 0);
  EXPECT_TRUE(r.kvs.empty());
}

TEST_F(KvTest, PutTracksCreateModVersion) {
  EXPECT_EQ(put("a", "1").revision, 2);
  EXPECT_EQ(put("a", "2").revision, 3);
  EXPECT_EQ(put("b", "x").revision, 4);
  auto r = get(get_req("a"));
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0], (KeyValue{.key = "a", .value = "2", .create_revision = 2, .mod_revision = 3, .version = 2, .lease = 0}));
  EXPECT_EQ(r.revision, 4);
  // Delete resets the version; a new put is a new generation.
  DeleteRangeRequest del;
  del.key = "a";
  auto d = store_->delete_range(del);
  ASSERT_OK(d);
  EXPECT_EQ(d->deleted, 1);
  EXPECT_EQ(d->revision, 5);
  EXPECT_EQ(put("a", "3").revision, 6);
  r = get(get_req("a"));
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].create_revision, 6);
  EXPECT_EQ(r.kvs[0].version, 1);
}

TEST_F(KvTest, PutWithSameValueStillBumpsRevision) {
  put("a", "1");
  EXPECT_EQ(put("a", "1").revision, 3);
}

TEST_F(KvTest, DeleteOfNothingDoesNotBumpRevision) {
  put("a", "1");
  DeleteRangeRequest del;
  del.key = "zz";
  auto d = store_->delete_range(del);
  ASSERT_OK(d);
  EXPECT_EQ(d->deleted, 0);
  EXPECT_EQ(d->revision, 2);
  EXPECT_EQ(put("b", "1").revision, 3);
}

TEST_F(KvTest, RangeForms) {
  for (const char* k : {"a", "b/1", "b/2", "b/3", "c"}) put(k, k);
  EXPECT_EQ(keys_of(get(get_req("b/", prefix_end("b/")))), (std::vector<std::string>{"b/1", "b/2", "b/3"}));
  EXPECT_EQ(keys_of(get(get_req("b/2", std::string(1, '\0')))), (std::vector<std::string>{"b/2", "b/3", "c"}));
  EXPECT_EQ(get(get_req(std::string(1, '\0'), std::string(1, '\0'))).count, 5);
  EXPECT_EQ(keys_of(get(get_req("a", "b/2"))), (std::vector<std::string>{"a", "b/1"}));
  // range_end before key: etcd answers an empty range, not an error.
  auto backwards = get(get_req("c", "a"));
  EXPECT_EQ(backwards.count, 0);
  EXPECT_TRUE(backwards.kvs.empty());
}

TEST_F(KvTest, LimitMoreCountAndCountOnly) {
  for (int i = 0; i < 5; ++i) put("k" + std::to_string(i), "v");
  auto req = get_req("k", prefix_end("k"));
  req.limit = 2;
  auto r = get(req);
  EXPECT_EQ(keys_of(r), (std::vector<std::string>{"k0", "k1"}));
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.count, 5);
  req.limit = 5;
  r = get(req);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(r.kvs.size(), 5u);
  req.limit = 0;
  req.count_only = true;
  r = get(req);
  EXPECT_TRUE(r.kvs.empty());
  EXPECT_EQ(r.count, 5);
  EXPECT_FALSE(r.more);
}

TEST_F(KvTest, KeysOnlyDropsValues) {
  put("a", "value");
  auto req = get_req("a");
  req.keys_only = true;
  auto r = get(req);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "");
  EXPECT_EQ(r.kvs[0].version, 1);
  EXPECT_EQ(r.kvs[0].mod_revision, 2);
}

TEST_F(KvTest, SortOrders) {
  put("b", "2");  // rev 2
  put("a", "3");  // rev 3
  put("c", "1");  // rev 4
  put("b", "2");  // rev 5: b version 2
  auto req = get_req("a", prefix_end("c"));
  req.sort_target = SortTarget::kValue;  // order NONE + non-key target = ascending
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"c", "b", "a"}));
  req.sort_order = SortOrder::kDescend;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"a", "b", "c"}));
  req.sort_target = SortTarget::kKey;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"c", "b", "a"}));
  req.sort_target = SortTarget::kMod;
  req.sort_order = SortOrder::kAscend;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"a", "c", "b"}));
  req.sort_target = SortTarget::kCreate;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"b", "a", "c"}));
  // etcd 3.4 quirk: a non-key target with order NONE and a limit sorts only
  // the first limit+1 keys (key order), then truncates.
  req.sort_target = SortTarget::kValue;
  req.sort_order = SortOrder::kNone;
  req.limit = 1;
  auto quirk = get(req);
  EXPECT_EQ(keys_of(quirk), (std::vector<std::string>{"b"}));  // a=3, b=2 -> b first
  EXPECT_TRUE(quirk.more);
  req.sort_target = SortTarget::kVersion;
  req.sort_order = SortOrder::kDescend;
  req.limit = 1;
  auto r = get(req);
  EXPECT_EQ(keys_of(r), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.count, 3);
}

TEST_F(KvTest, ModAndCreateRevisionFilters) {
  put("a", "1");  // 2
  put("b", "1");  // 3
  put("c", "1");  // 4
  put("a", "2");  // 5
  auto req = get_req("a", prefix_end("c"));
  req.min_mod_revision = 4;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"a", "c"}));
  req.min_mod_revision = 0;
  req.max_create_revision = 3;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"a", "b"}));
  req.min_create_revision = 3;
  auto r = get(req);
  EXPECT_EQ(keys_of(r), (std::vector<std::string>{"b"}));
  EXPECT_EQ(r.count, 3);  // count is of the whole range, as etcd reports it
  req = get_req("a", prefix_end("c"));
  req.max_mod_revision = 3;
  EXPECT_EQ(keys_of(get(req)), (std::vector<std::string>{"b"}));
}

TEST_F(KvTest, RangeAtOldRevisionReadsHistory) {
  put("a", "1");  // 2
  put("a", "2");  // 3
  DeleteRangeRequest del;
  del.key = "a";
  ASSERT_OK(store_->delete_range(del));  // 4
  auto req = get_req("a");
  req.revision = 2;
  auto r = get(req);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "1");
  EXPECT_EQ(r.revision, 4);  // header is the current revision
  req.revision = 3;
  EXPECT_EQ(get(req).kvs.at(0).value, "2");
  req.revision = 4;
  EXPECT_TRUE(get(req).kvs.empty());
  req.revision = 5;
  expect_error(store_->range(req), Code::kOutOfRange, "etcdserver: mvcc: required revision is a future revision");
}

TEST_F(KvTest, PutPrevKvAndIgnoreFlags) {
  auto p = store_->put(put_req("a", "1"));
  ASSERT_OK(p);
  EXPECT_FALSE(p->prev_kv.has_value());
  auto req = put_req("a", "2");
  req.prev_kv = true;
  p = store_->put(req);
  ASSERT_OK(p);
  ASSERT_TRUE(p->prev_kv.has_value());
  EXPECT_EQ(p->prev_kv->value, "1");
  EXPECT_EQ(p->prev_kv->mod_revision, 2);

  auto grant = store_->lease_grant(60, 0);
  ASSERT_OK(grant);
  auto leased = put_req("a", "3", grant->id);
  ASSERT_OK(store_->put(leased));
  PutRequest keep_value;
  keep_value.key = "a";
  keep_value.ignore_value = true;
  ASSERT_OK(store_->put(keep_value));
  auto r = get(get_req("a"));
  EXPECT_EQ(r.kvs.at(0).value, "3");
  EXPECT_EQ(r.kvs.at(0).lease, 0);  // ignore_value alone replaces the lease with none
  PutRequest keep_lease = put_req("a", "4");
  ASSERT_OK(store_->put(put_req("a", "3", grant->id)));
  keep_lease.ignore_lease = true;
  ASSERT_OK(store_->put(keep_lease));
  r = get(get_req("a"));
  EXPECT_EQ(r.kvs.at(0).value, "4");
  EXPECT_EQ(r.kvs.at(0).lease, grant->id);
}

TEST_F(KvTest, PutErrors) {
  put("a", "1");
  const Revision before = get(get_req("a")).revision;
  expect_error(store_->put(put_req("", "v")), Code::kInvalidArgument, "etcdserver: key is not provided");
  auto r = put_req("a", "v");
  r.ignore_value = true;
  expect_error(store_->put(r), Code::kInvalidArgument, "etcdserver: value is provided");
  r = put_req("a", "");
  r.ignore_lease = true;
  r.lease = 7;
  expect_error(store_->put(r), Code::kInvalidArgument, "etcdserver: lease is provided");
  r = put_req("missing", "");
  r.ignore_value = true;
  expect_error(store_->put(r), Code::kInvalidArgument, "etcdserver: key not found");
  expect_error(store_->put(put_req("a", "v", 12345)), Code::kNotFound, "etcdserver: requested lease not found");
  expect_error(store_->range(get_req("")), Code::kInvalidArgument, "etcdserver: key is not provided");
  DeleteRangeRequest del;
  expect_error(store_->delete_range(del), Code::kInvalidArgument, "etcdserver: key is not provided");
  // Nothing changed.
  auto after = get(get_req("a"));
  EXPECT_EQ(after.revision, before);
  EXPECT_EQ(after.kvs.at(0).value, "1");
}

TEST_F(KvTest, OversizedRequestsAreRejectedAndChangeNothing) {
  put("a", "1");
  const std::string big(1572864 + 1, 'x');
  expect_error(store_->put(put_req("a", big)), Code::kInvalidArgument, "etcdserver: request is too large");
  expect_error(store_->put(put_req(big, "v")), Code::kInvalidArgument, "etcdserver: request is too large");
  TxnRequest txn;
  for (int i = 0; i < 2; ++i) txn.success.push_back({put_req("k" + std::to_string(i), std::string(900000, 'y'))});
  expect_error(store_->txn(txn), Code::kInvalidArgument, "etcdserver: request is too large");
  // Just under the limit is fine.
  ASSERT_OK(store_->put(put_req("a", std::string(1500000, 'z'))));
  auto r = get(get_req(std::string(1, '\0'), std::string(1, '\0')));
  EXPECT_EQ(r.count, 1);
  EXPECT_EQ(r.revision, 3);
  EXPECT_EQ(r.kvs.at(0).value.size(), 1500000u);
}

TEST_F(KvTest, DeleteRangeWithPrevKv) {
  for (const char* k : {"p/a", "p/b", "q"}) put(k, k);
  DeleteRangeRequest del;
  del.key = "p/";
  del.range_end = prefix_end("p/");
  del.prev_kv = true;
  auto d = store_->delete_range(del);
  ASSERT_OK(d);
  EXPECT_EQ(d->deleted, 2);
  EXPECT_EQ(d->revision, 5);  // both deletes in one revision
  ASSERT_EQ(d->prev_kvs.size(), 2u);
  EXPECT_EQ(d->prev_kvs[0].key, "p/a");
  EXPECT_EQ(d->prev_kvs[1].value, "p/b");
  EXPECT_EQ(get(get_req(std::string(1, '\0'), std::string(1, '\0'))).count, 1);
}

Compare cmp(Compare::Target target, Compare::Result result, std::string key, std::int64_t number,
            std::string value = "") {
  Compare c;
  c.target = target;
  c.result = result;
  c.key = std::move(key);
  c.number = number;
  c.value = std::move(value);
  return c;
}

TEST_F(KvTest, TxnIsOneRevisionAndPicksBranch) {
  put("a", "1");  // 2
  TxnRequest txn;
  txn.compare.push_back(cmp(Compare::Target::kValue, Compare::Result::kEqual, "a", 0, "1"));
  txn.success.push_back({put_req("x", "1")});
  txn.success.push_back({put_req("y", "1")});
  txn.success.push_back({get_req("x")});
  txn.failure.push_back({get_req("a")});
  auto t = store_->txn(txn);
  ASSERT_OK(t);
  EXPECT_TRUE(t->succeeded);
  EXPECT_EQ(t->revision, 3);
  ASSERT_EQ(t->responses.size(), 3u);
  EXPECT_EQ(std::get<PutResponse>(t->responses[0].op).revision, 3);
  const auto& read = std::get<RangeResponse>(t->responses[2].op);
  ASSERT_EQ(read.kvs.size(), 1u);  // a range after a put in the same txn sees it
  EXPECT_EQ(read.kvs[0].mod_revision, 3);
  EXPECT_EQ(read.revision, 3);
  EXPECT_EQ(get(get_req("y")).kvs.at(0).mod_revision, 3);

  // Failure branch with only a read: no new revision.
  t = store_->txn(txn);
  ASSERT_OK(t);
  EXPECT_TRUE(t->succeeded);
  EXPECT_EQ(t->revision, 4);
  txn.compare[0].value = "other";
  t = store_->txn(txn);
  ASSERT_OK(t);
  EXPECT_FALSE(t->succeeded);
  EXPECT_EQ(t->revision, 4);
  EXPECT_EQ(std::get<RangeResponse>(t->responses.at(0).op).kvs.at(0).value, "1");
}

TEST_F(KvTest, TxnCompareTargetsAndOperators) {
  put("a", "m");  // 2
  put("a", "m");  // 3: version 2
  auto check = [&](Compare c, bool expected) {
    TxnRequest txn;
    txn.compare.push_back(std::move(c));
    auto t = store_->txn(txn);
    ASSERT_OK(t);
    EXPECT_EQ(t->succeeded, expected);
  };
  using T = Compare::Target;
  using R = Compare::Result;
  check(cmp(T::kVersion, R::kEqual, "a", 2), true);
  check(cmp(T::kVersion, R::kGreater, "a", 1), true);
  check(cmp(T::kVersion, R::kLess, "a", 2), false);
  check(cmp(T::kVersion, R::kNotEqual, "a", 2), false);
  check(cmp(T::kCreate, R::kEqual, "a", 2), true);
  check(cmp(T::kMod, R::kEqual, "a", 3), true);
  check(cmp(T::kMod, R::kLess, "a", 4), true);
  check(cmp(T::kLease, R::kEqual, "a", 0), true);
  check(cmp(T::kValue, R::kGreater, "a", 0, "l"), true);
  check(cmp(T::kValue, R::kLess, "a", 0, "l"), false);
  check(cmp(T::kValue, R::kNotEqual, "a", 0, "x"), true);
  // Missing key: numbers are 0, a value compare always fails.
  check(cmp(T::kMod, R::kEqual, "missing", 0), true);
  check(cmp(T::kCreate, R::kEqual, "missing", 0), true);
  check(cmp(T::kValue, R::kNotEqual, "missing", 0, "x"), false);
  // A compare over a range must hold for every key in it.
  put("b", "m");
  auto over_range = cmp(T::kValue, R::kEqual, "a", 0, "m");
  over_range.range_end = "c";
  check(over_range, true);
  put("b", "n");
  check(over_range, false);
}

TEST_F(KvTest, KubernetesStyleTxns) {
  // create: If MOD(key)==0 Then Put
  TxnRequest create;
  create.compare.push_back(cmp(Compare::Target::kMod, Compare::Result::kEqual, "/registry/pods/a", 0));
  create.success.push_back({put_req("/registry/pods/a", "v1")});
  auto t = store_->txn(create);
  ASSERT_OK(t);
  EXPECT_TRUE(t->succeeded);
  t = store_->txn(create);
  ASSERT_OK(t);
  EXPECT_FALSE(t->succeeded);
  // update: If MOD(key)==rev Then Put Else Range
  TxnRequest update;
  update.compare.push_back(cmp(Compare::Target::kMod, Compare::Result::kEqual, "/registry/pods/a", 2));
  update.success.push_back({put_req("/registry/pods/a", "v2")});
  update.failure.push_back({get_req("/registry/pods/a")});
  t = store_->txn(update);
  ASSERT_OK(t);
  EXPECT_TRUE(t->succeeded);
  t = store_->txn(update);  // stale revision
  ASSERT_OK(t);
  EXPECT_FALSE(t->succeeded);
  EXPECT_EQ(std::get<RangeResponse>(t->responses.at(0).op).kvs.at(0).value, "v2");
}

TEST_F(KvTest, NestedTxn) {
  put("a", "1");
  TxnRequest inner;
  inner.compare.push_back(cmp(Compare::Target::kValue, Compare::Result::kEqual, "a", 0, "1"));
  inner.success.push_back({put_req("b", "from-inner")});
  TxnRequest outer;
  outer.success.push_back({put_req("c", "from-outer")});
  outer.success.push_back({inner});
  auto t = store_->txn(outer);
  ASSERT_OK(t);
  EXPECT_TRUE(t->succeeded);
  EXPECT_EQ(t->revision, 3);
  const auto& nested = std::get<TxnResponse>(t->responses.at(1).op);
  EXPECT_TRUE(nested.succeeded);
  EXPECT_EQ(get(get_req("b")).kvs.at(0).mod_revision, 3);
  EXPECT_EQ(get(get_req("c")).kvs.at(0).mod_revision, 3);
}

TEST_F(KvTest, TxnErrors) {
  put("a", "1");
  const Revision before = get(get_req("a")).revision;
  TxnRequest dup;
  dup.success.push_back({put_req("k", "1")});
  dup.success.push_back({put_req("k", "2")});
  expect_error(store_->txn(dup), Code::kInvalidArgument, "etcdserver: duplicate key given in txn request");
  TxnRequest put_and_delete;
  put_and_delete.success.push_back({put_req("p/1", "1")});
  DeleteRangeRequest del;
  del.key = "p/";
  del.range_end = prefix_end("p/");
  put_and_delete.success.push_back({del});
  expect_error(store_->txn(put_and_delete), Code::kInvalidArgument, "etcdserver: duplicate key given in txn request");
  // Same key in then and else of a nested txn is allowed.
  TxnRequest inner;
  inner.success.push_back({put_req("z", "1")});
  inner.failure.push_back({put_req("z", "2")});
  TxnRequest ok_outer;
  ok_outer.success.push_back({inner});
  ASSERT_OK(store_->txn(ok_outer));
  TxnRequest too_many;
  for (int i = 0; i < 129; ++i) too_many.success.push_back({put_req("t" + std::to_string(i), "v")});
  expect_error(store_->txn(too_many), Code::kInvalidArgument, "etcdserver: too many operations in txn request");
  TxnRequest empty_key;
  empty_key.success.push_back({get_req("")});
  expect_error(store_->txn(empty_key), Code::kInvalidArgument, "etcdserver: key is not provided");
  TxnRequest bad_lease;
  bad_lease.success.push_back({put_req("x", "1")});
  bad_lease.success.push_back({put_req("y", "1", 999)});
  expect_error(store_->txn(bad_lease), Code::kNotFound, "etcdserver: requested lease not found");
  TxnRequest future;
  auto far = get_req("a");
  far.revision = 1000;
  future.success.push_back({put_req("x", "1")});
  future.success.push_back({far});
  expect_error(store_->txn(future), Code::kOutOfRange, "etcdserver: mvcc: required revision is a future revision");
  // Only the nested txn wrote (revision before + 1); the failed ones nothing.
  auto r = get(get_req(std::string(1, '\0'), std::string(1, '\0')));
  EXPECT_EQ(r.revision, before + 1);
  EXPECT_EQ(r.count, 2);
}

TEST_F(KvTest, DataSurvivesReopen) {
  put("a", "1");
  put("b", "2");
  store_.reset();
  store_ = open_or_die(options_in(dir_.path()));
  auto r = get(get_req("a", "c"));
  EXPECT_EQ(r.revision, 3);
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(put("c", "3").revision, 4);
}

TEST_F(KvTest, SecondOpenOfSameDirectoryFails) {
  auto second = SqliteStore::open(options_in(dir_.path()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
}

TEST(KvOpenTest, CorruptFileIsDataLossNamingTheFile) {
  kedge::testing::TempDir dir("kedge-store-corrupt");
  {
    auto store = open_or_die(options_in(dir.path()));
    for (int i = 0; i < 200; ++i) ASSERT_OK(store->put(put_req("key" + std::to_string(i), std::string(500, 'v'))));
  }
  const auto db = dir.path() / "store.db";
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2);
    const std::string garbage(4096 * 3, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto store = SqliteStore::open(options_in(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kDataLoss) << store.status().to_string();
  EXPECT_NE(store.status().message().find(db.string()), std::string::npos) << store.status().message();
  // Never silently recreated: the damaged file is still there, same size.
  EXPECT_GT(std::filesystem::file_size(db), 4096u * 5);
}

TEST(KvOpenTest, SchemaTwoFileIsUpgradedInPlace) {
  kedge::testing::TempDir dir("kedge-store-schema2");
  {
    auto store = open_or_die(options_in(dir.path()));
    ASSERT_OK(store->put(put_req("a", "1")));
    ASSERT_OK(store->put(put_req("a", "2")));
    ASSERT_OK(store->put(put_req("b", "1")));
  }
  const auto db_file = dir.path() / "store.db";
  auto sql = [&](const char* statements) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statements, nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  };
  // What a schema 2 store (session 6 and before) looks like: the same
  // tables plus the on-disk (key, revision) index.
  sql("CREATE UNIQUE INDEX kv_key ON kv(key, mod_revision, create_revision, lease);"
      "UPDATE meta SET value=2 WHERE name='schema_version'");
  {
    auto store = open_or_die(options_in(dir.path()));
    auto r = store->range(get_req("a", "c"));
    ASSERT_OK(r);
    ASSERT_EQ(r->kvs.size(), 2u);
    EXPECT_EQ(r->kvs[0], (KeyValue{.key = "a", .value = "2", .create_revision = 2, .mod_revision = 3, .version = 2, .lease = 0}));
    EXPECT_EQ(r->kvs[1].key, "b");
    auto old = get_req("a");
    old.revision = 2;
    r = store->range(old);
    ASSERT_OK(r);
    EXPECT_EQ(r->kvs.at(0).value, "1");
    EXPECT_EQ(store->put(put_req("a", "3"))->revision, 5);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM sqlite_master WHERE name='kv_key'), "
                               "(SELECT value FROM meta WHERE name='schema_version')",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 0);  // the index is gone
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 3);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(KvOpenTest, NotADatabaseIsDataLoss) {
  kedge::testing::TempDir dir("kedge-store-notdb");
  {
    std::ofstream f(dir.path() / "store.db");
    f << std::string(8192, 'n');
  }
  auto store = SqliteStore::open(options_in(dir.path()));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kDataLoss) << store.status().to_string();
  EXPECT_NE(store.status().message().find("store.db"), std::string::npos);
}

}  // namespace
}  // namespace kedge::store

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT

TEST(GroupCommitTest, ConcurrentWritesShareCommits) {
  kedge::testing::TempDir dir("kedge-store-group");
  auto store = open_or_die(options_in(dir.path()));
  constexpr int kThreads = 16;
  constexpr int kPuts = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        if (!store->put(put_req("g/" + std::to_string(t) + "/" + std::to_string(i), "v")).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const auto stats = store->stats();
  // One revision per request even when batched...
  auto r = store->range(get_req("g/", prefix_end("g/")));
  ASSERT_OK(r);
  EXPECT_EQ(r->count, kThreads * kPuts);
  EXPECT_EQ(r->revision, 1 + kThreads * kPuts);
  // ...but far fewer commits (fsyncs) than requests.
  EXPECT_GE(stats.write_requests, kThreads * kPuts);
  EXPECT_LT(stats.commits, stats.write_requests / 2) << stats.commits << " commits";
  EXPECT_GT(stats.max_batch, 1);
}

// The etcd front's path: writes queued without a thread waiting on each.
TEST(GroupCommitTest, AsyncWritesAnswerAfterTheirCommitInOrder) {
  kedge::testing::TempDir dir("kedge-store-async");
  auto store = open_or_die(options_in(dir.path()));
  constexpr int kPuts = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Revision> revisions;  // guarded by mu
  std::set<std::thread::id> answer_threads;  // guarded by mu
  for (int i = 0; i < kPuts; ++i) {
    Store::Done<PutResponse> done = [&](Result<PutResponse> r) {
      std::lock_guard lock(mu);
      revisions.push_back(r.ok() ? r->revision : -1);
      answer_threads.insert(std::this_thread::get_id());
      cv.notify_all();
    };
    ASSERT_TRUE(store->try_put_async(put_req("a/" + std::to_string(i), "v"), done));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return revisions.size() == kPuts; }));
    // Each answered once, with its own revision, in queue order, never on
    // this (the submitting) thread.
    for (int i = 0; i < kPuts; ++i) EXPECT_EQ(revisions[i], 2 + i) << i;
    EXPECT_FALSE(answer_threads.contains(std::this_thread::get_id()));
  }
  // Acknowledged means readable (and on disk).
  auto r = store->range(get_req("a/", prefix_end("a/")));
  ASSERT_OK(r);
  EXPECT_EQ(r->count, kPuts);
  EXPECT_LT(store->stats().commits, kPuts / 2);
}

// Puts run without a savepoint of their own (SqliteStore::run_batch): one the
// store refuses must have written nothing, and its batch-mates commit as if
// it had never been queued.
TEST(GroupCommitTest, RefusedPutsInABatchChangeNothingAndSpareTheirBatchMates) {
  kedge::testing::TempDir dir("kedge-store-async-mixed");
  auto store = open_or_die(options_in(dir.path()));
  constexpr int kPuts = 300;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<PutResponse>> answers(kPuts, Result<PutResponse>(internal_error("no answer")));
  int answered = 0;  // guarded by mu
  for (int i = 0; i < kPuts; ++i) {
    PutRequest request = put_req("ok/" + std::to_string(i), "v");
    if (i % 3 == 1) request.lease = 12345;  // no such lease
    if (i % 3 == 2) {
      request.key = "missing/" + std::to_string(i);
      request.value.clear();
      request.ignore_value = true;  // and no such key
    }
    Store::Done<PutResponse> done = [&, i](Result<PutResponse> r) {
      std::lock_guard lock(mu);
      answers[i] = std::move(r);
      ++answered;
      cv.notify_all();
    };
    ASSERT_TRUE(store->try_put_async(request, done));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return answered == kPuts; }));
  }
  Revision next = 2;
  for (int i = 0; i < kPuts; ++i) {
    if (i % 3 == 0) {
      ASSERT_OK(answers[i]);
      EXPECT_EQ(answers[i]->revision, next++) << i;
    } else {
      EXPECT_EQ(answers[i].status().message(),
                i % 3 == 1 ? "etcdserver: requested lease not found" : "etcdserver: key not found")
          << i;
    }
  }
  EXPECT_GT(store->stats().max_batch, 1) << "the puts were meant to share commits";
  auto ok = store->range(get_req("ok/", prefix_end("ok/")));
  ASSERT_OK(ok);
  EXPECT_EQ(ok->count, kPuts / 3);
  EXPECT_EQ(ok->revision, 1 + kPuts / 3);
  auto missing = store->range(get_req("missing/", prefix_end("missing/")));
  ASSERT_OK(missing);
  EXPECT_EQ(missing->count, 0);
  // History holds exactly the accepted puts, one revision each.
  auto history = store->range(get_req(std::string(1, '\0'), std::string(1, '\0')));
  ASSERT_OK(history);
  EXPECT_EQ(history->count, kPuts / 3);
}

TEST(GroupCommitTest, AsyncWriteRefusedUpFrontAnswersAtOnceAndChangesNothing) {
  kedge::testing::TempDir dir("kedge-store-async-bad");
  auto store = open_or_die(options_in(dir.path()));
  std::optional<Status> answer;
  Store::Done<PutResponse> done = [&](Result<PutResponse> r) { answer = r.status(); };
  ASSERT_TRUE(store->try_put_async(put_req("", "v"), done));
  ASSERT_TRUE(answer.has_value()) << "an empty key is refused before queueing";
  EXPECT_EQ(answer->message(), "etcdserver: key is not provided");
  // A read-only txn needs a blocking read: the caller keeps `done`.
  TxnRequest read_only;
  read_only.success.push_back(RequestOp{get_req("a", "")});
  bool called = false;
  Store::Done<TxnResponse> txn_done = [&](Result<TxnResponse>) { called = true; };
  EXPECT_FALSE(store->try_txn_async(read_only, txn_done));
  EXPECT_TRUE(static_cast<bool>(txn_done));
  EXPECT_FALSE(called);
  auto status = store->status();
  ASSERT_OK(status);
  EXPECT_EQ(status->revision, 1);
}

}  // namespace
}  // namespace kedge::store

// What the store's SQLite layer (store/src/store_vfs.h) does to its files,
// seen from a VFS below it that counts the writes reaching the WAL.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string>

#include "kedge/testing/process.h"
#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT

// Over SQLite's "unix": every file is the real VFS's own object, except that
// a WAL's xWrite goes through a counter first.
class CountingVfs {
 public:
  static constexpr const char* kName = "kedge-test-counting";
  static CountingVfs& instance() {
    static CountingVfs vfs;
    return vfs;
  }
  std::atomic<long> wal_writes{0};

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;
  };
  static sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  CountingVfs() {
    real_ = sqlite3_vfs_find("unix");
    vfs_ = *real_;
    vfs_.zName = kName;
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.xOpen = [](sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
      CountingVfs& self = instance();
      if ((flags & SQLITE_OPEN_WAL) == 0) return self.real_->xOpen(self.real_, name, f, flags, out_flags);
      auto* file = reinterpret_cast<File*>(f);
      file->real = reinterpret_cast<sqlite3_file*>(file + 1);
      file->base.pMethods = nullptr;
      const int rc = self.real_->xOpen(self.real_, name, file->real, flags, out_flags);
      if (rc == SQLITE_OK && file->real->pMethods != nullptr) file->base.pMethods = &self.io_;
      return rc;
    };
    // Built once: files on several connections (threads) call through it.
    io_.iVersion = 1;  // a WAL has no shared memory or mapping
    io_.xClose = [](sqlite3_file* g) { return real_of(g)->pMethods->xClose(real_of(g)); };
    io_.xRead = [](sqlite3_file* g, void* b, int n, sqlite3_int64 o) {
      return real_of(g)->pMethods->xRead(real_of(g), b, n, o);
    };
    io_.xWrite = [](sqlite3_file* g, const void* b, int n, sqlite3_int64 o) {
      ++instance().wal_writes;
      return real_of(g)->pMethods->xWrite(real_of(g), b, n, o);
    };
    io_.xTruncate = [](sqlite3_file* g, sqlite3_int64 s) { return real_of(g)->pMethods->xTruncate(real_of(g), s); };
    io_.xSync = [](sqlite3_file* g, int fl) { return real_of(g)->pMethods->xSync(real_of(g), fl); };
    io_.xFileSize = [](sqlite3_file* g, sqlite3_int64* s) { return real_of(g)->pMethods->xFileSize(real_of(g), s); };
    io_.xLock = [](sqlite3_file* g, int l) { return real_of(g)->pMethods->xLock(real_of(g), l); };
    io_.xUnlock = [](sqlite3_file* g, int l) { return real_of(g)->pMethods->xUnlock(real_of(g), l); };
    io_.xCheckReservedLock = [](sqlite3_file* g, int* r) {
      return real_of(g)->pMethods->xCheckReservedLock(real_of(g), r);
    };
    io_.xFileControl = [](sqlite3_file* g, int op, void* a) {
      return real_of(g)->pMethods->xFileControl(real_of(g), op, a);
    };
    io_.xSectorSize = [](sqlite3_file* g) { return real_of(g)->pMethods->xSectorSize(real_of(g)); };
    io_.xDeviceCharacteristics = [](sqlite3_file* g) {
      return real_of(g)->pMethods->xDeviceCharacteristics(real_of(g));
    };
    EXPECT_EQ(sqlite3_vfs_register(&vfs_, 0), SQLITE_OK);
  }

  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs vfs_{};
  sqlite3_io_methods io_{};
};

// Runs `puts` puts one after the other (one group commit each) and returns
// the writes that reached the WAL and the commits they made.
std::pair<long, std::int64_t> count_wal_writes(const std::filesystem::path& dir, Durability durability, int puts) {
  CountingVfs& counter = CountingVfs::instance();  // registers it
  auto options = options_in(dir);
  options.sqlite_vfs = CountingVfs::kName;
  options.durability = durability;
  auto store = open_or_die(options);
  EXPECT_TRUE(store->put(put_req("warm-up", "x")).ok());
  const long writes_before = counter.wal_writes.load();
  const std::int64_t commits_before = store->stats().commits;
  for (int i = 0; i < puts; ++i) {
    // 3 KiB: each commit is several 1 KiB pages, so several WAL frames.
    EXPECT_TRUE(store->put(put_req("key-" + std::to_string(i), std::string(3000, 'v'))).ok());
  }
  return {counter.wal_writes.load() - writes_before, store->stats().commits - commits_before};
}

TEST(StoreVfsTest, StrictCommitsReachTheWalInOneWriteEach) {
  kedge::testing::TempDir dir("kedge-store-vfs");
  const auto [writes, commits] = count_wal_writes(dir.path(), Durability::kStrict, 40);
  EXPECT_EQ(commits, 40);
  EXPECT_EQ(writes, commits);

  // And all of it is there, read through SQLite's own VFS.
  auto store = open_or_die(options_in(dir.path()));
  auto all = store->range(get_req("key-", prefix_end("key-")));
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  EXPECT_EQ(all->count, 40);
}

TEST(StoreVfsTest, RelaxedWritesPassStraightThrough) {
  // synchronous=NORMAL publishes a commit without syncing the WAL, so the
  // layer must not hold its frames back: each frame is SQLite's two writes.
  kedge::testing::TempDir dir("kedge-store-vfs");
  const auto [writes, commits] = count_wal_writes(dir.path(), Durability::kRelaxed, 40);
  EXPECT_EQ(commits, 40);
  EXPECT_GE(writes, commits * 2 * 3);
}

TEST(StoreVfsTest, AnotherProcessCannotOpenTheDatabaseWhileTheStoreRuns) {
  kedge::testing::TempDir dir("kedge-store-vfs");
  auto store = open_or_die(options_in(dir.path()));
  ASSERT_TRUE(store->put(put_req("k", "v")).ok());
  const std::string script =
      "import sqlite3, sys\n"
      "try:\n"
      "    sqlite3.connect(sys.argv[1], timeout=0.2).execute('SELECT count(*) FROM kv').fetchall()\n"
      "    print('opened')\n"
      "except sqlite3.OperationalError as e:\n"
      "    print(e)\n";
  auto result = kedge::testing::run({"python3", "-c", script, store->db_path().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "database is locked\n");

  store.reset();
  result = kedge::testing::run({"python3", "-c", script, (dir.path() / "store.db").string()});
  EXPECT_EQ(result.out, "opened\n") << result.err;
}

}  // namespace
}  // namespace kedge::store

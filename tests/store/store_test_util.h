// Helpers shared by the store core tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "kedge/store/sqlite_store.h"
#include "kedge/testing/process.h"

namespace kedge::store::testing {

inline SqliteStoreOptions options_in(const std::filesystem::path& dir) {
  SqliteStoreOptions options;
  options.data_dir = dir;
  return options;
}

inline std::unique_ptr<SqliteStore> open_or_die(const SqliteStoreOptions& options) {
  auto store = SqliteStore::open(options);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  if (!store.ok()) std::abort();
  return std::move(store).value();
}

inline PutRequest put_req(std::string key, std::string value, LeaseId lease = kNoLease) {
  PutRequest r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.lease = lease;
  return r;
}

inline RangeRequest get_req(std::string key, std::string range_end = "") {
  RangeRequest r;
  r.key = std::move(key);
  r.range_end = std::move(range_end);
  return r;
}

inline std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

inline Status status_of(const Status& s) { return s; }
template <typename T>
Status status_of(const Result<T>& r) {
  return r.status();
}

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const auto& kedge_r_ = (expr);                                       \
    ASSERT_TRUE(kedge_r_.ok()) << status_of(kedge_r_).to_string();       \
  } while (0)

// Asserts `result` failed with exactly `code` and `message`.
template <typename R>
void expect_error(const R& result, Code code, const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status().to_string();
  EXPECT_EQ(result.status().message(), message);
}

// Collects the revisions a watch delivers.
class RevisionCollector : public WatchObserver {
 public:
  void on_events(Revision, std::span<const Event> events) override {
    std::lock_guard lock(mu);
    for (const Event& e : events) revisions.insert(e.kv.mod_revision);
  }
  void on_canceled(const Status& reason, Revision) override {
    std::lock_guard lock(mu);
    canceled = reason.to_string();
  }
  std::mutex mu;
  std::set<Revision> revisions;  // guarded by mu
  std::string canceled;          // guarded by mu
};

// Every revision after the compact revision is in the history: a watch from
// there delivers each one up to the current revision, none missing.
inline void expect_contiguous_history(Store& store, const std::string& context) {
  auto status = store.status();
  ASSERT_TRUE(status.ok()) << context << ": " << status.status().to_string();
  if (status->revision <= 1) return;
  RevisionCollector collector;
  WatchRequest all;
  all.key = std::string(1, '\0');
  all.range_end = std::string(1, '\0');
  // Revision 1 is the empty store's: no change carries it.
  const Revision first = std::max<Revision>(status->compact_revision + 1, 2);
  all.start_revision = first;
  auto watch = store.watch(all, collector);
  ASSERT_TRUE(watch.ok()) << context << ": " << watch.status().to_string();
  const auto expected = static_cast<std::size_t>(status->revision - first + 1);
  const bool complete = kedge::testing::eventually([&] {
    std::lock_guard lock(collector.mu);
    return collector.revisions.size() >= expected || !collector.canceled.empty();
  }, std::chrono::seconds(30));
  std::lock_guard lock(collector.mu);
  if (!complete) {
    Revision missing = 0;
    for (Revision r = first; r <= status->revision; ++r) {
      if (!collector.revisions.contains(r)) {
        missing = r;
        break;
      }
    }
    FAIL() << context << ": history has " << collector.revisions.size() << " of " << expected
           << " revisions after compact revision " << status->compact_revision << " (current " << status->revision
           << "); first missing " << missing;
  }
  ASSERT_TRUE(collector.canceled.empty()) << context << ": " << collector.canceled;
  ASSERT_EQ(collector.revisions.size(), expected) << context;
  EXPECT_EQ(*collector.revisions.begin(), first) << context;
  EXPECT_EQ(*collector.revisions.rbegin(), status->revision) << context;
}

}  // namespace kedge::store::testing

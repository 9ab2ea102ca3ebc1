// Helpers shared by the store core tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
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

}  // namespace kedge::store::testing

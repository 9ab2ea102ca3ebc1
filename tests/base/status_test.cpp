#include "kedge/base/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace kedge {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("want a positive number, got " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  KEDGE_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check_both(int a, int b) {
  KEDGE_RETURN_IF_ERROR(parse_positive(a).status());
  KEDGE_RETURN_IF_ERROR(parse_positive(b).status());
  return {};
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = not_found("key /a");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.to_string(), "NOT_FOUND: key /a");
  EXPECT_EQ(s.with_context("get").message(), "get: key /a");
  EXPECT_EQ(s.with_context("get").code(), Code::kNotFound);
}

TEST(Status, ErrnoMapsToCodes) {
  EXPECT_EQ(errno_status("open /x", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(errno_status("write", ENOSPC).code(), Code::kResourceExhausted);
  EXPECT_EQ(errno_status("open /x", ENOENT).message(), "open /x: No such file or directory");
}

TEST(Result, EarlyReturnHelpers) {
  EXPECT_EQ(*doubled(4), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "want a positive number, got -1");
  EXPECT_TRUE(check_both(1, 2).ok());
  EXPECT_EQ(check_both(1, 0).message(), "want a positive number, got 0");
}

TEST(Result, OkStatusBecomesInternalError) {
  Result<int> r{Status{}};
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

}  // namespace
}  // namespace kedge

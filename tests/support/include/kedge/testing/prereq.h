// Prerequisites of integration and e2e tests (root, binaries, kernel features).
//
// Outside CI a missing prerequisite skips the test with the reason; with
// CI=true it fails it, so CI can never go green by skipping what it must run.
#pragma once

#include <string>

#include <gtest/gtest.h>

namespace kedge::testing {

bool in_ci();
bool is_root();
// Absolute path of `name` on PATH (or /usr/sbin, /sbin), empty when absent.
std::string find_binary(const std::string& name);

}  // namespace kedge::testing

// Use at the top of a TEST body: KEDGE_REQUIRE(is_root(), "needs root").
#define KEDGE_REQUIRE(cond, why)                                           \
  do {                                                                     \
    if (!(cond)) {                                                         \
      if (::kedge::testing::in_ci()) FAIL() << "prerequisite missing: " << (why); \
      GTEST_SKIP() << "prerequisite missing: " << (why);                   \
    }                                                                      \
  } while (0)

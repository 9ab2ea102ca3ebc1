#include "kedge/base/log.h"

#include <gtest/gtest.h>

namespace kedge::log {
namespace {

TEST(Log, ParsesOptions) {
  auto o = parse_options("debug", "json");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->level, "debug");
  EXPECT_EQ(o->format, Format::kJson);
  EXPECT_FALSE(parse_options("loud", "text").ok());
  EXPECT_FALSE(parse_options("info", "xml").ok());
}

TEST(Log, JsonLinesEscapeTheMessage) {
  init({.level = "info", .format = Format::kJson});
  ::testing::internal::CaptureStderr();
  logger("unit")->info("say \"hi\"\nnext\\line");
  logger("unit")->debug("hidden at info");
  const std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(R"("level":"info","component":"unit","msg":"say \"hi\"\nnext\\line"})"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  init({});
}

}  // namespace
}  // namespace kedge::log

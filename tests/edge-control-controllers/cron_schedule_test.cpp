// Cron syntax and activation times, including time zones and DST days.
#include <gtest/gtest.h>

#include "kedge/api/meta.h"
#include "kedge/controllers/cron_schedule.h"

namespace kedge::controllers {
namespace {

SysSeconds at(const char* rfc3339) {
  auto t = api::parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return std::chrono::floor<std::chrono::seconds>(*t);
}

std::string next(const char* spec, const char* after, const TimeZone& zone = TimeZone::utc()) {
  auto s = CronSchedule::parse(spec);
  EXPECT_TRUE(s.ok()) << spec << ": " << s.status().to_string();
  if (!s.ok()) return "parse error";
  auto n = s->next(at(after), zone);
  return n ? api::format_rfc3339(*n) : "never";
}

TEST(CronSchedule, StepsRangesListsAndNames) {
  EXPECT_EQ(next("*/15 * * * *", "2024-05-01T10:07:00Z"), "2024-05-01T10:15:00Z");
  EXPECT_EQ(next("*/15 * * * *", "2024-05-01T10:15:00Z"), "2024-05-01T10:30:00Z");  // strictly after
  EXPECT_EQ(next("5/20 * * * *", "2024-05-01T10:26:00Z"), "2024-05-01T10:45:00Z");
  EXPECT_EQ(next("0 9-17/4 * * MON-FRI", "2024-05-03T17:30:00Z"), "2024-05-06T09:00:00Z");  // Fri → Mon
  EXPECT_EQ(next("0 0 1 jan,JUL *", "2024-02-10T00:00:00Z"), "2024-07-01T00:00:00Z");
  EXPECT_EQ(next("0 0 * * 7", "2024-05-04T12:00:00Z"), "2024-05-05T00:00:00Z");  // 7 = Sunday
  EXPECT_EQ(next("0 0 * * 5-7", "2024-05-04T12:00:00Z"), "2024-05-05T00:00:00Z");
  EXPECT_EQ(next("30 4 1,15 * *", "2024-05-02T00:00:00Z"), "2024-05-15T04:30:00Z");
}

TEST(CronSchedule, Descriptors) {
  EXPECT_EQ(next("@hourly", "2024-05-01T10:00:00Z"), "2024-05-01T11:00:00Z");
  EXPECT_EQ(next("@daily", "2024-05-01T10:00:00Z"), "2024-05-02T00:00:00Z");
  EXPECT_EQ(next("@midnight", "2024-05-01T10:00:00Z"), "2024-05-02T00:00:00Z");
  EXPECT_EQ(next("@weekly", "2024-05-01T10:00:00Z"), "2024-05-05T00:00:00Z");
  EXPECT_EQ(next("@monthly", "2024-05-01T10:00:00Z"), "2024-06-01T00:00:00Z");
  EXPECT_EQ(next("@yearly", "2024-05-01T10:00:00Z"), "2025-01-01T00:00:00Z");
  EXPECT_EQ(next("@annually", "2024-05-01T10:00:00Z"), "2025-01-01T00:00:00Z");
}

TEST(CronSchedule, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // The 13th or any Friday.
  EXPECT_EQ(next("0 0 13 * 5", "2024-09-01T00:00:00Z"), "2024-09-06T00:00:00Z");
  // One of them '*': both must match, i.e. only the other counts.
  EXPECT_EQ(next("0 0 13 * *", "2024-09-01T00:00:00Z"), "2024-09-13T00:00:00Z");
  EXPECT_EQ(next("0 0 * * 5", "2024-09-01T00:00:00Z"), "2024-09-06T00:00:00Z");
}

TEST(CronSchedule, RareAndImpossibleDates) {
  EXPECT_EQ(next("0 0 29 2 *", "2024-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(next("0 0 30 2 *", "2024-03-01T00:00:00Z"), "never");
}

TEST(CronSchedule, BadInputIsRejectedWithTheField) {
  for (const char* bad : {"61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "* * *",
                          "* * * * * *", "@fortnightly", "1-2-3 * * * *", "5-1 * * * *", "*/0 * * * *",
                          "* * * * MON-FOO", "a * * * *", ""}) {
    auto s = CronSchedule::parse(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Code::kInvalidArgument) << bad;
    }
  }
  auto s = CronSchedule::parse("61 * * * *");
  EXPECT_NE(s.status().message().find("minute"), std::string::npos) << s.status().message();
}

TEST(TimeZone, SchedulesRunInTheirZone) {
  auto berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok()) << berlin.status().to_string();
  EXPECT_EQ(next("0 9 * * *", "2024-07-01T00:00:00Z", *berlin), "2024-07-01T07:00:00Z");  // CEST +2
  EXPECT_EQ(next("0 9 * * *", "2024-01-10T00:00:00Z", *berlin), "2024-01-10T08:00:00Z");  // CET +1
  auto tokyo = TimeZone::load("Asia/Tokyo");
  ASSERT_TRUE(tokyo.ok());
  EXPECT_EQ(next("0 0 * * *", "2024-07-01T00:00:00Z", *tokyo), "2024-07-01T15:00:00Z");
}

TEST(TimeZone, DstGapSkipsAndRepeatedHourFiresOnce) {
  auto berlin = TimeZone::load("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  // 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
  EXPECT_EQ(next("30 2 * * *", "2024-03-30T12:00:00Z", *berlin), "2024-04-01T00:30:00Z");
  // 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice, fires once.
  EXPECT_EQ(next("30 2 * * *", "2024-10-26T12:00:00Z", *berlin), "2024-10-27T00:30:00Z");
  EXPECT_EQ(next("30 2 * * *", "2024-10-27T00:30:00Z", *berlin), "2024-10-28T01:30:00Z");
}

TEST(TimeZone, UnknownAndMalformedNames) {
  EXPECT_EQ(TimeZone::load("Mars/Olympus_Mons").status().code(), Code::kNotFound);
  EXPECT_EQ(TimeZone::load("../../etc/passwd").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(TimeZone::load("/etc/passwd").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(TimeZone::load("UTC").ok());
}

}  // namespace
}  // namespace kedge::controllers

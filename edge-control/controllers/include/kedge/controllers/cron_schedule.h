// Cron schedules as CronJobs write them (robfig/cron's standard parser, which
// upstream's CronJob controller uses), and the time zones they run in.
//
// Syntax: five fields "minute hour day-of-month month day-of-week", each a
// comma list of `*`, `?`, `N`, `A-B`, with an optional `/step` (`*/15`,
// `10-50/20`, `5/15` = 5-max/15); months JAN-DEC and weekdays SUN-SAT by
// name (any case); weekday 7 is Sunday. Descriptors: @yearly (@annually),
// @monthly, @weekly, @daily (@midnight), @hourly. When both day fields are
// restricted a day matches if either does (cron's rule); when one is `*` or
// `?`, both must.
//
// Times are matched in the schedule's time zone: a local time skipped by a
// DST jump does not fire; one repeated fires once (at its first occurrence).
// Zones come from the system's TZif files (/usr/share/zoneinfo); beyond the
// last transition in the file the last offset holds.
//
// Thread-safety: immutable values after construction; const methods may be
// called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::controllers {

using SysSeconds = std::chrono::sys_seconds;

class TimeZone {
 public:
  static TimeZone utc();
  // An IANA name ("Europe/Berlin", "UTC"), or "Local" for /etc/localtime.
  // InvalidArgument for a malformed name, NotFound for an unknown zone.
  static Result<TimeZone> load(std::string_view name, const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

  // UTC offset in effect at `t`.
  std::chrono::seconds offset_at(SysSeconds t) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_ = "UTC";
  std::int32_t initial_offset_ = 0;
  std::vector<std::int64_t> transitions_;  // ascending unix seconds
  std::vector<std::int32_t> offsets_;      // offset from transitions_[i] on
};

class CronSchedule {
 public:
  // InvalidArgument naming the offending field for bad input.
  static Result<CronSchedule> parse(std::string_view spec);

  // The first activation strictly after `after`, or nullopt when none falls
  // within five years (e.g. "0 0 30 2 *").
  std::optional<SysSeconds> next(SysSeconds after, const TimeZone& zone) const;

 private:
  bool matches_day(int day_of_month, int weekday) const;
  std::uint64_t minutes_ = 0, hours_ = 0, dom_ = 0, months_ = 0, dow_ = 0;
  bool dom_star_ = false, dow_star_ = false;
};

}  // namespace kedge::controllers

#include "kedge/controllers/cron_schedule.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <iterator>
#include <map>

namespace kedge::controllers {

namespace {

using namespace std::chrono;

struct FieldRange {
  const char* name;
  int min, max;
  const std::map<std::string, int>* names;
};

const std::map<std::string, int> kMonthNames = {{"jan", 1}, {"feb", 2}, {"mar", 3}, {"apr", 4},
                                                 {"may", 5}, {"jun", 6}, {"jul", 7}, {"aug", 8},
                                                 {"sep", 9}, {"oct", 10}, {"nov", 11}, {"dec", 12}};
const std::map<std::string, int> kDayNames = {{"sun", 0}, {"mon", 1}, {"tue", 2}, {"wed", 3},
                                               {"thu", 4}, {"fri", 5}, {"sat", 6}};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

Result<int> parse_value(std::string_view text, const FieldRange& r) {
  if (r.names) {
    std::string lower;
    for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto it = r.names->find(lower); it != r.names->end()) return it->second;
  }
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return invalid_argument("failed to parse int from " + std::string(text) + " in " + r.name + " field");
  }
  return v;
}

// One comma-separated term of a field, as bits; `star` when it is * or ?.
Status parse_term(std::string_view term, const FieldRange& r, std::uint64_t& bits, bool& star) {
  auto range_and_step = split(term, '/');
  if (range_and_step.size() > 2) return invalid_argument("too many slashes: " + std::string(term));
  auto low_high = split(range_and_step[0], '-');
  if (low_high.size() > 2) return invalid_argument("too many hyphens: " + std::string(term));
  int start = 0, end = 0, step = 1;
  bool is_star = false;
  if (low_high[0] == "*" || low_high[0] == "?") {
    if (low_high.size() > 1) return invalid_argument("invalid range: " + std::string(term));
    start = r.min;
    end = r.max;
    is_star = true;
  } else {
    KEDGE_ASSIGN_OR_RETURN(start, parse_value(low_high[0], r));
    if (low_high.size() == 2) {
      KEDGE_ASSIGN_OR_RETURN(end, parse_value(low_high[1], r));
    } else {
      end = start;
    }
  }
  if (range_and_step.size() == 2) {
    KEDGE_ASSIGN_OR_RETURN(step, parse_value(range_and_step[1], FieldRange{r.name, 0, 0, nullptr}));
    if (low_high.size() == 1 && !is_star) end = r.max;  // "N/step" means N-max/step
    if (step > 1) is_star = false;
  }
  if (r.names == &kDayNames) {
    // 7 is Sunday too.
    if (start == 7) start = 0;
    if (end == 7) end = 6, bits |= 1;
  }
  if (start < r.min) {
    return invalid_argument("beginning of range (" + std::to_string(start) + ") below minimum (" +
                            std::to_string(r.min) + "): " + std::string(term));
  }
  if (end > r.max) {
    return invalid_argument("end of range (" + std::to_string(end) + ") above maximum (" + std::to_string(r.max) +
                            "): " + std::string(term));
  }
  if (start > end) {
    return invalid_argument("beginning of range (" + std::to_string(start) + ") beyond end of range (" +
                            std::to_string(end) + "): " + std::string(term));
  }
  if (step <= 0) return invalid_argument("step of range should be a positive number: " + std::string(term));
  for (int v = start; v <= end; v += step) bits |= std::uint64_t{1} << v;
  star = star || is_star;
  return ok_status();
}

Result<std::uint64_t> parse_field(std::string_view field, const FieldRange& r, bool& star) {
  std::uint64_t bits = 0;
  for (auto term : split(field, ',')) {
    Status s = parse_term(term, r, bits, star);
    if (!s.ok()) return invalid_argument(std::string(s.message()) + " (" + r.name + " field)");
  }
  return bits;
}

bool has(std::uint64_t bits, int v) { return (bits >> v) & 1; }

std::uint32_t read_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::int64_t read_be64(const unsigned char* p) {
  return static_cast<std::int64_t>((std::uint64_t{read_be32(p)} << 32) | read_be32(p + 4));
}

}  // namespace

TimeZone TimeZone::utc() { return TimeZone(); }

Result<TimeZone> TimeZone::load(std::string_view name, const std::string& zoneinfo_dir) {
  if (name.empty() || name == "UTC" || name == "Etc/UTC") return utc();
  std::string file;
  if (name == "Local") {
    file = "/etc/localtime";
  } else {
    bool ok = name.front() != '/' && name.find("..") == std::string_view::npos;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+');
    if (!ok) return invalid_argument("invalid time zone name \"" + std::string(name) + "\"");
    file = zoneinfo_dir + "/" + std::string(name);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return not_found("unknown time zone " + std::string(name));
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&] { return invalid_argument("time zone " + std::string(name) + ": not a TZif file"); };
  if (data.size() < 44 || data[0] != 'T' || data[1] != 'Z' || data[2] != 'i' || data[3] != 'f') return bad();
  auto counts = [&](size_t at, std::uint32_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = read_be32(&data[at + 20 + 4 * i]);
  };
  std::uint32_t c[6];  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  size_t at = 44;
  int time_size = 4;
  if (data[4] >= '2') {
    at += c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    if (data.size() < at + 44) return bad();
    counts(at, c);
    at += 44;
    time_size = 8;
  }
  size_t need = c[3] * (time_size + 1) + c[4] * 6;
  if (c[4] == 0 || data.size() < at + need) return bad();
  const unsigned char* times = &data[at];
  const unsigned char* idx = times + c[3] * time_size;
  const unsigned char* types = idx + c[3];
  TimeZone tz;
  tz.name_ = std::string(name);
  auto offset_of = [&](unsigned i) { return static_cast<std::int32_t>(read_be32(types + 6 * i)); };
  tz.initial_offset_ = offset_of(0);
  for (std::uint32_t i = 0; i < c[3]; ++i) {
    std::int64_t t = time_size == 8 ? read_be64(times + 8 * i) : static_cast<std::int32_t>(read_be32(times + 4 * i));
    if (idx[i] >= c[4]) return bad();
    tz.transitions_.push_back(t);
    tz.offsets_.push_back(offset_of(idx[i]));
  }
  return tz;
}

std::chrono::seconds TimeZone::offset_at(SysSeconds t) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t.time_since_epoch().count());
  if (it == transitions_.begin()) return std::chrono::seconds(initial_offset_);
  return std::chrono::seconds(offsets_[static_cast<size_t>(it - transitions_.begin()) - 1]);
}

Result<CronSchedule> CronSchedule::parse(std::string_view spec) {
  std::string text(spec);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(0, 1);
  static const std::map<std::string, std::string> kDescriptors = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}};
  if (!text.empty() && text.front() == '@') {
    auto it = kDescriptors.find(text);
    if (it == kDescriptors.end()) return invalid_argument("unrecognized descriptor: " + text);
    text = it->second;
  }
  std::vector<std::string_view> fields;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t b = rest.find_first_not_of(" \t");
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    size_t e = rest.find_first_of(" \t");
    fields.push_back(rest.substr(0, e));
    rest.remove_prefix(e == std::string_view::npos ? rest.size() : e);
  }
  if (fields.size() != 5) {
    return invalid_argument("expected exactly 5 fields, found " + std::to_string(fields.size()) + ": " + text);
  }
  CronSchedule s;
  bool unused = false;
  KEDGE_ASSIGN_OR_RETURN(s.minutes_, parse_field(fields[0], {"minute", 0, 59, nullptr}, unused));
  KEDGE_ASSIGN_OR_RETURN(s.hours_, parse_field(fields[1], {"hour", 0, 23, nullptr}, unused));
  KEDGE_ASSIGN_OR_RETURN(s.dom_, parse_field(fields[2], {"day-of-month", 1, 31, nullptr}, s.dom_star_));
  KEDGE_ASSIGN_OR_RETURN(s.months_, parse_field(fields[3], {"month", 1, 12, &kMonthNames}, unused));
  KEDGE_ASSIGN_OR_RETURN(s.dow_, parse_field(fields[4], {"day-of-week", 0, 7, &kDayNames}, s.dow_star_));
  return s;
}

bool CronSchedule::matches_day(int day_of_month, int weekday) const {
  bool dom = has(dom_, day_of_month);
  bool dow = has(dow_, weekday);
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

std::optional<SysSeconds> CronSchedule::next(SysSeconds after, const TimeZone& zone) const {
  // Search in local wall-clock time (held in a sys_seconds as if it were
  // UTC), skipping whole months, days and hours that cannot match, then map
  // the match back to UTC.
  SysSeconds civil = floor<minutes>(after + zone.offset_at(after)) + minutes(1);
  const auto limit = civil + days(366 * 5);
  while (civil < limit) {
    sys_days day = floor<days>(civil);
    year_month_day ymd(day);
    auto tod = civil - day;
    int hour = static_cast<int>(duration_cast<hours>(tod).count());
    int minute = static_cast<int>(duration_cast<minutes>(tod).count() % 60);
    if (!has(months_, static_cast<int>(static_cast<unsigned>(ymd.month())))) {
      year_month ym = ymd.year() / ymd.month() + months(1);
      civil = sys_days(ym / 1);
      continue;
    }
    if (!matches_day(static_cast<int>(static_cast<unsigned>(ymd.day())),
                     static_cast<int>(weekday(day).c_encoding()))) {
      civil = day + days(1);
      continue;
    }
    if (!has(hours_, hour)) {
      civil = day + hours(hour + 1);
      continue;
    }
    if (!has(minutes_, minute)) {
      civil += minutes(1);
      continue;
    }
    // The UTC instants showing this wall-clock time: none in a DST gap, two
    // in a repeated hour.
    std::vector<SysSeconds> utc;
    for (auto probe : {civil - days(1), civil + days(1)}) {
      SysSeconds u = civil - zone.offset_at(probe);
      if (u + zone.offset_at(u) == civil && std::find(utc.begin(), utc.end(), u) == utc.end()) utc.push_back(u);
    }
    std::sort(utc.begin(), utc.end());
    for (auto u : utc) {
      if (u > after) return u;
    }
    civil += minutes(1);
  }
  return std::nullopt;
}

}  // namespace kedge::controllers

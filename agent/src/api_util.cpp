#include "api_util.h"

#include <ctime>
#include <fstream>
#include <sstream>

namespace kedge::agent::detail {

namespace {
std::string format(std::chrono::system_clock::time_point t, int fraction_digits) {
  const auto since = t.time_since_epoch();
  const std::time_t secs = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (fraction_digits == 6) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since).count() % 1000000;
    char frac[16];
    std::snprintf(frac, sizeof(frac), ".%06lld", static_cast<long long>(micros));
    out += frac;
  }
  return out + "Z";
}
}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) { return format(t, 0); }
std::string rfc3339_now() { return rfc3339(std::chrono::system_clock::now()); }
std::string rfc3339_micro(std::chrono::system_clock::time_point t) { return format(t, 6); }

std::string rfc3339_from_nanos(std::int64_t nanos) {
  if (nanos <= 0) return "";
  return rfc3339(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(nanos))));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string read_first_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string pod_path(std::string_view ns, std::string_view name) {
  return "/api/v1/namespaces/" + std::string(ns) + "/pods/" + std::string(name);
}

std::string str(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return "";
  const auto* f = v.as_object().if_contains(key);
  return f && f->is_string() ? std::string(f->as_string()) : "";
}

bool flag(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return false;
  const auto* f = v.as_object().if_contains(key);
  return f && f->is_bool() && f->as_bool();
}

std::optional<std::int64_t> int_field(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return std::nullopt;
  const auto* f = v.as_object().if_contains(key);
  if (f && f->is_int64()) return f->as_int64();
  if (f && f->is_uint64()) return static_cast<std::int64_t>(f->as_uint64());
  return std::nullopt;
}

Result<boost::json::value> merge_patch(client::RestClient& api, std::string_view path,
                                       const boost::json::value& patch) {
  return api.send("PATCH", path, patch, "application/merge-patch+json");
}

}  // namespace kedge::agent::detail

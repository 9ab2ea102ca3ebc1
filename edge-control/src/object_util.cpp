#include "object_util.h"

#include <ctime>
#include <random>

#include <openssl/evp.h>

namespace kedge::control {

json::object& child_object(json::object& o, std::string_view key) {
  json::value& v = o[key];
  if (!v.is_object()) v = json::object{};
  return v.as_object();
}

const json::object* find_object(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) return nullptr;
  return &it->value().as_object();
}

json::object* find_object(json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) return nullptr;
  return &it->value().as_object();
}

const json::array* find_array(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_array()) return nullptr;
  return &it->value().as_array();
}

std::string get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::int64_t get_int(const json::object& o, std::string_view key, std::int64_t fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
  if (it->value().is_double()) return static_cast<std::int64_t>(it->value().as_double());
  return fallback;
}

std::string string_at_path(const json::object& o, std::string_view dotted) {
  const json::object* cur = &o;
  while (true) {
    auto dot = dotted.find('.');
    if (dot == std::string_view::npos) return get_string(*cur, dotted);
    cur = find_object(*cur, dotted.substr(0, dot));
    if (cur == nullptr) return {};
    dotted.remove_prefix(dot + 1);
  }
}

const json::object& metadata_of(const json::object& o) {
  static const json::object kEmpty;
  const json::object* m = find_object(o, "metadata");
  return m != nullptr ? *m : kEmpty;
}

std::string now_rfc3339(std::int64_t offset_seconds) {
  std::time_t t = std::time(nullptr) + offset_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t parse_rfc3339(std::string_view ts) {
  std::tm tm{};
  std::string s(ts);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return -1;
  return static_cast<std::int64_t>(timegm(&tm));
}

namespace {
std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}
}  // namespace

std::string new_uid() {
  std::uniform_int_distribution<int> d(0, 15);
  const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    int v = d(rng());
    if (i == 12) v = 4;
    if (i == 16) v = 8 | (v & 3);
    out += hex[v];
  }
  return out;
}

std::string random_suffix(int n) {
  // Upstream's alphabet: no vowels (no words), no confusable 0/1/3.
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::uniform_int_distribution<std::size_t> d(0, kAlphabet.size() - 1);
  std::string out;
  for (int i = 0; i < n; ++i) out += kAlphabet[d(rng())];
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4 != 0) return false;
  out.assign(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return false;
  std::size_t len = static_cast<std::size_t>(n);
  if (!in.empty() && in.back() == '=') --len;
  if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
  out.resize(len);
  return true;
}

std::string human_age(std::int64_t s) {
  if (s < 0) s = 0;
  auto str = [](std::int64_t v, const char* unit) { return std::to_string(v) + unit; };
  if (s < 120) return str(s, "s");
  std::int64_t m = s / 60;
  if (m < 10) return str(m, "m") + (s % 60 != 0 ? str(s % 60, "s") : "");
  if (m < 180) return str(m, "m");
  std::int64_t h = s / 3600;
  if (h < 8) return str(h, "h") + (m % 60 != 0 ? str(m % 60, "m") : "");
  if (h < 48) return str(h, "h");
  std::int64_t d = h / 24;
  if (d < 8) return str(d, "d") + (h % 24 != 0 ? str(h % 24, "h") : "");
  if (d < 365 * 2) return str(d, "d");
  return str(d / 365, "y") + (d % 365 != 0 ? str(d % 365, "d") : "");
}

}  // namespace kedge::control

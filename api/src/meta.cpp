#include "kedge/api/meta.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <random>

namespace kedge::api {

namespace json = boost::json;

namespace {

std::string_view string_field(const json::value& obj, std::string_view key) {
  const json::object* m = metadata(obj);
  if (m == nullptr) return {};
  const json::value* v = m->if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

json::object& submap(json::value& obj, std::string_view key) {
  json::object& m = mutable_metadata(obj);
  json::value& v = m[key];
  if (!v.is_object()) v = json::object();
  return v.get_object();
}

std::optional<std::string> map_entry(const json::object* m, std::string_view key) {
  if (m == nullptr) return std::nullopt;
  const json::value* v = m->if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

bool remove_map_entry(json::value& obj, std::string_view map, std::string_view key) {
  if (!obj.is_object()) return false;
  json::value* m = obj.get_object().if_contains("metadata");
  if (m == nullptr || !m->is_object()) return false;
  json::value* sub = m->get_object().if_contains(map);
  if (sub == nullptr || !sub->is_object()) return false;
  return sub->get_object().erase(key) > 0;
}

const json::array* array_field(const json::value& obj, std::string_view key) {
  const json::object* m = metadata(obj);
  if (m == nullptr) return nullptr;
  const json::value* v = m->if_contains(key);
  return v != nullptr && v->is_array() ? &v->get_array() : nullptr;
}


}  // namespace

const json::object* metadata(const json::value& obj) {
  if (!obj.is_object()) return nullptr;
  const json::value* m = obj.get_object().if_contains("metadata");
  return m != nullptr && m->is_object() ? &m->get_object() : nullptr;
}

json::object& mutable_metadata(json::value& obj) {
  if (!obj.is_object()) obj = json::object();
  json::value& m = obj.get_object()["metadata"];
  if (!m.is_object()) m = json::object();
  return m.get_object();
}

std::string_view get_name(const json::value& obj) { return string_field(obj, "name"); }
std::string_view get_generate_name(const json::value& obj) { return string_field(obj, "generateName"); }
std::string_view get_namespace(const json::value& obj) { return string_field(obj, "namespace"); }
std::string_view get_uid(const json::value& obj) { return string_field(obj, "uid"); }
std::string_view get_resource_version(const json::value& obj) { return string_field(obj, "resourceVersion"); }
std::string_view get_creation_timestamp(const json::value& obj) { return string_field(obj, "creationTimestamp"); }

std::int64_t get_generation(const json::value& obj) {
  const json::object* m = metadata(obj);
  const json::value* v = m != nullptr ? m->if_contains("generation") : nullptr;
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return 0;
}

std::optional<std::string> get_deletion_timestamp(const json::value& obj) {
  std::string_view s = string_field(obj, "deletionTimestamp");
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

std::optional<std::int64_t> get_deletion_grace_period_seconds(const json::value& obj) {
  const json::object* m = metadata(obj);
  const json::value* v = m != nullptr ? m->if_contains("deletionGracePeriodSeconds") : nullptr;
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(v->to_number<double>());
}

const json::object* get_labels(const json::value& obj) {
  const json::object* m = metadata(obj);
  const json::value* v = m != nullptr ? m->if_contains("labels") : nullptr;
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

const json::object* get_annotations(const json::value& obj) {
  const json::object* m = metadata(obj);
  const json::value* v = m != nullptr ? m->if_contains("annotations") : nullptr;
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::optional<std::string> get_label(const json::value& obj, std::string_view key) {
  return map_entry(get_labels(obj), key);
}
std::optional<std::string> get_annotation(const json::value& obj, std::string_view key) {
  return map_entry(get_annotations(obj), key);
}

void set_name(json::value& obj, std::string_view v) { mutable_metadata(obj)["name"] = v; }
void set_namespace(json::value& obj, std::string_view v) { mutable_metadata(obj)["namespace"] = v; }
void set_uid(json::value& obj, std::string_view v) { mutable_metadata(obj)["uid"] = v; }
void set_resource_version(json::value& obj, std::string_view v) { mutable_metadata(obj)["resourceVersion"] = v; }
void set_creation_timestamp(json::value& obj, std::string_view v) { mutable_metadata(obj)["creationTimestamp"] = v; }
void set_generation(json::value& obj, std::int64_t g) { mutable_metadata(obj)["generation"] = g; }
void set_deletion_timestamp(json::value& obj, std::string_view v) { mutable_metadata(obj)["deletionTimestamp"] = v; }
void set_deletion_grace_period_seconds(json::value& obj, std::int64_t s) {
  mutable_metadata(obj)["deletionGracePeriodSeconds"] = s;
}
void set_label(json::value& obj, std::string_view key, std::string_view value) { submap(obj, "labels")[key] = value; }
bool remove_label(json::value& obj, std::string_view key) { return remove_map_entry(obj, "labels", key); }
void set_annotation(json::value& obj, std::string_view key, std::string_view value) {
  submap(obj, "annotations")[key] = value;
}
bool remove_annotation(json::value& obj, std::string_view key) { return remove_map_entry(obj, "annotations", key); }

std::vector<std::string> get_finalizers(const json::value& obj) {
  std::vector<std::string> out;
  if (const json::array* a = array_field(obj, "finalizers")) {
    for (const auto& v : *a) {
      if (v.is_string()) out.emplace_back(v.get_string());
    }
  }
  return out;
}

bool has_finalizer(const json::value& obj, std::string_view f) {
  const json::array* a = array_field(obj, "finalizers");
  return a != nullptr && std::any_of(a->begin(), a->end(), [&](const json::value& v) { return v.is_string() && v.get_string() == f; });
}

bool add_finalizer(json::value& obj, std::string_view f) {
  if (has_finalizer(obj, f)) return false;
  json::value& v = mutable_metadata(obj)["finalizers"];
  if (!v.is_array()) v = json::array();
  v.get_array().push_back(json::value(f));
  return true;
}

bool remove_finalizer(json::value& obj, std::string_view f) {
  if (!has_finalizer(obj, f)) return false;
  json::array& a = mutable_metadata(obj)["finalizers"].get_array();
  json::array kept;
  for (auto& v : a) {
    if (!(v.is_string() && v.get_string() == f)) kept.push_back(std::move(v));
  }
  if (kept.empty()) {
    mutable_metadata(obj).erase("finalizers");
  } else {
    a = std::move(kept);
  }
  return true;
}

json::value OwnerReference::to_json() const {
  json::object o{{"apiVersion", api_version}, {"kind", kind}, {"name", name}, {"uid", uid}};
  if (controller) o["controller"] = true;
  if (block_owner_deletion) o["blockOwnerDeletion"] = true;
  return o;
}

OwnerReference OwnerReference::from_json(const json::value& v) {
  OwnerReference r;
  if (!v.is_object()) return r;
  const json::object& o = v.get_object();
  auto str = [&](std::string_view k) {
    const json::value* x = o.if_contains(k);
    return x != nullptr && x->is_string() ? std::string(x->get_string()) : std::string();
  };
  auto boolean = [&](std::string_view k) {
    const json::value* x = o.if_contains(k);
    return x != nullptr && x->is_bool() && x->get_bool();
  };
  r.api_version = str("apiVersion");
  r.kind = str("kind");
  r.name = str("name");
  r.uid = str("uid");
  r.controller = boolean("controller");
  r.block_owner_deletion = boolean("blockOwnerDeletion");
  return r;
}

std::vector<OwnerReference> get_owner_references(const json::value& obj) {
  std::vector<OwnerReference> out;
  if (const json::array* a = array_field(obj, "ownerReferences")) {
    for (const auto& v : *a) out.push_back(OwnerReference::from_json(v));
  }
  return out;
}

std::optional<OwnerReference> get_controller_ref(const json::value& obj) {
  for (auto& r : get_owner_references(obj)) {
    if (r.controller) return r;
  }
  return std::nullopt;
}

void set_owner_references(json::value& obj, const std::vector<OwnerReference>& refs) {
  if (refs.empty()) {
    mutable_metadata(obj).erase("ownerReferences");
    return;
  }
  json::array a;
  for (const auto& r : refs) a.push_back(r.to_json());
  mutable_metadata(obj)["ownerReferences"] = std::move(a);
}

bool add_owner_reference(json::value& obj, const OwnerReference& ref) {
  auto refs = get_owner_references(obj);
  if (std::any_of(refs.begin(), refs.end(), [&](const auto& r) { return r.uid == ref.uid; })) return false;
  json::value& v = mutable_metadata(obj)["ownerReferences"];
  if (!v.is_array()) v = json::array();
  v.get_array().push_back(ref.to_json());
  return true;
}

bool remove_owner_reference(json::value& obj, std::string_view uid) {
  auto refs = get_owner_references(obj);
  auto it = std::remove_if(refs.begin(), refs.end(), [&](const auto& r) { return r.uid == uid; });
  if (it == refs.end()) return false;
  // Rebuild from the stored JSON to keep fields this struct does not model.
  json::array kept;
  for (auto& v : mutable_metadata(obj)["ownerReferences"].get_array()) {
    if (OwnerReference::from_json(v).uid != uid) kept.push_back(std::move(v));
  }
  if (kept.empty()) {
    mutable_metadata(obj).erase("ownerReferences");
  } else {
    mutable_metadata(obj)["ownerReferences"] = std::move(kept);
  }
  return true;
}

std::string_view get_api_version(const json::value& obj) {
  const json::value* v = obj.is_object() ? obj.get_object().if_contains("apiVersion") : nullptr;
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::string_view get_kind(const json::value& obj) {
  const json::value* v = obj.is_object() ? obj.get_object().if_contains("kind") : nullptr;
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::pair<std::string_view, std::string_view> split_api_version(std::string_view av) {
  auto slash = av.find('/');
  if (slash == std::string_view::npos) return {std::string_view(), av};
  return {av.substr(0, slash), av.substr(slash + 1)};
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_rfc3339_micro(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  std::string s = format_rfc3339(secs);
  std::string frac = std::to_string(micros);  // 0 <= micros < 10^6
  frac.insert(0, 6 - frac.size(), '0');
  s.insert(s.size() - 1, "." + frac);
  return s;
}

Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  auto bad = [&] {
    return invalid_argument("parsing time \"" + std::string(text) + "\" as \"2006-01-02T15:04:05Z07:00\": cannot parse");
  };
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > text.size()) return false;
    auto [p, ec] = std::from_chars(text.data() + pos, text.data() + pos + len, out);
    return ec == std::errc() && p == text.data() + pos + len;
  };
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (text.size() < 20 || !num(0, 4, year) || text[4] != '-' || !num(5, 2, mon) || text[7] != '-' || !num(8, 2, day) ||
      (text[10] != 'T' && text[10] != 't') || !num(11, 2, hour) || text[13] != ':' || !num(14, 2, min) ||
      text[16] != ':' || !num(17, 2, sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t ns = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 9) ns = ns * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return bad();
    for (std::size_t i = pos - start; i < 9; ++i) ns *= 10;
    frac = std::chrono::nanoseconds(ns);
  }
  std::chrono::seconds offset{0};
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!num(pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' || !num(pos + 4, 2, om)) return bad();
    offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    if (text[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year), month(static_cast<unsigned>(mon)), std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return bad();
  auto tp = sys_days(ymd) + hours(hour) + minutes(min) + seconds(sec) - offset;
  return time_point_cast<system_clock::duration>(tp + frac);
}

std::string new_uid() {
  unsigned char b[16];
  std::size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      // getrandom(2) cannot fail on a supported kernel; keep going with the
      // C++ source rather than hand out a predictable id.
      std::random_device rd;
      for (; got < sizeof b; ++got) b[got] = static_cast<unsigned char>(rd());
    }
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

}  // namespace kedge::api

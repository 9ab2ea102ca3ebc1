// CachedObject: a stored object kept serialized for lists and watches, with
// the small parsed part selectors read (see watch_cache.h).
#include <boost/json.hpp>

#include "kedge/control/watch_cache.h"

namespace kedge::control {

namespace json = boost::json;

namespace {

bool is_scalar(const json::value& v) { return !v.is_object() && !v.is_array(); }

// Top-level scalars, scalar members of top-level objects, metadata.labels.
json::object selectable_fields(const json::object& obj) {
  json::object out;
  for (const auto& [k, v] : obj) {
    if (is_scalar(v)) {
      out.emplace(k, v);
      continue;
    }
    if (!v.is_object()) continue;
    json::object inner;
    for (const auto& [ik, iv] : v.as_object()) {
      if (is_scalar(iv) || (k == "metadata" && ik == "labels" && iv.is_object())) inner.emplace(ik, iv);
    }
    if (!inner.empty()) out.emplace(k, std::move(inner));
  }
  return out;
}

void append_key(std::string& out, std::string_view key) {
  out += json::serialize(json::string(key));
  out += ':';
}

}  // namespace

std::string CachedObject::json_at(store::Revision at) const {
  std::string out;
  std::string rv = std::to_string(at);
  out.reserve(json.size() + rv.size());
  out.append(json, 0, rv_offset);
  out += rv;
  out.append(json, rv_offset + rv_length);
  return out;
}

CachedObjectPtr CachedObject::make(std::string key, std::string_view value, store::Revision revision) {
  boost::system::error_code ec;
  json::value parsed = json::parse(value, ec);
  if (ec || !parsed.is_object()) return nullptr;
  json::object& obj = parsed.as_object();
  auto out = std::make_shared<CachedObject>();
  out->key = std::move(key);
  out->revision = revision;
  const std::string rv = std::to_string(revision);
  // Serialized by hand at the top level so that the resourceVersion's place
  // in the bytes is known (a DELETED event rewrites it).
  std::string& s = out->json;
  s.reserve(value.size() + 32);
  s += '{';
  auto put_rv = [&](bool comma) {
    if (comma) s += ',';
    s += "\"resourceVersion\":\"";
    out->rv_offset = static_cast<std::uint32_t>(s.size());
    out->rv_length = static_cast<std::uint32_t>(rv.size());
    s += rv;
    s += '"';
  };
  bool has_meta = false;
  for (auto& [k, v] : obj) {
    if (s.size() > 1) s += ',';
    append_key(s, k);
    if (k != "metadata" || !v.is_object()) {
      s += json::serialize(v);
      continue;
    }
    has_meta = true;
    json::object& meta = v.as_object();
    meta.erase("resourceVersion");
    std::string m = json::serialize(meta);
    m.pop_back();  // the closing brace
    s += m;
    put_rv(!meta.empty());
    s += '}';
  }
  if (!has_meta) {
    if (s.size() > 1) s += ',';
    append_key(s, "metadata");
    s += '{';
    put_rv(false);
    s += '}';
  }
  s += '}';
  s.shrink_to_fit();
  out->fields = selectable_fields(obj);
  return out;
}

}  // namespace kedge::control

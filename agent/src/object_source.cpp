#include "object_source.h"

#include <boost/json.hpp>

namespace kedge::agent::detail {

namespace json = boost::json;

Result<std::string> base64_decode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=' || c == '\n' || c == '\r') continue;
    else return invalid_argument("illegal base64 data");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

Result<DataMap> ApiObjectSource::get(ObjectKind kind, const std::string& ns, const std::string& name) {
  const std::string resource = kind == ObjectKind::kConfigMap ? "configmaps" : "secrets";
  const std::string key = resource + "/" + ns + "/" + name;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end() && now - it->second.fetched < ttl_) return it->second.data;
  }
  Result<DataMap> data = [&]() -> Result<DataMap> {
    KEDGE_ASSIGN_OR_RETURN(auto obj, api_.get("/api/v1/namespaces/" + ns + "/" + resource + "/" + name));
    DataMap out;
    const auto& o = obj.as_object();
    const bool secret = kind == ObjectKind::kSecret;
    if (const auto* d = o.if_contains("data"); d && d->is_object()) {
      for (const auto& [k, v] : d->as_object()) {
        if (!v.is_string()) continue;
        if (secret) {
          KEDGE_ASSIGN_OR_RETURN(out[k], base64_decode(v.as_string()));
        } else {
          out[k] = v.as_string().c_str();
        }
      }
    }
    if (const auto* d = o.if_contains("binaryData"); !secret && d && d->is_object()) {
      for (const auto& [k, v] : d->as_object()) {
        if (!v.is_string()) continue;
        KEDGE_ASSIGN_OR_RETURN(out[k], base64_decode(v.as_string()));
      }
    }
    return out;
  }();
  if (!data.ok() && data.status().code() == Code::kNotFound) {
    data = not_found((kind == ObjectKind::kConfigMap ? "configmap \"" : "secret \"") + name + "\" not found");
  }
  std::lock_guard lock(mu_);
  cache_[key] = Entry{now, data};
  return data;
}

}  // namespace kedge::agent::detail

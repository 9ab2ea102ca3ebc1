#include "object_source.h"

#include <boost/json.hpp>

#include "kedge/base/log.h"

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
  auto& entry = cache_[key];
  // The API unreachable (not an answer such as 404): keep using the last
  // copy, so that a crashed container still restarts with its volumes and
  // env while the control plane is away (the agent's autonomy; upstream's
  // watch-based cache behaves the same). Retried after another ttl.
  if (!data.ok() && (data.status().code() == Code::kUnavailable || data.status().code() == Code::kDeadlineExceeded) &&
      entry.data.ok() && entry.fetched != std::chrono::steady_clock::time_point{}) {
    log::logger("kubelet")->warn("{} {}/{}: API unreachable ({}), using the copy from {} s ago", resource, ns, name,
                                 data.status().message(),
                                 std::chrono::duration_cast<std::chrono::seconds>(now - entry.last_good).count());
    entry.fetched = now;
    return entry.data;
  }
  entry.fetched = now;
  entry.data = data;
  if (data.ok()) entry.last_good = now;
  return data;
}

std::vector<std::pair<std::string, std::string>> service_env_vars(const json::value& service) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* meta = service.is_object() ? service.as_object().if_contains("metadata") : nullptr;
  const auto* spec = service.is_object() ? service.as_object().if_contains("spec") : nullptr;
  if (meta == nullptr || spec == nullptr || !meta->is_object() || !spec->is_object()) return out;
  const auto* ip = spec->as_object().if_contains("clusterIP");
  const auto* ports = spec->as_object().if_contains("ports");
  const auto* name = meta->as_object().if_contains("name");
  if (ip == nullptr || !ip->is_string() || ip->as_string().empty() || ip->as_string() == "None" || name == nullptr ||
      !name->is_string() || ports == nullptr || !ports->is_array() || ports->as_array().empty()) {
    return out;
  }
  auto upper = [](std::string_view in) {
    std::string s(in);
    for (auto& c : s) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string prefix = upper(name->as_string());
  const std::string host(ip->as_string());
  auto field = [](const json::value& p, std::string_view key) -> std::string {
    const auto* f = p.is_object() ? p.as_object().if_contains(key) : nullptr;
    if (f == nullptr) return "";
    if (f->is_string()) return std::string(f->as_string());
    if (f->is_int64()) return std::to_string(f->as_int64());
    return "";
  };
  out.emplace_back(prefix + "_SERVICE_HOST", host);
  out.emplace_back(prefix + "_SERVICE_PORT", field(ports->as_array()[0], "port"));
  for (const auto& p : ports->as_array()) {
    if (!field(p, "name").empty()) out.emplace_back(prefix + "_SERVICE_PORT_" + upper(field(p, "name")), field(p, "port"));
  }
  auto proto_of = [&](const json::value& p) {
    std::string proto = field(p, "protocol");
    for (auto& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return proto.empty() ? std::string("tcp") : proto;
  };
  const auto& first = ports->as_array()[0];
  out.emplace_back(prefix + "_PORT", proto_of(first) + "://" + host + ":" + field(first, "port"));
  for (const auto& p : ports->as_array()) {
    const std::string proto = proto_of(p);
    const std::string base = prefix + "_PORT_" + field(p, "port") + "_" + upper(proto);
    out.emplace_back(base, proto + "://" + host + ":" + field(p, "port"));
    out.emplace_back(base + "_PROTO", proto);
    out.emplace_back(base + "_PORT", field(p, "port"));
    out.emplace_back(base + "_ADDR", host);
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> ApiObjectSource::kubernetes_service_env() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (service_env_fetched_ && now - *service_env_fetched_ < ttl_) return service_env_;
  }
  KEDGE_ASSIGN_OR_RETURN(auto svc, api_.get("/api/v1/namespaces/default/services/kubernetes"));
  auto env = service_env_vars(svc);
  std::lock_guard lock(mu_);
  service_env_ = env;
  service_env_fetched_ = now;
  return env;
}

}  // namespace kedge::agent::detail

#include "kedge/proxy/types.h"

#include <netinet/in.h>

#include <boost/json.hpp>

#include "kedge/netlink/model.h"

namespace kedge::proxy {

namespace json = boost::json;

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kTcp: return "tcp";
    case Protocol::kUdp: return "udp";
    case Protocol::kSctp: return "sctp";
  }
  return "?";
}

std::uint8_t protocol_number(Protocol p) {
  switch (p) {
    case Protocol::kTcp: return IPPROTO_TCP;
    case Protocol::kUdp: return IPPROTO_UDP;
    case Protocol::kSctp: return IPPROTO_SCTP;
  }
  return 0;
}

std::string key_of(const Service& s) { return s.namespace_name + "/" + s.name; }
std::string key_of(const EndpointSlice& s) { return s.namespace_name + "/" + s.name; }

namespace {

Status field_error(std::string_view kind, const std::string& key, const std::string& field, const std::string& what) {
  return invalid_argument(std::string(kind) + " " + key + ": " + field + ": " + what);
}

Status check_range(std::string_view kind, const std::string& key, const std::string& field, std::int64_t v,
                   std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi) {
    return field_error(kind, key, field,
                       std::to_string(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return ok_status();
}

Status check_ip(std::string_view kind, const std::string& key, const std::string& field, const std::string& ip) {
  if (!netlink::parse_ip(ip).ok()) return field_error(kind, key, field, "\"" + ip + "\" is not an IP address");
  return ok_status();
}

}  // namespace

Status validate(const Service& s) {
  const std::string key = key_of(s);
  for (std::size_t i = 0; i < s.cluster_ips.size(); ++i) {
    if (s.cluster_ips[i] == "None" || s.cluster_ips[i].empty()) continue;
    KEDGE_RETURN_IF_ERROR(check_ip("Service", key, "spec.clusterIPs[" + std::to_string(i) + "]", s.cluster_ips[i]));
  }
  for (std::size_t i = 0; i < s.ports.size(); ++i) {
    std::string f = "spec.ports[" + std::to_string(i) + "]";
    KEDGE_RETURN_IF_ERROR(check_range("Service", key, f + ".port", s.ports[i].port, 1, 65535));
    KEDGE_RETURN_IF_ERROR(check_range("Service", key, f + ".nodePort", s.ports[i].node_port, 0, 65535));
  }
  for (std::size_t i = 0; i < s.external_ips.size(); ++i) {
    KEDGE_RETURN_IF_ERROR(check_ip("Service", key, "spec.externalIPs[" + std::to_string(i) + "]", s.external_ips[i]));
  }
  for (std::size_t i = 0; i < s.load_balancer_ips.size(); ++i) {
    KEDGE_RETURN_IF_ERROR(check_ip("Service", key, "status.loadBalancer.ingress[" + std::to_string(i) + "].ip",
                                   s.load_balancer_ips[i]));
  }
  if (s.affinity_client_ip) {
    KEDGE_RETURN_IF_ERROR(check_range("Service", key, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                      s.affinity_timeout_seconds, 1, 86400));
  }
  return ok_status();
}

Status validate(const EndpointSlice& s) {
  const std::string key = key_of(s);
  if (s.service_name.empty()) {
    return field_error("EndpointSlice", key, "metadata.labels[kubernetes.io/service-name]", "missing");
  }
  for (std::size_t i = 0; i < s.ports.size(); ++i) {
    KEDGE_RETURN_IF_ERROR(
        check_range("EndpointSlice", key, "ports[" + std::to_string(i) + "].port", s.ports[i].port, 1, 65535));
  }
  if (s.address_type == AddressType::kFQDN) return ok_status();
  for (std::size_t i = 0; i < s.endpoints.size(); ++i) {
    for (std::size_t j = 0; j < s.endpoints[i].addresses.size(); ++j) {
      const std::string& a = s.endpoints[i].addresses[j];
      std::string f = "endpoints[" + std::to_string(i) + "].addresses[" + std::to_string(j) + "]";
      auto ip = netlink::parse_ip(a);
      if (!ip.ok()) return field_error("EndpointSlice", key, f, "\"" + a + "\" is not an IP address");
      if ((ip->size() == 4) != (s.address_type == AddressType::kIPv4)) {
        return field_error("EndpointSlice", key, f, "\"" + a + "\" does not match addressType");
      }
    }
  }
  return ok_status();
}

// ---- JSON ----
namespace {

const json::value* find(const json::value& v, std::string_view k) {
  const auto* o = v.if_object();
  if (o == nullptr) return nullptr;
  auto it = o->find(k);
  return it == o->end() ? nullptr : &it->value();
}

std::string str(const json::value* v) {
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->as_string());
}

Result<std::int64_t> integer(const json::value* v, const std::string& field) {
  if (v == nullptr || v->is_null()) return std::int64_t{0};
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  return invalid_argument(field + ": not an integer");
}

std::vector<std::string> strings(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (e.is_string()) out.emplace_back(e.as_string());
  }
  return out;
}

Result<Protocol> protocol(const json::value* v, const std::string& field) {
  std::string p = str(v);
  if (p.empty() || p == "TCP") return Protocol::kTcp;
  if (p == "UDP") return Protocol::kUdp;
  if (p == "SCTP") return Protocol::kSctp;
  return invalid_argument(field + ": unknown protocol \"" + p + "\"");
}

bool flag(const json::value* v, bool fallback) { return v != nullptr && v->is_bool() ? v->as_bool() : fallback; }

Result<Service> service_from(const json::value& v) {
  Service s;
  const json::value* meta = find(v, "metadata");
  if (meta == nullptr) return invalid_argument("Service without metadata");
  s.name = str(find(*meta, "name"));
  s.namespace_name = str(find(*meta, "namespace"));
  if (s.namespace_name.empty()) s.namespace_name = "default";
  const std::string ctx = "Service " + key_of(s);
  const json::value* spec = find(v, "spec");
  if (spec == nullptr) return invalid_argument(ctx + ": no spec");
  std::string type = str(find(*spec, "type"));
  s.type = type == "NodePort" ? ServiceType::kNodePort
           : type == "LoadBalancer" ? ServiceType::kLoadBalancer
           : type == "ExternalName" ? ServiceType::kExternalName
                                    : ServiceType::kClusterIP;
  s.cluster_ips = strings(find(*spec, "clusterIPs"));
  if (s.cluster_ips.empty() && !str(find(*spec, "clusterIP")).empty()) s.cluster_ips = {str(find(*spec, "clusterIP"))};
  if (const auto* ports = find(*spec, "ports"); ports != nullptr && ports->is_array()) {
    std::size_t i = 0;
    for (const auto& p : ports->as_array()) {
      std::string f = ctx + ": spec.ports[" + std::to_string(i++) + "]";
      ServicePort sp;
      sp.name = str(find(p, "name"));
      KEDGE_ASSIGN_OR_RETURN(sp.protocol, protocol(find(p, "protocol"), f + ".protocol"));
      KEDGE_ASSIGN_OR_RETURN(sp.port, integer(find(p, "port"), f + ".port"));
      KEDGE_ASSIGN_OR_RETURN(sp.node_port, integer(find(p, "nodePort"), f + ".nodePort"));
      s.ports.push_back(std::move(sp));
    }
  }
  s.external_ips = strings(find(*spec, "externalIPs"));
  if (const auto* st = find(v, "status"); st != nullptr) {
    if (const auto* lb = find(*st, "loadBalancer"); lb != nullptr) {
      if (const auto* ing = find(*lb, "ingress"); ing != nullptr && ing->is_array()) {
        for (const auto& e : ing->as_array()) {
          if (!str(find(e, "ip")).empty()) s.load_balancer_ips.push_back(str(find(e, "ip")));
        }
      }
    }
  }
  s.affinity_client_ip = str(find(*spec, "sessionAffinity")) == "ClientIP";
  if (const auto* cfg = find(*spec, "sessionAffinityConfig"); cfg != nullptr) {
    if (const auto* cip = find(*cfg, "clientIP"); cip != nullptr && find(*cip, "timeoutSeconds") != nullptr) {
      KEDGE_ASSIGN_OR_RETURN(s.affinity_timeout_seconds,
                             integer(find(*cip, "timeoutSeconds"), ctx + ": sessionAffinityConfig.clientIP.timeoutSeconds"));
    }
  }
  s.internal_traffic_policy = str(find(*spec, "internalTrafficPolicy")) == "Local" ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  s.external_traffic_policy = str(find(*spec, "externalTrafficPolicy")) == "Local" ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  for (const auto& f : strings(find(*spec, "ipFamilies"))) s.ip_families.push_back(f == "IPv6" ? IpFamily::kV6 : IpFamily::kV4);
  return s;
}

Result<EndpointSlice> slice_from(const json::value& v) {
  EndpointSlice s;
  const json::value* meta = find(v, "metadata");
  if (meta == nullptr) return invalid_argument("EndpointSlice without metadata");
  s.name = str(find(*meta, "name"));
  s.namespace_name = str(find(*meta, "namespace"));
  if (s.namespace_name.empty()) s.namespace_name = "default";
  if (const auto* labels = find(*meta, "labels"); labels != nullptr) {
    s.service_name = str(find(*labels, "kubernetes.io/service-name"));
  }
  const std::string ctx = "EndpointSlice " + key_of(s);
  std::string at = str(find(v, "addressType"));
  s.address_type = at == "IPv6" ? AddressType::kIPv6 : at == "FQDN" ? AddressType::kFQDN : AddressType::kIPv4;
  if (const auto* eps = find(v, "endpoints"); eps != nullptr && eps->is_array()) {
    for (const auto& e : eps->as_array()) {
      Endpoint ep;
      ep.addresses = strings(find(e, "addresses"));
      if (const auto* c = find(e, "conditions"); c != nullptr) {
        ep.conditions.ready = flag(find(*c, "ready"), true);
        ep.conditions.serving = flag(find(*c, "serving"), ep.conditions.ready);
        ep.conditions.terminating = flag(find(*c, "terminating"), false);
      }
      ep.node_name = str(find(e, "nodeName"));
      ep.zone = str(find(e, "zone"));
      s.endpoints.push_back(std::move(ep));
    }
  }
  if (const auto* ports = find(v, "ports"); ports != nullptr && ports->is_array()) {
    std::size_t i = 0;
    for (const auto& p : ports->as_array()) {
      std::string f = ctx + ": ports[" + std::to_string(i++) + "]";
      EndpointPort ep;
      ep.name = str(find(p, "name"));
      KEDGE_ASSIGN_OR_RETURN(ep.protocol, protocol(find(p, "protocol"), f + ".protocol"));
      KEDGE_ASSIGN_OR_RETURN(ep.port, integer(find(p, "port"), f + ".port"));
      s.ports.push_back(std::move(ep));
    }
  }
  return s;
}

Result<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return invalid_argument("invalid JSON: " + ec.message());
  if (!v.is_object() || find(v, "metadata") == nullptr) {
    if (find(v, "items") == nullptr) return invalid_argument("JSON is not a Kubernetes object");
  }
  return v;
}

Status collect(const json::value& v, Objects& out) {
  std::string kind = str(find(v, "kind"));
  if (const auto* items = find(v, "items"); items != nullptr && items->is_array()) {
    for (const auto& item : items->as_array()) {
      json::value copy = item;
      // List items may omit kind (ServiceList): infer it from the list.
      if (find(copy, "kind") == nullptr && kind.size() > 4 && kind.ends_with("List")) {
        copy.as_object()["kind"] = kind.substr(0, kind.size() - 4);
      }
      KEDGE_RETURN_IF_ERROR(collect(copy, out));
    }
    return ok_status();
  }
  if (find(v, "metadata") == nullptr) return ok_status();
  if (kind == "Service") {
    KEDGE_ASSIGN_OR_RETURN(auto s, service_from(v));
    out.services.push_back(std::move(s));
  } else if (kind == "EndpointSlice") {
    KEDGE_ASSIGN_OR_RETURN(auto s, slice_from(v));
    out.slices.push_back(std::move(s));
  }
  return ok_status();
}

}  // namespace

Result<Service> parse_service(std::string_view text) {
  KEDGE_ASSIGN_OR_RETURN(auto v, parse_json(text));
  return service_from(v);
}

Result<EndpointSlice> parse_endpoint_slice(std::string_view text) {
  KEDGE_ASSIGN_OR_RETURN(auto v, parse_json(text));
  return slice_from(v);
}

Result<Objects> parse_objects(std::string_view text) {
  KEDGE_ASSIGN_OR_RETURN(auto v, parse_json(text));
  Objects out;
  KEDGE_RETURN_IF_ERROR(collect(v, out));
  return out;
}

Result<Service> service_from_json(const json::value& object) { return service_from(object); }
Result<EndpointSlice> slice_from_json(const json::value& object) { return slice_from(object); }

}  // namespace kedge::proxy

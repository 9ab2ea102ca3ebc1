// The proxy's inputs: the parts of Service and EndpointSlice it acts on.
//
// Parsed from Kubernetes JSON (v1 Service, discovery.k8s.io/v1
// EndpointSlice) or built directly by callers (edge-control's informers,
// tests). Numbers keep their JSON width so validate() can report a port of
// 70000 instead of silently truncating it.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/status.h"

namespace boost::json {
class value;
}

namespace kedge::proxy {

enum class Protocol { kTcp, kUdp, kSctp };
std::string_view protocol_name(Protocol p);  // "tcp", "udp", "sctp"
std::uint8_t protocol_number(Protocol p);    // IPPROTO_*

enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy { kCluster, kLocal };
enum class IpFamily { kV4, kV6 };

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  std::int64_t port = 0;
  std::int64_t node_port = 0;  // 0: none
};

struct Service {
  std::string namespace_name;
  std::string name;
  ServiceType type = ServiceType::kClusterIP;
  std::vector<std::string> cluster_ips;  // "None" for headless
  std::vector<ServicePort> ports;
  std::vector<std::string> external_ips;
  std::vector<std::string> load_balancer_ips;  // status.loadBalancer.ingress[].ip
  bool affinity_client_ip = false;
  std::int64_t affinity_timeout_seconds = 10800;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  std::vector<IpFamily> ip_families;
};

struct EndpointConditions {
  // The API treats an absent `ready`/`serving` as true.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

struct Endpoint {
  std::vector<std::string> addresses;
  EndpointConditions conditions;
  std::string node_name;
  std::string zone;
};

struct EndpointPort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  std::int64_t port = 0;
};

enum class AddressType { kIPv4, kIPv6, kFQDN };

struct EndpointSlice {
  std::string namespace_name;
  std::string name;
  std::string service_name;  // label kubernetes.io/service-name
  AddressType address_type = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
};

// "namespace/name".
std::string key_of(const Service& s);
std::string key_of(const EndpointSlice& s);

// Checks what the proxy relies on: addresses parse, ports in 1..65535,
// node ports in 0..65535, affinity timeout in 1..86400. The error names the
// object and the field ("Service default/web: spec.ports[0].port: 70000 is
// out of range 1..65535").
Status validate(const Service& s);
Status validate(const EndpointSlice& s);

// Parsing Kubernetes JSON. parse_objects accepts one object or a List
// (kind: List / ServiceList / EndpointSliceList) and ignores other kinds.
Result<Service> parse_service(std::string_view json);
Result<EndpointSlice> parse_endpoint_slice(std::string_view json);
struct Objects {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
};
Result<Objects> parse_objects(std::string_view json);
// From an already parsed object (an informer's cache entry).
Result<Service> service_from_json(const boost::json::value& object);
Result<EndpointSlice> slice_from_json(const boost::json::value& object);

}  // namespace kedge::proxy

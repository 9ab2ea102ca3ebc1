// core/v1 Service and discovery.k8s.io/v1 EndpointSlice, decoded into what
// the proxy programs. See types/common.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/types/common.h"

namespace kedge::api {

struct ServicePort {
  std::string name;
  std::string protocol = "TCP";
  std::string app_protocol;
  std::int32_t port = 0;
  IntOrString target_port;  // defaults to `port` when absent, as upstream
  std::int32_t node_port = 0;
};

struct ServiceSpec {
  std::string type = "ClusterIP";  // ClusterIP | NodePort | LoadBalancer | ExternalName
  std::string cluster_ip;          // "None" for headless services
  std::vector<std::string> cluster_ips;
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> selector;
  std::string session_affinity = "None";
  std::optional<std::int32_t> session_affinity_timeout_seconds;
  std::string external_traffic_policy;  // Cluster | Local (NodePort/LoadBalancer)
  std::string internal_traffic_policy;  // Cluster | Local
  std::vector<std::string> external_ips;
  std::string load_balancer_ip;
  std::string external_name;
  std::vector<std::string> ip_families;
  bool publish_not_ready_addresses = false;
  std::int32_t health_check_node_port = 0;
};

struct LoadBalancerIngress {
  std::string ip;
  std::string hostname;
};

struct Service {
  ObjectMeta metadata;
  ServiceSpec spec;
  std::vector<LoadBalancerIngress> load_balancer_ingress;  // status.loadBalancer.ingress
  static Result<Service> from_json(const boost::json::value& v);
  bool headless() const { return spec.cluster_ip == "None"; }
};

struct EndpointConditions {
  // Unset means "unknown"; upstream consumers treat unset ready as true.
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;
};

struct ObjectReference {
  std::string kind, namespace_, name, uid;
};

struct Endpoint {
  std::vector<std::string> addresses;
  EndpointConditions conditions;
  std::string hostname;
  std::string node_name;
  std::string zone;
  std::optional<ObjectReference> target_ref;
};

struct EndpointPort {
  std::string name;
  std::string protocol = "TCP";
  std::optional<std::int32_t> port;
  std::string app_protocol;
};

struct EndpointSlice {
  ObjectMeta metadata;
  std::string address_type;  // IPv4 | IPv6 | FQDN
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  static Result<EndpointSlice> from_json(const boost::json::value& v);
  // The owning Service: label kubernetes.io/service-name.
  std::string service_name() const;
};

}  // namespace kedge::api

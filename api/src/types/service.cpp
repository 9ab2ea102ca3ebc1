#include "kedge/api/types/service.h"

#include "decode.h"

namespace kedge::api {

namespace json = boost::json;
using namespace decode;  // NOLINT: file-local use of the readers

namespace {

Result<ServicePort> service_port(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  ServicePort p;
  if (o == nullptr) return p;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, p.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "protocol", path, p.protocol));
  KEDGE_RETURN_IF_ERROR(read(*o, "appProtocol", path, p.app_protocol));
  KEDGE_RETURN_IF_ERROR(read(*o, "port", path, p.port));
  KEDGE_RETURN_IF_ERROR(read(*o, "nodePort", path, p.node_port));
  p.target_port = IntOrString::of(p.port);
  KEDGE_RETURN_IF_ERROR(read(*o, "targetPort", path, p.target_port));
  // targetPort 0 means "unset" upstream and defaults to port.
  if (p.target_port.is_int && p.target_port.int_value == 0) p.target_port = IntOrString::of(p.port);
  return p;
}

Result<Endpoint> endpoint(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Endpoint e;
  if (o == nullptr) return e;
  KEDGE_RETURN_IF_ERROR(read(*o, "addresses", path, e.addresses));
  if (const json::value* c = member(*o, "conditions")) {
    const std::string cp = child(path, "conditions");
    KEDGE_ASSIGN_OR_RETURN(const json::object* co, as_object(*c, cp));
    KEDGE_RETURN_IF_ERROR(read(*co, "ready", cp, e.conditions.ready));
    KEDGE_RETURN_IF_ERROR(read(*co, "serving", cp, e.conditions.serving));
    KEDGE_RETURN_IF_ERROR(read(*co, "terminating", cp, e.conditions.terminating));
  }
  KEDGE_RETURN_IF_ERROR(read(*o, "hostname", path, e.hostname));
  KEDGE_RETURN_IF_ERROR(read(*o, "nodeName", path, e.node_name));
  KEDGE_RETURN_IF_ERROR(read(*o, "zone", path, e.zone));
  if (const json::value* t = member(*o, "targetRef")) {
    const std::string tp = child(path, "targetRef");
    KEDGE_ASSIGN_OR_RETURN(const json::object* to, as_object(*t, tp));
    ObjectReference r;
    KEDGE_RETURN_IF_ERROR(read(*to, "kind", tp, r.kind));
    KEDGE_RETURN_IF_ERROR(read(*to, "namespace", tp, r.namespace_));
    KEDGE_RETURN_IF_ERROR(read(*to, "name", tp, r.name));
    KEDGE_RETURN_IF_ERROR(read(*to, "uid", tp, r.uid));
    e.target_ref = std::move(r);
  }
  return e;
}

Result<LoadBalancerIngress> lb_ingress(const json::value& e, const std::string& p) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* eo, as_object(e, p));
  LoadBalancerIngress i;
  if (eo == nullptr) return i;
  KEDGE_RETURN_IF_ERROR(read(*eo, "ip", p, i.ip));
  KEDGE_RETURN_IF_ERROR(read(*eo, "hostname", p, i.hostname));
  return i;
}

Result<EndpointPort> endpoint_port(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  EndpointPort p;
  if (o == nullptr) return p;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, p.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "protocol", path, p.protocol));
  KEDGE_RETURN_IF_ERROR(read(*o, "appProtocol", path, p.app_protocol));
  if (member(*o, "port") != nullptr) {
    std::int32_t port = 0;
    KEDGE_RETURN_IF_ERROR(read(*o, "port", path, port));
    p.port = port;
  }
  return p;
}

}  // namespace

Result<Service> Service::from_json(const json::value& v) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, ""));
  if (o == nullptr) return invalid_argument("service: expected an object, got null");
  Service s;
  if (const json::value* m = member(*o, "metadata")) {
    KEDGE_ASSIGN_OR_RETURN(s.metadata, ObjectMeta::from_json(*m));
  }
  if (const json::value* sp = member(*o, "spec")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*sp, "spec"));
    ServiceSpec& x = s.spec;
    KEDGE_RETURN_IF_ERROR(read(*so, "type", "spec", x.type));
    KEDGE_RETURN_IF_ERROR(read(*so, "clusterIP", "spec", x.cluster_ip));
    KEDGE_RETURN_IF_ERROR(read(*so, "clusterIPs", "spec", x.cluster_ips));
    KEDGE_RETURN_IF_ERROR(read_list(*so, "ports", "spec", x.ports, service_port));
    KEDGE_RETURN_IF_ERROR(read(*so, "selector", "spec", x.selector));
    KEDGE_RETURN_IF_ERROR(read(*so, "sessionAffinity", "spec", x.session_affinity));
    if (const json::value* sac = member(*so, "sessionAffinityConfig")) {
      KEDGE_ASSIGN_OR_RETURN(const json::object* saco, as_object(*sac, "spec.sessionAffinityConfig"));
      if (const json::value* ci = member(*saco, "clientIP")) {
        const std::string cp = "spec.sessionAffinityConfig.clientIP";
        KEDGE_ASSIGN_OR_RETURN(const json::object* cio, as_object(*ci, cp));
        if (member(*cio, "timeoutSeconds") != nullptr) {
          std::int32_t t = 0;
          KEDGE_RETURN_IF_ERROR(read(*cio, "timeoutSeconds", cp, t));
          x.session_affinity_timeout_seconds = t;
        }
      }
    }
    KEDGE_RETURN_IF_ERROR(read(*so, "externalTrafficPolicy", "spec", x.external_traffic_policy));
    KEDGE_RETURN_IF_ERROR(read(*so, "internalTrafficPolicy", "spec", x.internal_traffic_policy));
    KEDGE_RETURN_IF_ERROR(read(*so, "externalIPs", "spec", x.external_ips));
    KEDGE_RETURN_IF_ERROR(read(*so, "loadBalancerIP", "spec", x.load_balancer_ip));
    KEDGE_RETURN_IF_ERROR(read(*so, "externalName", "spec", x.external_name));
    KEDGE_RETURN_IF_ERROR(read(*so, "ipFamilies", "spec", x.ip_families));
    KEDGE_RETURN_IF_ERROR(read(*so, "publishNotReadyAddresses", "spec", x.publish_not_ready_addresses));
    KEDGE_RETURN_IF_ERROR(read(*so, "healthCheckNodePort", "spec", x.health_check_node_port));
  }
  if (const json::value* st = member(*o, "status")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*st, "status"));
    if (const json::value* lb = member(*so, "loadBalancer")) {
      KEDGE_ASSIGN_OR_RETURN(const json::object* lbo, as_object(*lb, "status.loadBalancer"));
      KEDGE_RETURN_IF_ERROR(read_list(*lbo, "ingress", "status.loadBalancer", s.load_balancer_ingress, lb_ingress));
    }
  }
  return s;
}

Result<EndpointSlice> EndpointSlice::from_json(const json::value& v) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, ""));
  if (o == nullptr) return invalid_argument("endpointslice: expected an object, got null");
  EndpointSlice s;
  if (const json::value* m = member(*o, "metadata")) {
    KEDGE_ASSIGN_OR_RETURN(s.metadata, ObjectMeta::from_json(*m));
  }
  KEDGE_RETURN_IF_ERROR(read(*o, "addressType", "", s.address_type));
  KEDGE_RETURN_IF_ERROR(read_list(*o, "endpoints", "", s.endpoints, endpoint));
  KEDGE_RETURN_IF_ERROR(read_list(*o, "ports", "", s.ports, endpoint_port));
  return s;
}

std::string EndpointSlice::service_name() const {
  auto it = metadata.labels.find("kubernetes.io/service-name");
  return it == metadata.labels.end() ? std::string() : it->second;
}

}  // namespace kedge::api

#include "kedge/api/types/node.h"

#include "decode.h"

namespace kedge::api {

namespace json = boost::json;
using namespace decode;  // NOLINT: file-local use of the readers

namespace {

Result<Taint> taint(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Taint t;
  if (o == nullptr) return t;
  KEDGE_RETURN_IF_ERROR(read(*o, "key", path, t.key));
  KEDGE_RETURN_IF_ERROR(read(*o, "value", path, t.value));
  KEDGE_RETURN_IF_ERROR(read(*o, "effect", path, t.effect));
  KEDGE_RETURN_IF_ERROR(read(*o, "timeAdded", path, t.time_added));
  return t;
}

Result<NodeAddress> address(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  NodeAddress a;
  if (o == nullptr) return a;
  KEDGE_RETURN_IF_ERROR(read(*o, "type", path, a.type));
  KEDGE_RETURN_IF_ERROR(read(*o, "address", path, a.address));
  return a;
}

Status system_info(const json::object& o, const std::string& path, NodeSystemInfo& i) {
  KEDGE_RETURN_IF_ERROR(read(o, "machineID", path, i.machine_id));
  KEDGE_RETURN_IF_ERROR(read(o, "systemUUID", path, i.system_uuid));
  KEDGE_RETURN_IF_ERROR(read(o, "bootID", path, i.boot_id));
  KEDGE_RETURN_IF_ERROR(read(o, "kernelVersion", path, i.kernel_version));
  KEDGE_RETURN_IF_ERROR(read(o, "osImage", path, i.os_image));
  KEDGE_RETURN_IF_ERROR(read(o, "containerRuntimeVersion", path, i.container_runtime_version));
  KEDGE_RETURN_IF_ERROR(read(o, "kubeletVersion", path, i.kubelet_version));
  KEDGE_RETURN_IF_ERROR(read(o, "kubeProxyVersion", path, i.kube_proxy_version));
  KEDGE_RETURN_IF_ERROR(read(o, "operatingSystem", path, i.operating_system));
  KEDGE_RETURN_IF_ERROR(read(o, "architecture", path, i.architecture));
  return {};
}

json::object resource_list_json(const ResourceList& l) {
  json::object o;
  for (const auto& [k, q] : l) o[k] = q.to_string();
  return o;
}

}  // namespace

Result<Node> Node::from_json(const json::value& v) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, ""));
  if (o == nullptr) return invalid_argument("node: expected an object, got null");
  Node n;
  if (const json::value* m = member(*o, "metadata")) {
    KEDGE_ASSIGN_OR_RETURN(n.metadata, ObjectMeta::from_json(*m));
  }
  if (const json::value* s = member(*o, "spec")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*s, "spec"));
    KEDGE_RETURN_IF_ERROR(read(*so, "podCIDR", "spec", n.spec.pod_cidr));
    KEDGE_RETURN_IF_ERROR(read(*so, "podCIDRs", "spec", n.spec.pod_cidrs));
    KEDGE_RETURN_IF_ERROR(read(*so, "providerID", "spec", n.spec.provider_id));
    KEDGE_RETURN_IF_ERROR(read(*so, "unschedulable", "spec", n.spec.unschedulable));
    KEDGE_RETURN_IF_ERROR(read_list(*so, "taints", "spec", n.spec.taints, taint));
  }
  if (const json::value* s = member(*o, "status")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*s, "status"));
    KEDGE_RETURN_IF_ERROR(read(*so, "capacity", "status", n.status.capacity));
    KEDGE_RETURN_IF_ERROR(read(*so, "allocatable", "status", n.status.allocatable));
    KEDGE_RETURN_IF_ERROR(read_list(*so, "conditions", "status", n.status.conditions, condition));
    KEDGE_RETURN_IF_ERROR(read_list(*so, "addresses", "status", n.status.addresses, address));
    if (const json::value* de = member(*so, "daemonEndpoints")) {
      KEDGE_ASSIGN_OR_RETURN(const json::object* deo, as_object(*de, "status.daemonEndpoints"));
      if (const json::value* ke = member(*deo, "kubeletEndpoint")) {
        KEDGE_ASSIGN_OR_RETURN(const json::object* keo, as_object(*ke, "status.daemonEndpoints.kubeletEndpoint"));
        KEDGE_RETURN_IF_ERROR(read(*keo, "Port", "status.daemonEndpoints.kubeletEndpoint", n.status.kubelet_port));
      }
    }
    if (const json::value* ni = member(*so, "nodeInfo")) {
      KEDGE_ASSIGN_OR_RETURN(const json::object* nio, as_object(*ni, "status.nodeInfo"));
      KEDGE_RETURN_IF_ERROR(system_info(*nio, "status.nodeInfo", n.status.node_info));
    }
  }
  return n;
}

bool Node::ready() const {
  for (const auto& c : status.conditions) {
    if (c.type == "Ready") return c.status == "True";
  }
  return false;
}

json::value NodeStatus::to_json() const {
  json::object o;
  o["capacity"] = resource_list_json(capacity);
  o["allocatable"] = resource_list_json(allocatable);
  json::array conds;
  for (const auto& c : conditions) conds.push_back(c.to_json());
  o["conditions"] = std::move(conds);
  json::array addrs;
  for (const auto& a : addresses) addrs.push_back(json::object{{"type", a.type}, {"address", a.address}});
  o["addresses"] = std::move(addrs);
  o["daemonEndpoints"] = json::object{{"kubeletEndpoint", json::object{{"Port", kubelet_port}}}};
  const NodeSystemInfo& i = node_info;
  o["nodeInfo"] = json::object{{"machineID", i.machine_id},
                               {"systemUUID", i.system_uuid},
                               {"bootID", i.boot_id},
                               {"kernelVersion", i.kernel_version},
                               {"osImage", i.os_image},
                               {"containerRuntimeVersion", i.container_runtime_version},
                               {"kubeletVersion", i.kubelet_version},
                               {"kubeProxyVersion", i.kube_proxy_version},
                               {"operatingSystem", i.operating_system},
                               {"architecture", i.architecture}};
  return o;
}

}  // namespace kedge::api

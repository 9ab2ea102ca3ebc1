// core/v1 Node, decoded into what the scheduler and node controller use, and
// encoded back for the agent's status updates. See types/common.h.
#pragma once

#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/types/common.h"
#include "kedge/api/types/pod.h"

namespace kedge::api {

struct NodeAddress {
  std::string type;  // InternalIP | ExternalIP | Hostname ...
  std::string address;
};

struct NodeSystemInfo {
  std::string machine_id, system_uuid, boot_id, kernel_version, os_image, container_runtime_version, kubelet_version,
      kube_proxy_version, operating_system, architecture;
};

struct NodeSpec {
  std::string pod_cidr;
  std::vector<std::string> pod_cidrs;
  std::string provider_id;
  bool unschedulable = false;
  std::vector<Taint> taints;
};

struct NodeStatus {
  ResourceList capacity;
  ResourceList allocatable;
  std::vector<Condition> conditions;
  std::vector<NodeAddress> addresses;
  std::int32_t kubelet_port = 0;  // daemonEndpoints.kubeletEndpoint.Port
  NodeSystemInfo node_info;
  // The status subresource body (capacity/allocatable in canonical quantity form).
  boost::json::value to_json() const;
};

struct Node {
  ObjectMeta metadata;
  NodeSpec spec;
  NodeStatus status;
  static Result<Node> from_json(const boost::json::value& v);
  // The Ready condition is present with status "True".
  bool ready() const;
};

}  // namespace kedge::api

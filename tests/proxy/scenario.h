// Test helper: Services and EndpointSlices for the proxy tests, written the
// way the API serves them (JSON), so parsing is exercised too.
#pragma once

#include <string>

namespace kedge::testing {

inline std::string service_json(const std::string& name, const std::string& cluster_ip, int port,
                                const std::string& extra_spec = "", const std::string& protocol = "TCP",
                                int node_port = 0, const std::string& type = "ClusterIP") {
  std::string np = node_port ? R"(,"nodePort":)" + std::to_string(node_port) : "";
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + name +
         R"(","namespace":"default"},"spec":{"type":")" + type + R"(","clusterIP":")" + cluster_ip +
         R"(","clusterIPs":[")" + cluster_ip + R"("],"ports":[{"name":"http","protocol":")" + protocol +
         R"(","port":)" + std::to_string(port) + np + "}]" + extra_spec + "}}";
}

// endpoints: "ip@node" entries, optional "!" suffix = not ready.
inline std::string slice_json(const std::string& service, const std::string& slice,
                              const std::vector<std::string>& endpoints, int port,
                              const std::string& protocol = "TCP") {
  std::string eps;
  for (const auto& e : endpoints) {
    bool ready = e.back() != '!';
    std::string s = ready ? e : e.substr(0, e.size() - 1);
    auto at = s.find('@');
    std::string ip = s.substr(0, at), node = at == std::string::npos ? "" : s.substr(at + 1);
    if (!eps.empty()) eps += ",";
    eps += R"({"addresses":[")" + ip + R"("],"conditions":{"ready":)" + (ready ? "true" : "false") +
           R"(},"nodeName":")" + node + R"("})";
  }
  return R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":")" + slice +
         R"(","namespace":"default","labels":{"kubernetes.io/service-name":")" + service +
         R"("}},"addressType":"IPv4","endpoints":[)" + eps + R"(],"ports":[{"name":"http","protocol":")" + protocol +
         R"(","port":)" + std::to_string(port) + "}]}";
}

}  // namespace kedge::testing

// NodeProxy: the whole service proxy of one node, as `kedge proxy` and the
// server/agent "proxy" part run it — the netlink socket, the Proxier and its
// sync thread, the API watch (ApiSource) and the /healthz+/metrics server.
//
// Threads: the sync loop, two informer threads (when a kubeconfig is given),
// the status server thread. start() returns once they run; stop() joins
// them all. The kernel tables stay on stop: a restarted proxy adopts them
// without a traffic gap (`kedge proxy --cleanup` removes them).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"
#include "kedge/netlink/transport.h"
#include "kedge/proxy/api_source.h"
#include "kedge/proxy/proxier.h"
#include "kedge/proxy/status_server.h"

namespace kedge::proxy {

struct NodeProxyOptions {
  ProxierOptions proxier;
  // Kubeconfig file to watch Services/EndpointSlices with; "" = the caller
  // feeds proxier() itself (manifests, tests) and calls set_synced().
  std::string kubeconfig;
  std::string user_agent = "kedge-proxy";
  // /healthz and /metrics; "" = not served. A failure to listen is logged
  // and the proxy runs without them (status_port() 0).
  std::string status_address = "127.0.0.1:10249";
};

class NodeProxy {
 public:
  static Result<std::unique_ptr<NodeProxy>> start(NodeProxyOptions options);
  ~NodeProxy();
  NodeProxy(const NodeProxy&) = delete;
  NodeProxy& operator=(const NodeProxy&) = delete;

  Proxier& proxier() { return *proxier_; }
  // 0 when no status server runs.
  std::uint16_t status_port() const { return status_ ? status_->port() : 0; }
  void stop();

 private:
  NodeProxy() = default;

  std::unique_ptr<netlink::Transport> transport_;
  std::unique_ptr<Proxier> proxier_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<ApiSource> source_;
  std::unique_ptr<StatusServer> status_;
  std::thread sync_thread_;
};

}  // namespace kedge::proxy

// The "proxy" part: the nftables service proxy for this node, fed from the
// API server through the role's kubeconfig (the server's own admin
// kubeconfig over loopback HTTPS, or the agent's --kubeconfig). Same code
// as `kedge proxy --kubeconfig` (proxy::NodeProxy).
#include "kedge/base/log.h"
#include "kedge/proxy/node_proxy.h"
#include "part.h"

namespace kedge::cmd {
namespace {

class ProxyPart final : public Part {
 public:
  const char* name() const override { return "proxy"; }
  void add_flags(flags::FlagSet& set) override {
    set.add("proxy-status-address", &status_address_,
            "where the service proxy serves /healthz and /metrics (host:port; empty: nowhere)");
    set.add("proxy-min-sync-interval-ms", &min_sync_ms_, "minimum time between two syncs of the service proxy");
  }
  Status start(const NodeEnvironment& env) override {
    if (min_sync_ms_ < 0) return invalid_argument("--proxy-min-sync-interval-ms must be >= 0");
    if (env.kubeconfig.empty()) {
      // Nothing to watch (an agent started without --kubeconfig): programming
      // an empty ruleset would only add tables to the node.
      log::logger("proxy")->warn("no kubeconfig: the service proxy is not started");
      return ok_status();
    }
    proxy::NodeProxyOptions o{.kubeconfig = env.kubeconfig, .status_address = status_address_};
    o.proxier.layout.node_name = env.node_name;
    o.proxier.layout.node_ips = env.node_ips;
    o.proxier.layout.cluster_cidr = env.cluster_cidr;
    o.proxier.min_sync_interval = std::chrono::milliseconds(min_sync_ms_);
    auto p = proxy::NodeProxy::start(std::move(o));
    if (!p.ok()) return p.status().with_context("service proxy");
    proxy_ = std::move(*p);
    log::logger("proxy")->info("service proxy running: node {}, {} node addresses, status on port {}", env.node_name,
                               env.node_ips.size(), proxy_->status_port());
    return ok_status();
  }
  void stop() override {
    if (proxy_) proxy_->stop();
    proxy_.reset();
  }

 private:
  std::string status_address_ = "127.0.0.1:10249";
  std::int64_t min_sync_ms_ = 1000;
  std::unique_ptr<proxy::NodeProxy> proxy_;
};

}  // namespace

std::unique_ptr<Part> make_proxy_part() { return std::make_unique<ProxyPart>(); }

}  // namespace kedge::cmd

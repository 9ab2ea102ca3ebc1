#include "kedge/proxy/node_proxy.h"

#include "kedge/base/log.h"
#include "kedge/client/kubeconfig.h"

namespace kedge::proxy {

Result<std::unique_ptr<NodeProxy>> NodeProxy::start(NodeProxyOptions options) {
  std::unique_ptr<NodeProxy> p(new NodeProxy());
  KEDGE_ASSIGN_OR_RETURN(p->transport_, netlink::open_netfilter_socket());
  p->proxier_ = std::make_unique<Proxier>(std::move(options.proxier), *p->transport_);
  if (!options.kubeconfig.empty()) {
    KEDGE_ASSIGN_OR_RETURN(auto config, client::Kubeconfig::load(options.kubeconfig));
    KEDGE_ASSIGN_OR_RETURN(p->client_, client::RestClient::create({.config = config, .user_agent = options.user_agent}));
    p->source_ = std::make_unique<ApiSource>(*p->client_, *p->proxier_);
  }
  if (!options.status_address.empty()) {
    // Health and metrics are for observers; a busy port must not keep the
    // node's services from being programmed.
    auto status = StatusServer::start(options.status_address, *p->proxier_);
    if (status.ok()) p->status_ = std::move(*status);
    else log::logger("proxy")->error("no /healthz and /metrics: {}", status.status().message());
  }
  p->sync_thread_ = std::thread([proxier = p->proxier_.get()] { proxier->run(); });
  if (p->source_) p->source_->start();
  return p;
}

NodeProxy::~NodeProxy() { stop(); }

void NodeProxy::stop() {
  if (source_) source_->stop();
  if (status_) status_->stop();
  if (proxier_) proxier_->stop();
  if (sync_thread_.joinable()) sync_thread_.join();
}

}  // namespace kedge::proxy

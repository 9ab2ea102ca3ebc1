#include "kedge/control/api_server.h"

#include "kedge/base/log.h"
#include "kedge/control/api_handler.h"
#include "kedge/control/node_proxy.h"
#include "kedge/control/pki.h"
#include "authn.h"

namespace kedge::control {

struct ApiServer::Impl {
  ApiServerOptions options;
  std::unique_ptr<ApiHandler> handler;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<NodeProxy> node_proxy;  // pods/log → the pod's agent
  std::unique_ptr<AccessControl> access;  // bearer tokens, RBAC, TokenRequest
  bool stopped = false;

  // Every request, from the network or in-process: authentication by token,
  // authorization, then the endpoint that serves it.
  HttpResponse serve(const HttpRequest& r) const {
    std::optional<HttpRequest> token_user;
    if (auto refused = access->check(r, token_user)) return std::move(*refused);
    const HttpRequest& req = token_user ? *token_user : r;
    if (AccessControl::handles(req)) return access->handle(req);
    if (NodeProxy::handles(req)) return node_proxy->handle(req);
    return handler->handle(req);
  }
};

ApiServer::ApiServer(ApiServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() {
  auto& o = impl_->options;
  if (o.store == nullptr) return invalid_argument("ApiServer needs a store");
  auto logger = log::logger("apiserver");
  auto pki_options = default_pki_options(o.data_dir / "server" / "tls", o.tls_sans);
  if (o.http.bind_address != "0.0.0.0" && o.http.bind_address != "::") {
    pki_options.ip_addresses.push_back(o.http.bind_address);
  }
  KEDGE_ASSIGN_OR_RETURN(PkiFiles pki, ensure_pki(pki_options));
  o.http.cert_file = pki.server_cert;
  o.http.key_file = pki.server_key;
  o.http.client_ca_file = pki.ca_cert;

  // The handler needs the server's worker pool and timers; the server needs
  // the handler: the lambdas below reach the server through impl_.
  Impl* impl = impl_.get();
  // edge-control's identity towards agents (:10250), as upstream's
  // --kubelet-client-certificate.
  const auto agent_client_cert = o.data_dir / "server" / "tls" / "client-kubelet.crt";
  const auto agent_client_key = o.data_dir / "server" / "tls" / "client-kubelet.key";
  if (!std::filesystem::exists(agent_client_cert) || !std::filesystem::exists(agent_client_key)) {
    KEDGE_RETURN_IF_ERROR(issue_client_cert(pki, "kube-apiserver-kubelet-client", {"system:masters"},
                                            agent_client_cert, agent_client_key));
  }
  impl->node_proxy = std::make_unique<NodeProxy>(NodeProxyOptions{
      .ca_file = pki.ca_cert,
      .client_cert_file = agent_client_cert,
      .client_key_file = agent_client_key,
      .api = [impl](const HttpRequest& r) { return impl->handler->handle(r); }});
  impl->http = std::make_unique<HttpServer>(
      o.http, [impl](const HttpRequest& r) { return impl->serve(r); },
      [impl](std::string_view verb, int code) {
        if (impl->handler) impl->handler->count_request(verb, code);
      });
  std::string host = o.http.bind_address == "0.0.0.0" || o.http.bind_address == "::"
                         ? "127.0.0.1"
                         : o.http.bind_address;
  std::string host_url = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  ApiHandlerOptions ho{
      .store = o.store,
      .server_address = host_url + ":" + std::to_string(o.http.port),
      .watch_cache_capacity = o.watch_cache_capacity,
      .post = [impl](std::function<void()> fn) { impl->http->post_work(std::move(fn)); },
      .schedule = [impl](std::chrono::milliseconds d, std::function<void()> fn) {
        impl->http->schedule(d, std::move(fn));
      }};
  impl->handler = std::make_unique<ApiHandler>(std::move(ho));
  // Bootstrap and watch caches first, so the first request finds them.
  KEDGE_RETURN_IF_ERROR(impl->handler->start());
  impl->access = std::make_unique<AccessControl>(
      AccessControlOptions{.store = o.store, .signing_key = o.data_dir / "server" / "tls" / "service.key"});
  KEDGE_RETURN_IF_ERROR(impl->access->start());
  KEDGE_RETURN_IF_ERROR(impl->http->start());
  if (!o.kubeconfig_path.empty()) {
    KEDGE_RETURN_IF_ERROR(write_admin_kubeconfig(
        pki, "https://" + host_url + ":" + std::to_string(impl->http->port()), o.kubeconfig_path));
  }
  if (!o.advertise_address.empty()) {
    KEDGE_RETURN_IF_ERROR(impl->handler->publish_apiserver_endpoints(o.advertise_address, impl->http->port()));
  }
  logger->info("API server listening on {}:{}", o.http.bind_address, impl->http->port());
  return {};
}

int ApiServer::port() const { return impl_->http ? impl_->http->port() : 0; }

const std::filesystem::path& ApiServer::kubeconfig_path() const { return impl_->options.kubeconfig_path; }

HttpResponse ApiServer::serve_local(const HttpRequest& request) {
  if (!impl_->handler || !impl_->access) {
    return HttpResponse{.status = 503,
                        .body = R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                                R"("message":"the API server is not running","reason":"ServiceUnavailable","code":503})"};
  }
  return impl_->serve(request);
}

void ApiServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->handler) impl_->handler->stop();
  if (impl_->http) impl_->http->stop();
  if (impl_->access) impl_->access->stop();
  if (impl_->node_proxy) impl_->node_proxy->stop();
}

}  // namespace kedge::control

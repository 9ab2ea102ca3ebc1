// ApiServer: edge-control's Kubernetes API endpoint — certificates, the
// admin kubeconfig, the HTTPS server and the API handler wired together.
//
// Thread-safety: start() and stop() from one thread (main). Threads are
// those of HttpServer (io + workers) plus the store's own.
// Ownership: borrows the Store, which must outlive the ApiServer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/control/http_server.h"
#include "kedge/store/kv.h"

namespace kedge::control {

struct ApiServerOptions {
  std::filesystem::path data_dir;              // TLS material under <data_dir>/server/tls
  std::filesystem::path kubeconfig_path;       // admin kubeconfig (mode 0600); empty = none
  std::vector<std::string> tls_sans;           // extra serving certificate SANs
  store::Store* store = nullptr;               // required
  HttpServerOptions http;                      // bind address, port, limits (TLS paths are filled in)
  std::size_t watch_cache_capacity = 1024;
  // The address pods reach this server on (the `kubernetes` Service's
  // endpoint); empty = publish no endpoints.
  std::string advertise_address;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Certificates, kubeconfig, default namespaces, watch caches, listener.
  Status start();
  int port() const;
  const std::filesystem::path& kubeconfig_path() const;
  // Answers `request` on the caller's thread through the same
  // authentication, authorization and handlers as a network request, with
  // no TLS, HTTP parsing or socket (local_client.h adapts it for
  // client::RestClient). Blocks on the store: call it from a worker thread,
  // never from an event loop. A watch (streaming) answer is not supported
  // here. 503 before start(). REQUIRES: not concurrent with stop().
  HttpResponse serve_local(const HttpRequest& request);
  // Drains and stops (see HttpServer::stop). Idempotent.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

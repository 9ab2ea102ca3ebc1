// ApiHandler: the Kubernetes REST API behind the HTTP server — routing,
// authentication check, discovery/OpenAPI, content negotiation (JSON, Table),
// the registry verbs and watch streams.
//
// Request flow: HttpServer (event loop) → worker pool → handle() → Registry
// (blocking store calls) → HttpResponse posted back to the connection. A watch
// returns a StreamSource that the connection pumps; its events come from the
// resource's WatchCache on the store's notifier thread.
//
// Thread-safety: handle() may run concurrently on any number of worker
// threads; start()/stop() once each, from the owning thread.
// Ownership: borrows the Store (must outlive the handler); owns the Registry
// and the watch caches.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "kedge/base/status.h"
#include "kedge/control/http.h"
#include "kedge/store/kv.h"

namespace kedge::control {

struct ApiHandlerOptions {
  store::Store* store = nullptr;        // required
  std::string server_address;           // "127.0.0.1:6443", for /api
  std::size_t watch_cache_capacity = 1024;
  // Runs work on a worker thread (namespace finalization, cache restarts).
  std::function<void(std::function<void()>)> post;
  // Runs `fn` after `delay` on some thread (watch timeouts); must not block.
  std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)> schedule;
  // How often watchers that asked for bookmarks get one.
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(30)};
};

class ApiHandler {
 public:
  explicit ApiHandler(ApiHandlerOptions options);
  ~ApiHandler();
  ApiHandler(const ApiHandler&) = delete;
  ApiHandler& operator=(const ApiHandler&) = delete;

  // Default namespaces, watch caches (one store watch per resource). Blocking.
  Status start();
  // See Registry::publish_apiserver_endpoints. Blocking; after start().
  Status publish_apiserver_endpoints(std::string_view address, int port);
  // Ends every watch stream and the store watches.
  void stop();

  // Worker thread only (blocks on the store).
  HttpResponse handle(const HttpRequest& request);

  // Prometheus text exposition of the API server's counters.
  std::string metrics_text() const;
  // Called by the server for requests it answers itself (413, 401, ...).
  void count_request(std::string_view verb, int code) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

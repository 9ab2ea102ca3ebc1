// HttpServer: HTTPS/1.1 on Boost.Beast + Asio + OpenSSL, in front of a
// transport-neutral handler (api_handler.h). Beast stays inside the .cpp.
//
// Limits (each documented in edge-control/README.md):
//   - request bodies above max_body_bytes (default 3 MiB, as upstream's
//     default max request body) are refused with 413 RequestEntityTooLarge;
//   - request heads above max_header_bytes are refused with 431;
//   - a connection must finish its TLS handshake and send a full request
//     within request_timeout, and may idle between keep-alive requests for
//     idle_timeout; then it is closed;
//   - beyond max_connections, new connections are closed at once;
//   - a watch whose client reads slower than its events arrive is ended once
//     max_stream_backlog_bytes are queued (the client relists and resumes).
//
// Threads: io_threads run the io_context (sockets, TLS, timers; each
// connection is a strand); worker_threads run the handler (which blocks on the
// store). Responses are posted back to the connection's strand.
//
// Authentication: TLS client certificates verified against client_ca_file;
// the request carries the certificate's CN and O values as UserInfo.
// Requests without a valid certificate reach the handler unauthenticated
// (it answers 401 except for health and version endpoints).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "kedge/base/status.h"
#include "kedge/control/http.h"

namespace kedge::control {

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 6443;  // 0 = pick a free port (tests)
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path client_ca_file;
  std::size_t max_body_bytes = 3 * 1024 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::chrono::seconds request_timeout{30};
  std::chrono::seconds idle_timeout{120};
  std::size_t max_connections = 1024;
  std::size_t max_stream_backlog_bytes = 16 * 1024 * 1024;
  int io_threads = 2;
  int worker_threads = 4;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Called for requests the server answers itself (413, 431) to count them.
  using Rejected = std::function<void(std::string_view verb, int code)>;

  HttpServer(HttpServerOptions options, Handler handler, Rejected rejected = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS material, binds and starts the threads. Errors name the
  // file or address at fault.
  Status start();
  int port() const;

  // Runs `fn` on a worker thread.
  void post_work(std::function<void()> fn);
  // Runs `fn` on an io thread after `delay` (must not block). Dropped at stop.
  void schedule(std::chrono::milliseconds delay, std::function<void()> fn);

  // Stops accepting, ends streams, lets in-flight requests finish (up to
  // `drain`), then stops every thread. Idempotent.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(5));

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

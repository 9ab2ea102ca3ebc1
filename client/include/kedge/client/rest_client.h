// RestClient: HTTPS requests to a Kubernetes API server (kedge's or any
// other), authenticated as the kubeconfig says, over Boost.Beast + OpenSSL
// (no libcurl: on a worker device its library tree cost megabytes of RSS).
//
// Thread-safety: every method may be called from any thread concurrently.
// Each request borrows a connection (with its own io_context, run on the
// borrowing thread only) from an idle pool and returns it after, so
// keep-alive connections are reused but never shared between threads. A
// reused connection the server had closed is retried once on a fresh one
// for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS).
// Blocking: request() blocks the caller for the round trip (bounded by the
// request timeout); call it from a worker thread, never from an event loop.
// Ownership: the TLS context (CA, client certificate) is built once by
// create() and shared read-only by every connection and stream.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/client/kubeconfig.h"

namespace kedge::client {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // "/api/v1/namespaces/default/pods?limit=500"
  std::string body;
  std::string content_type = "application/json";
  std::string accept = "application/json";
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string content_type;
  std::vector<std::string> warnings;  // values of Warning: headers
};

// Answers a request inside this process, without TLS, HTTP or a socket:
// kedge server hands one to the parts it runs (edge-control's
// local_round_trip), so their requests take the API's own code path on the
// caller's thread. Must be callable from any thread concurrently.
using LocalRoundTrip = std::function<Result<HttpResponse>(const HttpRequest&)>;

struct ClientOptions {
  Kubeconfig config;
  std::string user_agent = "kedge";
  std::chrono::milliseconds connect_timeout{10000};
  // Whole-request bound for request(); streams have none (they end on cancel).
  std::chrono::milliseconds request_timeout{30000};
  // When set, request() (and get/send) go through it instead of the network;
  // streams (watches, logs) still use the kubeconfig's server.
  LocalRoundTrip local;
};

// Maps a non-2xx answer to a Status: the Kubernetes Status body's message,
// with the code chosen from its HTTP code and reason (404 → NotFound,
// 409 AlreadyExists → AlreadyExists, other 409 → Aborted (conflict),
// 410 → OutOfRange (expired resourceVersion), 400/422 → InvalidArgument,
// 401 → Unauthenticated, 403 → PermissionDenied, 413/429 → ResourceExhausted,
// 5xx → Unavailable).
Status status_from_response(const HttpResponse& response);

class LineStream;

class RestClient {
 public:
  static Result<std::unique_ptr<RestClient>> create(ClientOptions options);
  ~RestClient();
  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // Transport errors (refused, TLS, timeout) → Unavailable/DeadlineExceeded
  // naming the server. Any HTTP status is a successful response here.
  // create() refuses an unparsable server URL or PEM (InvalidArgument).
  Result<HttpResponse> request(const HttpRequest& request);

  // JSON conveniences: a non-2xx answer becomes status_from_response().
  Result<boost::json::value> get(std::string_view path);
  Result<boost::json::value> send(std::string_view method, std::string_view path,
                                  const boost::json::value& body,
                                  std::string_view content_type = "application/json");

  // A long-lived response read line by line (watch events, `logs -f`).
  // `on_line` runs on the thread that calls LineStream::run(); returning
  // false ends the stream. The stream shares this client's TLS settings; the
  // client must outlive it.
  std::unique_ptr<LineStream> stream(std::string path,
                                     std::function<bool(std::string_view line)> on_line);

  const ClientOptions& options() const { return options_; }

  struct Handle;     // one pooled connection and its io_context
  struct Transport;  // parsed server URL and TLS context

 private:
  friend class LineStream;
  RestClient(ClientOptions options, std::unique_ptr<Transport> transport);
  std::unique_ptr<Handle> borrow();
  void give_back(std::unique_ptr<Handle> handle);

  // Constant after construction.
  const ClientOptions options_;
  const std::unique_ptr<Transport> transport_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;  // guarded by mu_
};

// One streaming response, on a connection of its own (never pooled: one cut
// short cannot be reused). run() blocks its caller until the server ends the
// response, on_line returns false, or cancel() is called from another thread
// (which posts a close to the stream's io_context and so wakes the blocked
// read at once: no timer, no polling while idle). Only the line being
// assembled is buffered, never the whole response.
//
// Thread-safety: run() once, from one thread; cancel() from any thread, any
// time before the LineStream is destroyed (also before or after run()).
// Resolving a host name (not an IP) is a blocking getaddrinfo that cancel()
// does not cut short.
class LineStream {
 public:
  ~LineStream();
  // OK when the server ended the stream or on_line stopped it; Cancelled
  // after cancel(); a Status from the response for a non-2xx answer.
  Status run();
  void cancel();
  long http_status() const { return http_status_; }

  struct State;

 private:
  friend class RestClient;
  LineStream(RestClient& client, std::string path, std::function<bool(std::string_view)> on_line);
  std::unique_ptr<State> state_;
  long http_status_ = 0;
};

}  // namespace kedge::client

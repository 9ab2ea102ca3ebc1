// Transport-neutral HTTP request/response values for the API handlers.
//
// The Beast/OpenSSL server (src/http_server.cpp) turns wire requests into
// these values and back, so every handler can be unit-tested without sockets
// and no Beast header leaks out of edge-control's sources.
//
// Thread-safety: plain values. A StreamSink is called from any thread; see its
// contract.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kedge::control {

// Who sent the request, from the verified client certificate.
struct UserInfo {
  std::string name;                 // certificate CN
  std::vector<std::string> groups;  // certificate O values + system:authenticated
  bool authenticated = false;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded path without the query
  // Query parameters in order, percent-decoded; repeated keys kept.
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
  UserInfo user;

  // First value of query parameter `key`, if present.
  std::optional<std::string> param(std::string_view key) const;
  std::string param_or(std::string_view key, std::string fallback) const;
  std::string header(std::string_view lower_name) const;
};

// Where a streaming response (watch) writes its chunks. Thread-safe: the
// source may call from any thread. write() returns false once the client is
// gone; the source should then stop and release the sink.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool write(std::string chunk) = 0;
  virtual void close() = 0;  // ends the response (last chunk)
  // Flow control for sources that can wait (logs): blocks until fewer than
  // `bytes` written bytes are still queued for the client, or `timeout`
  // passes. False once the client is gone. Never call on an event loop.
  virtual bool wait_below(std::size_t bytes, std::chrono::milliseconds timeout) {
    (void)bytes;
    (void)timeout;
    return true;
  }
};

// A long-lived response body producer. start() is called once, on a worker
// thread, after the headers were sent; cancel() when the client disconnects
// or the server stops (may race with the source's own end; must be idempotent).
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  virtual void start(std::shared_ptr<StreamSink> sink) = 0;
  virtual void cancel() = 0;
};

// The server side of an upgraded WebSocket connection (exec). Thread-safe:
// send()/close() may be called from any thread, in order.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues one binary message; false once the connection is gone.
  virtual bool send(std::string message) = 0;
  // Sends a normal close after the queued messages.
  virtual void close() = 0;
};

// What runs on an upgraded connection. start() is called once, on a worker
// thread, after the handshake; on_message for each message the client sends
// (on the connection's strand: must not block); on_closed once when the
// client closed or the connection failed (may race with start's work).
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void start(std::shared_ptr<WebSocketConnection> connection) = 0;
  virtual void on_message(std::string_view message) { (void)message; }
  virtual void on_closed() {}
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed with chunked encoding and `body` is ignored.
  std::shared_ptr<StreamSource> stream;
  // When set (for a request that asked to upgrade), the server completes the
  // WebSocket handshake with `websocket_protocol` as Sec-WebSocket-Protocol
  // and hands the connection to the handler; the other fields are ignored.
  std::shared_ptr<WebSocketHandler> websocket;
  std::string websocket_protocol;
};

// Splits "a=b&c=%20d" into decoded pairs ('+' is a space, as Go's url.ParseQuery).
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
std::string percent_decode(std::string_view in, bool plus_is_space);

}  // namespace kedge::control

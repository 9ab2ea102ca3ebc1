// GrpcChannel: blocking gRPC unary calls over HTTP/2 (libnghttp2), for the
// CRI client (unix socket) and the grpc health probe (TCP, plaintext h2c with
// prior knowledge). It replaces grpc++ in the agent: grpc++ brought libgrpc,
// absl, c-ares, re2, upb and full libprotobuf (~8 MB of mapped pages) and
// 7 threads, for what the agent needs — a request, a response, a status.
//
// Wire format (gRPC over HTTP/2): POST :path /<package>.<Service>/<Method>,
// content-type application/grpc, te: trailers, grpc-timeout; the body is one
// message with a 5-byte prefix (compressed flag 0, big-endian length); the
// answer's status is grpc-status / grpc-message (percent-encoded) in the
// trailers, or in the headers of a trailers-only response.
//
// Threads and ownership:
//  * No thread of its own and no polling loop in the background. A call runs
//    entirely on the calling thread: it borrows a Connection from the idle
//    pool (or dials one), drives that connection's nghttp2 session with
//    poll() until its stream closes or the deadline passes, and gives the
//    connection back. A Connection belongs to exactly one call at a time, so
//    concurrent calls use separate connections and nothing inside a
//    Connection is locked.
//  * The idle pool and the cancelled flag are guarded by mu_. A connection
//    that broke (EOF, reset, protocol error, GOAWAY) is dropped instead of
//    returned, and the next call dials a fresh one.
//  * While a connection sits idle nobody reads it; whatever the server sent
//    meanwhile (PING, SETTINGS, GOAWAY, EOF) is read when a call borrows it,
//    and a connection found closed is dropped before it is used.
//
// Thread-safety: every public method may be called from any thread
// concurrently. call() blocks; never call it on an event loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::cri {

// Where a channel dials. Parsed once from a target string.
struct ChannelTarget {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;       // kUnix: absolute socket path
  std::string host;       // kTcp: name or address, without IPv6 brackets
  std::string port;       // kTcp
  std::string authority;  // the :authority header
  std::string name;       // for messages: "unix:///run/x.sock", "10.0.0.5:9000"
};

// "unix:///abs/path", "/abs/path" → unix; "host:port", "[v6]:port" → TCP.
Result<ChannelTarget> parse_channel_target(std::string_view target);

struct ChannelOptions {
  std::string target;
  // Larger responses fail with RESOURCE_EXHAUSTED, as grpc++'s
  // max_receive_message_size does.
  std::size_t max_receive_bytes = 16 * 1024 * 1024;
  // Connections kept open between calls; more concurrent calls dial extra
  // connections and close them afterwards. 0: a connection per call.
  std::size_t max_idle_connections = 8;
  // Appended to "cannot connect" messages: what to check when the peer is
  // absent ("is the container runtime running?").
  std::string unreachable_hint;
};

class GrpcChannel {
 public:
  // Parses the target; dials nothing yet.
  static Result<std::unique_ptr<GrpcChannel>> create(ChannelOptions options);
  ~GrpcChannel();
  GrpcChannel(const GrpcChannel&) = delete;
  GrpcChannel& operator=(const GrpcChannel&) = delete;

  const ChannelTarget& target() const { return target_; }

  // Dials one connection now and keeps it in the pool, so a caller can tell
  // "nothing listens there" apart from later call errors. Errors: kUnavailable
  // (message names the endpoint and the errno), kDeadlineExceeded, kCancelled.
  Status dial(std::chrono::milliseconds timeout);

  // One unary call: sends `request` (a serialized message) to `path`
  // ("/runtime.v1.RuntimeService/Version") and returns the serialized
  // response, or the call's status: the server's grpc-status and message;
  // kDeadlineExceeded after `timeout` (the stream is reset);
  // kUnavailable when the endpoint cannot be reached or the connection
  // breaks; kResourceExhausted for a response over max_receive_bytes;
  // kCancelled after cancel_all().
  Result<std::string> call(std::string_view path, std::string_view request, std::chrono::milliseconds timeout);

  // Ends every call in flight with kCancelled and fails every later one at
  // once (for shutdown: threads blocked in a long call can be joined).
  void cancel_all();

  class Connection;  // one socket + nghttp2 session; defined in the .cpp

 private:
  GrpcChannel(ChannelTarget target, ChannelOptions options, int cancel_fd);
  // An idle connection that is still open, or a new one.
  Result<std::unique_ptr<Connection>> borrow(std::chrono::steady_clock::time_point deadline);
  void give_back(std::unique_ptr<Connection> connection);

  // Constant after construction.
  const ChannelTarget target_;
  const ChannelOptions options_;
  // eventfd, written once by cancel_all() and never read: from then on it
  // stays readable, so every poll() of a call in flight or to come wakes.
  const int cancel_fd_;

  std::mutex mu_;
  bool cancelled_ = false;                         // guarded by mu_
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
};

// Percent-decodes a grpc-message value (%XX; anything malformed is kept).
std::string percent_decode(std::string_view in);

}  // namespace kedge::cri

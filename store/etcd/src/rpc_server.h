// RpcServer: gRPC over HTTP/2 on libnghttp2, serving the etcd front without
// grpc++. grpc++ cost the store ~50 µs of CPU per put at 256 clients (and
// ~90 µs at 16), most of it outside kedge's code: its call objects, its
// allocations, and thread hand-offs between its pollers and executors. This
// transport does one thing — gRPC's wire format over HTTP/2 frames that
// nghttp2 parses — on one event-loop thread.
//
// Wire format (gRPC over HTTP/2, PROTOCOL-HTTP2.md of gRPC): a POST whose
// :path is /<package>.<Service>/<Method>; each message is a 5-byte prefix
// (compressed flag, big-endian length) and the serialized protobuf; the
// response is HEADERS (:status 200, content-type application/grpc), DATA
// with the messages, and trailers with grpc-status and grpc-message
// (percent-encoded). A call that fails before any message answers with a
// single trailers-only HEADERS frame.
//
// Threads and ownership:
//  * One loop thread owns the listening sockets, every connection (socket,
//    TLS state, nghttp2 session) and every stream's transport state. It
//    sleeps in epoll_wait: no timer and no polling while idle.
//  * Handlers are called on the loop thread and must not block: a Store call
//    goes to the store's own queue (try_*_async) or the worker pool.
//  * Call is shared between the loop and whichever thread answers it; its
//    outgoing messages and status are guarded by its own mutex, and the
//    loop is woken (eventfd) to send them.
//
// Limits: a request message over `max_receive_bytes` ends its call with
// RESOURCE_EXHAUSTED; a compressed request message with UNIMPLEMENTED (the
// server never advertises grpc-accept-encoding, so clients do not compress).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <google/protobuf/message_lite.h>

#include "kedge/base/status.h"
#include "kedge/store/etcd_server.h"

namespace kedge::store::etcd::rpc {

// kedge's codes are gRPC's, number for number.
using RpcCode = ::kedge::Code;

struct RpcStatus {
  RpcCode code = RpcCode::kOk;
  std::string message;

  bool ok() const { return code == RpcCode::kOk; }
  // kedge's Status carries gRPC's numbering already (kv.h: etcd's codes and messages).
  static RpcStatus from(const Status& status) { return {status.code(), status.message()}; }
};

class Loop;

// One RPC: a unary call, or a stream (server-streaming or bidirectional).
class Call {
 public:
  // `method` must outlive the call (the server's handler table, or Out::unknown_method).
  Call(std::shared_ptr<Loop> loop, std::uint64_t connection, std::int32_t stream, std::string_view method);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // ---- Any thread ----

  // Queues one response message (serialized, without the gRPC prefix).
  // Returns false, dropping the message, once the call has finished or
  // is over (reset by the client, connection gone, server shut down).
  bool write(std::string_view message);
  // The same, serialized straight into the send queue (no intermediate copy:
  // a 10k-key range answer is megabytes).
  bool write(const google::protobuf::MessageLite& message);
  // Ends the call with `status` once every message written before has gone
  // out. Only the first finish counts.
  void finish(RpcStatus status);
  // Ends the call with `status` now: messages still queued are dropped
  // (one the transport has begun to send is completed, so the client sees
  // whole messages, then the status). For a client too slow to keep up.
  void abort(RpcStatus status);
  // A unary answer: write(message) then finish(OK).
  void reply(std::string_view message);
  void reply(const google::protobuf::MessageLite& message);
  // finish() with a kedge Status (its code and message as they are).
  void fail(const Status& status) { finish(RpcStatus::from(status)); }

  // Response bytes written but not yet handed to the kernel: what a slow
  // reader has left queued here (watch streams bound it).
  std::size_t pending_bytes() const { return pending_bytes_.load(std::memory_order_relaxed); }
  // The call is over: finished and sent, reset by the client, its
  // connection closed, or the server shut down. Nothing sent after is seen.
  bool over() const { return over_.load(std::memory_order_acquire); }
  std::string_view method() const { return method_; }

  // ---- Set by a stream handler on the loop thread, before it returns ----
  // None may block; each runs on the loop thread. Do not capture the Call's
  // own shared_ptr in them (the loop clears them after on_done, but a cycle
  // would keep the Call alive until then for nothing).

  // Each request message, as it arrives.
  std::function<void(std::string_view message)> on_message;
  // The client closed its sending side (no more messages).
  std::function<void()> on_half_close;
  // Everything written so far has been handed to the kernel: pending_bytes()
  // just fell to 0. For writers that pace themselves (a snapshot streams its
  // next chunk from here instead of queueing the whole file).
  std::function<void()> on_drained;
  // The call is over (see over()); runs exactly once, after every other callback.
  std::function<void()> on_done;

  // ---- Transport internals (the loop thread only) ----
  struct Out {
    bool stream = false;              // a stream handler's call (else unary)
    bool rejected = false;            // ended by the transport; the rest of the request is dropped
    bool response_submitted = false;  // HEADERS (and the data provider) handed to nghttp2
    bool deferred = false;            // the data provider said "nothing yet"
    bool finish_taken = false;        // the Call's finish() has been seen by the loop
    bool abort_taken = false;         // ... and it was an abort()
    RpcStatus status;                 // valid once finish_taken
    std::string in;                   // request bytes not yet cut into messages
    std::string unary_message;        // a unary call's one message
    int messages = 0;
    std::string sending;  // framed response bytes nghttp2 has not taken yet
    std::size_t sending_off = 0;
    std::string unknown_method;  // owns method() when no handler has the path
  };
  Out& out() { return out_; }

 private:
  friend class Loop;
  // Appends one framed message to queued_ (the caller holds mu_); `fill`
  // writes `size` bytes at the pointer it is given.
  template <typename Fill>
  bool enqueue(std::size_t size, bool finish, Fill fill);
  // finish() and abort(): `drop_queued` throws away what the loop has not taken.
  void end(RpcStatus status, bool drop_queued);

  const std::shared_ptr<Loop> loop_;
  const std::uint64_t connection_;
  const std::int32_t stream_;
  std::string_view method_;
  std::atomic<std::size_t> pending_bytes_{0};
  std::atomic<bool> over_{false};

  mutable std::mutex mu_;
  std::string queued_;               // framed messages not yet taken by the loop; guarded by mu_
  bool finished_ = false;            // guarded by mu_
  bool aborted_ = false;             // guarded by mu_
  RpcStatus status_;                 // guarded by mu_; valid once finished_
  bool wake_pending_ = false;        // the loop already has this call in its wake list; guarded by mu_
  Out out_;                          // loop thread only
};

// Called once the whole request message has arrived (END_STREAM), on the loop thread.
using UnaryHandler = std::function<void(std::string_view request, const std::shared_ptr<Call>& call)>;
// Called when the request headers arrive, on the loop thread; sets the
// Call's callbacks before returning.
using StreamHandler = std::function<void(const std::shared_ptr<Call>& call)>;

struct Listener {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // kTcp: a literal IPv4/IPv6 address or a name ("localhost")
  int port = 0;      // kTcp: 0 picks a free port
  std::string path;  // kUnix
  bool tls = false;
};

struct RpcServerOptions {
  std::vector<Listener> listeners;
  EtcdTlsOptions tls;  // used by listeners with tls = true
  std::size_t max_receive_bytes = 4 << 20;
};

class RpcServer {
 public:
  RpcServer();
  ~RpcServer();  // shutdown(0) if still serving
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  // Before start(). `path` is the full :path ("/etcdserverpb.KV/Range").
  void add_unary(std::string path, UnaryHandler handler);
  void add_stream(std::string path, StreamHandler handler);

  // Binds every listener (connections wait in the backlog). Errors name
  // the listener or file at fault.
  Status bind(RpcServerOptions options);
  // Starts the loop thread: from here on handlers run. After bind().
  void serve();
  // bind(), then serve().
  Status start(RpcServerOptions options);
  // The port each TCP listener got (0 for unix sockets), in listener order.
  std::vector<int> bound_ports() const;

  // Stops accepting and tells clients (GOAWAY) no new calls are taken; calls
  // in flight have `grace` to finish, then every call still open is ended
  // (on_done) and the connections close. Joins the loop. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

 private:
  std::shared_ptr<Loop> loop_;
  std::thread thread_;  // runs the loop
  std::vector<std::pair<std::string, UnaryHandler>> unary_;
  std::vector<std::pair<std::string, StreamHandler>> streams_;
};

}  // namespace kedge::store::etcd::rpc

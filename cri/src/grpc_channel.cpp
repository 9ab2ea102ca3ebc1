// GrpcChannel over libnghttp2: the session is driven by hand
// (nghttp2_session_mem_send / mem_recv) on a non-blocking socket, so the
// calling thread's poll() is the only place a call waits.
#include "grpc_channel.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

namespace kedge::cri {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kUnixScheme = "unix://";
// Per-stream and connection receive windows we grant the server: a 1 MiB
// window lets a large ListContainers arrive in a few round trips instead of
// one per 64 KiB (HTTP/2's default). It costs no memory by itself.
constexpr std::int32_t kReceiveWindow = 1 << 20;
constexpr std::size_t kPrefixBytes = 5;  // compressed flag + 32-bit length

// grpc-timeout: at most 8 digits and a unit.
std::string grpc_timeout(milliseconds timeout) {
  const auto ms = std::max<std::int64_t>(timeout.count(), 1);
  if (ms <= 99'999'999) return std::to_string(ms) + "m";
  return std::to_string(std::min<std::int64_t>((ms + 999) / 1000, 99'999'999)) + "S";
}

// What grpc++ reports for a stream reset without a grpc-status (the
// RST_STREAM code → status table of gRPC's HTTP/2 transport spec).
Code code_from_rst(std::uint32_t error_code) {
  switch (error_code) {
    case NGHTTP2_REFUSED_STREAM: return Code::kUnavailable;
    case NGHTTP2_CANCEL: return Code::kCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM: return Code::kResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY: return Code::kPermissionDenied;
    default: return Code::kInternal;
  }
}

// An HTTP status without grpc-status (a proxy or a non-gRPC server answered).
Code code_from_http(int status) {
  switch (status) {
    case 400: return Code::kInternal;
    case 401: return Code::kUnauthenticated;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return Code::kUnavailable;
    default: return Code::kUnknown;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

nghttp2_nv header(std::string_view name, std::string_view value) {
  // nghttp2 copies name and value when the frame is queued (no NO_COPY flags).
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

// What one unary call saw on its stream.
struct Stream {
  std::int32_t id = -1;
  // The request body: the 5-byte prefix, then the message (borrowed).
  std::array<std::uint8_t, kPrefixBytes> prefix{};
  std::string_view message;
  std::size_t sent = 0;

  int http_status = 0;
  std::optional<int> grpc_status;
  std::string grpc_message;
  std::string data;  // response DATA, prefix included
  std::size_t max_data = 0;
  bool too_large = false;
  bool closed = false;
  std::uint32_t close_code = 0;  // RST_STREAM / GOAWAY code; 0 = closed normally
};

// How a call on one connection ended.
struct Outcome {
  Result<std::string> result = Status(Code::kUnknown, "no outcome");
  // The server refused the stream before processing it (REFUSED_STREAM, or
  // GOAWAY naming a lower last stream id): safe to send again elsewhere.
  bool retryable = false;
};

// Ceiling of the time left, for poll(); 0 once the deadline has passed.
int poll_timeout(Clock::time_point deadline) {
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<milliseconds>(left).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 1 << 30));
}

}  // namespace

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

Result<ChannelTarget> parse_channel_target(std::string_view target) {
  ChannelTarget t;
  if (target.starts_with(kUnixScheme) || target.starts_with("/")) {
    std::string_view path = target;
    if (path.starts_with(kUnixScheme)) path.remove_prefix(kUnixScheme.size());
    if (path.empty() || path.front() != '/') {
      return invalid_argument("gRPC target \"" + std::string(target) + "\": want unix:///absolute/path.sock");
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return invalid_argument("gRPC target \"" + std::string(target) + "\": socket path too long");
    }
    t.kind = ChannelTarget::Kind::kUnix;
    t.path = std::string(path);
    // grpc-go and grpc++ send "localhost" for unix sockets; servers ignore it.
    t.authority = "localhost";
    t.name = std::string(kUnixScheme) + t.path;
    return t;
  }
  t.kind = ChannelTarget::Kind::kTcp;
  std::string_view port;
  if (target.starts_with("[")) {
    const auto close = target.find(']');
    if (close == std::string_view::npos || close + 1 >= target.size() || target[close + 1] != ':') {
      return invalid_argument("gRPC target \"" + std::string(target) + "\": want [ipv6]:port");
    }
    t.host = std::string(target.substr(1, close - 1));
    port = target.substr(close + 2);
  } else {
    const auto colon = target.rfind(':');
    if (colon == std::string_view::npos || target.find(':') != colon) {
      return invalid_argument("gRPC target \"" + std::string(target) + "\": want host:port or [ipv6]:port");
    }
    t.host = std::string(target.substr(0, colon));
    port = target.substr(colon + 1);
  }
  int port_number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (t.host.empty() || ec != std::errc() || end != port.data() + port.size() || port_number <= 0 ||
      port_number > 65535) {
    return invalid_argument("gRPC target \"" + std::string(target) + "\": bad host or port");
  }
  t.port = std::string(port);
  t.authority = std::string(target);
  t.name = std::string(target);
  return t;
}

// ---- Connection

// One socket and its HTTP/2 session. Owned by the pool while idle and by one
// call while borrowed; never shared, so nothing here is locked.
class GrpcChannel::Connection {
 public:
  Connection(int fd, const ChannelTarget& target) : fd_(fd), target_(target) {}
  ~Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
    ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Creates the session and queues the client preface and SETTINGS.
  Status start() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return resource_exhausted("nghttp2: out of memory");
    nghttp2_session_callbacks_set_on_header_callback(cbs, &Connection::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Connection::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Connection::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Connection::on_frame);
    const int rv = nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) return resource_exhausted(std::string("nghttp2: ") + nghttp2_strerror(rv));
    const std::array<nghttp2_settings_entry, 2> settings{{
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kReceiveWindow)},
    }};
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0 ||
        nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kReceiveWindow) != 0) {
      return internal_error("nghttp2: cannot queue SETTINGS");
    }
    return ok_status();
  }

  // Whether another call may use this connection.
  bool usable() const {
    return !broken_ && !goaway_ && nghttp2_session_want_read(session_) != 0 && out_.size() == out_sent_;
  }

  // Reads what arrived while the connection sat idle (PING, SETTINGS,
  // GOAWAY, EOF) without blocking, and answers it. False: drop it.
  bool refresh() {
    read_available();
    if (!broken_) send_available();
    return usable();
  }

  // Runs one unary call to completion on this connection.
  Outcome unary(std::string_view path, std::string_view request, Clock::time_point deadline, int cancel_fd,
                std::size_t max_receive_bytes);

  // Best-effort: queue RST_STREAM and write what the socket takes now.
  void reset(std::int32_t stream_id, std::uint32_t code) {
    if (nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code) != 0) broken_ = true;
    send_available();
    stream_ = nullptr;
    // The stream's body source lives on the caller's stack: a stream nghttp2
    // still holds (RST not yet handed out) must never be served again.
    if (nghttp2_session_find_stream(session_, stream_id) != nullptr) broken_ = true;
  }

  const std::string& error() const { return error_; }

 private:
  // Moves frames nghttp2 has queued into out_ and writes as much as the
  // socket accepts. Leaves the rest in out_ (the caller then polls POLLOUT).
  void send_available() {
    while (!broken_) {
      if (out_sent_ == out_.size()) {
        out_.clear();
        out_sent_ = 0;
        const std::uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) return fail(std::string("nghttp2: ") + nghttp2_strerror(static_cast<int>(n)));
        if (n == 0) return;
        out_.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      const ssize_t w = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return fail(std::string("write: ") + std::strerror(errno));
      }
      out_sent_ += static_cast<std::size_t>(w);
    }
  }

  // Reads until the socket would block and feeds the bytes to nghttp2.
  void read_available() {
    std::array<std::uint8_t, 16 * 1024> buf;
    while (!broken_) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return fail(std::string("read: ") + std::strerror(errno));
      }
      if (n == 0) return fail("the server closed the connection");
      const ssize_t used = nghttp2_session_mem_recv(session_, buf.data(), static_cast<std::size_t>(n));
      if (used < 0) return fail(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(used)));
    }
  }

  void fail(std::string why) {
    if (!broken_) error_ = std::move(why);
    broken_ = true;
  }

  Stream* current(std::int32_t stream_id) const {
    return stream_ != nullptr && stream_->id == stream_id ? stream_ : nullptr;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto* self = static_cast<Connection*>(user);
    Stream* s = frame->hd.type == NGHTTP2_HEADERS ? self->current(frame->hd.stream_id) : nullptr;
    if (s == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      std::from_chars(v.data(), v.data() + v.size(), s->http_status);
    } else if (n == "grpc-status") {
      int code = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), code);
      // An unparsable status is UNKNOWN, as the gRPC spec says.
      s->grpc_status = (ec == std::errc() && end == v.data() + v.size()) ? code : static_cast<int>(Code::kUnknown);
    } else if (n == "grpc-message") {
      s->grpc_message = percent_decode(v);
    }
    return 0;
  }

  static int on_data(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                     std::size_t len, void* user) {
    auto* self = static_cast<Connection*>(user);
    Stream* s = self->current(stream_id);
    if (s == nullptr || s->too_large) return 0;
    if (s->data.size() + len > s->max_data) {
      // Stop here: do not buffer what we would refuse anyway.
      s->too_large = true;
      s->data.clear();
      s->data.shrink_to_fit();
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      return 0;
    }
    s->data.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
    auto* self = static_cast<Connection*>(user);
    if (Stream* s = self->current(stream_id)) {
      s->closed = true;
      s->close_code = error_code;
    }
    return 0;
  }

  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    // The server is going away: finish the call in flight (nghttp2 closes
    // streams above last_stream_id with REFUSED_STREAM), then drop it.
    if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<Connection*>(user)->goaway_ = true;
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* s = static_cast<Stream*>(source->ptr);
    std::size_t n = 0;
    while (n < length && s->sent < kPrefixBytes + s->message.size()) {
      if (s->sent < kPrefixBytes) {
        buf[n++] = s->prefix[s->sent++];
        continue;
      }
      const std::size_t off = s->sent - kPrefixBytes;
      const std::size_t take = std::min(length - n, s->message.size() - off);
      std::memcpy(buf + n, s->message.data() + off, take);
      n += take;
      s->sent += take;
    }
    if (s->sent == kPrefixBytes + s->message.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  const int fd_;
  const ChannelTarget& target_;  // owned by the GrpcChannel, which outlives its connections
  nghttp2_session* session_ = nullptr;
  std::string out_;  // bytes nghttp2 produced that the socket has not taken yet
  std::size_t out_sent_ = 0;
  bool broken_ = false;
  bool goaway_ = false;
  std::string error_;         // why broken_
  Stream* stream_ = nullptr;  // the call in flight, if any
};

Outcome GrpcChannel::Connection::unary(std::string_view path, std::string_view request, Clock::time_point deadline,
                                       int cancel_fd, std::size_t max_receive_bytes) {
  Stream s;
  s.message = request;
  const auto len = static_cast<std::uint32_t>(request.size());
  s.prefix = {0, static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
              static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
  s.max_data = kPrefixBytes + max_receive_bytes;

  const std::string timeout = grpc_timeout(std::chrono::ceil<milliseconds>(deadline - Clock::now()));
  const std::array<nghttp2_nv, 8> headers{{
      header(":method", "POST"),
      header(":scheme", "http"),
      header(":path", path),
      header(":authority", target_.authority),
      header("te", "trailers"),
      header("content-type", "application/grpc"),
      header("grpc-timeout", timeout),
      header("user-agent", "kedge-cri"),
  }};
  nghttp2_data_provider body{};
  body.source.ptr = &s;
  body.read_callback = &Connection::read_body;
  s.id = nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), &body, nullptr);
  if (s.id < 0) {
    // Out of stream ids, or the session is shutting down: a fresh
    // connection will do.
    broken_ = true;
    return {.result = Status(Code::kUnavailable, std::string("nghttp2: ") + nghttp2_strerror(s.id)),
            .retryable = true};
  }
  stream_ = &s;

  while (true) {
    send_available();
    if (s.closed || broken_) break;
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      fail("the HTTP/2 session ended");
      break;
    }
    std::array<pollfd, 2> fds{{{fd_, POLLIN, 0}, {cancel_fd, POLLIN, 0}}};
    if (out_sent_ < out_.size()) fds[0].events |= POLLOUT;
    const int timeout_ms = poll_timeout(deadline);
    const int ready = timeout_ms == 0 ? 0 : ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail(std::string("poll: ") + std::strerror(errno));
      break;
    }
    if (ready == 0) {
      reset(s.id, NGHTTP2_CANCEL);
      return {.result = deadline_exceeded("deadline exceeded (grpc-timeout " + timeout + ")")};
    }
    if (fds[1].revents != 0) {
      reset(s.id, NGHTTP2_CANCEL);
      broken_ = true;  // drop it: the client is shutting down
      return {.result = cancelled("call cancelled: the client is shutting down")};
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_available();
  }
  stream_ = nullptr;

  if (!s.closed) {
    // The connection broke under the call: the server may or may not have
    // run it, so it is not retried.
    return {.result = unavailable("connection to " + target_.name + " lost: " + error_)};
  }
  if (s.too_large) {
    return {.result = resource_exhausted("response larger than the " + std::to_string(max_receive_bytes) +
                                         "-byte limit")};
  }
  if (!s.grpc_status) {
    if (s.close_code != NGHTTP2_NO_ERROR) {
      return {.result = Status(code_from_rst(s.close_code),
                               std::string("stream reset by the server: ") + nghttp2_http2_strerror(s.close_code)),
              .retryable = s.close_code == NGHTTP2_REFUSED_STREAM};
    }
    if (s.http_status != 200) {
      return {.result = Status(code_from_http(s.http_status),
                               "HTTP status " + std::to_string(s.http_status) + " without grpc-status")};
    }
    return {.result = internal_error("the server closed the stream without grpc-status")};
  }
  if (*s.grpc_status != 0) {
    const int c = *s.grpc_status;
    const Code code = (c > 0 && c <= static_cast<int>(Code::kUnauthenticated)) ? static_cast<Code>(c) : Code::kUnknown;
    return {.result = Status(code, s.grpc_message)};
  }
  if (s.data.size() < kPrefixBytes) return {.result = internal_error("OK status without a response message")};
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data.data());
  const std::size_t size = (std::size_t{p[1]} << 24) | (std::size_t{p[2]} << 16) | (std::size_t{p[3]} << 8) | p[4];
  if (p[0] != 0) return {.result = internal_error("compressed response message, but no compression was offered")};
  if (size != s.data.size() - kPrefixBytes) {
    return {.result = internal_error("response body of " + std::to_string(s.data.size()) +
                                     " bytes does not hold exactly one message of " + std::to_string(size))};
  }
  s.data.erase(0, kPrefixBytes);
  return {.result = std::move(s.data)};
}

// ---- dialing

namespace {

// Waits for a non-blocking connect to finish. 0 or an errno.
int finish_connect(int fd, Clock::time_point deadline, int cancel_fd) {
  while (true) {
    std::array<pollfd, 2> fds{{{fd, POLLOUT, 0}, {cancel_fd, POLLIN, 0}}};
    const int timeout_ms = poll_timeout(deadline);
    const int ready = timeout_ms == 0 ? 0 : ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return errno;
    if (ready == 0) return ETIMEDOUT;
    if (fds[1].revents != 0) return ECANCELED;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }
}

Status dial_error(const ChannelTarget& target, int err, const std::string& hint) {
  if (err == ECANCELED) return cancelled("call cancelled: the client is shutting down");
  if (err == ETIMEDOUT) return deadline_exceeded("connecting to " + target.name + " timed out");
  std::string what = std::strerror(err);
  if (target.kind == ChannelTarget::Kind::kUnix && err == ENOENT) what = "the socket does not exist";
  if (target.kind == ChannelTarget::Kind::kUnix && err == ECONNREFUSED) {
    what = "nothing accepts connections on the socket (a stale socket left by a process that died?)";
  }
  return unavailable("cannot connect to " + target.name + ": " + what + (hint.empty() ? "" : "; " + hint));
}

// A connected non-blocking socket, or the errno.
std::pair<int, int> connect_socket(const ChannelTarget& target, Clock::time_point deadline, int cancel_fd) {
  if (target.kind == ChannelTarget::Kind::kUnix) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return {-1, errno};
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, target.path.c_str(), target.path.size() + 1);
    // A unix connect completes at once, or fails: EAGAIN means the listen
    // backlog is full, which we report rather than wait out.
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      const int err = errno;
      ::close(fd);
      return {-1, err};
    }
    return {fd, 0};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found);
  if (gai != 0) return {-1, gai == EAI_SYSTEM ? errno : EHOSTUNREACH};
  int err = ECONNREFUSED;
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    if (rc == EINPROGRESS) rc = finish_connect(fd, deadline, cancel_fd);
    if (rc != 0) {
      err = rc;
      ::close(fd);
      fd = -1;
      if (rc == ETIMEDOUT || rc == ECANCELED) break;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return {-1, err};
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // small frames go out at once
  return {fd, 0};
}

}  // namespace

// ---- GrpcChannel

GrpcChannel::GrpcChannel(ChannelTarget target, ChannelOptions options, int cancel_fd)
    : target_(std::move(target)), options_(std::move(options)), cancel_fd_(cancel_fd) {}

GrpcChannel::~GrpcChannel() {
  idle_.clear();  // connections refer to target_: close them first
  ::close(cancel_fd_);
}

Result<std::unique_ptr<GrpcChannel>> GrpcChannel::create(ChannelOptions options) {
  KEDGE_ASSIGN_OR_RETURN(ChannelTarget target, parse_channel_target(options.target));
  const int cancel_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (cancel_fd < 0) return errno_status("eventfd", errno);
  return std::unique_ptr<GrpcChannel>(new GrpcChannel(std::move(target), std::move(options), cancel_fd));
}

Result<std::unique_ptr<GrpcChannel::Connection>> GrpcChannel::borrow(Clock::time_point deadline) {
  while (true) {
    std::unique_ptr<Connection> c;
    {
      std::lock_guard lock(mu_);
      if (cancelled_) return cancelled("call cancelled: the client is shutting down");
      if (idle_.empty()) break;
      c = std::move(idle_.back());
      idle_.pop_back();
    }
    if (c->refresh()) return c;
    // Closed or going away while idle (the server restarted): try the next.
  }
  auto [fd, err] = connect_socket(target_, deadline, cancel_fd_);
  if (fd < 0) return dial_error(target_, err, options_.unreachable_hint);
  auto c = std::make_unique<Connection>(fd, target_);
  KEDGE_RETURN_IF_ERROR(c->start());
  return c;
}

void GrpcChannel::give_back(std::unique_ptr<Connection> connection) {
  if (!connection->usable()) return;
  std::lock_guard lock(mu_);
  if (cancelled_ || idle_.size() >= options_.max_idle_connections) return;
  idle_.push_back(std::move(connection));
}

Status GrpcChannel::dial(milliseconds timeout) {
  KEDGE_ASSIGN_OR_RETURN(auto c, borrow(Clock::now() + timeout));
  give_back(std::move(c));
  return ok_status();
}

Result<std::string> GrpcChannel::call(std::string_view path, std::string_view request, milliseconds timeout) {
  if (request.size() > std::numeric_limits<std::uint32_t>::max()) {
    return invalid_argument("request message too large for gRPC framing");
  }
  const auto deadline = Clock::now() + timeout;
  for (int attempt = 0;; ++attempt) {
    KEDGE_ASSIGN_OR_RETURN(auto c, borrow(deadline));
    Outcome out = c->unary(path, request, deadline, cancel_fd_, options_.max_receive_bytes);
    give_back(std::move(c));
    // One transparent retry for a stream the server refused unprocessed (it
    // was shutting down, or its connection limit): what grpc++ does too.
    if (out.retryable && attempt == 0 && Clock::now() < deadline) continue;
    return std::move(out.result);
  }
}

void GrpcChannel::cancel_all() {
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    dropped.swap(idle_);
  }
  const std::uint64_t one = 1;
  // Cannot fail short of a closed fd: the counter is far from overflow.
  [[maybe_unused]] const ssize_t n = ::write(cancel_fd_, &one, sizeof(one));
}

}  // namespace kedge::cri

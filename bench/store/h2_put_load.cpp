// h2_put_load: one thread drives every connection's nghttp2 session by hand
// (nghttp2_session_mem_recv / mem_send) from a level-triggered epoll loop.
// A put is the gRPC wire format spelled out: HEADERS (POST, :path
// /etcdserverpb.KV/Put, content-type application/grpc, te trailers), then
// DATA holding a 5-byte prefix (uncompressed flag, big-endian length) and the
// serialized PutRequest. The answer is HEADERS (:status 200), DATA, and
// trailers carrying grpc-status, or one trailers-only HEADERS frame.
#include "h2_put_load.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <string_view>

#include "etcdserverpb/rpc.pb.h"

namespace kedge::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kPrefixBytes = 5;
// Stream and connection receive windows we grant the server: the largest
// HTTP/2 allows, so answers never wait for a WINDOW_UPDATE (nghttp2 still
// sends one after 1 GiB, i.e. millions of puts).
constexpr std::int32_t kReceiveWindow = NGHTTP2_MAX_WINDOW_SIZE;
constexpr std::chrono::seconds kDialTimeout{5};
// Bytes handed to one send(): all frames queued by one loop turn, usually.
constexpr std::size_t kSendBatch = 256 * 1024;

struct Connection;

// One closed-loop client: its request, built once, and the put in flight.
struct Client {
  Connection* conn = nullptr;
  std::string body;      // gRPC prefix + serialized PutRequest
  std::size_t sent = 0;  // body bytes handed to nghttp2 for the put in flight
  bool in_flight = false;
  Clock::time_point started;
  int http_status = 0;
  int grpc_status = -1;  // -1: no grpc-status header yet
  std::string grpc_message;
};

class H2PutLoad;

// One socket and its session. Owned by H2PutLoad; used only on its thread.
struct Connection {
  H2PutLoad* load = nullptr;
  int index = 0;
  int fd = -1;
  nghttp2_session* session = nullptr;
  std::string out;  // bytes nghttp2 produced that the socket has not taken yet
  std::size_t out_sent = 0;
  bool waiting_writable = false;  // EPOLLOUT is registered
  bool broken = false;            // closed: no more I/O, callbacks ignored
  bool goaway = false;            // the server sent GOAWAY: no new streams
  std::vector<Client*> clients;

  ~Connection() {
    if (session != nullptr) nghttp2_session_del(session);  // runs no callbacks
    if (fd >= 0) ::close(fd);
  }
};

nghttp2_nv header(std::string_view name, std::string_view value) {
  // NO_COPY: every name and value here outlives the phase.
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// A connected, non-blocking TCP socket with TCP_NODELAY, or why not.
int dial(const std::string& host, const std::string& port, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rv = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rv != 0) {
    *error = std::string("resolve: ") + ::gai_strerror(rv);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  *error = "no address";
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      *error = errno_text("socket");
      continue;
    }
    int rv = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rv != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rv = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kDialTimeout).count()));
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (rv == 0) {
        so_error = ETIMEDOUT;
      } else if (rv < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
        so_error = errno;
      }
      errno = so_error;
      rv = so_error == 0 ? 0 : -1;
    }
    if (rv != 0) {
      *error = errno_text("connect");
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    error->clear();
    return fd;
  }
  return -1;
}

class H2PutLoad {
 public:
  explicit H2PutLoad(const H2PutOptions& options) : opts_(options) {
    headers_ = {{
        header(":method", "POST"),
        header(":scheme", "http"),
        header(":path", "/etcdserverpb.KV/Put"),
        header(":authority", opts_.authority),
        header("content-type", "application/grpc"),
        header("te", "trailers"),
    }};
  }
  ~H2PutLoad() {
    conns_.clear();  // before the epoll fd: their fds may still be registered
    if (epfd_ >= 0) ::close(epfd_);
  }
  H2PutLoad(const H2PutLoad&) = delete;
  H2PutLoad& operator=(const H2PutLoad&) = delete;

  PutPhaseResult run() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) {
      result_.connection_errors.push_back(errno_text("epoll_create1"));
      result_.errors = opts_.clients;
      return std::move(result_);
    }
    build_clients();
    open_connections();
    const auto start = Clock::now();
    deadline_ = start + opts_.duration;
    phase_started_ = true;
    for (Client& c : clients_) {
      if (!c.conn->broken) issue(c, start);
    }
    flush_all();
    loop(deadline_ + opts_.grace);
    result_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result_);
  }

 private:
  void build_clients() {
    const int n_conns = std::max(1, std::min(opts_.connections, opts_.clients));
    for (int i = 0; i < n_conns; ++i) {
      conns_.push_back(std::make_unique<Connection>());
      conns_.back()->load = this;
      conns_.back()->index = i;
    }
    clients_.resize(static_cast<std::size_t>(std::max(0, opts_.clients)));
    etcdserverpb::PutRequest req;
    req.set_value(opts_.value);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      req.set_key(opts_.key_prefix + std::to_string(i));
      const std::string message = req.SerializeAsString();
      const auto len = static_cast<std::uint32_t>(message.size());
      c.body = {'\0', static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                static_cast<char>(len)};
      c.body += message;
      c.conn = conns_[i % conns_.size()].get();
      c.conn->clients.push_back(&c);
    }
  }

  // Dials every connection and queues its preface; a connection that fails
  // here costs each of its clients one error.
  void open_connections() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
      for (auto& conn : conns_) fail(*conn, "nghttp2: out of memory");
      return;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, &H2PutLoad::on_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2PutLoad::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2PutLoad::on_frame_recv);
    for (auto& conn : conns_) {
      std::string error;
      conn->fd = dial(opts_.host, opts_.port, &error);
      if (conn->fd < 0) {
        fail(*conn, error);
        continue;
      }
      const std::array<nghttp2_settings_entry, 2> settings{{
          {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
          {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kReceiveWindow)},
      }};
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = conn.get();
      if (nghttp2_session_client_new(&conn->session, cbs, conn.get()) != 0 ||
          nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0 ||
          nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0, kReceiveWindow) != 0) {
        fail(*conn, "nghttp2: cannot start the session");
      } else if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, conn->fd, &ev) != 0) {
        fail(*conn, errno_text("epoll_ctl"));
      }
    }
    nghttp2_session_callbacks_del(cbs);
  }

  void loop(Clock::time_point hard_deadline) {
    std::array<epoll_event, 16> events;
    while (in_flight_ > 0) {
      const auto left = hard_deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        const std::string why = "no answer within " + std::to_string(opts_.grace.count()) + " s after the deadline";
        for (auto& conn : conns_) {
          if (std::any_of(conn->clients.begin(), conn->clients.end(), [](Client* c) { return c->in_flight; })) {
            fail(*conn, why);
          }
        }
        return;
      }
      const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      const int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), static_cast<int>(ms));
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string why = errno_text("epoll_wait");
        for (auto& conn : conns_) fail(*conn, why);
        return;
      }
      for (int i = 0; i < n; ++i) {
        auto* conn = static_cast<Connection*>(events[static_cast<std::size_t>(i)].data.ptr);
        if (!conn->broken && (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
          read_available(*conn);
        }
      }
      flush_all();  // the next puts of every client answered in this turn
    }
  }

  // Reads what the socket holds and feeds it to nghttp2, whose callbacks
  // complete puts and queue the next ones. Level-triggered epoll: a short
  // read means the socket is drained, and saves the recv that would say so.
  void read_available(Connection& conn) {
    for (;;) {
      const ssize_t n = ::recv(conn.fd, read_buf_.data(), read_buf_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) fail(conn, errno_text("read"));
        return;
      }
      if (n == 0) return fail(conn, "the server closed the connection");
      const ssize_t used = nghttp2_session_mem_recv(conn.session, read_buf_.data(), static_cast<std::size_t>(n));
      if (used < 0) return fail(conn, std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(used)));
      if (static_cast<std::size_t>(n) < read_buf_.size()) return;
    }
  }

  void flush_all() {
    for (auto& conn : conns_) {
      if (!conn->broken) flush(*conn);
    }
  }

  // Moves the frames nghttp2 has queued into conn.out, one send() per
  // batch, and waits for EPOLLOUT only when the socket is full.
  void flush(Connection& conn) {
    for (;;) {
      if (conn.out_sent == conn.out.size()) {
        conn.out.clear();
        conn.out_sent = 0;
      }
      while (conn.out.size() < kSendBatch) {
        const std::uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(conn.session, &data);
        if (n < 0) return fail(conn, std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
        if (n == 0) break;
        conn.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      if (conn.out_sent == conn.out.size()) break;
      const ssize_t w = ::send(conn.fd, conn.out.data() + conn.out_sent, conn.out.size() - conn.out_sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(conn, errno_text("write"));
        break;
      }
      conn.out_sent += static_cast<std::size_t>(w);
    }
    const bool want_writable = conn.out_sent < conn.out.size();
    if (want_writable != conn.waiting_writable) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want_writable ? EPOLLOUT : 0u);
      ev.data.ptr = &conn;
      if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, conn.fd, &ev) != 0) return fail(conn, errno_text("epoll_ctl"));
      conn.waiting_writable = want_writable;
    }
    if (nghttp2_session_want_read(conn.session) == 0 && nghttp2_session_want_write(conn.session) == 0) {
      fail(conn, "the server ended the session (GOAWAY)");
    }
  }

  // Queues the client's next put on its connection.
  void issue(Client& c, Clock::time_point now) {
    c.sent = 0;
    c.http_status = 0;
    c.grpc_status = -1;
    c.grpc_message.clear();
    c.started = now;
    nghttp2_data_provider body{};
    body.source.ptr = &c;
    body.read_callback = &H2PutLoad::read_body;
    const std::int32_t id =
        nghttp2_submit_request(c.conn->session, nullptr, headers_.data(), headers_.size(), &body, &c);
    if (id < 0) {
      put_failed(std::string("submit: ") + nghttp2_strerror(id));
      return;
    }
    c.in_flight = true;
    ++in_flight_;
  }

  void complete(Client& c, std::uint32_t error_code) {
    const auto now = Clock::now();
    c.in_flight = false;
    --in_flight_;
    const bool ok = error_code == 0 && c.http_status == 200 && c.grpc_status == 0;
    if (ok) {
      result_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - c.started).count());
    } else if (error_code != 0) {
      put_failed(std::string("stream reset: ") + nghttp2_http2_strerror(error_code));
    } else if (c.http_status != 200) {
      put_failed("HTTP status " + std::to_string(c.http_status));
    } else if (c.grpc_status < 0) {
      put_failed("the answer has no grpc-status");
    } else {
      put_failed("grpc-status " + std::to_string(c.grpc_status) + ": " + c.grpc_message);
    }
    if (now >= deadline_) return;
    // After GOAWAY nghttp2 refuses new streams locally, at once: reissuing
    // would spin. The client stops, and stopping early is an error.
    if (c.conn->goaway) {
      if (ok) put_failed("the server sent GOAWAY");
      return;
    }
    issue(c, now);
  }

  void put_failed(std::string why) {
    if (result_.errors++ == 0) result_.first_error = std::move(why);
  }

  // Closes the connection; each client with a put in flight there (or, if
  // the phase has not started, each client at all) counts one error and stops.
  void fail(Connection& conn, std::string why) {
    if (conn.broken) return;
    conn.broken = true;
    result_.connection_errors.push_back("connection " + std::to_string(conn.index) + " to " + opts_.authority + ": " +
                                        why);
    for (Client* c : conn.clients) {
      if (!phase_started_ || c->in_flight) put_failed(why);
      if (c->in_flight) {
        c->in_flight = false;
        --in_flight_;
      }
    }
    if (conn.fd >= 0) {
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, conn.fd, nullptr);
      ::close(conn.fd);
      conn.fd = -1;
    }
  }

  static Client* client_of(nghttp2_session* session, std::int32_t stream_id, void* user) {
    if (static_cast<Connection*>(user)->broken) return nullptr;
    return static_cast<Client*>(nghttp2_session_get_stream_user_data(session, stream_id));
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                       void* user) {
    Client* c = frame->hd.type == NGHTTP2_HEADERS ? client_of(session, frame->hd.stream_id, user) : nullptr;
    if (c == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      std::from_chars(v.data(), v.data() + v.size(), c->http_status);
    } else if (n == "grpc-status") {
      c->grpc_status = 2;  // UNKNOWN unless it parses, as the gRPC spec says
      std::from_chars(v.data(), v.data() + v.size(), c->grpc_status);
    } else if (n == "grpc-message") {
      c->grpc_message.assign(v);  // percent-encoded, printed as it came
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                             void* user) {
    if (Client* c = client_of(session, stream_id, user); c != nullptr && c->in_flight) {
      static_cast<Connection*>(user)->load->complete(*c, error_code);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* conn = static_cast<Connection*>(user);
    if (frame->hd.type != NGHTTP2_GOAWAY || conn->broken) return 0;
    conn->goaway = true;
    if (frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      conn->load->result_.connection_errors.push_back(
          "connection " + std::to_string(conn->index) + ": GOAWAY " + nghttp2_http2_strerror(frame->goaway.error_code));
    }
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* c = static_cast<Client*>(source->ptr);
    const std::size_t n = std::min(length, c->body.size() - c->sent);
    std::memcpy(buf, c->body.data() + c->sent, n);
    c->sent += n;
    if (c->sent == c->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  const H2PutOptions& opts_;
  std::array<nghttp2_nv, 6> headers_{};
  std::vector<std::uint8_t> read_buf_ = std::vector<std::uint8_t>(64 * 1024);
  int epfd_ = -1;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<Client> clients_;  // never resized after build_clients(): streams point into it
  Clock::time_point deadline_;
  long in_flight_ = 0;
  bool phase_started_ = false;  // the first puts are queued
  PutPhaseResult result_;
};

}  // namespace

PutPhaseResult run_h2_puts(const H2PutOptions& options) { return H2PutLoad(options).run(); }

}  // namespace kedge::bench

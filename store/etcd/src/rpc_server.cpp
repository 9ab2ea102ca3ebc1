// RpcServer over libnghttp2: the loop drives each connection's session by
// hand (nghttp2_session_mem_recv / mem_send) on a non-blocking socket, with
// OpenSSL in between for TLS listeners.
//
// Back-pressure: the loop asks nghttp2 for more output only once the socket
// took everything before, and nghttp2 asks a call for body bytes only while
// the peer's flow-control window is open. So what a slow reader has not
// taken stays queued in its Call, where pending_bytes() sees it.
#include "rpc_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>

#include "kedge/base/log.h"

namespace kedge::store::etcd::rpc {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kPrefixBytes = 5;  // compressed flag + 32-bit length
// Room reserved for a unary call's answer when the call starts (start_call).
constexpr std::size_t kTypicalAnswerBytes = 64;
// Per-stream and connection receive windows granted to clients: a 1.5 MiB
// Txn arrives in one or two round trips instead of one per 64 KiB.
constexpr std::int32_t kReceiveWindow = 1 << 20;
constexpr std::size_t kReadChunk = 64 * 1024;
// epoll keys below this are not connections.
constexpr std::uint64_t kWakeKey = 0;
constexpr std::uint64_t kFirstListenerKey = 1;
constexpr std::uint64_t kFirstConnectionKey = 1 << 16;

// The gRPC message prefix: compressed flag, then the length big-endian.
void put_prefix(char* p, std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  p[0] = 0;
  p[1] = static_cast<char>(n >> 24);
  p[2] = static_cast<char>(n >> 16);
  p[3] = static_cast<char>(n >> 8);
  p[4] = static_cast<char>(n);
}

std::size_t prefix_length(const char* prefix) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(prefix);
  return (std::size_t{p[1]} << 24) | (std::size_t{p[2]} << 16) | (std::size_t{p[3]} << 8) | p[4];
}

nghttp2_nv header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// grpc-message is percent-encoded: everything outside printable ASCII, and '%'.
std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

// One accepted connection. Loop thread only.
struct Connection {
  std::uint64_t key = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  bool handshaken = false;
  nghttp2_session* session = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<Call>> calls;
  std::string out;  // bytes nghttp2 produced that the socket has not taken
  std::size_t out_off = 0;
  bool epollout = false;
  // The request header block being received (HTTP/2 keeps a block contiguous).
  std::string path;
  bool grpc_content_type = false;

  ~Connection() {
    if (session) nghttp2_session_del(session);
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};

class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(RpcServerOptions options, std::vector<std::pair<std::string, UnaryHandler>> unary,
       std::vector<std::pair<std::string, StreamHandler>> streams);
  ~Loop();

  Status open();
  void run();
  // Any thread.
  void wake(std::uint64_t connection, std::int32_t stream);
  void request_shutdown(Clock::time_point deadline);
  std::vector<int> ports() const { return ports_; }

 private:
  struct Wake {
    std::uint64_t connection;
    std::int32_t stream;
  };

  Status open_listener(const Listener& l);
  Status make_tls_context();
  void accept_all(int listen_fd, bool tls);
  void on_event(Connection& c, std::uint32_t events);
  bool handshake(Connection& c);
  // Reads what the socket has and feeds nghttp2; false once `c` is closed.
  bool receive(Connection& c);
  void flush(Connection& c);
  void close(Connection& c);
  void arm(Connection& c, bool want_out);
  void run_wakes();
  void signal_loop();  // wakes epoll_wait through the eventfd
  void send_from(Connection& c, Call& call);
  void drop_unsent_messages(Call& call);
  void end_call(Connection& c, std::int32_t stream_id);
  void begin_shutdown();
  bool unary_calls_open() const;

  void start_call(Connection& c, std::int32_t stream_id);
  void on_request_data(Call& call, const std::uint8_t* data, std::size_t len);
  void on_request_end(Connection& c, Call& call);
  void reject(Call& call, RpcCode code, std::string message);

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);
  static ssize_t read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void* user);

  const RpcServerOptions options_;
  std::unordered_map<std::string, UnaryHandler, TransparentHash, std::equal_to<>> unary_;
  std::unordered_map<std::string, StreamHandler, TransparentHash, std::equal_to<>> streams_;

  // Set up by open(), then owned by the loop thread.
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<std::pair<int, bool>> listeners_;  // fd, tls
  std::vector<int> ports_;
  SSL_CTX* tls_ = nullptr;
  nghttp2_session_callbacks* callbacks_ = nullptr;
  nghttp2_option* session_options_ = nullptr;
  std::atomic<std::thread::id> loop_thread_;

  // Loop thread only.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::uint64_t next_key_ = kFirstConnectionKey;
  Connection* current_ = nullptr;  // whose session is being driven (for the callbacks)
  std::vector<Wake> local_wakes_;  // wakes raised on the loop thread itself
  std::vector<Call*> drained_;     // calls whose pending bytes fell to 0 during a send
  std::vector<Wake> wake_batch_;   // run_wakes' scratch
  std::vector<std::uint64_t> touched_;  // run_wakes' scratch
  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_;

  std::mutex mu_;
  std::vector<Wake> wakes_;            // guarded by mu_
  bool shutdown_requested_ = false;    // guarded by mu_
  Clock::time_point requested_deadline_;  // guarded by mu_
};

// ---- Call ----

Call::Call(std::shared_ptr<Loop> loop, std::uint64_t connection, std::int32_t stream, std::string_view method)
    : loop_(std::move(loop)), connection_(connection), stream_(stream), method_(method) {}

template <typename Fill>
bool Call::enqueue(std::size_t size, bool finish, Fill fill) {
  {
    std::lock_guard lock(mu_);
    if (finished_ || over()) return false;
    finished_ = finish;
    const std::size_t at = queued_.size();
    queued_.resize(at + kPrefixBytes + size);
    put_prefix(queued_.data() + at, size);
    fill(queued_.data() + at + kPrefixBytes);
    pending_bytes_.fetch_add(kPrefixBytes + size, std::memory_order_relaxed);
    if (wake_pending_) return true;
    wake_pending_ = true;
  }
  loop_->wake(connection_, stream_);
  return true;
}

bool Call::write(std::string_view message) {
  return enqueue(message.size(), false, [&](char* p) { std::memcpy(p, message.data(), message.size()); });
}

bool Call::write(const google::protobuf::MessageLite& message) {
  return enqueue(message.ByteSizeLong(), false, [&](char* p) {
    message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(p));
  });
}

void Call::reply(std::string_view message) {
  enqueue(message.size(), true, [&](char* p) { std::memcpy(p, message.data(), message.size()); });
}

void Call::reply(const google::protobuf::MessageLite& message) {
  enqueue(message.ByteSizeLong(), true, [&](char* p) {
    message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(p));
  });
}

void Call::abort(RpcStatus status) { end(std::move(status), true); }

void Call::finish(RpcStatus status) { end(std::move(status), false); }

void Call::end(RpcStatus status, bool drop_queued) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    aborted_ = drop_queued;
    status_ = std::move(status);
    if (drop_queued) {
      pending_bytes_.fetch_sub(queued_.size(), std::memory_order_relaxed);
      queued_.clear();
    }
    if (over() || wake_pending_) return;
    wake_pending_ = true;
  }
  loop_->wake(connection_, stream_);
}

// ---- Loop: setup ----

Loop::Loop(RpcServerOptions options, std::vector<std::pair<std::string, UnaryHandler>> unary,
           std::vector<std::pair<std::string, StreamHandler>> streams)
    : options_(std::move(options)) {
  for (auto& [path, h] : unary) unary_.emplace(std::move(path), std::move(h));
  for (auto& [path, h] : streams) streams_.emplace(std::move(path), std::move(h));
}

Loop::~Loop() {
  connections_.clear();
  for (auto& [fd, tls] : listeners_) ::close(fd);
  if (callbacks_) nghttp2_session_callbacks_del(callbacks_);
  if (session_options_) nghttp2_option_del(session_options_);
  if (tls_) SSL_CTX_free(tls_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Loop::open() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return unavailable(std::string("epoll/eventfd: ") + std::strerror(errno));
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = kWakeKey}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  for (const auto& l : options_.listeners) {
    if (l.tls && !tls_) KEDGE_RETURN_IF_ERROR(make_tls_context());
    KEDGE_RETURN_IF_ERROR(open_listener(l));
  }
  nghttp2_session_callbacks_new(&callbacks_);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks_, &Loop::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks_, &Loop::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks_, &Loop::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks_, &Loop::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks_, &Loop::on_stream_close);
  nghttp2_option_new(&session_options_);
  // etcd's Go clients send the whole endpoint URL as :authority
  // ("http://127.0.0.1:2379"), which nghttp2's HTTP checks refuse with
  // PROTOCOL_ERROR; grpc-go and grpc++ servers accept it. The checks that
  // matter here (a :path, gRPC framing) are this file's own.
  nghttp2_option_set_no_http_messaging(session_options_, 1);
  // nghttp2 otherwise keeps closed streams for RFC 7540 priorities, up to
  // MAX_CONCURRENT_STREAMS of them: ~100 MB after a few seconds of puts.
  nghttp2_option_set_no_closed_streams(session_options_, 1);
  return {};
}

Status Loop::open_listener(const Listener& l) {
  int fd = -1;
  int port = 0;
  if (l.kind == Listener::Kind::kUnix) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (l.path.size() >= sizeof addr.sun_path) return invalid_argument("unix socket path too long: " + l.path);
    std::memcpy(addr.sun_path, l.path.c_str(), l.path.size() + 1);
    // A socket file left by an earlier run would make bind fail; anything
    // else at that path is not ours to remove.
    struct stat st{};
    if (::lstat(l.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(l.path.c_str());
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0) {
      const int e = errno;
      if (fd >= 0) ::close(fd);
      return unavailable("cannot listen on unix socket " + l.path + ": " + std::strerror(e));
    }
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(l.port);
    if (int rc = ::getaddrinfo(l.host.c_str(), service.c_str(), &hints, &res); rc != 0) {
      return invalid_argument("cannot resolve listen address " + l.host + ": " + ::gai_strerror(rc));
    }
    int err = 0;
    for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
        err = errno;
        ::close(fd);
        fd = -1;
      }
    }
    ::freeaddrinfo(res);
    if (fd < 0) return unavailable("cannot listen on " + l.host + ":" + service + ": " + std::strerror(err));
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  const std::uint64_t key = kFirstListenerKey + listeners_.size();
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = key}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  listeners_.emplace_back(fd, l.tls);
  ports_.push_back(port);
  return {};
}

Status Loop::make_tls_context() {
  const auto& t = options_.tls;
  if (t.cert_file.empty() || t.key_file.empty()) {
    return invalid_argument("an https:// or unixs:// URL needs --cert-file and --key-file");
  }
  if (t.client_cert_auth && t.trusted_ca_file.empty()) return invalid_argument("--client-cert-auth needs --trusted-ca-file");
  tls_ = SSL_CTX_new(TLS_server_method());
  if (!tls_) return internal_error("TLS: " + ssl_errors());
  SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
  SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(tls_, t.cert_file.c_str()) != 1) {
    return invalid_argument("cannot use --cert-file \"" + t.cert_file + "\": " + ssl_errors());
  }
  if (SSL_CTX_use_PrivateKey_file(tls_, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return invalid_argument("cannot use --key-file \"" + t.key_file + "\": " + ssl_errors());
  }
  if (SSL_CTX_check_private_key(tls_) != 1) {
    return invalid_argument("--key-file \"" + t.key_file + "\" does not match --cert-file: " + ssl_errors());
  }
  if (!t.trusted_ca_file.empty() && SSL_CTX_load_verify_locations(tls_, t.trusted_ca_file.c_str(), nullptr) != 1) {
    return invalid_argument("cannot use --trusted-ca-file \"" + t.trusted_ca_file + "\": " + ssl_errors());
  }
  if (t.client_cert_auth) SSL_CTX_set_verify(tls_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // gRPC clients offer "h2" by ALPN; a client offering nothing still gets HTTP/2.
  SSL_CTX_set_alpn_select_cb(
      tls_,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
        static const unsigned char kH2[] = {2, 'h', '2'};
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, outlen, kH2, sizeof kH2, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
          return SSL_TLSEXT_ERR_NOACK;
        }
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  return {};
}

// ---- Loop: the event loop ----

void Loop::run() {
  loop_thread_.store(std::this_thread::get_id());
  std::array<epoll_event, 64> events{};
  while (true) {
    int timeout_ms = -1;
    if (shutting_down_) {
      if (!unary_calls_open() || Clock::now() >= shutdown_deadline_) break;
      timeout_ms = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(shutdown_deadline_ - Clock::now()).count());
    }
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      log::logger("store")->error("etcd front: epoll_wait failed: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t key = events[i].data.u64;
      if (key == kWakeKey) {
        // One read takes the whole count (not a semaphore eventfd); a
        // second would only return EAGAIN, a system call per wake-up.
        std::uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
      } else if (key < kFirstConnectionKey) {
        const auto& [fd, tls] = listeners_[key - kFirstListenerKey];
        if (!shutting_down_) accept_all(fd, tls);
      } else if (auto it = connections_.find(key); it != connections_.end()) {
        on_event(*it->second, events[i].events);
      }
    }
    run_wakes();
  }
  // Whatever is still open ends now: streams see on_done, clients see the
  // connection close.
  while (!connections_.empty()) close(*connections_.begin()->second);
}

void Loop::wake(std::uint64_t connection, std::int32_t stream) {
  if (std::this_thread::get_id() == loop_thread_.load(std::memory_order_relaxed)) {
    local_wakes_.push_back({connection, stream});
    return;
  }
  bool first;
  {
    std::lock_guard lock(mu_);
    first = wakes_.empty();
    wakes_.push_back({connection, stream});
  }
  if (first) signal_loop();
}

void Loop::signal_loop() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void Loop::request_shutdown(Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    shutdown_requested_ = true;
    requested_deadline_ = deadline;
  }
  signal_loop();
}

void Loop::run_wakes() {
  std::vector<Wake>& batch = wake_batch_;  // capacity kept between turns
  bool shutdown = false;
  {
    std::lock_guard lock(mu_);
    batch.swap(wakes_);
    if (shutdown_requested_ && !shutting_down_) {
      shutdown = true;
      shutdown_deadline_ = requested_deadline_;
    }
  }
  if (shutdown) begin_shutdown();
  // Answers given on the loop thread (while the wakes ran, too) go out in this turn.
  while (!batch.empty() || !local_wakes_.empty()) {
    batch.insert(batch.end(), local_wakes_.begin(), local_wakes_.end());
    local_wakes_.clear();
    std::vector<std::uint64_t>& touched = touched_;
    touched.clear();
    for (const Wake& w : batch) {
      auto c = connections_.find(w.connection);
      if (c == connections_.end()) continue;  // closed meanwhile
      auto call = c->second->calls.find(w.stream);
      if (call == c->second->calls.end()) continue;  // reset by the client
      send_from(*c->second, *call->second);
      if (touched.empty() || touched.back() != w.connection) touched.push_back(w.connection);
    }
    batch.clear();
    for (std::uint64_t key : touched) {
      if (auto c = connections_.find(key); c != connections_.end()) flush(*c->second);
    }
  }
}

void Loop::begin_shutdown() {
  shutting_down_ = true;
  for (auto& [fd, tls] : listeners_) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  }
  listeners_.clear();
  std::vector<Connection*> all;
  for (auto& [key, c] : connections_) all.push_back(c.get());
  for (Connection* c : all) {
    nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->session),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    flush(*c);
  }
}

bool Loop::unary_calls_open() const {
  for (const auto& [key, c] : connections_) {
    for (const auto& [id, call] : c->calls) {
      if (!call->out().stream) return true;
    }
  }
  return false;
}

void Loop::accept_all(int listen_fd, bool tls) {
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) log::logger("store")->warn("etcd front: accept failed: {}", std::strerror(errno));
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix sockets
    auto c = std::make_unique<Connection>();
    c->key = next_key_++;
    c->fd = fd;
    if (tls) {
      c->ssl = SSL_new(tls_);
      SSL_set_fd(c->ssl, fd);
      SSL_set_accept_state(c->ssl);
    }
    nghttp2_session_server_new2(&c->session, callbacks_, this, session_options_);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1u << 20},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kReceiveWindow}};
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, kReceiveWindow);
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = c->key}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    Connection& ref = *c;
    connections_.emplace(c->key, std::move(c));
    if (!tls) flush(ref);  // TLS: the settings go out once the handshake is done
  }
}

void Loop::on_event(Connection& c, std::uint32_t events) {
  if (c.ssl && !c.handshaken) {
    if (!handshake(c)) return;
    if (!c.handshaken) return;
    flush(c);
    if (!connections_.contains(c.key)) return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (!receive(c)) return;
  }
  flush(c);
}

bool Loop::handshake(Connection& c) {
  const int rc = SSL_do_handshake(c.ssl);
  if (rc == 1) {
    c.handshaken = true;
    return true;
  }
  const int err = SSL_get_error(c.ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    arm(c, err == SSL_ERROR_WANT_WRITE);
    return true;
  }
  log::logger("store")->info("etcd front: TLS handshake failed: {}", ssl_errors());
  close(c);
  return false;
}

bool Loop::receive(Connection& c) {
  static thread_local std::array<std::uint8_t, kReadChunk> buf;
  // TLS may hold decrypted bytes epoll cannot see: read until OpenSSL asks
  // for more. Plain sockets stop after a few full reads so one busy client
  // cannot starve the others (epoll reports it again).
  for (int round = 0; c.ssl != nullptr || round < 16; ++round) {
    ssize_t n;
    if (c.ssl) {
      n = SSL_read(c.ssl, buf.data(), static_cast<int>(buf.size()));
      if (n <= 0) {
        const int err = SSL_get_error(c.ssl, static_cast<int>(n));
        if (err == SSL_ERROR_WANT_READ) return true;
        if (err == SSL_ERROR_WANT_WRITE) {
          arm(c, true);
          return true;
        }
        ERR_clear_error();
        close(c);
        return false;
      }
    } else {
      n = ::recv(c.fd, buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
      if (n <= 0) {
        close(c);
        return false;
      }
    }
    current_ = &c;
    const ssize_t used = nghttp2_session_mem_recv(c.session, buf.data(), static_cast<std::size_t>(n));
    current_ = nullptr;
    if (used < 0) {
      log::logger("store")->debug("etcd front: HTTP/2 error from a client: {}", nghttp2_strerror(static_cast<int>(used)));
      close(c);
      return false;
    }
    if (!c.ssl && static_cast<std::size_t>(n) < buf.size()) return true;
  }
  return true;
}

void Loop::flush(Connection& c) {
  while (true) {
    // Socket first: nghttp2 is asked for more only once the kernel took the last batch.
    while (c.out_off < c.out.size()) {
      ssize_t n;
      if (c.ssl) {
        n = SSL_write(c.ssl, c.out.data() + c.out_off, static_cast<int>(c.out.size() - c.out_off));
        if (n <= 0) {
          const int err = SSL_get_error(c.ssl, static_cast<int>(n));
          if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            arm(c, true);
            return;
          }
          ERR_clear_error();
          close(c);
          return;
        }
      } else {
        n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) {
            arm(c, true);
            return;
          }
          close(c);
          return;
        }
      }
      c.out_off += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_off = 0;
    current_ = &c;
    while (c.out.size() < kReadChunk) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(c.session, &data);
      if (n < 0) {
        current_ = nullptr;
        close(c);
        return;
      }
      if (n == 0) break;
      c.out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    current_ = nullptr;
    if (!drained_.empty()) {
      std::vector<Call*> drained;
      drained.swap(drained_);
      for (Call* call : drained) {
        if (call->on_drained && !call->over()) call->on_drained();
      }
    }
    if (c.out.empty()) break;
  }
  arm(c, false);
  if (!nghttp2_session_want_read(c.session) && !nghttp2_session_want_write(c.session)) close(c);
}

void Loop::arm(Connection& c, bool want_out) {
  if (want_out == c.epollout) return;
  c.epollout = want_out;
  epoll_event ev{.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data = {.u64 = c.key}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Loop::close(Connection& c) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  // nghttp2_session_del runs no callbacks: end the calls here.
  std::vector<std::int32_t> ids;
  for (const auto& [id, call] : c.calls) ids.push_back(id);
  for (std::int32_t id : ids) end_call(c, id);
  drained_.clear();
  connections_.erase(c.key);
}

// ---- Loop: calls ----

void Loop::end_call(Connection& c, std::int32_t stream_id) {
  auto it = c.calls.find(stream_id);
  if (it == c.calls.end()) return;
  std::shared_ptr<Call> call = std::move(it->second);
  c.calls.erase(it);
  {
    std::lock_guard lock(call->mu_);
    call->over_.store(true, std::memory_order_release);
    call->queued_.clear();
  }
  call->pending_bytes_.store(0, std::memory_order_relaxed);
  std::erase(drained_, call.get());
  if (call->on_done) call->on_done();
  call->on_message = nullptr;
  call->on_half_close = nullptr;
  call->on_drained = nullptr;
  call->on_done = nullptr;
}

void Loop::start_call(Connection& c, std::int32_t stream_id) {
  const auto stream = streams_.find(std::string_view(c.path));
  const auto unary = unary_.find(std::string_view(c.path));
  std::string_view method;
  if (stream != streams_.end()) method = stream->first;
  if (unary != unary_.end()) method = unary->first;
  auto call = std::make_shared<Call>(shared_from_this(), c.key, stream_id, method);
  c.calls.emplace(stream_id, call);
  if (!c.grpc_content_type) {
    reject(*call, RpcCode::kUnknown, "kedge store: not a gRPC request (content-type is not application/grpc)");
    return;
  }
  if (stream != streams_.end()) {
    call->out().stream = true;
    stream->second(call);
    return;
  }
  if (unary == unary_.end()) {
    call->out().unknown_method = std::move(c.path);
    call->method_ = call->out().unknown_method;
    reject(*call, RpcCode::kUnimplemented, "unknown method " + call->out().unknown_method);
    return;
  }
  // A write's answer is serialized on the store's writer thread and freed
  // here after it is sent; reserving its room here keeps that allocation on
  // this thread (freeing another thread's memory contends on glibc's arena
  // lock). 64 bytes hold a Put, DeleteRange or lease answer with its header.
  std::lock_guard lock(call->mu_);
  call->queued_.reserve(kTypicalAnswerBytes);
}

void Loop::reject(Call& call, RpcCode code, std::string message) {
  // The rest of the request, if the client is still sending it, is read
  // and dropped: a RST_STREAM could overtake the status and leave the
  // client with a bare "stream reset" instead of the reason.
  call.out().rejected = true;
  call.finish({code, std::move(message)});
}

void Loop::on_request_data(Call& call, const std::uint8_t* data, std::size_t len) {
  Call::Out& o = call.out();
  if (o.rejected) return;
  // Usually a chunk holds whole messages: cut them from it without copying
  // it into `in` first.
  const bool buffered = !o.in.empty();
  if (buffered) o.in.append(reinterpret_cast<const char*>(data), len);
  const std::string_view bytes = buffered ? std::string_view(o.in) : std::string_view(reinterpret_cast<const char*>(data), len);
  std::size_t pos = 0;
  while (bytes.size() - pos >= kPrefixBytes) {
    const std::size_t size = prefix_length(bytes.data() + pos);
    if (bytes[pos] != 0) {
      reject(call, RpcCode::kUnimplemented, "grpc: compressed request messages are not supported");
      return;
    }
    if (size > options_.max_receive_bytes) {
      reject(call, RpcCode::kResourceExhausted,
             "grpc: received message larger than max (" + std::to_string(size) + " vs. " +
                 std::to_string(options_.max_receive_bytes) + ")");
      return;
    }
    if (bytes.size() - pos - kPrefixBytes < size) break;
    const std::string_view message(bytes.data() + pos + kPrefixBytes, size);
    pos += kPrefixBytes + size;
    ++o.messages;
    if (o.stream) {
      if (call.on_message && !call.over()) call.on_message(message);
    } else if (o.messages == 1) {
      o.unary_message.assign(message);
    }
    if (o.rejected) return;
  }
  if (buffered) {
    o.in.erase(0, pos);
  } else {
    o.in.assign(bytes.substr(pos));
  }
}

void Loop::on_request_end(Connection& c, Call& call) {
  Call::Out& o = call.out();
  if (o.rejected) return;
  if (!o.in.empty()) {
    reject(call, RpcCode::kInternal, "grpc: the request ended inside a message");
    return;
  }
  if (o.stream) {
    if (call.on_half_close) call.on_half_close();
    return;
  }
  if (o.messages != 1) {
    reject(call, RpcCode::kInternal,
           o.messages == 0 ? "grpc: a unary request without a message" : "grpc: a unary request with several messages");
    return;
  }
  const auto handler = unary_.find(std::string_view(call.method()));
  std::shared_ptr<Call> self = c.calls.at(call.stream_);
  handler->second(o.unary_message, self);
}

void Loop::drop_unsent_messages(Call& call) {
  // `sending` starts at a message boundary: walk to the message that holds
  // sending_off and cut after it.
  Call::Out& o = call.out();
  std::size_t end = 0;
  while (end < o.sending_off) end += kPrefixBytes + prefix_length(o.sending.data() + end);
  if (end >= o.sending.size()) return;
  call.pending_bytes_.fetch_sub(o.sending.size() - end, std::memory_order_relaxed);
  o.sending.resize(end);
}

void Loop::send_from(Connection& c, Call& call) {
  Call::Out& o = call.out();
  {
    std::lock_guard lock(call.mu_);
    call.wake_pending_ = false;
    if (o.sending_off == o.sending.size()) {
      o.sending.swap(call.queued_);
      o.sending_off = 0;
    } else {
      o.sending.append(call.queued_);
    }
    call.queued_.clear();
    if (call.finished_ && !o.finish_taken) {
      o.finish_taken = true;
      o.abort_taken = call.aborted_;
      o.status = call.status_;
    }
  }
  if (o.abort_taken) drop_unsent_messages(call);
  const bool has_data = o.sending_off < o.sending.size();
  if (!o.response_submitted) {
    if (!has_data && !o.finish_taken) return;
    o.response_submitted = true;
    if (!has_data) {
      // Trailers-only: the status in the one HEADERS frame, which ends the stream.
      const std::string code = std::to_string(static_cast<int>(o.status.code));
      const std::string message = percent_encode(o.status.message);
      const nghttp2_nv hdrs[] = {header(":status", "200"), header("content-type", "application/grpc"),
                                 header("grpc-status", code), header("grpc-message", message)};
      nghttp2_submit_response(c.session, call.stream_, hdrs, message.empty() ? 3 : 4, nullptr);
      return;
    }
    const nghttp2_nv hdrs[] = {header(":status", "200"), header("content-type", "application/grpc")};
    nghttp2_data_provider body{};
    body.source.ptr = &call;
    body.read_callback = &Loop::read_body;
    nghttp2_submit_response(c.session, call.stream_, hdrs, 2, &body);
    return;
  }
  if (o.deferred && (has_data || o.finish_taken)) {
    o.deferred = false;
    nghttp2_session_resume_data(c.session, call.stream_);
  }
}

ssize_t Loop::read_body(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                        std::uint32_t* flags, nghttp2_data_source* source, void* user) {
  auto* loop = static_cast<Loop*>(user);
  auto& call = *static_cast<Call*>(source->ptr);
  Call::Out& o = call.out();
  const std::size_t n = std::min(length, o.sending.size() - o.sending_off);
  std::memcpy(buf, o.sending.data() + o.sending_off, n);
  o.sending_off += n;
  if (n > 0 && call.pending_bytes_.fetch_sub(n, std::memory_order_relaxed) == n && call.on_drained) {
    loop->drained_.push_back(&call);
  }
  if (o.sending_off < o.sending.size()) return static_cast<ssize_t>(n);
  o.sending.clear();
  o.sending_off = 0;
  if (!o.finish_taken) {
    if (n > 0) return static_cast<ssize_t>(n);
    o.deferred = true;  // send_from resumes it when the call writes or finishes
    return NGHTTP2_ERR_DEFERRED;
  }
  *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
  const std::string code = std::to_string(static_cast<int>(o.status.code));
  const std::string message = percent_encode(o.status.message);
  const nghttp2_nv trailers[] = {header("grpc-status", code), header("grpc-message", message)};
  nghttp2_submit_trailer(session, stream_id, trailers, message.empty() ? 1 : 2);
  return static_cast<ssize_t>(n);
}

// ---- nghttp2 callbacks (loop thread, inside mem_recv / mem_send) ----

int Loop::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* loop = static_cast<Loop*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    loop->current_->path.clear();
    loop->current_->grpc_content_type = false;
  }
  return 0;
}

int Loop::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                    const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
  auto* loop = static_cast<Loop*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":path") {
    loop->current_->path.assign(v);
  } else if (n == "content-type") {
    loop->current_->grpc_content_type = v.starts_with("application/grpc");
  }
  return 0;
}

int Loop::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* loop = static_cast<Loop*>(user);
  Connection& c = *loop->current_;
  const std::int32_t id = frame->hd.stream_id;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) loop->start_call(c, id);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    if (auto it = c.calls.find(id); it != c.calls.end()) loop->on_request_end(c, *it->second);
  }
  return 0;
}

int Loop::on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                        std::size_t len, void* user) {
  auto* loop = static_cast<Loop*>(user);
  Connection& c = *loop->current_;
  if (auto it = c.calls.find(stream_id); it != c.calls.end()) loop->on_request_data(*it->second, data, len);
  return 0;
}

int Loop::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
  auto* loop = static_cast<Loop*>(user);
  loop->end_call(*loop->current_, stream_id);
  return 0;
}

// ---- RpcServer ----

RpcServer::RpcServer() = default;

RpcServer::~RpcServer() { shutdown(std::chrono::milliseconds(0)); }

void RpcServer::add_unary(std::string path, UnaryHandler handler) { unary_.emplace_back(std::move(path), std::move(handler)); }

void RpcServer::add_stream(std::string path, StreamHandler handler) {
  streams_.emplace_back(std::move(path), std::move(handler));
}

Status RpcServer::bind(RpcServerOptions options) {
  auto loop = std::make_shared<Loop>(std::move(options), std::move(unary_), std::move(streams_));
  KEDGE_RETURN_IF_ERROR(loop->open());
  loop_ = std::move(loop);
  return {};
}

void RpcServer::serve() {
  thread_ = std::thread([loop = loop_] { loop->run(); });
}

Status RpcServer::start(RpcServerOptions options) {
  KEDGE_RETURN_IF_ERROR(bind(std::move(options)));
  serve();
  return {};
}

std::vector<int> RpcServer::bound_ports() const { return loop_ ? loop_->ports() : std::vector<int>{}; }

void RpcServer::shutdown(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  loop_->request_shutdown(Clock::now() + grace);
  thread_.join();
}

}  // namespace kedge::store::etcd::rpc

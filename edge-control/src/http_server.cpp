#include "kedge/control/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include "kedge/base/log.h"
#include "kedge/control/api_error.h"

namespace kedge::control {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

constexpr std::chrono::seconds kSlowHandler{5};

class Session;

UserInfo user_from_peer(SSL* ssl_handle) {
  UserInfo u;
  X509* cert = SSL_get1_peer_certificate(ssl_handle);
  if (cert == nullptr) return u;
  if (SSL_get_verify_result(ssl_handle) == X509_V_OK) {
    X509_NAME* subject = X509_get_subject_name(cert);
    auto entry_text = [&](int index) {
      X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, index);
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
      unsigned char* utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, data);
      std::string out;
      if (len >= 0) out.assign(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
      OPENSSL_free(utf8);
      return out;
    };
    int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (cn >= 0) u.name = entry_text(cn);
    for (int i = X509_NAME_get_index_by_NID(subject, NID_organizationName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) {
      u.groups.push_back(entry_text(i));
    }
    u.groups.emplace_back("system:authenticated");
    u.authenticated = !u.name.empty();
  }
  X509_free(cert);
  return u;
}

std::string status_body(const ApiError& e) { return boost::json::serialize(e.to_json()); }

}  // namespace

struct HttpServer::Impl {
  // Declared before ioc: handlers still queued in ioc are destroyed with it
  // and their sessions touch these.
  HttpServerOptions options;
  Handler handler;
  Rejected rejected;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  ssl::context tls{ssl::context::tls_server};
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<net::thread_pool> workers;
  std::vector<std::thread> io_threads;
  int bound_port = 0;
  std::mutex sessions_mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by sessions_mu
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;

  void do_accept();
};

namespace {

// One TLS connection. Every member is touched only on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket socket)
      : server_(server), stream_(std::move(socket), server.tls) {}

  ~Session() { server_.connections.fetch_sub(1); }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

  // From any thread: ends the connection (and its stream, if any). A request
  // being handled still gets its response (with Connection: close).
  void shutdown() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->ws_) return self->ws_end();
      if (self->source_) self->source_->cancel();
      if (!self->busy_) self->close();
    });
  }

  // StreamSink side, on the strand.
  void queue_chunk(std::string chunk) {
    if (closed_) return;
    backlog_ += chunk.size();
    pending_.push_back(std::move(chunk));
    if (!writing_) write_next();
  }
  void finish_stream() {
    if (closed_) return;
    finishing_ = true;
    if (!writing_) write_next();
  }
  bool over_backlog() const { return backlog_ > server_.options.max_stream_backlog_bytes; }
  std::atomic<bool> gone{false};
  // Flow control for StreamSink::wait_below (any thread): bytes handed to
  // the sink and not yet written to the socket.
  std::atomic<std::size_t> unsent{0};
  std::mutex unsent_mu;
  std::condition_variable unsent_cv;
  void note_unsent_change() {
    { std::lock_guard lock(unsent_mu); }
    unsent_cv.notify_all();
  }

 private:
  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.request_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              if (ec) return self->close_now();
                              self->user_ = user_from_peer(self->stream_.native_handle());
                              self->read(server_first_timeout(self->server_));
                            });
  }

  static std::chrono::seconds server_first_timeout(const HttpServer::Impl& s) {
    return s.options.request_timeout;
  }

  void read(std::chrono::seconds timeout) {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    beast::get_lowest_layer(stream_).expires_after(timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void reject(int code, const ApiError& e) {
    if (server_.rejected) server_.rejected(parser_ ? std::string(parser_->get().method_string()) : "", code);
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(code), 11);
    res->set(http::field::content_type, "application/json");
    res->body() = status_body(e);
    res->keep_alive(false);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, std::size_t) {
      self->close();
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return reject(413, too_large_error("the request body is larger than the server's limit of " +
                                         std::to_string(server_.options.max_body_bytes) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      auto e = bad_request_error("request header fields too large");
      e.code = 431;
      return reject(431, e);
    }
    if (ec) return close();
    auto& req = parser_->get();
    HttpRequest hr;
    hr.method = std::string(req.method_string());
    std::string_view target = req.target();
    auto q = target.find('?');
    hr.path = percent_decode(target.substr(0, q), false);
    if (q != std::string_view::npos) hr.query = parse_query(target.substr(q + 1));
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, inserted] = hr.headers.emplace(std::move(name), std::string(field.value()));
      if (!inserted) it->second += "," + std::string(field.value());
    }
    hr.body = std::move(req.body());
    hr.user = user_;
    keep_alive_ = req.keep_alive();
    busy_ = true;
    beast::get_lowest_layer(stream_).expires_never();
    auto self = shared_from_this();
    auto* impl = &server_;
    net::post(*server_.workers, [self, impl, hr = std::move(hr)]() mutable {
      const auto started = std::chrono::steady_clock::now();
      HttpResponse resp = impl->handler(hr);
      // A handler holds one of the few workers: one that takes seconds is
      // worth a line naming it (streams return before they start writing).
      if (const auto took = std::chrono::steady_clock::now() - started; took > kSlowHandler) {
        log::logger("apiserver")->warn("slow request: {} {} took {} ms in the handler", hr.method, hr.path,
                                       std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
      }
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->respond(std::move(resp)); });
    });
  }

  void respond(HttpResponse resp) {
    busy_ = false;
    if (closed_ || (server_.stopping && resp.stream)) {
      if (resp.stream) resp.stream->cancel();
      return;
    }
    if (resp.websocket) return start_websocket(std::move(resp));
    if (resp.stream) return start_stream(std::move(resp));
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(resp.status), 11);
    res->set(http::field::content_type, resp.content_type);
    for (const auto& [k, v] : resp.headers) res->insert(k, v);
    res->body() = std::move(resp.body);
    res->keep_alive(keep_alive_ && !server_.stopping);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.options.request_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read(self->server_.options.idle_timeout);
    });
  }

  void start_stream(HttpResponse resp);
  void write_next();
  void watch_disconnect();

 public:
  // WebSocket side (exec), on the strand.
  void ws_queue(std::string message) {
    if (!ws_ || closed_) return;
    ws_out_.push_back(std::move(message));
    if (!ws_writing_) ws_write_next();
  }
  void ws_finish() {
    if (!ws_ || closed_) return;
    ws_closing_ = true;
    if (!ws_writing_) ws_write_next();
  }

 private:
  void start_websocket(HttpResponse resp);
  void ws_read();
  void ws_write_next();
  void ws_end();

  void close() {
    if (closed_) return;
    closed_ = true;
    gone = true;
    note_unsent_change();
    if (source_) source_->cancel();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(3));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_now(); });
  }

  void close_now() {
    closed_ = true;
    gone = true;
    note_unsent_change();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  HttpServer::Impl& server_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  UserInfo user_;
  bool keep_alive_ = true;
  bool closed_ = false;
  bool busy_ = false;  // a request is with the handler
  // Streaming state.
  std::shared_ptr<StreamSource> source_;
  std::deque<std::string> pending_;
  std::size_t backlog_ = 0;
  bool writing_ = false;
  bool finishing_ = false;
  std::array<char, 512> scratch_{};
  // WebSocket state (after an upgrade).
  using WsStream = beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>&>;
  std::unique_ptr<WsStream> ws_;
  std::shared_ptr<WebSocketHandler> ws_handler_;
  std::deque<std::string> ws_out_;
  beast::flat_buffer ws_in_;
  bool ws_writing_ = false;
  bool ws_closing_ = false;
  bool ws_ended_ = false;
};

// The WebSocketConnection a handler writes to: hops onto the strand.
class SessionWebSocket : public WebSocketConnection {
 public:
  SessionWebSocket(std::weak_ptr<Session> session, net::any_io_executor strand)
      : session_(std::move(session)), strand_(std::move(strand)) {}
  bool send(std::string message) override {
    auto s = session_.lock();
    if (!s || s->gone) return false;
    net::post(strand_, [s, m = std::move(message)]() mutable { s->ws_queue(std::move(m)); });
    return true;
  }
  void close() override {
    if (auto s = session_.lock()) net::post(strand_, [s] { s->ws_finish(); });
  }

 private:
  std::weak_ptr<Session> session_;
  net::any_io_executor strand_;
};

void Session::start_websocket(HttpResponse resp) {
  namespace websocket = beast::websocket;
  ws_handler_ = std::move(resp.websocket);
  ws_ = std::make_unique<WsStream>(stream_);
  ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_->set_option(websocket::stream_base::decorator(
      [proto = resp.websocket_protocol](websocket::response_type& res) {
        if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
      }));
  ws_->binary(true);
  beast::get_lowest_layer(stream_).expires_never();
  ws_->async_accept(parser_->get(), [self = shared_from_this()](beast::error_code ec) {
    if (ec) return self->ws_end();
    auto conn = std::make_shared<SessionWebSocket>(self, self->stream_.get_executor());
    auto handler = self->ws_handler_;
    net::post(*self->server_.workers, [handler, conn] { handler->start(conn); });
    self->ws_read();
  });
}

void Session::ws_read() {
  ws_->async_read(ws_in_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    if (ec) return self->ws_end();
    std::string message = beast::buffers_to_string(self->ws_in_.data());
    self->ws_in_.consume(n);
    self->ws_handler_->on_message(message);
    self->ws_read();
  });
}

void Session::ws_write_next() {
  if (ws_out_.empty()) {
    ws_writing_ = false;
    if (!ws_closing_) return;
    ws_writing_ = true;
    ws_->async_close(beast::websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
      self->ws_writing_ = false;
      self->ws_end();
    });
    return;
  }
  ws_writing_ = true;
  auto data = std::make_shared<std::string>(std::move(ws_out_.front()));
  ws_out_.pop_front();
  ws_->async_write(net::buffer(*data), [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
    if (ec) {
      self->ws_writing_ = false;
      return self->ws_end();
    }
    self->ws_write_next();
  });
}

// The connection is over (closed by either side, failed, or server stop).
void Session::ws_end() {
  if (ws_ended_) return;
  ws_ended_ = true;
  if (ws_handler_) ws_handler_->on_closed();
  close_now();
}

// The StreamSink a watch writes to: hops onto the connection's strand.
class SessionSink : public StreamSink {
 public:
  explicit SessionSink(std::weak_ptr<Session> session, net::any_io_executor strand)
      : session_(std::move(session)), strand_(std::move(strand)) {}
  bool write(std::string chunk) override {
    auto s = session_.lock();
    if (!s || s->gone) return false;
    s->unsent += chunk.size();
    net::post(strand_, [s, chunk = std::move(chunk)]() mutable {
      if (s->over_backlog()) {
        s->finish_stream();  // a slow reader: end the stream, the client resumes
        return;
      }
      s->queue_chunk(std::move(chunk));
    });
    return true;
  }
  void close() override {
    if (auto s = session_.lock()) net::post(strand_, [s] { s->finish_stream(); });
  }
  bool wait_below(std::size_t bytes, std::chrono::milliseconds timeout) override {
    auto s = session_.lock();
    if (!s) return false;
    std::unique_lock lock(s->unsent_mu);
    s->unsent_cv.wait_for(lock, timeout, [&] { return s->gone.load() || s->unsent.load() < bytes; });
    return !s->gone;
  }

 private:
  std::weak_ptr<Session> session_;
  net::any_io_executor strand_;
};

void Session::start_stream(HttpResponse resp) {
  auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(resp.status), 11);
  res->set(http::field::content_type, resp.content_type);
  for (const auto& [k, v] : resp.headers) res->insert(k, v);
  res->chunked(true);
  res->keep_alive(false);
  auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
  source_ = resp.stream;
  beast::get_lowest_layer(stream_).expires_never();
  http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
    if (ec) return self->close();
    self->watch_disconnect();
    auto sink = std::make_shared<SessionSink>(self, self->stream_.get_executor());
    auto src = self->source_;
    net::post(*self->server_.workers, [src, sink] { src->start(sink); });
  });
}

void Session::watch_disconnect() {
  // A watch client sends nothing more; any read completion means it left.
  stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code, std::size_t) {
    if (self->source_) self->source_->cancel();
    self->close_now();
  });
}

void Session::write_next() {
  if (closed_) return;
  if (pending_.empty()) {
    writing_ = false;
    if (!finishing_) return;
    writing_ = true;
    auto last = std::make_shared<http::chunk_last<http::chunk_crlf>>();
    net::async_write(stream_, *last, [self = shared_from_this(), last](beast::error_code, std::size_t) {
      self->writing_ = false;
      self->close();
    });
    return;
  }
  writing_ = true;
  auto data = std::make_shared<std::string>(std::move(pending_.front()));
  pending_.pop_front();
  net::async_write(stream_, http::make_chunk(net::buffer(*data)),
                   [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
                     self->backlog_ -= data->size();
                     self->unsent -= data->size();
                     self->note_unsent_change();
                     if (ec) {
                       self->writing_ = false;
                       return self->close();
                     }
                     self->write_next();
                   });
}

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      if (connections.load() >= options.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);  // over the limit: refuse without reading
      } else {
        connections.fetch_add(1);
        auto s = std::make_shared<Session>(*this, std::move(socket));
        {
          std::lock_guard lock(sessions_mu);
          for (auto it = sessions.begin(); it != sessions.end();) {
            if (it->second.expired()) it = sessions.erase(it);
            else ++it;
          }
          sessions.emplace(s.get(), s);
        }
        s->run();
      }
    }
    do_accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler, Rejected rejected)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->rejected = std::move(rejected);
  // Created here so work can be posted before start() (bootstrap).
  impl_->workers = std::make_unique<net::thread_pool>(
      static_cast<std::size_t>(std::max(1, impl_->options.worker_threads)));
}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

Status HttpServer::start() {
  auto& o = impl_->options;
  try {
    impl_->tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                           ssl::context::single_dh_use);
    impl_->tls.use_certificate_chain_file(o.cert_file.string());
    impl_->tls.use_private_key_file(o.key_file.string(), ssl::context::pem);
    impl_->tls.load_verify_file(o.client_ca_file.string());
    // Ask for a client certificate but let anonymous clients in: they reach
    // /healthz, /version... and get 401 elsewhere, as upstream.
    impl_->tls.set_verify_mode(ssl::verify_peer);
    impl_->tls.set_verify_callback([](bool, ssl::verify_context&) { return true; });
    SSL_CTX_set_session_id_context(impl_->tls.native_handle(),
                                   reinterpret_cast<const unsigned char*>("kedge"), 5);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("loading TLS material: ") + e.what());
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(o.bind_address, ec);
  if (ec) return invalid_argument("--bind-address " + o.bind_address + ": " + ec.message());
  tcp::endpoint ep(addr, static_cast<unsigned short>(o.port));
  impl_->acceptor.emplace(impl_->ioc);
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return unavailable("listen on " + o.bind_address + ":" + std::to_string(o.port) + ": " + ec.message());
  }
  impl_->bound_port = impl_->acceptor->local_endpoint().port();
  impl_->guard.emplace(net::make_work_guard(impl_->ioc));
  impl_->do_accept();
  for (int i = 0; i < std::max(1, o.io_threads); ++i) {
    impl_->io_threads.emplace_back([this] { impl_->ioc.run(); });
  }
  return {};
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::post_work(std::function<void()> fn) {
  if (impl_->workers) net::post(*impl_->workers, std::move(fn));
}

void HttpServer::schedule(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<net::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](beast::error_code ec) {
    if (!ec) fn();
  });
}

void HttpServer::stop(std::chrono::milliseconds drain) {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->acceptor) {
    net::post(impl_->ioc, [this] {
      beast::error_code ignored;
      impl_->acceptor->close(ignored);
    });
  }
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(impl_->sessions_mu);
    for (auto& [ptr, weak] : impl_->sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    impl_->sessions.clear();
  }
  for (auto& s : live) s->shutdown();
  live.clear();
  // In-flight handlers finish; their responses are written (with
  // Connection: close) while the io threads still run.
  if (impl_->workers) impl_->workers->join();
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (impl_->connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->guard.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->io_threads) {
    if (t.joinable()) t.join();
  }
  impl_->io_threads.clear();
}

}  // namespace kedge::control

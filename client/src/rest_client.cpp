#include "kedge/client/rest_client.h"

#include <array>
#include <exception>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "http_connection.h"

namespace kedge::client {

using detail::Clock;
namespace net = detail::net;
namespace beast = detail::beast;
namespace http = detail::http;

struct RestClient::Transport {
  detail::Url server;  // server.target: a path prefix every request goes under
  std::optional<net::ssl::context> tls;  // https only
  bool verify_peer = true;

  net::ssl::context* tls_context() { return tls ? &*tls : nullptr; }
};

struct RestClient::Handle {
  explicit Handle(Transport& t) : connection(ioc, t.tls_context(), t.verify_peer) {}
  // Only the thread that borrowed the handle runs it. Declared before the
  // connection, whose sockets must go first.
  net::io_context ioc{1};
  detail::Connection connection;
};

namespace {

// A watch event or log line longer than this ends the stream: only the line
// being assembled is buffered, and this bounds it (etcd caps objects at
// ~1.5 MiB, so a real event stays far below).
constexpr std::size_t kMaxLine = 16 * 1024 * 1024;
// Of a non-2xx answer, the part kept for its Status message.
constexpr std::size_t kMaxErrorBody = 64 * 1024;

Status step_error(const std::string& server, const char* step, const beast::error_code& ec,
                  const detail::Connection& connection, bool past_deadline, std::chrono::milliseconds bound) {
  return detail::step_failure("request to " + server + " failed: " + detail::describe(step, ec, connection), ec,
                              past_deadline, " (after " + std::to_string(bound.count()) + " ms)");
}

// A runtime failure of Asio or OpenSSL itself (no descriptors left for an
// epoll instance, no memory) surfaces as an exception; it stops here.
Status exception_error(const std::string& server, const std::exception& e) {
  return unavailable("request to " + server + " failed: " + e.what());
}

// Methods a retry cannot apply twice with a different effect (RFC 9110 9.2.2).
bool idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

Result<std::unique_ptr<RestClient::Transport>> make_transport(const Kubeconfig& c) {
  auto t = std::make_unique<RestClient::Transport>();
  KEDGE_ASSIGN_OR_RETURN(t->server, detail::parse_url(c.server));
  if (!t->server.tls) return t;
  t->verify_peer = !c.insecure_skip_tls_verify;
  try {
    auto& ctx = t->tls.emplace(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (!c.ca_pem.empty()) {
      ctx.add_certificate_authority(net::buffer(c.ca_pem), ec);
      if (ec) return invalid_argument("certificate-authority: " + ec.message());
    } else {
      ctx.set_default_verify_paths(ec);
      if (ec) return invalid_argument("system CA store: " + ec.message());
    }
    // A CA bundle entry is a trust anchor even when it is an intermediate,
    // as for client-go and for libcurl (which set this flag by default).
    X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx.native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
    if (!c.client_cert_pem.empty()) {
      ctx.use_certificate_chain(net::buffer(c.client_cert_pem), ec);
      if (ec) return invalid_argument("client-certificate: " + ec.message());
      ctx.use_private_key(net::buffer(c.client_key_pem), net::ssl::context::pem, ec);
      if (ec) return invalid_argument("client-key: " + ec.message());
    }
  } catch (const std::exception& e) {
    return internal_error(std::string("TLS context: ") + e.what());
  }
  return t;
}

}  // namespace

Status status_from_response(const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return {};
  std::string message;
  std::string reason;
  boost::system::error_code ec;
  auto body = boost::json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto& o = body.get_object();
    if (auto* m = o.if_contains("message"); m && m->is_string()) message = m->get_string();
    if (auto* r = o.if_contains("reason"); r && r->is_string()) reason = r->get_string();
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(response.status);
    if (!response.body.empty()) message += ": " + response.body.substr(0, 200);
  }
  switch (response.status) {
    case 400:
    case 422: return invalid_argument(std::move(message));
    case 401: return unauthenticated(std::move(message));
    case 403: return permission_denied(std::move(message));
    case 404: return not_found(std::move(message));
    case 409:
      return reason == "AlreadyExists" ? already_exists(std::move(message)) : aborted(std::move(message));
    case 410: return out_of_range(std::move(message));
    case 413:
    case 429: return resource_exhausted(std::move(message));
    default: break;
  }
  if (response.status >= 500) return unavailable(std::move(message));
  return {Code::kUnknown, std::move(message)};
}

Result<std::unique_ptr<RestClient>> RestClient::create(ClientOptions options) {
  if (options.config.client_cert_pem.empty() != options.config.client_key_pem.empty()) {
    return invalid_argument("client certificate and key must be given together");
  }
  auto transport = make_transport(options.config);
  if (!transport.ok()) {
    return transport.status().with_context("server \"" + options.config.server + "\"");
  }
  return std::unique_ptr<RestClient>(new RestClient(std::move(options), std::move(*transport)));
}

RestClient::RestClient(ClientOptions options, std::unique_ptr<Transport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}
RestClient::~RestClient() = default;

std::unique_ptr<RestClient::Handle> RestClient::borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>(*transport_);
}

void RestClient::give_back(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(handle));
}

namespace {

http::request<http::string_body> make_message(const HttpRequest& request, const ClientOptions& options,
                                              const detail::Url& server) {
  http::request<http::string_body> m;
  m.version(11);
  m.method_string(request.method);
  m.target(server.target + request.path);
  m.set(http::field::host, server.authority);
  m.set(http::field::user_agent, options.user_agent);
  m.set(http::field::accept, request.accept);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    m.set(http::field::content_type, request.content_type);
    m.body() = request.body;
    // Set here rather than by prepare_payload(), which leaves it out of a
    // bodiless PATCH; servers want a length on every request with a body.
    m.content_length(request.body.size());
  }
  if (!options.config.token.empty()) m.set(http::field::authorization, "Bearer " + options.config.token);
  return m;
}

HttpResponse to_response(http::response<http::string_body>&& m) {
  HttpResponse r;
  r.status = static_cast<long>(m.result_int());
  r.content_type = std::string(m[http::field::content_type]);
  for (auto [it, end] = m.equal_range(http::field::warning); it != end; ++it) {
    r.warnings.emplace_back(it->value());
  }
  r.body = std::move(m.body());
  return r;
}

// One request on `connection`, reusing it when it is still open, and once
// more on a fresh connection when a reused one turns out to have been closed
// by the server before it answered anything (the race a keep-alive pool
// always has with the server's idle timeout).
Result<HttpResponse> round_trip(detail::Connection& connection, http::request<http::string_body>& message,
                                const ClientOptions& options, const detail::Url& server, bool retry_allowed) {
  const auto deadline = Clock::now() + options.request_timeout;
  bool reused = connection.is_open() && connection.idle_usable();
  if (!reused) connection.close();
  while (true) {
    if (!reused) {
      const char* step = "";
      const auto connect_deadline = std::min(deadline, Clock::now() + options.connect_timeout);
      if (auto ec = connection.open(server, connect_deadline, step)) {
        const bool past = Clock::now() >= connect_deadline;
        return step_error(options.config.server, step, ec, connection, past,
                          std::min(options.connect_timeout, options.request_timeout));
      }
    }
    connection.set_deadline(deadline);
    http::response_parser<http::string_body> parser;
    parser.header_limit(detail::kHeaderLimit);
    parser.body_limit(boost::none);  // lists can be megabytes
    if (message.method() == http::verb::head) parser.skip(true);
    const char* step = "write";
    auto ec = connection.write(message);
    if (!ec) {
      step = "read";
      ec = connection.read(parser);
    }
    if (!ec) {
      if (!parser.keep_alive() || connection.buffered() != 0) connection.close();
      HttpResponse response = to_response(parser.release());
      return response;
    }
    connection.close();
    const bool past = Clock::now() >= deadline;
    if (reused && retry_allowed && !parser.got_some() && ec != beast::error::timeout && !past) {
      reused = false;  // once: the fresh connection's failure is final
      continue;
    }
    return step_error(options.config.server, step, ec, connection, past, options.request_timeout);
  }
}

}  // namespace

Result<HttpResponse> RestClient::request(const HttpRequest& request) {
  if (options_.local) return options_.local(request);
  std::unique_ptr<Handle> handle;
  Result<HttpResponse> result = internal_error("unset");
  try {
    handle = borrow();
    auto message = make_message(request, options_, transport_->server);
    result = round_trip(handle->connection, message, options_, transport_->server, idempotent(request.method));
  } catch (const std::exception& e) {
    if (handle) handle->connection.close();
    result = exception_error(options_.config.server, e);
  }
  if (handle) give_back(std::move(handle));
  return result;
}

Result<boost::json::value> RestClient::get(std::string_view path) {
  return send("GET", path, nullptr);
}

Result<boost::json::value> RestClient::send(std::string_view method, std::string_view path,
                                            const boost::json::value& body,
                                            std::string_view content_type) {
  HttpRequest req{.method = std::string(method), .path = std::string(path),
                  .content_type = std::string(content_type)};
  if (!body.is_null()) req.body = boost::json::serialize(body);
  KEDGE_ASSIGN_OR_RETURN(HttpResponse resp, request(req));
  KEDGE_RETURN_IF_ERROR(status_from_response(resp));
  boost::system::error_code ec;
  auto value = boost::json::parse(resp.body, ec);
  if (ec) {
    return internal_error(std::string(method) + " " + std::string(path) +
                          ": response is not JSON: " + ec.message());
  }
  return value;
}

// ---------------------------------------------------------------------------
// LineStream: a connection of its own with a private io_context that run()
// drives on its caller's thread; cancel() posts a close to it.

struct LineStream::State {
  State(RestClient& c, std::string p, std::function<bool(std::string_view)> f)
      : client(c), path(std::move(p)), on_line(std::move(f)),
        connection(ioc, c.transport_->tls_context(), c.transport_->verify_peer) {}

  // Constant after construction.
  RestClient& client;
  const std::string path;
  const std::function<bool(std::string_view)> on_line;
  // Run only by the thread in run(); other threads only post to it.
  net::io_context ioc{1};
  detail::Connection connection;  // used on the run() thread (and by posted closes)
  std::atomic<bool> cancelled{false};
};

std::unique_ptr<LineStream> RestClient::stream(std::string path,
                                               std::function<bool(std::string_view)> on_line) {
  return std::unique_ptr<LineStream>(new LineStream(*this, std::move(path), std::move(on_line)));
}

LineStream::LineStream(RestClient& client, std::string path,
                       std::function<bool(std::string_view)> on_line)
    : state_(std::make_unique<State>(client, std::move(path), std::move(on_line))) {}

LineStream::~LineStream() = default;

void LineStream::cancel() {
  state_->cancelled = true;
  // Runs inside run()'s current (or next) step on the run() thread: the
  // closed socket completes the pending read at once. post() is thread-safe;
  // posted after run() has returned, it is dropped with the io_context.
  net::post(state_->ioc, [s = state_.get()] { s->connection.close(); });
}

namespace {

// Splits the body into lines for `on_line`, keeping only the unfinished one.
class LineSplitter {
 public:
  explicit LineSplitter(const std::function<bool(std::string_view)>& on_line) : on_line_(on_line) {}

  // False when on_line asked to stop.
  bool feed(const char* data, std::size_t n) {
    std::size_t scan = partial_.size();  // earlier bytes hold no newline
    partial_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial_.find('\n', scan)) != std::string::npos; start = scan = nl + 1) {
      std::string_view line(partial_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!on_line_(line)) return false;
    }
    partial_.erase(0, start);
    return true;
  }
  bool too_long() const { return partial_.size() > kMaxLine; }
  // The server ended the response without a final newline.
  void finish() {
    if (!partial_.empty()) on_line_(partial_);
  }

 private:
  const std::function<bool(std::string_view)>& on_line_;
  std::string partial_;
};

}  // namespace

Status LineStream::run() {
  State& s = *state_;
  const std::string& server = s.client.options_.config.server;
  const auto was_cancelled = [&] { return cancelled("stream " + s.path + " cancelled"); };
  if (s.cancelled) return was_cancelled();
  try {
    const auto connect_deadline = Clock::now() + s.client.options_.connect_timeout;
    const char* step = "";
    auto ec = s.connection.open(s.client.transport_->server, connect_deadline, step);
    if (s.cancelled) return was_cancelled();
    if (ec) {
      return step_error(server, step, ec, s.connection, Clock::now() >= connect_deadline,
                        s.client.options_.connect_timeout);
    }
    // No deadline from here: a watch is idle for as long as nothing changes.
    s.connection.set_deadline(Clock::time_point::max());
    auto message = make_message(HttpRequest{.path = s.path}, s.client.options_, s.client.transport_->server);
    step = "write";
    ec = s.connection.write(message);
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(detail::kHeaderLimit);
    parser.body_limit(boost::none);
    if (!ec) {
      step = "read";
      ec = s.connection.read_header(parser);
    }
    if (s.cancelled) return was_cancelled();
    if (ec) return step_error(server, step, ec, s.connection, false, {});
    http_status_ = static_cast<long>(parser.get().result_int());

    const bool ok = http_status_ >= 200 && http_status_ < 300;
    HttpResponse error_response;
    if (!ok) {
      error_response.status = http_status_;
      error_response.content_type = std::string(parser.get()[http::field::content_type]);
    }
    LineSplitter lines(s.on_line);
    std::array<char, 16 * 1024> chunk;
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      ec = s.connection.read_some(parser);
      if (ec == http::error::need_buffer) ec = {};  // the chunk filled up
      const std::size_t n = chunk.size() - parser.get().body().size;
      if (s.cancelled) return was_cancelled();
      if (!ok) {
        error_response.body.append(chunk.data(), std::min(n, kMaxErrorBody - error_response.body.size()));
        if (error_response.body.size() >= kMaxErrorBody) break;
      } else if (n > 0) {
        if (!lines.feed(chunk.data(), n)) return {};  // on_line stopped it
        if (lines.too_long()) {
          return resource_exhausted("stream " + s.path + ": a line is longer than " + std::to_string(kMaxLine) +
                                    " bytes");
        }
      }
      if (ec) {
        if (!ok) break;  // the Status from the answer says more than the cut
        return step_error(server, "read", ec, s.connection, false, {});
      }
    }
    if (!ok) return status_from_response(error_response);
    lines.finish();
    return {};
  } catch (const std::exception& e) {
    s.connection.close();
    return exception_error(server, e);
  }
}

}  // namespace kedge::client

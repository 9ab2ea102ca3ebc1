#include "http_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace kedge::client::detail {

using tcp = net::ip::tcp;

Result<Url> parse_url(std::string_view url) {
  auto bad = [&](const char* why) {
    return invalid_argument("\"" + std::string(url) + "\" is not an http(s) URL (" + why + ")");
  };
  Url out;
  std::string_view rest;
  if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return bad("want http:// or https://");
  }
  const auto end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos) {
    out.target = std::string(rest.substr(end));
    if (const auto hash = out.target.find('#'); hash != std::string::npos) out.target.resize(hash);
    if (!out.target.empty() && out.target.front() == '?') out.target.insert(0, "/");
    // A server URL's path is a prefix for request paths, which start with '/'.
    if (out.target == "/") out.target.clear();
  }
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  out.authority = std::string(authority);
  std::string_view port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [");
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after ]");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
    out.port_number = out.tls ? 443 : 80;
  } else {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) return bad("bad port");
    out.port = std::string(port);
    out.port_number = static_cast<std::uint16_t>(value);
  }
  return out;
}

Connection::Connection(net::io_context& ioc, net::ssl::context* tls, bool verify_peer)
    : ioc_(ioc), tls_(tls), verify_peer_(verify_peer) {}

// Declared here so the streams (which refer to ioc_'s services) go before
// the io_context their owner destroys after this.
Connection::~Connection() = default;

beast::tcp_stream& Connection::tcp() { return tls_stream_ ? tls_stream_->next_layer() : *plain_; }
const beast::tcp_stream& Connection::tcp() const { return tls_stream_ ? tls_stream_->next_layer() : *plain_; }

bool Connection::is_open() const {
  if (!tls_stream_ && !plain_) return false;
  return tcp().socket().is_open();
}

bool Connection::idle_usable() const {
  if (!is_open() || buffer_.size() != 0) return false;
  // Cast away const only for native_handle(), which does not change the socket.
  const int fd = const_cast<beast::tcp_stream&>(tcp()).socket().native_handle();
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void Connection::close() {
  // Only closes: a pending step may still refer to the stream objects, and
  // they are replaced by the next open() once no step is pending.
  if (tls_stream_ || plain_) tcp().close();
}

void Connection::set_deadline(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) {
    tcp().expires_never();
  } else {
    tcp().expires_at(deadline);
  }
}

namespace {

// TCP keepalive after 60 s idle, probing every 60 s (libcurl's defaults,
// which the client had before): a watch on a connection whose peer vanished
// (a device's uplink dropped) ends instead of waiting forever, because
// streams carry no deadline of their own.
void tune_socket(tcp::socket& socket) {
  // Asio opens sockets without SOCK_CLOEXEC; a connection to the API server
  // has no business in containerd or a hook the agent starts.
  ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(net::socket_base::keep_alive(true), ignored);
  const int idle = 60;
  const int interval = 60;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
}

}  // namespace

beast::error_code Connection::open(const Url& url, Clock::time_point deadline, const char*& step) {
  close();
  buffer_.clear();
  verify_error_.clear();

  step = "resolve";
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  const net::ip::address literal = net::ip::make_address(url.host, ec);
  const bool is_ip = !ec;
  if (is_ip) {
    endpoints.emplace_back(literal, url.port_number);
  } else {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(url.host, url.port, tcp::resolver::numeric_service, ec);
    if (ec) return ec;
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  // New stream objects: an SSL object serves one connection only.
  tls_stream_.reset();
  plain_.reset();
  if (tls_ != nullptr) {
    tls_stream_.emplace(ioc_, *tls_);
  } else {
    plain_.emplace(ioc_);
  }

  step = "connect";
  set_deadline(deadline);
  beast::error_code result = net::error::operation_aborted;
  tcp().async_connect(endpoints, [&result](beast::error_code e, const tcp::endpoint&) { result = e; });
  ioc_.restart();
  ioc_.run();
  if (result) {
    close();
    return result;
  }
  tune_socket(tcp().socket());
  if (!tls_stream_) return {};

  step = "TLS handshake";
  SSL* ssl = tls_stream_->native_handle();
  // SNI carries names only, never addresses (RFC 6066).
  if (!is_ip) SSL_set_tlsext_host_name(ssl, url.host.c_str());
  if (verify_peer_) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    // OpenSSL checks the name (or IP) against the certificate's SANs during
    // the handshake, as libcurl did; no partial wildcards ("a*.example").
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), url.host.size());
    }
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  result = net::error::operation_aborted;
  tls_stream_->async_handshake(net::ssl::stream_base::client, [&result](beast::error_code e) { result = e; });
  ioc_.restart();
  ioc_.run();
  if (result) {
    if (const long verify = SSL_get_verify_result(ssl); verify_peer_ && verify != X509_V_OK) {
      verify_error_ = X509_verify_cert_error_string(verify);
    }
    close();
  }
  return result;
}

beast::error_code Connection::write(http::request<http::string_body>& request) {
  return run([&](auto&& stream, auto&& done) { http::async_write(stream, request, done); });
}

std::string describe(const char* step, const beast::error_code& ec, const Connection& connection) {
  std::string m = std::string(step) + ": ";
  if (ec == beast::error::timeout) {
    m += "timed out";
  } else if (ec.category() == net::error::get_ssl_category()) {
    // Asio appends the OpenSSL library name ("(SSL routines)"); the reason
    // alone reads better in a log line.
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    m += reason != nullptr ? reason : ec.message();
  } else if (ec == net::ssl::error::stream_truncated) {
    m += "connection closed by the server";
  } else {
    m += ec.message();
  }
  if (!connection.verify_error().empty()) m += " (" + connection.verify_error() + ")";
  return m;
}

Status step_failure(std::string message, const beast::error_code& ec, bool past_deadline,
                    std::string_view timeout_note) {
  if (ec == beast::error::timeout || past_deadline) {
    message += timeout_note;
    return deadline_exceeded(std::move(message));
  }
  return unavailable(std::move(message));
}

}  // namespace kedge::client::detail

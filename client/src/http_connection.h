// Internal to kedge_client: one HTTP/1.1 connection over TCP or TLS
// (Boost.Beast on Asio + OpenSSL), driven step by step on its owner's thread.
//
// Why this shape: every RestClient request, LineStream and probe is a
// blocking call on its caller's thread. Each Connection therefore has an
// io_context of its own that only that thread runs, one asynchronous step at
// a time (connect, handshake, write, read): the async form gives deadlines
// (beast::tcp_stream::expires_at closes the socket when they pass) and lets
// another thread cancel a blocked read by posting close() to the io_context,
// without a timer or polling while idle. No thread of Asio's own is started
// (names resolve synchronously, see open()).
//
// Thread-safety: a Connection and its io_context belong to one thread at a
// time, the one calling its methods. The only entry from other threads is
// net::post(io_context, [&] { connection.close(); }), which the owner's next
// or current step runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "kedge/base/status.h"

namespace kedge::client::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

// The parts of an http(s) URL a connection and a request need.
struct Url {
  bool tls = false;
  std::string host;       // DNS name or IP literal, IPv6 without brackets
  std::string port;       // decimal; 443 / 80 when the URL names none
  std::uint16_t port_number = 0;
  std::string authority;  // host[:port] as written in the URL (Host header)
  std::string target;     // path and query; empty when the URL has none
};

// Parses "http(s)://host[:port][/path][?query]"; host may be "[v6]".
Result<Url> parse_url(std::string_view url);

// Responses' headers larger than this are refused (Beast's default is 8 KiB;
// Kubernetes answers may carry several Warning headers).
inline constexpr std::uint32_t kHeaderLimit = 64 * 1024;

class Connection {
 public:
  // `tls` is null for http:// and otherwise the client's shared context
  // (constant after construction; must outlive this). `verify_peer` checks
  // the server's chain against the context's CAs and its name/IP (SAN)
  // against the URL's host; false for insecure-skip-tls-verify and probes.
  Connection(net::io_context& ioc, net::ssl::context* tls, bool verify_peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool is_open() const;

  // For an idle keep-alive connection about to be reused: true when the peer
  // has neither closed it nor sent anything (an HTTP/1.1 server only writes
  // to an idle connection to close it: FIN, RST or a TLS close_notify).
  bool idle_usable() const;

  // Resolves url.host (IP literals directly; names with a blocking
  // getaddrinfo on this thread, so no resolver thread exists), connects and,
  // for TLS, handshakes, all bounded by `deadline`. On failure `step` says
  // which part failed ("resolve", "connect", "TLS handshake").
  beast::error_code open(const Url& url, Clock::time_point deadline, const char*& step);

  // Closes the socket at once (no TLS close_notify: neither side waits for
  // one on a connection it abandons); pending steps complete with an error.
  void close();

  // Deadline for the steps that follow; Clock::time_point::max() = none.
  void set_deadline(Clock::time_point deadline);

  beast::error_code write(http::request<http::string_body>& request);

  // Reads the response's header into `parser` (then `read_some` its body).
  template <class Body>
  beast::error_code read_header(http::response_parser<Body>& parser) {
    return run([&](auto&& stream, auto&& done) { http::async_read_header(stream, buffer_, parser, done); });
  }
  // Reads the whole response into `parser`.
  template <class Body>
  beast::error_code read(http::response_parser<Body>& parser) {
    return run([&](auto&& stream, auto&& done) { http::async_read(stream, buffer_, parser, done); });
  }
  // Reads what arrives next into `parser` (http::error::need_buffer when a
  // buffer_body's buffer filled up, which is not a failure).
  template <class Body>
  beast::error_code read_some(http::response_parser<Body>& parser) {
    return run([&](auto&& stream, auto&& done) { http::async_read_some(stream, buffer_, parser, done); });
  }

  // Bytes read past the last parsed message (none between keep-alive
  // responses unless the server misbehaves).
  std::size_t buffered() const { return buffer_.size(); }

  // The certificate check that failed in the last handshake ("hostname
  // mismatch", "unable to get local issuer certificate"), or empty.
  const std::string& verify_error() const { return verify_error_; }

 private:
  using TlsStream = net::ssl::stream<beast::tcp_stream>;

  beast::tcp_stream& tcp();
  const beast::tcp_stream& tcp() const;

  // Starts one asynchronous step on the open stream and runs the io_context
  // on this thread until it (and anything posted meanwhile, such as a close)
  // has completed. REQUIRES: is_open() was true when the step started.
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = net::error::operation_aborted;
    auto done = [&result](beast::error_code ec, auto&&...) { result = ec; };
    if (tls_stream_) {
      start(*tls_stream_, done);
    } else {
      start(*plain_, done);
    }
    ioc_.restart();
    ioc_.run();
    return result;
  }

  net::io_context& ioc_;
  net::ssl::context* const tls_;
  const bool verify_peer_;
  // One of them exists while a connection is open; both are rebuilt by each
  // open() (an SSL object cannot be reused for a new connection).
  std::optional<beast::tcp_stream> plain_;
  std::optional<TlsStream> tls_stream_;
  beast::flat_buffer buffer_;
  std::string verify_error_;
};

// "connect: Connection refused", "TLS handshake: certificate verify failed
// (hostname mismatch)": one step's failure, for error messages.
std::string describe(const char* step, const beast::error_code& ec, const Connection& connection);

// A failed step as a Status: DeadlineExceeded when it timed out or the
// deadline had passed (`message` + `timeout_note`), Unavailable otherwise.
Status step_failure(std::string message, const beast::error_code& ec, bool past_deadline,
                    std::string_view timeout_note = {});

}  // namespace kedge::client::detail

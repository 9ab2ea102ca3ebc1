// HttpTestServer: a loopback HTTP/1.1 server (port 0, TLS optional) for
// tests of HTTP clients. Its handler reads requests and writes raw bytes, so
// a test can stall, cut a connection before answering, or split a chunked
// body wherever it likes, which a real server never does on cue.
//
// Header-only so only the tests that include it link Asio and OpenSSL
// (OpenSSL::SSL, Boost::headers).
//
// Thread-safety: one server thread accepts connections and runs the handler
// for each in turn (one at a time); the handler runs on that thread. port()
// and connections() may be called from any thread. The destructor unblocks
// the handler's read and the accept, then joins the thread.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace kedge::testing {

class HttpTestServer {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  struct Options {
    std::filesystem::path cert_file, key_file;  // TLS when set
    std::filesystem::path client_ca_file;       // when set, clients must present a certificate it signed
  };

  // One accepted connection, as the handler sees it.
  class Conn {
   public:
    // The next request on this connection, or nullopt once the client closed
    // it (or on any error).
    std::optional<Request> read() {
      Request request;
      boost::system::error_code ec;
      if (tls_) {
        boost::beast::http::read(*tls_, buffer_, request, ec);
      } else {
        boost::beast::http::read(socket_, buffer_, request, ec);
      }
      if (ec) return std::nullopt;
      return request;
    }
    bool write(std::string_view raw) {
      boost::system::error_code ec;
      if (tls_) {
        boost::asio::write(*tls_, boost::asio::buffer(raw.data(), raw.size()), ec);
      } else {
        boost::asio::write(socket_, boost::asio::buffer(raw.data(), raw.size()), ec);
      }
      return !ec;
    }
    // Blocks until the client closes the connection (or the server stops).
    void wait_for_close() {
      while (read()) {
      }
    }
    // The client certificate's CN, or empty.
    std::string peer_common_name() const {
      if (!tls_) return {};
      X509* cert = SSL_get1_peer_certificate(const_cast<SSL*>(tls_->native_handle()));
      if (cert == nullptr) return {};
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
      X509_free(cert);
      return cn;
    }
    int index() const { return index_; }  // 1 for the server's first connection

   private:
    friend class HttpTestServer;
    Conn(boost::asio::ip::tcp::socket& socket, boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>* tls, int index)
        : socket_(socket), tls_(tls), index_(index) {}
    boost::asio::ip::tcp::socket& socket_;
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>* tls_;
    boost::beast::flat_buffer buffer_;
    int index_;
  };

  using Handler = std::function<void(Conn&)>;

  HttpTestServer(Options options, Handler handler)
      : handler_(std::move(handler)), tls_ctx_(boost::asio::ssl::context::tls_server) {
    namespace net = boost::asio;
    using tcp = net::ip::tcp;
    tls_ = !options.cert_file.empty();
    if (tls_) {
      tls_ctx_.use_certificate_chain_file(options.cert_file.string());
      tls_ctx_.use_private_key_file(options.key_file.string(), net::ssl::context::pem);
      if (!options.client_ca_file.empty()) {
        tls_ctx_.load_verify_file(options.client_ca_file.string());
        tls_ctx_.set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
      }
    }
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(net::ip::address_v4::loopback(), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~HttpTestServer() {
    stopping_ = true;
    // shutdown(2) wakes a thread blocked in accept(2) or recv(2) on Linux.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (const int fd = current_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    thread_.join();
  }

  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_; }
  // Handshakes that failed (the client refused our certificate or we its).
  int failed_handshakes() const { return failed_handshakes_; }

 private:
  void serve() {
    namespace net = boost::asio;
    while (!stopping_) {
      net::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      const int index = ++connections_;
      current_fd_ = socket.native_handle();
      if (stopping_) ::shutdown(socket.native_handle(), SHUT_RDWR);
      if (tls_) {
        net::ssl::stream<net::ip::tcp::socket&> stream(socket, tls_ctx_);
        stream.handshake(net::ssl::stream_base::server, ec);
        if (ec) {
          ++failed_handshakes_;
        } else {
          Conn conn(socket, &stream, index);
          handler_(conn);
        }
      } else {
        Conn conn(socket, nullptr, index);
        handler_(conn);
      }
      current_fd_ = -1;
      socket.close(ec);
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;  // never run: the server uses blocking calls
  boost::asio::ssl::context tls_ctx_;
  bool tls_ = false;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> failed_handshakes_{0};
  std::atomic<int> current_fd_{-1};
  std::thread thread_;
};

// "HTTP/1.1 <status>\r\n<headers>Content-Length: n\r\n\r\n<body>".
inline std::string http_response(int status, std::string_view body, std::string_view headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\n" + std::string(headers) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// One chunk of a chunked body ("" is the last chunk).
inline std::string http_chunk(std::string_view data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

}  // namespace kedge::testing

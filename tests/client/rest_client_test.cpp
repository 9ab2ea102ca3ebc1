// RestClient and LineStream over real sockets against HttpTestServer: TLS
// with the cluster CA and a client certificate, certificate names checked,
// transport errors as Unavailable / DeadlineExceeded, keep-alive reuse and
// the retry of a stale connection, chunked watch lines and cancel().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <gtest/gtest.h>

#include "kedge/client/rest_client.h"
#include "kedge/control/pki.h"
#include "kedge/testing/http_test_server.h"

namespace kedge::client {
namespace {

namespace fs = std::filesystem;
using testing::http_chunk;
using testing::http_response;
using testing::HttpTestServer;
using namespace std::chrono_literals;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A CA, a serving certificate for localhost/127.0.0.1 and the admin client
// certificate (edge-control's PKI code), plus a serving certificate for
// another name from the same CA.
class Pki {
 public:
  Pki()
      : dir_(fs::temp_directory_path() /
             ("kedge-client-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_id_++))) {
    fs::remove_all(dir_);
    auto files = control::ensure_pki({.dir = dir_, .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});
    EXPECT_TRUE(files.ok()) << files.status().to_string();
    files_ = *files;
    auto s = control::issue_serving_cert(files_, "elsewhere", {"elsewhere.example"}, {"10.9.9.9"},
                                         dir_ / "other.crt", dir_ / "other.key");
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  ~Pki() { fs::remove_all(dir_); }

  HttpTestServer::Options server(bool require_client_cert = true) const {
    return {.cert_file = files_.server_cert,
            .key_file = files_.server_key,
            .client_ca_file = require_client_cert ? files_.ca_cert : fs::path()};
  }
  HttpTestServer::Options other_server() const {
    return {.cert_file = dir_ / "other.crt", .key_file = dir_ / "other.key"};
  }
  Kubeconfig config(const std::string& server) const {
    return {.server = server,
            .ca_pem = slurp(files_.ca_cert),
            .client_cert_pem = slurp(files_.admin_cert),
            .client_key_pem = slurp(files_.admin_key),
            .token = "t0ken"};
  }

 private:
  static inline std::atomic<int> next_id_{0};
  fs::path dir_;
  control::PkiFiles files_;
};

std::unique_ptr<RestClient> make_client(ClientOptions o) {
  auto c = RestClient::create(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(*c) : nullptr;
}

std::string url(const char* host, int port, bool tls = true) {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port);
}

TEST(RestClientTls, CaAndClientCertificateAndHeaders) {
  Pki pki;
  std::mutex mu;
  std::vector<HttpTestServer::Request> seen;
  std::string peer;
  HttpTestServer server(pki.server(), [&](HttpTestServer::Conn& c) {
    while (auto r = c.read()) {
      {
        std::lock_guard lock(mu);
        seen.push_back(*r);
        peer = c.peer_common_name();
      }
      c.write(http_response(201, R"({"kind":"Pod"})",
                            "Content-Type: application/json\r\nWarning: 299 - \"one\"\r\nWarning: 299 - \"two\"\r\n"));
    }
  });
  for (const char* host : {"127.0.0.1", "localhost"}) {  // IP SAN and DNS SAN
    auto client = make_client({.config = pki.config(url(host, server.port())), .user_agent = "kedge-test/1"});
    ASSERT_TRUE(client);
    auto r = client->request({.method = "POST", .path = "/api/v1/pods?x=1", .body = "{}"});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->body, R"({"kind":"Pod"})");
    EXPECT_EQ(r->content_type, "application/json");
    EXPECT_EQ(r->warnings, (std::vector<std::string>{"299 - \"one\"", "299 - \"two\""}));
  }
  // Keep-alive over TLS: later requests reuse the handshake's connection.
  auto client = make_client({.config = pki.config(url("127.0.0.1", server.port()))});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->request({.path = "/again"}).ok());
  EXPECT_EQ(server.connections(), 3);  // one per client
  std::lock_guard lock(mu);
  ASSERT_EQ(seen.size(), 5u);
  const auto& req = seen[0];
  EXPECT_EQ(req.method_string(), "POST");
  EXPECT_EQ(req.target(), "/api/v1/pods?x=1");
  EXPECT_EQ(req[boost::beast::http::field::user_agent], "kedge-test/1");
  EXPECT_EQ(req[boost::beast::http::field::authorization], "Bearer t0ken");
  EXPECT_EQ(req[boost::beast::http::field::accept], "application/json");
  EXPECT_EQ(req[boost::beast::http::field::content_type], "application/json");
  EXPECT_EQ(req[boost::beast::http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(req.body(), "{}");
  EXPECT_FALSE(peer.empty());  // the server verified our client certificate
}

TEST(RestClientTls, WithoutTheClientCertificateTheServerRefuses) {
  Pki pki;
  HttpTestServer server(pki.server(), [](HttpTestServer::Conn& c) { c.wait_for_close(); });
  auto config = pki.config(url("127.0.0.1", server.port()));
  config.client_cert_pem.clear();
  config.client_key_pem.clear();
  auto client = make_client({.config = config});
  auto r = client->get("/api");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
}

TEST(RestClientTls, ServerCertificateForAnotherNameIsRefused) {
  Pki pki;
  HttpTestServer server(pki.other_server(), [](HttpTestServer::Conn& c) {
    while (c.read()) c.write(http_response(200, "{}"));
  });
  for (const char* host : {"127.0.0.1", "localhost"}) {
    const std::string server_url = url(host, server.port());
    auto client = make_client({.config = pki.config(server_url)});
    auto r = client->get("/api");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
    EXPECT_NE(r.status().message().find(server_url), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().message();
  }
  // insecure-skip-tls-verify accepts it.
  auto config = pki.config(url("127.0.0.1", server.port()));
  config.insecure_skip_tls_verify = true;
  auto r = make_client({.config = config})->get("/api");
  EXPECT_TRUE(r.ok()) << r.status().to_string();
}

TEST(RestClientTls, UnknownCaIsRefusedAndBadPemRejectedAtCreate) {
  Pki pki;
  Pki other;  // a different CA
  HttpTestServer server(pki.server(false), [](HttpTestServer::Conn& c) { c.wait_for_close(); });
  auto config = pki.config(url("127.0.0.1", server.port()));
  config.ca_pem = other.config("https://x").ca_pem;
  auto r = make_client({.config = config})->get("/api");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();

  config.ca_pem = "not a certificate";
  EXPECT_EQ(RestClient::create({.config = config}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RestClient::create({.config = {.server = "https://[::1"}}).status().code(), Code::kInvalidArgument);
}

TEST(RestClient, RequestTimeoutIsDeadlineExceeded) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) { c.wait_for_close(); });  // never answers
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)},
                             .request_timeout = std::chrono::milliseconds(300)});
  const auto start = std::chrono::steady_clock::now();
  auto r = client->get("/api");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().to_string();
  EXPECT_NE(r.status().message().find(url("127.0.0.1", server.port(), false)), std::string::npos);
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 3s);
}

TEST(RestClient, KeepAliveConnectionIsReused) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    while (c.read()) c.write(http_response(200, "{}"));
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->get("/api").ok());
  EXPECT_EQ(server.connections(), 1);
  // HEAD: a Content-Length but no body follows.
  auto head = client->request({.method = "HEAD", .path = "/api"});
  ASSERT_TRUE(head.ok()) << head.status().to_string();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
}

TEST(RestClient, ConnectionTheServerClosedIsReplaced) {
  // The server closes each connection after one answer (as after an idle
  // timeout): the next request notices before sending and connects again.
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    if (c.read()) c.write(http_response(200, "{}"));
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  for (int i = 0; i < 3; ++i) {
    auto r = client->request({.method = "POST", .path = "/x"});
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().to_string();
    std::this_thread::sleep_for(50ms);  // let the FIN arrive
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST(RestClient, StaleConnectionIsRetriedOnceForIdempotentRequests) {
  // The first connection answers once, then takes the next request and
  // closes without answering: the race with an idle timeout that no check
  // before sending can see. Later connections answer everything.
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    if (c.index() == 1) {
      if (c.read()) c.write(http_response(200, "first"));
      c.read();
      return;
    }
    while (c.read()) c.write(http_response(200, "again"));
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  ASSERT_TRUE(client->request({.path = "/a"}).ok());
  auto r = client->request({.method = "PUT", .path = "/b", .body = "{}"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->body, "again");
  EXPECT_EQ(server.connections(), 2);

  // A POST is not sent twice: the same race fails it.
  HttpTestServer server2({}, [](HttpTestServer::Conn& c) {
    if (c.read()) c.write(http_response(200, "first"));
    c.read();
  });
  auto client2 = make_client({.config = {.server = url("127.0.0.1", server2.port(), false)}});
  ASSERT_TRUE(client2->request({.path = "/a"}).ok());
  auto post = client2->request({.method = "POST", .path = "/b", .body = "{}"});
  ASSERT_FALSE(post.ok());
  EXPECT_EQ(post.status().code(), Code::kUnavailable) << post.status().to_string();
  EXPECT_EQ(server2.connections(), 1);
}

TEST(RestClient, LargeBodiesArriveWhole) {
  const std::string big(3 * 1024 * 1024 + 7, 'x');
  HttpTestServer server({}, [&](HttpTestServer::Conn& c) {
    while (c.read()) c.write(http_response(200, big));
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  auto r = client->request({.path = "/big"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->body.size(), big.size());
}

const char* kChunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(LineStream, ChunkedLinesSplitAcrossReads) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    if (!c.read()) return;
    c.write(kChunkedHead);
    // Lines cut mid-way, across chunks and across TCP writes; a CRLF; a
    // line with no final newline before the body ends.
    for (const char* part : {"{\"a\":", "1}\n{\"b\"", ":2}\r\n{\"c\":3}\n{\"d\"", ":4}\n", "tail"}) {
      c.write(http_chunk(part));
      std::this_thread::sleep_for(20ms);
    }
    c.write(http_chunk(""));
    c.wait_for_close();
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  std::vector<std::string> lines;
  auto stream = client->stream("/watch", [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  });
  Status s = stream->run();
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(stream->http_status(), 200);
  EXPECT_EQ(lines, (std::vector<std::string>{R"({"a":1})", R"({"b":2})", R"({"c":3})", R"({"d":4})", "tail"}));
}

TEST(LineStream, OnLineFalseEndsTheStream) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    if (!c.read()) return;
    c.write(std::string(kChunkedHead) + http_chunk("1\n2\n3\n"));
    c.wait_for_close();  // never ends the body itself
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  int seen = 0;
  auto stream = client->stream("/watch", [&](std::string_view) { return ++seen < 2; });
  EXPECT_TRUE(stream->run().ok());
  EXPECT_EQ(seen, 2);
}

TEST(LineStream, CancelWakesAnIdleStreamAtOnce) {
  Pki pki;
  HttpTestServer server(pki.server(), [](HttpTestServer::Conn& c) {
    if (!c.read()) return;
    c.write(std::string(kChunkedHead) + http_chunk("{\"type\":\"ADDED\"}\n"));
    c.wait_for_close();  // then idle: nothing more until the client goes
  });
  auto client = make_client({.config = pki.config(url("127.0.0.1", server.port()))});
  std::mutex mu;
  std::condition_variable cv;
  bool got_line = false;
  auto stream = client->stream("/watch", [&](std::string_view) {
    std::lock_guard lock(mu);
    got_line = true;
    cv.notify_all();
    return true;
  });
  Status result;
  std::chrono::steady_clock::time_point ended;
  std::thread runner([&] {
    result = stream->run();
    ended = std::chrono::steady_clock::now();
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return got_line; }));
  }
  std::this_thread::sleep_for(200ms);  // blocked in its read by now
  const auto cancelled_at = std::chrono::steady_clock::now();
  stream->cancel();
  runner.join();
  EXPECT_EQ(result.code(), Code::kCancelled) << result.to_string();
  EXPECT_LT(ended - cancelled_at, 1s);
}

TEST(LineStream, CancelBeforeRunAndNon2xxAnswers) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) {
    while (c.read()) {
      c.write(http_response(410, R"({"kind":"Status","message":"too old resource version","reason":"Expired"})",
                            "Content-Type: application/json\r\n"));
    }
  });
  auto client = make_client({.config = {.server = url("127.0.0.1", server.port(), false)}});
  auto early = client->stream("/watch", [](std::string_view) { return true; });
  early->cancel();
  EXPECT_EQ(early->run().code(), Code::kCancelled);

  auto stream = client->stream("/watch", [](std::string_view) {
    ADD_FAILURE() << "no lines from an error answer";
    return true;
  });
  Status s = stream->run();
  EXPECT_EQ(s.code(), Code::kOutOfRange) << s.to_string();
  EXPECT_EQ(s.message(), "too old resource version");
  EXPECT_EQ(stream->http_status(), 410);
}

TEST(LineStream, RefusedIsUnavailableNamingTheServer) {
  int port = 0;
  {
    HttpTestServer gone({}, [](HttpTestServer::Conn&) {});
    port = gone.port();
  }
  auto client = make_client({.config = {.server = url("127.0.0.1", port, false)}});
  Status s = client->stream("/watch", [](std::string_view) { return true; })->run();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.to_string();
  EXPECT_NE(s.message().find(url("127.0.0.1", port, false)), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kedge::client

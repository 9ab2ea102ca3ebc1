// client::get_status (the kubelet's httpGet probes) against HttpTestServer:
// headers, unverified TLS, redirects on the same host only, timeouts.
#include <chrono>
#include <mutex>

#include <gtest/gtest.h>

#include "kedge/client/http_get.h"
#include "kedge/testing/http_test_server.h"

namespace kedge::client {
namespace {

using testing::http_response;
using testing::HttpTestServer;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

std::string base(const HttpTestServer& s, const char* host = "127.0.0.1") {
  return "http://" + std::string(host) + ":" + std::to_string(s.port());
}

TEST(HttpGet, HeadersAndStatus) {
  std::mutex mu;
  HttpTestServer::Request seen;
  HttpTestServer server({}, [&](HttpTestServer::Conn& c) {
    if (auto r = c.read()) {
      std::lock_guard lock(mu);
      seen = *r;
      c.write(http_response(503, "down"));
    }
  });
  auto r = get_status({.url = base(server) + "/healthz?full=1",
                       .headers = {{"X-Custom", "a"}, {"Host", "probe.example"}},
                       .user_agent = "kube-probe/1.32"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 503);
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.target(), "/healthz?full=1");
  EXPECT_EQ(seen[http::field::user_agent], "kube-probe/1.32");
  EXPECT_EQ(seen[http::field::accept], "*/*");
  EXPECT_EQ(seen["X-Custom"], "a");
  EXPECT_EQ(seen[http::field::host], "probe.example");  // the probe's Host replaces ours
  EXPECT_EQ(std::distance(seen.equal_range(http::field::host).first, seen.equal_range(http::field::host).second), 1);
}

TEST(HttpGet, FollowsRedirectsOnTheSameHostOnly) {
  HttpTestServer server({}, [&](HttpTestServer::Conn& c) {
    auto r = c.read();
    if (!r) return;
    const std::string target(r->target());
    if (target == "/start") {
      c.write(http_response(302, "", "Location: /next/step\r\n"));
    } else if (target == "/next/step") {
      c.write(http_response(301, "", "Location: final\r\n"));  // relative to /next/
    } else if (target == "/next/final") {
      c.write(http_response(200, "ok"));
    } else if (target == "/away") {
      c.write(http_response(302, "", "Location: http://127.0.0.2:1/elsewhere\r\n"));
    } else {
      c.write(http_response(307, "", "Location: /loop\r\n"));
    }
  });
  auto r = get_status({.url = base(server) + "/start"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->url, base(server) + "/next/final");

  // Another host: not followed, the 3xx is the answer (a probe success).
  r = get_status({.url = base(server) + "/away"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 302);

  r = get_status({.url = base(server) + "/loop", .max_redirects = 10});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("10 redirects"), std::string::npos) << r.status().message();
  EXPECT_EQ(server.connections(), 3 + 1 + 11);
}

TEST(HttpGet, HttpsIsNotVerified) {
  // A self-signed certificate for another name: fine for a probe.
  const auto dir = std::filesystem::temp_directory_path() / ("kedge-http-get-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
                          "-subj /CN=elsewhere.example -keyout " + (dir / "k.pem").string() + " -out " +
                          (dir / "c.pem").string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  {
    HttpTestServer server({.cert_file = dir / "c.pem", .key_file = dir / "k.pem"}, [](HttpTestServer::Conn& c) {
      if (c.read()) c.write(http_response(204, ""));
    });
    auto r = get_status({.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/"});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 204);
  }
  std::filesystem::remove_all(dir);
}

TEST(HttpGet, TimeoutAndRefused) {
  HttpTestServer server({}, [](HttpTestServer::Conn& c) { c.wait_for_close(); });
  const auto start = std::chrono::steady_clock::now();
  auto r = get_status({.url = base(server) + "/", .timeout = 200ms});
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);

  int port = 0;
  {
    HttpTestServer gone({}, [](HttpTestServer::Conn&) {});
    port = gone.port();
  }
  r = get_status({.url = "http://127.0.0.1:" + std::to_string(port) + "/"});
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
  EXPECT_NE(r.status().message().find("connect"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kedge::client

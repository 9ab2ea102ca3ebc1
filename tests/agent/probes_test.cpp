// httpGet probes (agent/src/probes.cpp) against a loopback HttpTestServer:
// what the request carries, which answers pass, and the failure messages.
#include <mutex>

#include <gtest/gtest.h>

#include "../../agent/src/probes.h"
#include "kedge/cri/fake_runtime_client.h"
#include "kedge/testing/http_test_server.h"

namespace kedge::agent::detail {
namespace {

namespace http = boost::beast::http;
using testing::http_response;
using testing::HttpTestServer;

TEST(HttpGetProbe, RequestAndStatusRanges) {
  std::mutex mu;
  std::vector<HttpTestServer::Request> seen;
  HttpTestServer server({}, [&](HttpTestServer::Conn& c) {
    auto r = c.read();
    if (!r) return;
    const std::string target(r->target());
    {
      std::lock_guard lock(mu);
      seen.push_back(*r);
    }
    if (target == "/ok") c.write(http_response(200, "ok"));
    if (target == "/moved") c.write(http_response(302, "", "Location: http://192.0.2.1/elsewhere\r\n"));
    if (target == "/broken") c.write(http_response(500, "no"));
  });
  api::Container container;
  container.ports.push_back({.name = "http", .container_port = server.port()});
  cri::FakeRuntimeClient runtime;
  api::Probe probe;
  probe.kind = api::Probe::Kind::kHttpGet;
  probe.port = api::IntOrString::of("http");  // a named port
  probe.path = "ok";                          // upstream adds the leading '/'
  probe.http_headers = {{"X-Probe", "1"}};

  auto out = run_probe(probe, container, "", "127.0.0.1", runtime);
  EXPECT_TRUE(out.success) << out.message;
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0][http::field::user_agent], "kube-probe/1.32");
    EXPECT_EQ(seen[0][http::field::accept], "*/*");
    EXPECT_EQ(seen[0]["X-Probe"], "1");
  }

  // A redirect to another host is not followed; its 3xx passes.
  probe.path = "/moved";
  out = run_probe(probe, container, "", "127.0.0.1", runtime);
  EXPECT_TRUE(out.success) << out.message;

  probe.path = "/broken";
  out = run_probe(probe, container, "", "127.0.0.1", runtime);
  EXPECT_FALSE(out.success);
  EXPECT_EQ(out.message, "HTTP probe failed with statuscode: 500");
}

}  // namespace
}  // namespace kedge::agent::detail

// The agent API's routing without sockets: authentication and authorization,
// parameter validation as upstream's PodLogOptions, errors as Status, and a
// log response streamed into a sink (with flow control).
#include "kedge/agent/agent_api.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

namespace fs = std::filesystem;
using control::HttpRequest;
using control::HttpResponse;

HttpRequest get(std::string path, std::vector<std::pair<std::string, std::string>> query = {},
                bool admin = true) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  r.query = std::move(query);
  if (admin) r.user = {.name = "kube-apiserver-kubelet-client", .groups = {"system:masters", "system:authenticated"},
                       .authenticated = true};
  return r;
}

class CollectingSink : public control::StreamSink {
 public:
  bool write(std::string chunk) override {
    std::lock_guard lock(mu_);
    out_ += chunk;
    ++writes_;
    return true;
  }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  bool wait_below(std::size_t, std::chrono::milliseconds) override {
    std::lock_guard lock(mu_);
    ++waits_;
    return true;
  }
  std::string wait_closed() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return closed_; });
    EXPECT_TRUE(closed_);
    return out_;
  }
  int writes() {
    std::lock_guard lock(mu_);
    return writes_;
  }
  int waits() {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_;
  bool closed_ = false;
  int writes_ = 0;
  int waits_ = 0;
};

class AgentApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::path dir = logs_.path() / "ns_web_u1" / "app";
    fs::create_directories(dir);
    std::ofstream(dir / "0.log") << "2020-01-01T00:00:00Z stdout F before restart\n";
    std::ofstream(dir / "1.log") << "2020-01-01T00:00:01Z stdout F hello\n2020-01-01T00:00:02Z stderr F world\n";
  }
  HttpResponse handle(const HttpRequest& r) { return api_.handle(r); }
  std::string stream(const HttpResponse& r) {
    EXPECT_TRUE(r.stream);
    if (!r.stream) return "";
    auto sink = std::make_shared<CollectingSink>();
    r.stream->start(sink);
    return sink->wait_closed();
  }

  testing::TempDir logs_;
  AgentApi api_{{.pod_log_dir = logs_.path(),
                 .list_pods = [] { return Result<std::string>(std::string(R"({"kind":"PodList","items":[]})")); }}};
};

TEST_F(AgentApiTest, HealthzIsOpenEverythingElseNeedsAMastersCertificate) {
  EXPECT_EQ(handle(get("/healthz", {}, false)).status, 200);
  auto anon = handle(get("/pods", {}, false));
  EXPECT_EQ(anon.status, 401);
  EXPECT_NE(anon.body.find("\"reason\":\"Unauthorized\""), std::string::npos) << anon.body;
  auto user = get("/pods", {}, false);
  user.user = {.name = "alice", .groups = {"dev", "system:authenticated"}, .authenticated = true};
  auto denied = handle(user);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("alice"), std::string::npos);
  auto pods = handle(get("/pods"));
  EXPECT_EQ(pods.status, 200);
  EXPECT_EQ(pods.body, R"({"kind":"PodList","items":[]})");
  auto post = get("/pods");
  post.method = "POST";
  EXPECT_EQ(handle(post).status, 405);
  EXPECT_EQ(handle(get("/metrics")).status, 404);
}

TEST_F(AgentApiTest, PodsWithoutASourceIsUnavailable) {
  AgentApi bare({.pod_log_dir = logs_.path()});
  EXPECT_EQ(bare.handle(get("/pods")).status, 503);
}

TEST_F(AgentApiTest, ContainerLogsStream) {
  auto r = handle(get("/containerLogs/ns/web/app"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(stream(r), "hello\nworld\n");
  EXPECT_EQ(stream(handle(get("/containerLogs/ns/web/app", {{"previous", "true"}}))), "before restart\n");
  EXPECT_EQ(stream(handle(get("/containerLogs/ns/web/app", {{"tailLines", "1"}, {"timestamps", "1"}}))),
            "2020-01-01T00:00:02Z world\n");
  EXPECT_EQ(stream(handle(get("/containerLogs/ns/web/app", {{"sinceTime", "2020-01-01T00:00:02Z"}}))), "world\n");
  EXPECT_EQ(stream(handle(get("/containerLogs/ns/web/app", {{"limitBytes", "3"}}))), "hel");
  // Old lines and a recent since: nothing.
  EXPECT_EQ(stream(handle(get("/containerLogs/ns/web/app", {{"sinceSeconds", "60"}}))), "");
}

TEST_F(AgentApiTest, LogStreamWaitsForTheClientBetweenChunks) {
  fs::path big = logs_.path() / "ns_big_u2" / "app" / "0.log";
  fs::create_directories(big.parent_path());
  {
    std::ofstream out(big);
    std::string line(1000, 'x');
    for (int i = 0; i < 1000; ++i) out << "2020-01-01T00:00:00Z stdout F " << line << "\n";
  }
  auto r = handle(get("/containerLogs/ns/big/app"));
  auto sink = std::make_shared<CollectingSink>();
  r.stream->start(sink);
  EXPECT_EQ(sink->wait_closed().size(), 1000u * 1001u);
  EXPECT_GT(sink->writes(), 10);  // chunked, not one 1 MB string
  EXPECT_EQ(sink->waits(), sink->writes());
}

TEST_F(AgentApiTest, BadParametersAndMissingLogs) {
  struct Case {
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    int code;
    std::string message;
  } cases[] = {
      {"/containerLogs/ns/web/app", {{"tailLines", "-1"}}, 400, "tailLines must be greater than or equal to 0"},
      {"/containerLogs/ns/web/app", {{"limitBytes", "0"}}, 400, "limitBytes must be greater than 0"},
      {"/containerLogs/ns/web/app", {{"follow", "maybe"}}, 400, "invalid follow \\\"maybe\\\""},
      {"/containerLogs/ns/web/app", {{"sinceSeconds", "1"}, {"sinceTime", "2020-01-01T00:00:00Z"}}, 400,
       "at most one of sinceTime or sinceSeconds"},
      {"/containerLogs/ns/web/app", {{"sinceTime", "yesterday"}}, 400, "invalid sinceTime"},
      {"/containerLogs/ns/web", {}, 404, "expected /containerLogs/<namespace>/<pod>/<container>"},
      {"/containerLogs/ns/gone/app", {}, 404, "no logs for pod \\\"gone\\\""},
      {"/containerLogs/ns/web/side", {}, 404, "container \\\"side\\\" in pod \\\"web\\\" has no logs yet"},
  };
  for (const auto& c : cases) {
    auto r = handle(get(c.path, c.query));
    EXPECT_EQ(r.status, c.code) << c.path << " " << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"kind\":\"Status\""), std::string::npos) << r.body;
  }
  fs::remove(logs_.path() / "ns_web_u1" / "app" / "0.log");
  auto prev = handle(get("/containerLogs/ns/web/app", {{"previous", "true"}}));
  EXPECT_EQ(prev.status, 400);
  EXPECT_NE(prev.body.find("previous terminated container"), std::string::npos) << prev.body;
}

}  // namespace
}  // namespace kedge::agent

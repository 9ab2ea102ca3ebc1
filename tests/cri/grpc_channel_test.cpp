// GrpcChannel (cri/src/grpc_channel.h) against a real grpc++ server in this
// process. The server is a generic callback service, so it sees and answers
// raw message bytes and each method name picks a behaviour:
//   /t.T/Echo          the request back
//   /t.T/Fail          trailers-only error: NOT_FOUND, a message needing
//                      percent-encoding
//   /t.T/FailLate      headers first, then the error in the trailers
//   /t.T/Sleep         waits the number of ms in the request, then echoes
//   /t.T/Big           a response of the size in the request ("N" bytes)
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include "grpc_channel.h"
#include "kedge/testing/process.h"

namespace kedge::cri {
namespace {

using std::chrono::milliseconds;

std::string to_string(const grpc::ByteBuffer& b) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!b.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer to_buffer(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

// Sleepers answer from their own threads; the server joins them before it
// shuts down.
struct Sleepers {
  std::mutex mu;
  std::vector<std::thread> threads;
  void join() {
    std::vector<std::thread> t;
    {
      std::lock_guard lock(mu);
      t.swap(threads);
    }
    for (auto& th : t) th.join();
  }
};

class Reactor final : public grpc::ServerGenericBidiReactor {
 public:
  Reactor(grpc::GenericCallbackServerContext* ctx, Sleepers* sleepers) : ctx_(ctx), sleepers_(sleepers) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::INTERNAL, "no request"));
    const std::string method = ctx_->method();
    const std::string body = to_string(request_);
    if (method == "/t.T/Echo") {
      response_ = request_;
      StartWriteAndFinish(&response_, {}, grpc::Status::OK);
    } else if (method == "/t.T/Fail") {
      Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing: 100% gone\nreally"));
    } else if (method == "/t.T/FailLate") {
      fail_late_ = true;
      StartSendInitialMetadata();
    } else if (method == "/t.T/Sleep") {
      const int ms = std::stoi(body);
      std::lock_guard lock(sleepers_->mu);
      sleepers_->threads.emplace_back([this, ms, body] {
        std::this_thread::sleep_for(milliseconds(ms));
        response_ = to_buffer(body);
        StartWriteAndFinish(&response_, {}, grpc::Status::OK);
      });
    } else if (method == "/t.T/Big") {
      std::string big(std::stoul(body), 'x');
      for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
      response_ = to_buffer(big);
      StartWriteAndFinish(&response_, {}, grpc::Status::OK);
    } else {
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + method));
    }
  }
  void OnSendInitialMetadataDone(bool) override {
    if (fail_late_) Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "after the headers"));
  }
  void OnDone() override { delete this; }

 private:
  grpc::GenericCallbackServerContext* ctx_;
  Sleepers* sleepers_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  bool fail_late_ = false;
};

class TestService final : public grpc::CallbackGenericService {
 public:
  explicit TestService(Sleepers* sleepers) : sleepers_(sleepers) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Reactor(ctx, sleepers_);
  }

 private:
  Sleepers* sleepers_;
};

class GrpcChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { socket_ = (dir_ / "t.sock").string(); }
  void TearDown() override { stop(); }

  // Listens on the unix socket (tcp_port == nullptr) or on 127.0.0.1:0.
  void start(int* tcp_port = nullptr) {
    grpc::ServerBuilder builder;
    // A callback generic service serves one server in its life: a new one
    // for each (re)start.
    service_ = std::make_unique<TestService>(&sleepers_);
    builder.RegisterCallbackGenericService(service_.get());
    // Large enough for the Big test's request too.
    builder.SetMaxReceiveMessageSize(32 << 20);
    builder.SetMaxSendMessageSize(32 << 20);
    if (tcp_port != nullptr) {
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), tcp_port);
    } else {
      builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    }
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void stop() {
    sleepers_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    service_.reset();
  }
  std::unique_ptr<GrpcChannel> channel(std::string target = {}) {
    auto c = GrpcChannel::create({.target = target.empty() ? "unix://" + socket_ : target,
                                  .unreachable_hint = "is the test server running?"});
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return std::move(c).value();
  }

  testing::TempDir dir_{"kedge-h2"};
  std::string socket_;
  Sleepers sleepers_;
  std::unique_ptr<TestService> service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST(GrpcChannelTarget, ParsesUnixAndTcpTargets) {
  auto u = parse_channel_target("unix:///run/x.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, ChannelTarget::Kind::kUnix);
  EXPECT_EQ(u->path, "/run/x.sock");
  EXPECT_EQ(u->name, "unix:///run/x.sock");
  EXPECT_EQ(parse_channel_target("/run/x.sock")->name, "unix:///run/x.sock");
  auto t = parse_channel_target("10.42.0.5:9000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, ChannelTarget::Kind::kTcp);
  EXPECT_EQ(t->host, "10.42.0.5");
  EXPECT_EQ(t->port, "9000");
  auto v6 = parse_channel_target("[fd00::5]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "fd00::5");
  EXPECT_EQ(v6->authority, "[fd00::5]:9000");
  for (const char* bad : {"", "unix://relative", "host", "host:", "host:99999", "fd00::5:80", "[fd00::5]80"}) {
    EXPECT_EQ(parse_channel_target(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

TEST(GrpcChannelPercent, DecodesGrpcMessage) {
  EXPECT_EQ(percent_decode("100%25 gone%0Areally"), "100% gone\nreally");
  EXPECT_EQ(percent_decode("bad %zz and %4"), "bad %zz and %4");
}

TEST_F(GrpcChannelTest, UnaryCallReturnsTheResponseBytes) {
  start();
  auto c = channel();
  const std::string req("hello\0world", 11);
  auto r = c->call("/t.T/Echo", req, milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, req);
  // An empty message is a valid one (a proto3 message with all defaults).
  auto empty = c->call("/t.T/Echo", "", milliseconds(5000));
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_EQ(*empty, "");
}

TEST_F(GrpcChannelTest, TrailersOnlyErrorKeepsCodeAndDecodedMessage) {
  start();
  auto c = channel();
  auto r = c->call("/t.T/Fail", "x", milliseconds(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no such thing: 100% gone\nreally");
  auto unknown = c->call("/t.T/Nope", "x", milliseconds(5000));
  EXPECT_EQ(unknown.status().code(), Code::kUnimplemented) << unknown.status().to_string();
  // The connection stays usable after errors.
  EXPECT_TRUE(c->call("/t.T/Echo", "y", milliseconds(5000)).ok());
}

TEST_F(GrpcChannelTest, ErrorInTrailersAfterHeaders) {
  start();
  auto c = channel();
  auto r = c->call("/t.T/FailLate", "x", milliseconds(5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "after the headers");
}

TEST_F(GrpcChannelTest, SlowServerHitsTheDeadlineAndTheChannelRecovers) {
  start();
  auto c = channel();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c->call("/t.T/Sleep", "1500", milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().to_string();
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(1200));
  auto next = c->call("/t.T/Sleep", "10", milliseconds(5000));
  ASSERT_TRUE(next.ok()) << next.status().to_string();
  EXPECT_EQ(*next, "10");
}

TEST_F(GrpcChannelTest, MessagesLargerThanTheHttp2WindowsBothWays) {
  start();
  auto c = channel();
  // 3 MiB each way: past HTTP/2's 64 KiB default window, grpc++'s own
  // window and ours (1 MiB), so WINDOW_UPDATEs must flow in both directions.
  const std::size_t size = 3 << 20;
  std::string req(size, 'r');
  for (std::size_t i = 0; i < size; i += 1000) req[i] = static_cast<char>(i / 1000);
  auto echoed = c->call("/t.T/Echo", req, milliseconds(10000));
  ASSERT_TRUE(echoed.ok()) << echoed.status().to_string();
  EXPECT_TRUE(*echoed == req);
  auto big = c->call("/t.T/Big", std::to_string(size), milliseconds(10000));
  ASSERT_TRUE(big.ok()) << big.status().to_string();
  ASSERT_EQ(big->size(), size);
  EXPECT_EQ((*big)[4096 * 27], 'b');
}

TEST_F(GrpcChannelTest, ResponseOverTheLimitIsResourceExhausted) {
  start();
  auto c = GrpcChannel::create({.target = "unix://" + socket_, .max_receive_bytes = 100'000});
  ASSERT_TRUE(c.ok());
  auto r = (*c)->call("/t.T/Big", "200000", milliseconds(5000));
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().to_string();
  EXPECT_TRUE((*c)->call("/t.T/Big", "99000", milliseconds(5000)).ok());
}

TEST_F(GrpcChannelTest, ConcurrentCallsFromManyThreads) {
  start();
  auto c = channel();
  constexpr int kThreads = 8, kCalls = 25;
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        // Every fifth call sleeps a little, so calls overlap on the pool.
        const std::string body = i % 5 == 0 ? "20" : "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = c->call(i % 5 == 0 ? "/t.T/Sleep" : "/t.T/Echo", body, milliseconds(10000));
        if (r.ok() && *r == body) ++ok[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(ok[t], kCalls) << "thread " << t;
}

TEST_F(GrpcChannelTest, CancelAllEndsCallsInFlight) {
  start();
  auto c = channel();
  Result<std::string> r = std::string();
  std::thread caller([&] { r = c->call("/t.T/Sleep", "3000", milliseconds(10000)); });
  std::this_thread::sleep_for(milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  c->cancel_all();
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  EXPECT_EQ(c->call("/t.T/Echo", "x", milliseconds(1000)).status().code(), Code::kCancelled);
}

TEST_F(GrpcChannelTest, AbsentServerIsUnavailableNamingTheEndpoint) {
  auto c = channel();
  auto r = c->call("/t.T/Echo", "x", milliseconds(1000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("unix://" + socket_), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("is the test server running?"), std::string::npos) << r.status().message();

  const int port = testing::free_port();  // nothing listens there
  auto tcp = channel("127.0.0.1:" + std::to_string(port));
  auto t = tcp->call("/t.T/Echo", "x", milliseconds(1000));
  EXPECT_EQ(t.status().code(), Code::kUnavailable) << t.status().to_string();
  EXPECT_NE(t.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST_F(GrpcChannelTest, ReconnectsAfterTheServerRestarts) {
  start();
  auto c = channel();
  ASSERT_TRUE(c->call("/t.T/Echo", "1", milliseconds(5000)).ok());
  stop();
  auto down = c->call("/t.T/Echo", "2", milliseconds(1000));
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().to_string();
  EXPECT_NE(down.status().message().find(socket_), std::string::npos) << down.status().message();
  start();
  auto up = c->call("/t.T/Echo", "3", milliseconds(5000));
  ASSERT_TRUE(up.ok()) << up.status().to_string();
  EXPECT_EQ(*up, "3");
}

TEST_F(GrpcChannelTest, PlaintextTcpPriorKnowledge) {
  int port = 0;
  start(&port);
  ASSERT_GT(port, 0);
  auto c = channel("127.0.0.1:" + std::to_string(port));
  auto r = c->call("/t.T/Echo", "over tcp", milliseconds(5000));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, "over tcp");
}

}  // namespace
}  // namespace kedge::cri

// RpcServer (the etcd front's own gRPC transport) against grpc++'s client,
// with handlers written for each case: answers from other threads, error
// statuses with non-ASCII messages, the transport's own refusals, a slow
// reader whose backlog stays in its call, half-close, and shutdown ending a
// stream that is still open. etcd's messages serve as payloads; what they
// carry is made up here.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "rpc_server.h"
#include "kedge/testing/process.h"

namespace kedge::store::etcd::rpc {
namespace {

using namespace std::chrono_literals;
using CallPtr = std::shared_ptr<Call>;

struct Client {
  explicit Client(int port) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
    kv = etcdserverpb::KV::NewStub(channel);
    watch = etcdserverpb::Watch::NewStub(channel);
  }
  grpc::Status range(const std::string& key, etcdserverpb::RangeResponse* out) {
    etcdserverpb::RangeRequest req;
    req.set_key(key);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    return kv->Range(&ctx, req, out);
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

RpcServerOptions tcp_options(std::size_t max_receive = 1 << 20) {
  RpcServerOptions o;
  o.listeners.push_back({.kind = Listener::Kind::kTcp, .host = "127.0.0.1", .port = 0, .path = {}, .tls = false});
  o.max_receive_bytes = max_receive;
  return o;
}

// Range answers from a thread of its own: count = the key's length, or an
// error whose message is the key when the key starts with "fail".
void add_range(RpcServer& server) {
  server.add_unary("/etcdserverpb.KV/Range", [](std::string_view bytes, const CallPtr& call) {
    etcdserverpb::RangeRequest req;
    ASSERT_TRUE(req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    std::thread([call, key = req.key()] {
      if (key.starts_with("fail")) {
        call->finish({Code::kFailedPrecondition, key});
        return;
      }
      etcdserverpb::RangeResponse resp;
      resp.set_count(static_cast<std::int64_t>(key.size()));
      call->reply(resp);
    }).detach();
  });
}

TEST(RpcServerTest, UnaryAnswersAndErrorsFromAnyThread) {
  RpcServer server;
  add_range(server);
  ASSERT_TRUE(server.start(tcp_options()).ok());
  Client client(server.bound_ports().at(0));
  etcdserverpb::RangeResponse resp;
  ASSERT_TRUE(client.range("abcd", &resp).ok());
  EXPECT_EQ(resp.count(), 4);
  // A message outside printable ASCII survives grpc-message's percent-encoding.
  const std::string message = "fail: caf\xc3\xa9 100% \"quoted\"\nnext line";
  const grpc::Status st = client.range(message, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(), message);
  // Many calls in flight on one connection.
  std::vector<std::future<bool>> calls;
  for (int i = 0; i < 200; ++i) {
    calls.push_back(std::async(std::launch::async, [&client, i] {
      etcdserverpb::RangeResponse r;
      return client.range(std::string(static_cast<std::size_t>(i + 1), 'k'), &r).ok() && r.count() == i + 1;
    }));
  }
  for (auto& c : calls) EXPECT_TRUE(c.get());
}

TEST(RpcServerTest, TransportRefusalsKeepTheServerServing) {
  RpcServer server;
  add_range(server);
  ASSERT_TRUE(server.start(tcp_options(64 * 1024)).ok());
  Client client(server.bound_ports().at(0));
  etcdserverpb::RangeResponse resp;
  // No handler for the method.
  {
    etcdserverpb::PutRequest put;
    put.set_key("k");
    etcdserverpb::PutResponse out;
    grpc::ClientContext ctx;
    const grpc::Status st = client.kv->Put(&ctx, put, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(st.error_message().find("/etcdserverpb.KV/Put"), std::string::npos) << st.error_message();
  }
  // A message over max_receive_bytes, refused from its prefix.
  {
    const grpc::Status st = client.range(std::string(100 * 1024, 'x'), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(st.error_message().find("larger than max"), std::string::npos) << st.error_message();
  }
  ASSERT_TRUE(client.range("still here", &resp).ok());
  EXPECT_EQ(resp.count(), 10);
}

// The Watch method as a plain stream: each request's create_request.key
// asks for that many messages of `kChunk` bytes; half-close ends the call
// with OK once everything went out.
struct StreamProbe {
  static constexpr std::size_t kChunk = 256 * 1024;
  std::mutex mu;
  std::condition_variable cv;
  CallPtr call;
  int drained = 0;
  bool half_closed = false;
  bool done = false;
};

void add_streamer(RpcServer& server, StreamProbe& probe) {
  server.add_stream("/etcdserverpb.Watch/Watch", [&probe](const CallPtr& call) {
    {
      std::lock_guard lock(probe.mu);
      probe.call = call;
    }
    Call* c = call.get();
    c->on_message = [c](std::string_view bytes) {
      etcdserverpb::WatchRequest req;
      ASSERT_TRUE(req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
      const int n = std::stoi(req.create_request().key());
      etcdserverpb::WatchResponse resp;
      resp.set_cancel_reason(std::string(StreamProbe::kChunk, 'r'));
      for (int i = 0; i < n; ++i) {
        resp.set_watch_id(i);
        if (!c->write(resp)) break;  // aborted meanwhile (AbortDropsTheBacklog...)
      }
    };
    c->on_drained = [&probe] {
      std::lock_guard lock(probe.mu);
      ++probe.drained;
      probe.cv.notify_all();
    };
    c->on_half_close = [c, &probe] {
      {
        std::lock_guard lock(probe.mu);
        probe.half_closed = true;
      }
      c->finish({});
    };
    c->on_done = [&probe] {
      std::lock_guard lock(probe.mu);
      probe.done = true;
      probe.cv.notify_all();
    };
  });
}

etcdserverpb::WatchRequest ask(int messages) {
  etcdserverpb::WatchRequest req;
  req.mutable_create_request()->set_key(std::to_string(messages));
  return req;
}

// A server with the streamer, a client, and one open stream.
class RpcStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add_streamer(server, probe);
    ASSERT_TRUE(server.start(tcp_options()).ok());
    client = std::make_unique<Client>(server.bound_ports().at(0));
    stream = client->watch->Watch(&ctx);
  }
  StreamProbe probe;  // outlives the server, whose handlers use it
  RpcServer server;
  std::unique_ptr<Client> client;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream;
};

TEST_F(RpcStreamTest, SlowReaderBacklogStaysInTheCallUntilRead) {
  // 64 MiB: far more than HTTP/2 windows and socket buffers hold.
  constexpr int kMessages = 256;
  ASSERT_TRUE(stream->Write(ask(kMessages)));
  CallPtr call;
  ASSERT_TRUE(kedge::testing::eventually([&] {
    std::lock_guard lock(probe.mu);
    call = probe.call;
    return call != nullptr;
  }, 10s));
  // Nobody reads: most of it waits in the call, where a watch stream's
  // slow-client bound sees it.
  ASSERT_TRUE(kedge::testing::eventually([&] { return call->pending_bytes() > 32u * 1024 * 1024; }, 10s))
      << call->pending_bytes();
  std::this_thread::sleep_for(200ms);
  EXPECT_GT(call->pending_bytes(), 32u * 1024 * 1024);
  {
    std::lock_guard lock(probe.mu);
    EXPECT_EQ(probe.drained, 0);
  }
  etcdserverpb::WatchResponse resp;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(stream->Read(&resp)) << i;
    ASSERT_EQ(resp.watch_id(), i);
    ASSERT_EQ(resp.cancel_reason().size(), StreamProbe::kChunk);
  }
  EXPECT_EQ(call->pending_bytes(), 0u);
  {
    std::unique_lock lock(probe.mu);
    EXPECT_TRUE(probe.cv.wait_for(lock, 10s, [&] { return probe.drained > 0; }));
  }
  // Half-close: the handler finishes with OK, the call is over.
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_TRUE(stream->Finish().ok());
  std::unique_lock lock(probe.mu);
  EXPECT_TRUE(probe.cv.wait_for(lock, 10s, [&] { return probe.done; }));
  EXPECT_TRUE(probe.half_closed);
  EXPECT_TRUE(call->over());
  EXPECT_FALSE(call->write("late"));
}

TEST_F(RpcStreamTest, AbortDropsTheBacklogButNoHalfMessage) {
  constexpr int kMessages = 256;  // 64 MiB, as above
  ASSERT_TRUE(stream->Write(ask(kMessages)));
  CallPtr call;
  ASSERT_TRUE(kedge::testing::eventually([&] {
    std::lock_guard lock(probe.mu);
    call = probe.call;
    return call != nullptr && call->pending_bytes() > 32u * 1024 * 1024;
  }, 10s));
  call->abort({Code::kResourceExhausted, "too slow"});
  // What the loop had already taken is dropped on its next turn; at most
  // the message being sent stays.
  EXPECT_TRUE(kedge::testing::eventually([&] { return call->pending_bytes() < 2 * StreamProbe::kChunk; }, 10s))
      << call->pending_bytes();
  // The client gets whole messages, in order, far fewer than were written,
  // then the status.
  etcdserverpb::WatchResponse resp;
  int got = 0;
  while (stream->Read(&resp)) {
    EXPECT_EQ(resp.watch_id(), got);
    EXPECT_EQ(resp.cancel_reason().size(), StreamProbe::kChunk);
    ++got;
  }
  EXPECT_LT(got, kMessages / 2);
  const grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(st.error_message(), "too slow");
}

TEST(RpcServerTest, ShutdownEndsOpenStreamsAndClientResets) {
  StreamProbe probe;
  auto server = std::make_unique<RpcServer>();
  add_streamer(*server, probe);
  ASSERT_TRUE(server->start(tcp_options()).ok());
  Client client(server->bound_ports().at(0));
  // A client that goes away mid-stream: its call ends (on_done) and later
  // writes are refused.
  {
    grpc::ClientContext ctx;
    auto stream = client.watch->Watch(&ctx);
    ASSERT_TRUE(stream->Write(ask(1)));
    etcdserverpb::WatchResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    ctx.TryCancel();
    std::unique_lock lock(probe.mu);
    ASSERT_TRUE(probe.cv.wait_for(lock, 10s, [&] { return probe.done; }));
    EXPECT_TRUE(probe.call->over());
    EXPECT_FALSE(probe.call->write("after reset"));
    probe.done = false;
    probe.call = nullptr;
  }
  // A stream still open at shutdown ends once the grace period is over.
  grpc::ClientContext ctx;
  auto stream = client.watch->Watch(&ctx);
  ASSERT_TRUE(stream->Write(ask(1)));
  etcdserverpb::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  const auto start = std::chrono::steady_clock::now();
  server->shutdown(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  {
    std::lock_guard lock(probe.mu);
    EXPECT_TRUE(probe.done);
  }
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_FALSE(stream->Finish().ok());
  server.reset();
  // Nothing listens any more.
  etcdserverpb::RangeResponse r;
  EXPECT_EQ(client.range("x", &r).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(RpcServerTest, ListenErrorsNameTheAddress) {
  RpcServer first;
  ASSERT_TRUE(first.start(tcp_options()).ok());
  RpcServerOptions taken = tcp_options();
  taken.listeners[0].port = first.bound_ports().at(0);
  RpcServer second;
  const Status st = second.start(taken);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:" + std::to_string(taken.listeners[0].port)), std::string::npos)
      << st.to_string();
  RpcServerOptions tls = tcp_options();
  tls.listeners[0].tls = true;
  tls.tls.cert_file = "/nonexistent/cert.pem";
  tls.tls.key_file = "/nonexistent/key.pem";
  RpcServer third;
  const Status bad = third.start(tls);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_NE(bad.message().find("/nonexistent/cert.pem"), std::string::npos) << bad.to_string();
}

}  // namespace
}  // namespace kedge::store::etcd::rpc

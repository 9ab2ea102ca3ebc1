// Bad input below what etcdctl can send: malformed protobuf, messages over
// gRPC's size limit, unknown services. Each goes to a fresh etcd 3.4 and a
// fresh `kedge store`; both must answer with the same gRPC code, keep
// serving, and change nothing stored. (Oversized keys/values/txns, invalid
// ranges and unknown leases are in the etcdctl transcript test.)
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "servers.h"

namespace kedge::store::testing {
namespace {

grpc::Status raw_call(grpc::GenericStub& stub, const std::string& method, const std::string& bytes) {
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status st) { done.set_value(std::move(st)); });
  return done.get_future().get();
}

struct Probe {
  std::vector<std::pair<std::string, grpc::StatusCode>> codes;
  std::int64_t revision_before = 0;
  std::int64_t revision_after = 0;
  bool serves_after = false;
  grpc::StatusCode auth_code = grpc::StatusCode::OK;
};

std::int64_t current_revision(etcdserverpb::KV::Stub& kv) {
  etcdserverpb::RangeRequest req;
  req.set_key("probe");
  etcdserverpb::RangeResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto st = kv.Range(&ctx, req, &resp);
  return st.ok() ? resp.header().revision() : -1;
}

Probe probe(const Server& s) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(s.endpoint.substr(7), grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  auto kv = etcdserverpb::KV::NewStub(channel);
  Probe p;
  {
    etcdserverpb::PutRequest put;
    put.set_key("keep");
    put.set_value("me");
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(kv->Put(&ctx, put, &resp).ok()) << s.name;
  }
  p.revision_before = current_revision(*kv);
  auto record = [&](const std::string& what, const std::string& method, const std::string& bytes) {
    p.codes.emplace_back(what, raw_call(stub, method, bytes).error_code());
  };
  // A length-delimited field claiming more bytes than the message has.
  record("truncated Put", "/etcdserverpb.KV/Put", std::string("\x0a\xff\xff\xff\x0f", 5));
  // Field 1 with wire type 7 (no such type).
  record("bad wire type Range", "/etcdserverpb.KV/Range", std::string("\x0f\x01", 2));
  // A Txn whose nested RequestOp is garbage.
  record("garbage Txn op", "/etcdserverpb.KV/Txn", std::string("\x12\x03\x0a\xff\x01", 5));
  // 3 MiB: over etcd's receive limit (max-request-bytes + 512 KiB).
  etcdserverpb::PutRequest huge;
  huge.set_key("huge");
  huge.set_value(std::string(3 << 20, 'x'));
  record("3 MiB Put", "/etcdserverpb.KV/Put", huge.SerializeAsString());
  // The same malformed bytes to the other services' unary methods.
  const std::string truncated("\x0a\xff\xff\xff\x0f", 5);
  for (const char* method : {"/etcdserverpb.Lease/LeaseGrant", "/etcdserverpb.Lease/LeaseRevoke",
                             "/etcdserverpb.Lease/LeaseTimeToLive", "/etcdserverpb.Lease/LeaseLeases",
                             "/etcdserverpb.Maintenance/Status", "/etcdserverpb.Maintenance/Alarm",
                             "/etcdserverpb.Maintenance/Defragment", "/etcdserverpb.Cluster/MemberList"}) {
    record(std::string("truncated ") + method, method, truncated);
  }
  record("unknown service", "/etcdserverpb.Nope/Nope", "");
  // etcd serves Auth (AuthEnable without a root user: FAILED_PRECONDITION);
  // kedge does not, and must say so honestly.
  p.auth_code = raw_call(stub, "/etcdserverpb.Auth/AuthEnable", "").error_code();
  p.revision_after = current_revision(*kv);
  etcdserverpb::RangeRequest get;
  get.set_key("keep");
  etcdserverpb::RangeResponse got;
  grpc::ClientContext ctx;
  p.serves_after = kv->Range(&ctx, get, &got).ok() && got.kvs_size() == 1 && got.kvs(0).value() == "me";
  return p;
}

TEST(BadInput, SameCodesAsEtcdAndNothingChanges) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  Server etcd = start_etcd();
  Server kedge = start_kedge_store();
  ASSERT_TRUE(wait_serving(etcd.endpoint)) << etcd.log();
  ASSERT_TRUE(wait_serving(kedge.endpoint)) << kedge.log();
  Probe want = probe(etcd);
  Probe got = probe(kedge);
  ASSERT_EQ(want.codes.size(), got.codes.size());
  for (std::size_t i = 0; i < want.codes.size(); ++i) {
    EXPECT_NE(want.codes[i].second, grpc::StatusCode::OK) << want.codes[i].first;
    EXPECT_EQ(want.codes[i].second, got.codes[i].second)
        << want.codes[i].first << ": etcd " << want.codes[i].second << ", kedge " << got.codes[i].second;
  }
  EXPECT_EQ(want.revision_before, want.revision_after);
  EXPECT_EQ(got.revision_before, got.revision_after) << "bad input changed the store";
  EXPECT_TRUE(want.serves_after);
  EXPECT_TRUE(got.serves_after) << kedge.log();
  EXPECT_EQ(got.auth_code, grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_TRUE(kedge.process->running());
}

}  // namespace
}  // namespace kedge::store::testing

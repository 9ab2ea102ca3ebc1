// One Watch stream carrying many watches, spoken raw (as kube-apiserver and
// clientv3 do) to a fresh etcd 3.4 and a fresh `kedge store`: automatic and
// chosen watch IDs, a duplicate ID, an empty range, events, a progress
// request (answered with watch_id -1), cancel, and a fragmented history
// replay. The sequence of replies must be the same from both.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <tuple>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "servers.h"

namespace kedge::store::testing {
namespace {

using etcdserverpb::WatchRequest;
using etcdserverpb::WatchResponse;

std::string describe(const WatchResponse& r) {
  std::ostringstream out;
  out << "id=" << r.watch_id() << " rev=" << r.header().revision();
  if (r.created()) out << " created";
  if (r.canceled()) out << " canceled";
  if (r.fragment()) out << " fragment";
  if (r.compact_revision() != 0) out << " compact=" << r.compact_revision();
  if (!r.cancel_reason().empty()) out << " reason=\"" << r.cancel_reason() << "\"";
  for (const auto& e : r.events()) {
    out << " " << (e.type() == mvccpb::Event::PUT ? "PUT " : "DEL ") << e.kv().key() << "@" << e.kv().mod_revision();
  }
  return out.str();
}

class Session {
 public:
  explicit Session(const std::string& endpoint) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(endpoint.substr(7), grpc::InsecureChannelCredentials(), args);
    kv_ = etcdserverpb::KV::NewStub(channel_);
    watch_ = etcdserverpb::Watch::NewStub(channel_);
    stream_ = watch_->Watch(&ctx_);
  }
  ~Session() {
    ctx_.TryCancel();
    stream_->Finish().ok();
  }
  void send(const WatchRequest& r) { ASSERT_TRUE(stream_->Write(r)); }
  // Reads `n` replies into the transcript.
  void expect(int n) {
    for (int i = 0; i < n; ++i) {
      WatchResponse r;
      if (!stream_->Read(&r)) {
        log_ << "stream ended\n";
        return;
      }
      log_ << describe(r) << "\n";
    }
  }
  void put(const std::string& k, const std::string& v) {
    etcdserverpb::PutRequest req;
    req.set_key(k);
    req.set_value(v);
    etcdserverpb::PutResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(kv_->Put(&ctx, req, &resp).ok());
  }
  // Reads replies until one that is not a fragment (at most `max`).
  void expect_fragments(int max) {
    for (int i = 0; i < max; ++i) {
      WatchResponse r;
      if (!stream_->Read(&r)) {
        log_ << "stream ended\n";
        return;
      }
      log_ << describe(r) << "\n";
      if (!r.fragment()) return;
    }
  }
  std::string transcript() const { return log_.str(); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<WatchRequest, WatchResponse>> stream_;
  std::ostringstream log_;
};

WatchRequest create(const std::string& key, const std::string& end, std::int64_t id = 0, std::int64_t rev = 0,
                    bool fragment = false) {
  WatchRequest r;
  auto* c = r.mutable_create_request();
  c->set_key(key);
  c->set_range_end(end);
  c->set_watch_id(id);
  c->set_start_revision(rev);
  c->set_fragment(fragment);
  return r;
}

std::string drive(const Server& s) {
  Session w(s.endpoint);
  w.send(create("a", ""));           // auto id 0
  w.expect(1);
  w.send(create("b/", "b0"));        // auto id 1
  w.expect(1);
  w.send(create("a", "", 7));        // chosen id
  w.expect(1);
  w.send(create("a", "", 7));        // duplicate id: refused
  w.expect(1);
  w.send(create("z", "a"));          // empty range: refused
  w.expect(1);
  w.put("a", "1");                   // rev 2: watches 0 and 7
  w.expect(2);
  w.put("b/x", "2");                 // rev 3: watch 1
  w.expect(1);
  WatchRequest progress;
  progress.mutable_progress_request();
  w.send(progress);
  w.expect(1);
  WatchRequest cancel;
  cancel.mutable_cancel_request()->set_watch_id(1);
  w.send(cancel);
  w.expect(1);
  w.put("b/y", "3");                 // canceled watch: nothing
  w.put("a", "4");                   // rev 5: watches 0 and 7
  w.expect(2);
  // History over max-request-bytes, replayed with fragment=true.
  for (int i = 0; i < 6; ++i) w.put("f/" + std::to_string(i), std::string(400 * 1024, 'f'));
  w.send(create("f/", "f0", 0, 1, true));
  w.expect(1);  // created
  w.expect_fragments(10);
  return w.transcript();
}

// etcd sends the events of one revision to the watches of a stream in no
// fixed order (seen: watch 7 before watch 0, then the other way round), so
// the transcripts are compared with each revision's lines ordered by watch
// id; each watch's own lines keep their order.
std::string canonical(const std::string& transcript) {
  struct Line {
    long long rev, id;
    std::string text;
  };
  std::vector<Line> lines;
  std::istringstream in(transcript);
  for (std::string l; std::getline(in, l);) {
    long long id = 0, rev = 0;
    std::sscanf(l.c_str(), "id=%lld rev=%lld", &id, &rev);
    lines.push_back({rev, id, l});
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return std::tie(a.rev, a.id) < std::tie(b.rev, b.id); });
  std::string out;
  for (const auto& l : lines) out += l.text + "\n";
  return out;
}

TEST(WatchStream, ManyWatchesOneStreamLikeEtcd) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  Server etcd = start_etcd();
  Server kedge = start_kedge_store();
  ASSERT_TRUE(wait_serving(etcd.endpoint)) << etcd.log();
  ASSERT_TRUE(wait_serving(kedge.endpoint)) << kedge.log();
  const std::string want = canonical(drive(etcd));
  const std::string got = canonical(drive(kedge));
  EXPECT_NE(want.find("id=-1 rev=3"), std::string::npos) << want;  // the progress reply
  EXPECT_EQ(want, got) << "etcd:\n" << want << "\nkedge:\n" << got << "\nkedge log:\n" << kedge.log();
}

}  // namespace
}  // namespace kedge::store::testing

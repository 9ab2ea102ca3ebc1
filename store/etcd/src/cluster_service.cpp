// etcdserverpb.Cluster: MemberList (this one member); membership changes are
// answered Unimplemented: a kedge store is a single member by design.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

using etcdserverpb::Cluster;
// MemberList raw (see run_raw_unary) so a malformed request is answered as etcd does.
using RawCluster = Cluster::WithRawCallbackMethod_MemberList<Cluster::CallbackService>;

class ClusterService final : public RawCluster {
 public:
  explicit ClusterService(Shared& shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                       grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::MemberListRequest, etcdserverpb::MemberListResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::MemberListRequest&, etcdserverpb::MemberListResponse* resp) {
      auto rev = shared_.current_revision();
      if (!rev.ok()) return to_grpc(rev.status());
      shared_.fill(resp->mutable_header(), *rev);
      auto* m = resp->add_members();
      m->set_id(shared_.options.member_id);
      m->set_name(shared_.options.name);
      for (const auto& url : shared_.advertised_urls) m->add_clienturls(url);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* ctx, const etcdserverpb::MemberAddRequest*,
                                      etcdserverpb::MemberAddResponse*) override {
    return refuse(ctx, "Cluster.MemberAdd");
  }
  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* ctx, const etcdserverpb::MemberRemoveRequest*,
                                         etcdserverpb::MemberRemoveResponse*) override {
    return refuse(ctx, "Cluster.MemberRemove");
  }
  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* ctx, const etcdserverpb::MemberUpdateRequest*,
                                         etcdserverpb::MemberUpdateResponse*) override {
    return refuse(ctx, "Cluster.MemberUpdate");
  }
  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* ctx,
                                          const etcdserverpb::MemberPromoteRequest*,
                                          etcdserverpb::MemberPromoteResponse*) override {
    return refuse(ctx, "Cluster.MemberPromote");
  }

 private:
  static grpc::ServerUnaryReactor* refuse(grpc::CallbackServerContext* ctx, const char* rpc) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(unimplemented_rpc(rpc));
    return reactor;
  }

  Shared& shared_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_cluster_service(Shared& shared) {
  return std::make_unique<ClusterService>(shared);
}

}  // namespace kedge::store::etcd

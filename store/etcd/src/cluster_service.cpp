// etcdserverpb.Cluster: MemberList (this one member); membership changes are
// answered Unimplemented: a kedge store is a single member by design.
//
// Threads: handlers are called on the transport's loop thread; MemberList's
// Store call runs on the worker pool (run_unary).
#include "shared.h"

namespace kedge::store::etcd {

void add_cluster_service(Shared& shared, rpc::RpcServer& server) {
  using CallPtr = std::shared_ptr<rpc::Call>;
  add_blocking_unary<etcdserverpb::MemberListRequest, etcdserverpb::MemberListResponse>(
      shared, server, "/etcdserverpb.Cluster/MemberList",
      [&shared](const etcdserverpb::MemberListRequest&, etcdserverpb::MemberListResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto rev, shared.current_revision());
        shared.fill(resp->mutable_header(), rev);
        auto* m = resp->add_members();
        m->set_id(shared.options.member_id);
        m->set_name(shared.options.name);
        for (const auto& url : shared.advertised_urls) m->add_clienturls(url);
        return ok_status();
      });

  for (const char* method : {"MemberAdd", "MemberRemove", "MemberUpdate", "MemberPromote"}) {
    server.add_unary(std::string("/etcdserverpb.Cluster/") + method,
                     [refusal = unimplemented_rpc((std::string("Cluster.") + method).c_str())](
                         std::string_view, const CallPtr& call) { call->fail(refusal); });
  }
}

}  // namespace kedge::store::etcd

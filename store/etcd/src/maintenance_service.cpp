// etcdserverpb.Maintenance: Status, Alarm (GET), Defragment; the rest is
// answered Unimplemented with a message.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

using etcdserverpb::Maintenance;
// Served methods raw (see run_raw_unary) so malformed requests are answered as etcd does.
using RawMaintenance = Maintenance::WithRawCallbackMethod_Status<
    Maintenance::WithRawCallbackMethod_Alarm<Maintenance::WithRawCallbackMethod_Defragment<Maintenance::CallbackService>>>;

class MaintenanceService final : public RawMaintenance {
 public:
  explicit MaintenanceService(Shared& shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::StatusRequest, etcdserverpb::StatusResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::StatusRequest& /*req*/, etcdserverpb::StatusResponse* resp) {
      auto st = shared_.store.status();
      if (!st.ok()) return to_grpc(st.status());
      shared_.fill(resp->mutable_header(), st->revision);
      resp->set_version(shared_.options.version);
      resp->set_dbsize(st->db_size);
      resp->set_dbsizeinuse(st->db_size_in_use);
      // One member: it is always its own leader. The store's revision stands in
      // for raft's index (both grow by one per committed write).
      resp->set_leader(shared_.options.member_id);
      resp->set_raftindex(static_cast<std::uint64_t>(st->revision));
      resp->set_raftappliedindex(static_cast<std::uint64_t>(st->revision));
      resp->set_raftterm(Shared::kRaftTerm);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                  grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::AlarmRequest, etcdserverpb::AlarmResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::AlarmRequest& req, etcdserverpb::AlarmResponse* resp) {
      if (req.action() != etcdserverpb::AlarmRequest::GET) return unimplemented_rpc("Alarm ACTIVATE/DEACTIVATE");
      // kedge raises no alarms (no space quota); GET truthfully lists none.
      auto rev = shared_.current_revision();
      if (!rev.ok()) return to_grpc(rev.status());
      shared_.fill(resp->mutable_header(), *rev);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                       grpc::ByteBuffer* out) override {
    // The SQLite core returns free pages continuously (incremental vacuum
    // after compaction), so there is nothing left for a defragment to do.
    return run_raw_unary<etcdserverpb::DefragmentRequest, etcdserverpb::DefragmentResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::DefragmentRequest&, etcdserverpb::DefragmentResponse* resp) {
      auto rev = shared_.current_revision();
      if (!rev.ok()) return to_grpc(rev.status());
      shared_.fill(resp->mutable_header(), *rev);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx, const etcdserverpb::HashRequest*,
                                 etcdserverpb::HashResponse*) override {
    return finish_unimplemented(ctx, "Maintenance.Hash");
  }
  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx, const etcdserverpb::HashKVRequest*,
                                   etcdserverpb::HashKVResponse*) override {
    return finish_unimplemented(ctx, "Maintenance.HashKV");
  }
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx, const etcdserverpb::MoveLeaderRequest*,
                                       etcdserverpb::MoveLeaderResponse*) override {
    return finish_unimplemented(ctx, "Maintenance.MoveLeader");
  }
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(grpc::CallbackServerContext* /*ctx*/,
                                                                     const etcdserverpb::SnapshotRequest*) override {
    class Refuse final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
     public:
      Refuse() { Finish(unimplemented_rpc("Maintenance.Snapshot (copy the SQLite file with the store stopped)")); }
      void OnDone() override { delete this; }
    };
    return new Refuse();
  }

 private:
  static grpc::ServerUnaryReactor* finish_unimplemented(grpc::CallbackServerContext* ctx, const char* rpc) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(unimplemented_rpc(rpc));
    return reactor;
  }

  Shared& shared_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_maintenance_service(Shared& shared) {
  return std::make_unique<MaintenanceService>(shared);
}

}  // namespace kedge::store::etcd

// etcdserverpb.Maintenance: Status, Alarm (GET), Defragment, Hash, HashKV,
// Snapshot; MoveLeader and Alarm ACTIVATE/DEACTIVATE answer Unimplemented
// with a message.
#include <openssl/evp.h>

#include <algorithm>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

using etcdserverpb::Maintenance;
// Served methods raw (see run_raw_unary) so malformed requests are answered as etcd does.
using RawMaintenance = Maintenance::WithRawCallbackMethod_Status<Maintenance::WithRawCallbackMethod_Alarm<
    Maintenance::WithRawCallbackMethod_Defragment<Maintenance::WithRawCallbackMethod_Hash<
        Maintenance::WithRawCallbackMethod_HashKV<Maintenance::CallbackService>>>>>;

// etcd streams its snapshot in 32 KiB messages.
constexpr std::size_t kSnapshotChunk = 32 * 1024;

// Streams a store snapshot: each chunk is read on the worker pool, then
// written; the next read is posted when the write is done. As etcd 3.4, the
// last message is the sha256 of everything before it (etcdctl refuses a
// snapshot without it; `kedge store --restore-snapshot` checks it).
class SnapshotWriter final : public grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse> {
 public:
  explicit SnapshotWriter(Shared& shared) : shared_(shared), sha_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr);
    shared_.pool.post([this] { open(); });
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot stream closed by the client"));
      return;
    }
    shared_.pool.post([this] { next(); });
  }
  void OnDone() override { delete this; }

 private:
  void open() {
    auto reader = shared_.store.snapshot();
    if (!reader.ok()) {
      Finish(to_grpc(reader.status()));
      return;
    }
    reader_ = std::move(*reader);
    remaining_ = reader_->size();
    next();
  }
  // Pool thread; nothing touches `this` after Finish or StartWrite.
  void next() {
    auto chunk = reader_->read(kSnapshotChunk);
    if (!chunk.ok()) {
      Finish(to_grpc(chunk.status()));
      return;
    }
    if (chunk->empty()) {
      if (sent_sha_) {
        Finish(grpc::Status::OK);
        return;
      }
      unsigned char sha[EVP_MAX_MD_SIZE];
      unsigned int size = 0;
      EVP_DigestFinal_ex(sha_.get(), sha, &size);
      sent_sha_ = true;
      response_.set_remaining_bytes(0);
      response_.set_blob(std::string(reinterpret_cast<const char*>(sha), size));
      StartWrite(&response_);
      return;
    }
    EVP_DigestUpdate(sha_.get(), chunk->data(), chunk->size());
    remaining_ -= static_cast<std::int64_t>(chunk->size());
    response_.set_remaining_bytes(static_cast<std::uint64_t>(std::max<std::int64_t>(0, remaining_)));
    response_.set_blob(std::move(*chunk));
    StartWrite(&response_);
  }

  Shared& shared_;
  std::unique_ptr<SnapshotReader> reader_;
  std::int64_t remaining_ = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha_;
  bool sent_sha_ = false;
  etcdserverpb::SnapshotResponse response_;
};

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
    return run_raw_unary<etcdserverpb::DefragmentRequest, etcdserverpb::DefragmentResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::DefragmentRequest&, etcdserverpb::DefragmentResponse* resp) {
      if (auto st = shared_.store.defragment(); !st.ok()) return to_grpc(st);
      auto rev = shared_.current_revision();
      if (!rev.ok()) return to_grpc(rev.status());
      shared_.fill(resp->mutable_header(), *rev);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                 grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::HashRequest, etcdserverpb::HashResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::HashRequest&, etcdserverpb::HashResponse* resp) {
      auto hash = shared_.store.hash();
      if (!hash.ok()) return to_grpc(hash.status());
      shared_.fill(resp->mutable_header(), hash->revision);
      resp->set_hash(hash->hash);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                   grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::HashKVRequest, etcdserverpb::HashKVResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::HashKVRequest& req, etcdserverpb::HashKVResponse* resp) {
      auto hash = shared_.store.hash_kv(req.revision());
      if (!hash.ok()) return to_grpc(hash.status());
      shared_.fill(resp->mutable_header(), hash->revision);
      resp->set_hash(hash->hash);
      resp->set_compact_revision(hash->compact_revision);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* ctx, const etcdserverpb::MoveLeaderRequest*,
                                       etcdserverpb::MoveLeaderResponse*) override {
    return finish_unimplemented(ctx, "Maintenance.MoveLeader");
  }
  grpc::ServerWriteReactor<etcdserverpb::SnapshotResponse>* Snapshot(grpc::CallbackServerContext* /*ctx*/,
                                                                     const etcdserverpb::SnapshotRequest*) override {
    return new SnapshotWriter(shared_);
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

// etcdserverpb.Maintenance: Status, Alarm (GET), Defragment, Hash, HashKV,
// Snapshot; MoveLeader and Alarm ACTIVATE/DEACTIVATE answer Unimplemented
// with a message.
//
// Threads: handlers and the snapshot stream's callbacks are called on the
// transport's loop thread, which must never block; every Store call (and
// every snapshot read) runs on the worker pool.
#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "shared.h"

namespace kedge::store::etcd {
namespace {

// etcd streams its snapshot in 32 KiB messages.
constexpr std::size_t kSnapshotChunk = 32 * 1024;

// Streams a store snapshot one chunk at a time: a chunk is read on the pool
// and written, and the next is read only once it has gone out (on_drained),
// so a slow reader holds one chunk here, not the whole file. As etcd 3.4,
// the last message is the sha256 of everything before it (etcdctl refuses a
// snapshot without it; `kedge store --restore-snapshot` checks it).
class SnapshotStream : public std::enable_shared_from_this<SnapshotStream> {
 public:
  SnapshotStream(Shared& shared, std::weak_ptr<rpc::Call> call)
      : shared_(shared), call_(std::move(call)), sha_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr);
  }

  // Loop thread. A server stream takes one request; the snapshot starts once
  // it is parsed.
  void on_message(std::string_view bytes) {
    if (std::exchange(requested_, true)) return;
    auto call = call_.lock();
    etcdserverpb::SnapshotRequest req;
    if (call && parse_request(bytes, req, *call)) post_next(std::move(call));
  }
  void on_half_close() {
    if (requested_) return;
    if (auto call = call_.lock()) call->finish({rpc::RpcCode::kInternal, "grpc: request without a message"});
  }
  // Loop thread: the last chunk has gone out.
  void on_drained() { post_next(call_.lock()); }

 private:
  void post_next(std::shared_ptr<rpc::Call> call) {
    if (!call) return;
    shared_.pool.post([self = shared_from_this(), call = std::move(call)] { self->next(*call); });
  }

  // Pool thread, one at a time: the next runs from on_drained, after this
  // one's write went out. Nothing touches `this` after the write.
  void next(rpc::Call& call) {
    if (!reader_) {
      auto reader = shared_.store.snapshot();
      if (!reader.ok()) {
        call.fail(reader.status());
        return;
      }
      reader_ = std::move(*reader);
      remaining_ = reader_->size();
    }
    auto chunk = reader_->read(kSnapshotChunk);
    if (!chunk.ok()) {
      call.fail(chunk.status());
      return;
    }
    etcdserverpb::SnapshotResponse resp;
    if (chunk->empty()) {
      if (sent_sha_) {
        call.finish({});
        return;
      }
      unsigned char sha[EVP_MAX_MD_SIZE];
      unsigned int size = 0;
      EVP_DigestFinal_ex(sha_.get(), sha, &size);
      sent_sha_ = true;
      resp.set_remaining_bytes(0);
      resp.set_blob(std::string(reinterpret_cast<const char*>(sha), size));
    } else {
      EVP_DigestUpdate(sha_.get(), chunk->data(), chunk->size());
      remaining_ -= static_cast<std::int64_t>(chunk->size());
      resp.set_remaining_bytes(static_cast<std::uint64_t>(std::max<std::int64_t>(0, remaining_)));
      resp.set_blob(std::move(*chunk));
    }
    call.write(resp);
  }

  Shared& shared_;
  const std::weak_ptr<rpc::Call> call_;
  bool requested_ = false;  // loop thread only
  // Used only by the pool task of the chunk in flight.
  std::unique_ptr<SnapshotReader> reader_;
  std::int64_t remaining_ = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha_;
  bool sent_sha_ = false;
};

}  // namespace

void add_maintenance_service(Shared& shared, rpc::RpcServer& server) {
  using CallPtr = std::shared_ptr<rpc::Call>;
  add_blocking_unary<etcdserverpb::StatusRequest, etcdserverpb::StatusResponse>(
      shared, server, "/etcdserverpb.Maintenance/Status",
      [&shared](const etcdserverpb::StatusRequest&, etcdserverpb::StatusResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto st, shared.store.status());
        shared.fill(resp->mutable_header(), st.revision);
        resp->set_version(shared.options.version);
        resp->set_dbsize(st.db_size);
        resp->set_dbsizeinuse(st.db_size_in_use);
        // One member: it is always its own leader. The store's revision stands in
        // for raft's index (both grow by one per committed write).
        resp->set_leader(shared.options.member_id);
        resp->set_raftindex(static_cast<std::uint64_t>(st.revision));
        resp->set_raftappliedindex(static_cast<std::uint64_t>(st.revision));
        resp->set_raftterm(Shared::kRaftTerm);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::AlarmRequest, etcdserverpb::AlarmResponse>(
      shared, server, "/etcdserverpb.Maintenance/Alarm",
      [&shared](const etcdserverpb::AlarmRequest& req, etcdserverpb::AlarmResponse* resp) -> Status {
        if (req.action() != etcdserverpb::AlarmRequest::GET) return unimplemented_rpc("Alarm ACTIVATE/DEACTIVATE");
        // kedge raises no alarms (no space quota); GET truthfully lists none.
        KEDGE_ASSIGN_OR_RETURN(auto rev, shared.current_revision());
        shared.fill(resp->mutable_header(), rev);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::DefragmentRequest, etcdserverpb::DefragmentResponse>(
      shared, server, "/etcdserverpb.Maintenance/Defragment",
      [&shared](const etcdserverpb::DefragmentRequest&, etcdserverpb::DefragmentResponse* resp) -> Status {
        KEDGE_RETURN_IF_ERROR(shared.store.defragment());
        KEDGE_ASSIGN_OR_RETURN(auto rev, shared.current_revision());
        shared.fill(resp->mutable_header(), rev);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::HashRequest, etcdserverpb::HashResponse>(
      shared, server, "/etcdserverpb.Maintenance/Hash",
      [&shared](const etcdserverpb::HashRequest&, etcdserverpb::HashResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto hash, shared.store.hash());
        shared.fill(resp->mutable_header(), hash.revision);
        resp->set_hash(hash.hash);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::HashKVRequest, etcdserverpb::HashKVResponse>(
      shared, server, "/etcdserverpb.Maintenance/HashKV",
      [&shared](const etcdserverpb::HashKVRequest& req, etcdserverpb::HashKVResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto hash, shared.store.hash_kv(req.revision()));
        shared.fill(resp->mutable_header(), hash.revision);
        resp->set_hash(hash.hash);
        resp->set_compact_revision(hash.compact_revision);
        return ok_status();
      });

  server.add_stream("/etcdserverpb.Maintenance/Snapshot", [&shared](const CallPtr& call) {
    auto stream = std::make_shared<SnapshotStream>(shared, call);
    call->on_message = [stream](std::string_view bytes) { stream->on_message(bytes); };
    call->on_half_close = [stream] { stream->on_half_close(); };
    call->on_drained = [stream] { stream->on_drained(); };
  });

  server.add_unary("/etcdserverpb.Maintenance/MoveLeader", [](std::string_view, const CallPtr& call) {
    call->fail(unimplemented_rpc("Maintenance.MoveLeader"));
  });
}

}  // namespace kedge::store::etcd

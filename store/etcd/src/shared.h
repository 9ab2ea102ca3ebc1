// State every etcd service of one EtcdServer shares, and the helper that runs
// a unary RPC's blocking Store call on the worker pool.
//
// Constant after construction except where noted; safe to use from any thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <functional>
#include <mutex>
#include <set>

#include "errors.h"
#include "etcdserverpb/rpc.pb.h"
#include "kedge/store/etcd_server.h"
#include "worker_pool.h"

namespace kedge::store::etcd {

class WatchStream;

// The watch streams that are open, for the progress_notify ticker.
class WatchRegistry {
 public:
  void add(WatchStream* stream);
  // After remove() returns, the ticker never touches `stream` again.
  void remove(WatchStream* stream);
  // Runs `fn` on every open stream, with the registry locked.
  void for_each(const std::function<void(WatchStream&)>& fn);

 private:
  std::mutex mu_;
  std::set<WatchStream*> streams_;  // guarded by mu_
};

struct Shared {
  Store& store;
  WorkerPool& pool;
  const EtcdServerOptions& options;
  RequestLimits limits;
  WatchRegistry& watches;
  std::vector<std::string> advertised_urls;  // set once, before serving starts

  // Top-level response header, as etcd fills it.
  void fill(etcdserverpb::ResponseHeader* header, Revision revision) const {
    header->set_cluster_id(options.cluster_id);
    header->set_member_id(options.member_id);
    header->set_revision(revision);
    header->set_raft_term(kRaftTerm);
  }
  // The store's revision now (for headers of replies that change nothing).
  Result<Revision> current_revision() const;

  // A single member never changes term; etcd's first elected term is 2.
  static constexpr std::uint64_t kRaftTerm = 2;
};

// Runs `work` (returning grpc::Status) on the pool and finishes the RPC with it.
template <typename Work>
grpc::ServerUnaryReactor* run_unary(grpc::CallbackServerContext* ctx, Shared& shared, Work work) {
  auto* reactor = ctx->DefaultReactor();
  shared.pool.post([reactor, work = std::move(work)]() mutable { reactor->Finish(work()); });
  return reactor;
}

// A unary RPC registered as raw bytes: the request is parsed on the pool, so
// a malformed message gets etcd's answer (INTERNAL, "grpc: error
// unmarshalling request") where gRPC C++'s typed callback handler would
// answer UNIMPLEMENTED. `work(const Req&, Resp*)` returns grpc::Status.
template <typename Req, typename Resp, typename Work>
grpc::ServerUnaryReactor* run_raw_unary(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                        grpc::ByteBuffer* out, Shared& shared, Work work) {
  auto* reactor = ctx->DefaultReactor();
  shared.pool.post([reactor, out, request = grpc::ByteBuffer(*in), work = std::move(work)]() mutable {
    Req req;
    if (auto st = grpc::SerializationTraits<Req>::Deserialize(&request, &req); !st.ok()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                   "grpc: error unmarshalling request: " + st.error_message()));
      return;
    }
    Resp resp;
    grpc::Status st = work(req, &resp);
    bool own_buffer = false;
    if (st.ok()) st = grpc::SerializationTraits<Resp>::Serialize(resp, out, &own_buffer);
    reactor->Finish(st);
  });
  return reactor;
}

// Service factories (one file per service).
std::unique_ptr<grpc::Service> make_kv_service(Shared& shared);
std::unique_ptr<grpc::Service> make_watch_service(Shared& shared);
std::unique_ptr<grpc::Service> make_lease_service(Shared& shared);
std::unique_ptr<grpc::Service> make_maintenance_service(Shared& shared);
std::unique_ptr<grpc::Service> make_cluster_service(Shared& shared);

// Asks every progress_notify watch of `stream` for a progress notification.
void tick_progress(WatchStream& stream);

}  // namespace kedge::store::etcd

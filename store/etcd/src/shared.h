// State every etcd service of one EtcdServer shares, and the helper that runs
// a unary RPC's blocking Store call on the worker pool.
//
// Constant after construction except where noted; safe to use from any thread.
#pragma once

#include <functional>
#include <mutex>
#include <set>

#include "errors.h"
#include "etcdserverpb/rpc.pb.h"
#include "kedge/store/etcd_server.h"
#include "rpc_server.h"
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

// Parses a request message; a malformed one ends the call as etcd (grpc-go)
// does: INTERNAL, "grpc: error unmarshalling request: ...".
template <typename Req>
bool parse_request(std::string_view bytes, Req& req, rpc::Call& call) {
  if (req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return true;
  call.finish({rpc::RpcCode::kInternal, "grpc: error unmarshalling request: proto: cannot parse invalid wire-format data"});
  return false;
}

// A unary RPC whose work blocks (a Store call): the request is parsed on the
// loop thread, `work(const Req&, Resp*)` (returning Status) runs on the
// pool, and its answer or error ends the call.
template <typename Req, typename Resp, typename Work>
void run_unary(Shared& shared, std::string_view bytes, const std::shared_ptr<rpc::Call>& call, Work work) {
  auto req = std::make_shared<Req>();
  if (!parse_request(bytes, *req, *call)) return;
  shared.pool.post([call, req = std::move(req), work = std::move(work)]() mutable {
    Resp resp;
    if (Status st = work(*req, &resp); !st.ok()) {
      call->fail(st);
      return;
    }
    call->reply(resp);
  });
}

// Registers `path` as a unary method answered by run_unary with `work`.
template <typename Req, typename Resp, typename Work>
void add_blocking_unary(Shared& shared, rpc::RpcServer& server, std::string path, Work work) {
  server.add_unary(std::move(path), [&shared, work = std::move(work)](std::string_view bytes,
                                                                      const std::shared_ptr<rpc::Call>& call) {
    run_unary<Req, Resp>(shared, bytes, call, work);
  });
}

// Each service registers its methods (one file per service).
void add_kv_service(Shared& shared, rpc::RpcServer& server);
void add_watch_service(Shared& shared, rpc::RpcServer& server);
void add_lease_service(Shared& shared, rpc::RpcServer& server);
void add_maintenance_service(Shared& shared, rpc::RpcServer& server);
void add_cluster_service(Shared& shared, rpc::RpcServer& server);
// grpc.health.v1.Health: Check and Watch answer SERVING while serving.
void add_health_service(rpc::RpcServer& server);

// Asks every progress_notify watch of `stream` for a progress notification.
void tick_progress(WatchStream& stream);

}  // namespace kedge::store::etcd

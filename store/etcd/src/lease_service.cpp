// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseKeepAlive (bidi),
// LeaseTimeToLive, LeaseLeases.
//
// Threads: handlers and the keep-alive stream's callbacks are called on the
// transport's loop thread, which must never block; every Store call runs on
// the worker pool.
#include <deque>
#include <mutex>
#include <utility>

#include "shared.h"

namespace kedge::store::etcd {
namespace {

// One keep-alive stream. Requests are answered one at a time, in order, as
// etcd does: each is renewed and answered on the pool; one that arrives
// meanwhile waits its turn. The client's half-close ends the stream with OK
// once every request before it is answered.
class KeepAliveStream : public std::enable_shared_from_this<KeepAliveStream> {
 public:
  KeepAliveStream(Shared& shared, std::weak_ptr<rpc::Call> call) : shared_(shared), call_(std::move(call)) {}

  // Loop thread.
  void on_message(std::string_view bytes) {
    {
      std::lock_guard lock(mu_);
      queue_.emplace_back(bytes);
      if (std::exchange(busy_, true)) return;  // the request being answered posts this one
    }
    post(call_.lock());
  }
  void on_half_close() {
    {
      std::lock_guard lock(mu_);
      half_closed_ = true;
      if (busy_) return;  // the last answer finishes the stream
    }
    if (auto call = call_.lock()) call->finish({});
  }

 private:
  // Answers the oldest queued request on the pool. `call` is held so the pool
  // thread may use it; the stream's callbacks hold only call_ (weak).
  void post(std::shared_ptr<rpc::Call> call) {
    if (!call) return;  // the call is gone: nothing left to answer
    shared_.pool.post([self = shared_from_this(), call = std::move(call)]() mutable {
      if (self->answer(*call)) self->next(std::move(call));
    });
  }

  // Pool thread. false: the stream ended (an error, or the call is over).
  bool answer(rpc::Call& call) {
    std::string bytes;
    {
      std::lock_guard lock(mu_);
      bytes = std::move(queue_.front());
      queue_.pop_front();
    }
    etcdserverpb::LeaseKeepAliveRequest req;
    if (!parse_request(bytes, req, call)) return false;
    auto ttl = shared_.store.lease_keep_alive(req.id());
    std::int64_t granted = 0;
    if (ttl.ok()) {
      granted = *ttl;
    } else if (ttl.status().code() != Code::kNotFound) {
      // etcd answers a missing lease with TTL 0 and keeps the stream; any
      // other failure ends it with the error.
      call.fail(ttl.status());
      return false;
    }
    auto rev = shared_.current_revision();
    if (!rev.ok()) {
      call.fail(rev.status());
      return false;
    }
    etcdserverpb::LeaseKeepAliveResponse resp;
    shared_.fill(resp.mutable_header(), *rev);
    resp.set_id(req.id());
    resp.set_ttl(granted);
    return call.write(resp);
  }

  // Pool thread, after an answer: the next queued request, or the end the
  // client asked for.
  void next(std::shared_ptr<rpc::Call> call) {
    bool more = false;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      more = busy_ = !queue_.empty();
      closed = half_closed_;
    }
    if (more) {
      post(std::move(call));
    } else if (closed) {
      call->finish({});
    }
  }

  Shared& shared_;
  const std::weak_ptr<rpc::Call> call_;
  std::mutex mu_;
  std::deque<std::string> queue_;  // requests not yet answered, oldest first; guarded by mu_
  bool busy_ = false;              // a pool task answers queue_'s head; guarded by mu_
  bool half_closed_ = false;       // guarded by mu_
};

}  // namespace

void add_lease_service(Shared& shared, rpc::RpcServer& server) {
  using CallPtr = std::shared_ptr<rpc::Call>;
  add_blocking_unary<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
      shared, server, "/etcdserverpb.Lease/LeaseGrant",
      [&shared](const etcdserverpb::LeaseGrantRequest& req, etcdserverpb::LeaseGrantResponse* resp) -> Status {
        if (req.ttl() > kMaxLeaseTtl) return err_lease_ttl_too_large();
        KEDGE_ASSIGN_OR_RETURN(auto r, shared.store.lease_grant(req.ttl(), req.id()));
        shared.fill(resp->mutable_header(), r.revision);
        resp->set_id(r.id);
        resp->set_ttl(r.ttl);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::LeaseRevokeRequest, etcdserverpb::LeaseRevokeResponse>(
      shared, server, "/etcdserverpb.Lease/LeaseRevoke",
      [&shared](const etcdserverpb::LeaseRevokeRequest& req, etcdserverpb::LeaseRevokeResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto rev, shared.store.lease_revoke(req.id()));
        shared.fill(resp->mutable_header(), rev);
        return ok_status();
      });

  server.add_stream("/etcdserverpb.Lease/LeaseKeepAlive", [&shared](const CallPtr& call) {
    auto stream = std::make_shared<KeepAliveStream>(shared, call);
    call->on_message = [stream](std::string_view bytes) { stream->on_message(bytes); };
    call->on_half_close = [stream] { stream->on_half_close(); };
  });

  add_blocking_unary<etcdserverpb::LeaseTimeToLiveRequest, etcdserverpb::LeaseTimeToLiveResponse>(
      shared, server, "/etcdserverpb.Lease/LeaseTimeToLive",
      [&shared](const etcdserverpb::LeaseTimeToLiveRequest& req,
                etcdserverpb::LeaseTimeToLiveResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto r, shared.store.lease_time_to_live(req.id(), req.keys()));
        shared.fill(resp->mutable_header(), r.revision);
        resp->set_id(req.id());
        resp->set_ttl(r.ttl);
        resp->set_grantedttl(r.granted_ttl);
        for (const auto& k : r.keys) resp->add_keys(k);
        return ok_status();
      });

  add_blocking_unary<etcdserverpb::LeaseLeasesRequest, etcdserverpb::LeaseLeasesResponse>(
      shared, server, "/etcdserverpb.Lease/LeaseLeases",
      [&shared](const etcdserverpb::LeaseLeasesRequest&, etcdserverpb::LeaseLeasesResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto rev, shared.current_revision());
        KEDGE_ASSIGN_OR_RETURN(auto ids, shared.store.lease_list());
        shared.fill(resp->mutable_header(), rev);
        for (auto id : ids) resp->add_leases()->set_id(id);
        return ok_status();
      });
}

}  // namespace kedge::store::etcd

// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseKeepAlive (bidi),
// LeaseTimeToLive, LeaseLeases.
#include "etcdserverpb/rpc.grpc.pb.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

// One keep-alive stream. Requests are handled one at a time, in order: read,
// renew on the pool, write the answer, read again. Deletes itself in OnDone.
class KeepAliveStream final
    : public grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse> {
 public:
  explicit KeepAliveStream(Shared& shared) : shared_(shared) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side (or the call ended): as etcd, end with OK
      Finish(grpc::Status::OK);
      return;
    }
    shared_.pool.post([this] { renew(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "keep-alive stream closed"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void renew() {
    auto ttl = shared_.store.lease_keep_alive(request_.id());
    std::int64_t granted = 0;
    if (ttl.ok()) {
      granted = *ttl;
    } else if (ttl.status().code() != Code::kNotFound) {
      // etcd answers a missing lease with TTL 0 and keeps the stream; any
      // other failure ends it with the error.
      Finish(to_grpc(ttl.status()));
      return;
    }
    auto rev = shared_.current_revision();
    if (!rev.ok()) {
      Finish(to_grpc(rev.status()));
      return;
    }
    response_.Clear();
    shared_.fill(response_.mutable_header(), *rev);
    response_.set_id(request_.id());
    response_.set_ttl(granted);
    StartWrite(&response_);
  }

  Shared& shared_;
  etcdserverpb::LeaseKeepAliveRequest request_;
  etcdserverpb::LeaseKeepAliveResponse response_;
};

using etcdserverpb::Lease;
// Unary methods raw (see run_raw_unary) so malformed requests are answered as etcd does.
using RawLease = Lease::WithRawCallbackMethod_LeaseGrant<Lease::WithRawCallbackMethod_LeaseRevoke<
    Lease::WithRawCallbackMethod_LeaseTimeToLive<Lease::WithRawCallbackMethod_LeaseLeases<Lease::CallbackService>>>>;

class LeaseService final : public RawLease {
 public:
  explicit LeaseService(Shared& shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* LeaseGrant(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::LeaseGrantRequest& req, etcdserverpb::LeaseGrantResponse* resp) {
      if (req.ttl() > kMaxLeaseTtl) return to_grpc(err_lease_ttl_too_large());
      auto r = shared_.store.lease_grant(req.ttl(), req.id());
      if (!r.ok()) return to_grpc(r.status());
      shared_.fill(resp->mutable_header(), r->revision);
      resp->set_id(r->id);
      resp->set_ttl(r->ttl);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* LeaseRevoke(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::LeaseRevokeRequest, etcdserverpb::LeaseRevokeResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::LeaseRevokeRequest& req, etcdserverpb::LeaseRevokeResponse* resp) {
      auto r = shared_.store.lease_revoke(req.id());
      if (!r.ok()) return to_grpc(r.status());
      shared_.fill(resp->mutable_header(), *r);
      return grpc::Status::OK;
    });
  }

  grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
  LeaseKeepAlive(grpc::CallbackServerContext* /*ctx*/) override {
    return new KeepAliveStream(shared_);
  }

  grpc::ServerUnaryReactor* LeaseTimeToLive(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::LeaseTimeToLiveRequest, etcdserverpb::LeaseTimeToLiveResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::LeaseTimeToLiveRequest& req, etcdserverpb::LeaseTimeToLiveResponse* resp) {
      auto r = shared_.store.lease_time_to_live(req.id(), req.keys());
      if (!r.ok()) return to_grpc(r.status());
      shared_.fill(resp->mutable_header(), r->revision);
      resp->set_id(req.id());
      resp->set_ttl(r->ttl);
      resp->set_grantedttl(r->granted_ttl);
      for (const auto& k : r->keys) resp->add_keys(k);
      return grpc::Status::OK;
    });
  }

  grpc::ServerUnaryReactor* LeaseLeases(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::LeaseLeasesRequest, etcdserverpb::LeaseLeasesResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::LeaseLeasesRequest& /*req*/, etcdserverpb::LeaseLeasesResponse* resp) {
      auto rev = shared_.current_revision();
      if (!rev.ok()) return to_grpc(rev.status());
      auto r = shared_.store.lease_list();
      if (!r.ok()) return to_grpc(r.status());
      shared_.fill(resp->mutable_header(), *rev);
      for (auto id : *r) resp->add_leases()->set_id(id);
      return grpc::Status::OK;
    });
  }

 private:
  Shared& shared_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_lease_service(Shared& shared) { return std::make_unique<LeaseService>(shared); }

}  // namespace kedge::store::etcd

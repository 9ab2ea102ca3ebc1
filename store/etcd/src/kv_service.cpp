// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact. Registered as raw
// methods (see run_raw_unary) so malformed requests are answered as etcd does.
#include "convert.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

using etcdserverpb::KV;
using RawKv = KV::WithRawCallbackMethod_Range<KV::WithRawCallbackMethod_Put<
    KV::WithRawCallbackMethod_DeleteRange<KV::WithRawCallbackMethod_Txn<KV::WithRawCallbackMethod_Compact<KV::Service>>>>>;

class KvService final : public RawKv {
 public:
  explicit KvService(Shared& shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                  grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp) {
          if (auto st = check_range(req); !st.ok()) return to_grpc(st);
          auto r = shared_.store.range(from_pb(req));
          if (!r.ok()) return to_grpc(r.status());
          to_pb(*r, resp);
          shared_.fill(resp->mutable_header(), r->revision);
          return grpc::Status::OK;
        });
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_write<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        ctx, in, out,
        [this](const etcdserverpb::PutRequest& req) -> Result<PutRequest> {
          KEDGE_RETURN_IF_ERROR(check_put(req));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared_.limits));
          return from_pb(req);
        },
        &Store::try_put_async, &Store::put);
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                        grpc::ByteBuffer* out) override {
    return run_write<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
        ctx, in, out,
        [this](const etcdserverpb::DeleteRangeRequest& req) -> Result<DeleteRangeRequest> {
          KEDGE_RETURN_IF_ERROR(check_delete(req));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared_.limits));
          return from_pb(req);
        },
        &Store::try_delete_range_async, &Store::delete_range);
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_write<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        ctx, in, out,
        [this](const etcdserverpb::TxnRequest& req) -> Result<TxnRequest> {
          KEDGE_RETURN_IF_ERROR(check_txn(req, shared_.limits));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared_.limits));
          return from_pb(req);
        },
        &Store::try_txn_async, &Store::txn);
  }

  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                    grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::CompactionRequest, etcdserverpb::CompactionResponse>(
        ctx, in, out, shared_,
        [this](const etcdserverpb::CompactionRequest& req, etcdserverpb::CompactionResponse* resp) {
          auto r = shared_.store.compact(req.revision(), req.physical());
          if (!r.ok()) return to_grpc(r.status());
          shared_.fill(resp->mutable_header(), r->revision);
          return grpc::Status::OK;
        });
  }

 private:
  // A write RPC. The request is parsed and checked on the gRPC thread (a
  // put is a few hundred bytes; a txn at most max-request-bytes), then
  // handed to the store's own write queue when it has one: the store's
  // completer thread answers right after the group commit, so no pool thread blocks
  // per write and the writes of hundreds of clients share one commit
  // without one thread each. A store without a queue (or a read-only txn)
  // runs the blocking call on the pool instead.
  template <typename Req, typename Resp, typename StoreReq, typename StoreResp, typename Prepare>
  grpc::ServerUnaryReactor* run_write(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                      grpc::ByteBuffer* out, Prepare prepare,
                                      bool (Store::*try_async)(const StoreReq&, Store::Done<StoreResp>&),
                                      Result<StoreResp> (Store::*blocking)(const StoreReq&)) {
    auto* reactor = ctx->DefaultReactor();
    Req req;
    grpc::ByteBuffer request(*in);
    if (auto st = grpc::SerializationTraits<Req>::Deserialize(&request, &req); !st.ok()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "grpc: error unmarshalling request: " + st.error_message()));
      return reactor;
    }
    Result<StoreReq> store_request = prepare(req);
    if (!store_request.ok()) {
      reactor->Finish(to_grpc(store_request.status()));
      return reactor;
    }
    Store::Done<StoreResp> done = [this, reactor, out](Result<StoreResp> result) {
      if (!result.ok()) {
        reactor->Finish(to_grpc(result.status()));
        return;
      }
      Resp resp;
      to_pb(*result, &resp);
      shared_.fill(resp.mutable_header(), result->revision);
      bool own_buffer = false;
      reactor->Finish(grpc::SerializationTraits<Resp>::Serialize(resp, out, &own_buffer));
    };
    if ((shared_.store.*try_async)(*store_request, done)) return reactor;
    shared_.pool.post([this, blocking, store_request = std::move(*store_request), done = std::move(done)] {
      done((shared_.store.*blocking)(store_request));
    });
    return reactor;
  }

  Shared& shared_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_kv_service(Shared& shared) { return std::make_unique<KvService>(shared); }

}  // namespace kedge::store::etcd

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
    return run_raw_unary<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::PutRequest& req, etcdserverpb::PutResponse* resp) {
          if (auto st = check_put(req); !st.ok()) return to_grpc(st);
          if (auto st = check_write_size(req, shared_.limits); !st.ok()) return to_grpc(st);
          auto r = shared_.store.put(from_pb(req));
          if (!r.ok()) return to_grpc(r.status());
          to_pb(*r, resp);
          shared_.fill(resp->mutable_header(), r->revision);
          return grpc::Status::OK;
        });
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                        grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
        ctx, in, out, shared_,
        [this](const etcdserverpb::DeleteRangeRequest& req, etcdserverpb::DeleteRangeResponse* resp) {
          if (auto st = check_delete(req); !st.ok()) return to_grpc(st);
          if (auto st = check_write_size(req, shared_.limits); !st.ok()) return to_grpc(st);
          auto r = shared_.store.delete_range(from_pb(req));
          if (!r.ok()) return to_grpc(r.status());
          to_pb(*r, resp);
          shared_.fill(resp->mutable_header(), r->revision);
          return grpc::Status::OK;
        });
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* in,
                                grpc::ByteBuffer* out) override {
    return run_raw_unary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        ctx, in, out, shared_, [this](const etcdserverpb::TxnRequest& req, etcdserverpb::TxnResponse* resp) {
          if (auto st = check_txn(req, shared_.limits); !st.ok()) return to_grpc(st);
          if (auto st = check_write_size(req, shared_.limits); !st.ok()) return to_grpc(st);
          auto txn = from_pb(req);
          if (!txn.ok()) return to_grpc(txn.status());
          auto r = shared_.store.txn(*txn);
          if (!r.ok()) return to_grpc(r.status());
          to_pb(*r, resp);
          shared_.fill(resp->mutable_header(), r->revision);
          return grpc::Status::OK;
        });
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
  Shared& shared_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_kv_service(Shared& shared) { return std::make_unique<KvService>(shared); }

}  // namespace kedge::store::etcd

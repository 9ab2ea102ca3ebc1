// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
//
// Threads: every handler is called on the transport's loop thread, which must
// never block. Range and Compact run on the worker pool (run_unary). Writes
// are parsed and checked on the loop thread, then queued to the store (see
// run_write): its writer thread answers them after the commit.
#include "convert.h"
#include "shared.h"

namespace kedge::store::etcd {
namespace {

// A write RPC. The request is parsed and checked on the loop thread (a put
// is a few hundred bytes; a txn at most max-request-bytes), then handed to
// the store's own write queue when it has one: the store's writer thread
// answers right after the group commit, so no pool thread blocks per write
// and the writes of hundreds of clients share one commit without one thread
// each. A store without a queue (or a read-only txn) runs the blocking call
// on the pool instead.
template <typename Req, typename Resp, typename StoreReq, typename StoreResp, typename Prepare>
void run_write(Shared& shared, std::string_view bytes, const std::shared_ptr<rpc::Call>& call, Prepare prepare,
               bool (Store::*try_async)(const StoreReq&, Store::Done<StoreResp>&),
               Result<StoreResp> (Store::*blocking)(const StoreReq&)) {
  Req req;
  if (!parse_request(bytes, req, *call)) return;
  Result<StoreReq> store_request = prepare(req);
  if (!store_request.ok()) {
    call->fail(store_request.status());
    return;
  }
  Store::Done<StoreResp> done = [&shared, call](Result<StoreResp> result) {
    if (!result.ok()) {
      call->fail(result.status());
      return;
    }
    Resp resp;
    to_pb(*result, &resp);
    shared.fill(resp.mutable_header(), result->revision);
    call->reply(resp);
  };
  if ((shared.store.*try_async)(*store_request, done)) return;
  shared.pool.post([&shared, blocking, store_request = std::move(*store_request), done = std::move(done)] {
    done((shared.store.*blocking)(store_request));
  });
}

}  // namespace

void add_kv_service(Shared& shared, rpc::RpcServer& server) {
  using CallPtr = std::shared_ptr<rpc::Call>;
  add_blocking_unary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
      shared, server, "/etcdserverpb.KV/Range",
      [&shared](const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp) -> Status {
        KEDGE_RETURN_IF_ERROR(check_range(req));
        KEDGE_ASSIGN_OR_RETURN(auto r, shared.store.range(from_pb(req)));
        to_pb(r, resp);
        shared.fill(resp->mutable_header(), r.revision);
        return ok_status();
      });

  server.add_unary("/etcdserverpb.KV/Put", [&shared](std::string_view bytes, const CallPtr& call) {
    run_write<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        shared, bytes, call,
        [&shared](etcdserverpb::PutRequest& req) -> Result<PutRequest> {
          KEDGE_RETURN_IF_ERROR(check_put(req));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared.limits));
          return from_pb(std::move(req));  // the parsed message is not needed after this
        },
        &Store::try_put_async, &Store::put);
  });

  server.add_unary("/etcdserverpb.KV/DeleteRange", [&shared](std::string_view bytes, const CallPtr& call) {
    run_write<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
        shared, bytes, call,
        [&shared](const etcdserverpb::DeleteRangeRequest& req) -> Result<DeleteRangeRequest> {
          KEDGE_RETURN_IF_ERROR(check_delete(req));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared.limits));
          return from_pb(req);
        },
        &Store::try_delete_range_async, &Store::delete_range);
  });

  server.add_unary("/etcdserverpb.KV/Txn", [&shared](std::string_view bytes, const CallPtr& call) {
    run_write<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        shared, bytes, call,
        [&shared](const etcdserverpb::TxnRequest& req) -> Result<TxnRequest> {
          KEDGE_RETURN_IF_ERROR(check_txn(req, shared.limits));
          KEDGE_RETURN_IF_ERROR(check_write_size(req, shared.limits));
          return from_pb(req);
        },
        &Store::try_txn_async, &Store::txn);
  });

  add_blocking_unary<etcdserverpb::CompactionRequest, etcdserverpb::CompactionResponse>(
      shared, server, "/etcdserverpb.KV/Compact",
      [&shared](const etcdserverpb::CompactionRequest& req, etcdserverpb::CompactionResponse* resp) -> Status {
        KEDGE_ASSIGN_OR_RETURN(auto r, shared.store.compact(req.revision(), req.physical()));
        shared.fill(resp->mutable_header(), r.revision);
        return ok_status();
      });
}

}  // namespace kedge::store::etcd

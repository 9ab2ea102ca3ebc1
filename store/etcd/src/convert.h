// Field-for-field conversion between etcd's wire messages (etcdserverpb,
// mvccpb) and the store's C++ values (kedge/store/types.h), both ways: the
// server converts requests in and responses out, the client the reverse.
//
// Response converters fill header.revision only; the server adds cluster_id,
// member_id and raft_term to top-level headers (nested Txn responses carry
// only a revision, as etcd's do). Pure functions; thread-safe.
#pragma once

#include "etcdserverpb/rpc.pb.h"
#include "kedge/base/status.h"
#include "kedge/store/types.h"
#include "mvccpb/kv.pb.h"

namespace kedge::store::etcd {

// Wire → store (server side).
RangeRequest from_pb(const etcdserverpb::RangeRequest& in);
PutRequest from_pb(const etcdserverpb::PutRequest& in);
// Takes the key and value out of `in` instead of copying them.
PutRequest from_pb(etcdserverpb::PutRequest&& in);
DeleteRangeRequest from_pb(const etcdserverpb::DeleteRangeRequest& in);
// Fails like etcd on an op with no request set ("etcdserver: key not found").
Result<TxnRequest> from_pb(const etcdserverpb::TxnRequest& in);
KeyValue from_pb(const mvccpb::KeyValue& in);
Event from_pb(const mvccpb::Event& in);

// Store → wire (server side).
void to_pb(const KeyValue& in, mvccpb::KeyValue* out);
void to_pb(const Event& in, mvccpb::Event* out);
void to_pb(const RangeResponse& in, etcdserverpb::RangeResponse* out);
void to_pb(const PutResponse& in, etcdserverpb::PutResponse* out);
void to_pb(const DeleteRangeResponse& in, etcdserverpb::DeleteRangeResponse* out);
void to_pb(const TxnResponse& in, etcdserverpb::TxnResponse* out);

// Store → wire requests (client side).
void to_pb(const RangeRequest& in, etcdserverpb::RangeRequest* out);
void to_pb(const PutRequest& in, etcdserverpb::PutRequest* out);
void to_pb(const DeleteRangeRequest& in, etcdserverpb::DeleteRangeRequest* out);
void to_pb(const TxnRequest& in, etcdserverpb::TxnRequest* out);

// Wire responses → store (client side).
RangeResponse from_pb(const etcdserverpb::RangeResponse& in);
PutResponse from_pb(const etcdserverpb::PutResponse& in);
DeleteRangeResponse from_pb(const etcdserverpb::DeleteRangeResponse& in);
TxnResponse from_pb(const etcdserverpb::TxnResponse& in);

}  // namespace kedge::store::etcd

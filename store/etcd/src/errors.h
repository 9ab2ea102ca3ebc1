// The one place where kedge's Status meets gRPC status, in both directions,
// and where the request checks etcd's gRPC front makes before a request
// reaches the store live (their messages are etcd's, which clientv3 matches
// by string).
//
// The store already reports etcd's code and message (kv.h), so mapping out is
// code-for-code; mapping in (client side) keeps gRPC's code and message.
#pragma once

#include <grpcpp/support/status.h>

#include "etcdserverpb/rpc.pb.h"
#include "kedge/base/status.h"

namespace kedge::store::etcd {

// Client side (EtcdStore): a gRPC status as kedge's Status.
Status from_grpc(const grpc::Status& status);

// Unsupported RPCs: an honest Unimplemented naming what is missing.
Status unimplemented_rpc(const char* rpc);

struct RequestLimits {
  std::int64_t max_request_bytes;
  std::int64_t max_txn_ops;
};

// etcd's v3rpc checks (empty key, value/lease given with ignore_*, too many
// txn ops) plus its raft-request size limit for writes.
Status check_range(const etcdserverpb::RangeRequest& r);
Status check_put(const etcdserverpb::PutRequest& r);
Status check_delete(const etcdserverpb::DeleteRangeRequest& r);
Status check_txn(const etcdserverpb::TxnRequest& r, const RequestLimits& limits);
Status check_write_size(const google::protobuf::Message& r, const RequestLimits& limits);

// etcd's messages for errors raised by the front itself.
Status err_lease_ttl_too_large();
inline constexpr std::int64_t kMaxLeaseTtl = 9000000000;  // etcd's MaxLeaseTTL

}  // namespace kedge::store::etcd

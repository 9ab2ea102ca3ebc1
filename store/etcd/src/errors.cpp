#include "errors.h"

#include <string>

namespace kedge::store::etcd {
namespace {

Status err_empty_key() { return invalid_argument("etcdserver: key is not provided"); }
Status err_key_not_found() { return invalid_argument("etcdserver: key not found"); }
Status err_value_provided() { return invalid_argument("etcdserver: value is provided"); }
Status err_lease_provided() { return invalid_argument("etcdserver: lease is provided"); }
Status err_too_many_ops() { return invalid_argument("etcdserver: too many operations in txn request"); }
Status err_request_too_large() { return invalid_argument("etcdserver: request is too large"); }

Status check_op(const etcdserverpb::RequestOp& op, const RequestLimits& limits) {
  switch (op.request_case()) {
    case etcdserverpb::RequestOp::kRequestRange: return check_range(op.request_range());
    case etcdserverpb::RequestOp::kRequestPut: return check_put(op.request_put());
    case etcdserverpb::RequestOp::kRequestDeleteRange: return check_delete(op.request_delete_range());
    case etcdserverpb::RequestOp::kRequestTxn: return check_txn(op.request_txn(), limits);
    case etcdserverpb::RequestOp::REQUEST_NOT_SET: return err_key_not_found();
  }
  return err_key_not_found();
}

}  // namespace

Status from_grpc(const grpc::Status& status) {
  if (status.ok()) return ok_status();
  auto code = static_cast<int>(status.error_code());
  if (code < 0 || code > static_cast<int>(Code::kUnauthenticated)) code = static_cast<int>(Code::kUnknown);
  return Status(static_cast<Code>(code), status.error_message());
}

Status unimplemented_rpc(const char* rpc) {
  return Status(Code::kUnimplemented,
                std::string("kedge store: ") + rpc + " is not supported by this single-member SQLite store");
}

Status check_range(const etcdserverpb::RangeRequest& r) {
  if (r.key().empty()) return err_empty_key();
  return ok_status();
}

Status check_put(const etcdserverpb::PutRequest& r) {
  if (r.key().empty()) return err_empty_key();
  if (r.ignore_value() && !r.value().empty()) return err_value_provided();
  if (r.ignore_lease() && r.lease() != 0) return err_lease_provided();
  return ok_status();
}

Status check_delete(const etcdserverpb::DeleteRangeRequest& r) {
  if (r.key().empty()) return err_empty_key();
  return ok_status();
}

Status check_txn(const etcdserverpb::TxnRequest& r, const RequestLimits& limits) {
  if (r.compare_size() > limits.max_txn_ops || r.success_size() > limits.max_txn_ops ||
      r.failure_size() > limits.max_txn_ops) {
    return err_too_many_ops();
  }
  for (const auto& c : r.compare()) {
    if (c.key().empty()) return err_empty_key();
  }
  for (const auto& op : r.success()) KEDGE_RETURN_IF_ERROR(check_op(op, limits));
  for (const auto& op : r.failure()) KEDGE_RETURN_IF_ERROR(check_op(op, limits));
  return ok_status();
}

Status check_write_size(const google::protobuf::Message& r, const RequestLimits& limits) {
  // etcd compares the marshalled raft request (the request plus a small
  // envelope) with --max-request-bytes; the envelope is a few bytes.
  if (static_cast<std::int64_t>(r.ByteSizeLong()) + 8 > limits.max_request_bytes) return err_request_too_large();
  return ok_status();
}

Status err_lease_ttl_too_large() { return out_of_range("etcdserver: too large lease TTL"); }

}  // namespace kedge::store::etcd

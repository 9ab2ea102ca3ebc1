#include "convert.h"

#include <utility>

namespace kedge::store::etcd {
namespace {

Compare compare_from_pb(const etcdserverpb::Compare& in) {
  Compare c;
  c.result = static_cast<Compare::Result>(in.result());
  c.target = static_cast<Compare::Target>(in.target());
  c.key = in.key();
  c.range_end = in.range_end();
  switch (in.target_union_case()) {
    case etcdserverpb::Compare::kVersion: c.number = in.version(); break;
    case etcdserverpb::Compare::kCreateRevision: c.number = in.create_revision(); break;
    case etcdserverpb::Compare::kModRevision: c.number = in.mod_revision(); break;
    case etcdserverpb::Compare::kValue: c.value = in.value(); break;
    case etcdserverpb::Compare::kLease: c.number = in.lease(); break;
    case etcdserverpb::Compare::TARGET_UNION_NOT_SET: break;
  }
  return c;
}

void compare_to_pb(const Compare& in, etcdserverpb::Compare* out) {
  out->set_result(static_cast<etcdserverpb::Compare::CompareResult>(in.result));
  out->set_target(static_cast<etcdserverpb::Compare::CompareTarget>(in.target));
  out->set_key(in.key);
  if (!in.range_end.empty()) out->set_range_end(in.range_end);
  switch (in.target) {
    case Compare::Target::kVersion: out->set_version(in.number); break;
    case Compare::Target::kCreate: out->set_create_revision(in.number); break;
    case Compare::Target::kMod: out->set_mod_revision(in.number); break;
    case Compare::Target::kValue: out->set_value(in.value); break;
    case Compare::Target::kLease: out->set_lease(in.number); break;
  }
}

Result<std::vector<RequestOp>> ops_from_pb(
    const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& in) {
  std::vector<RequestOp> ops;
  ops.reserve(static_cast<std::size_t>(in.size()));
  for (const auto& op : in) {
    switch (op.request_case()) {
      case etcdserverpb::RequestOp::kRequestRange: ops.push_back({from_pb(op.request_range())}); break;
      case etcdserverpb::RequestOp::kRequestPut: ops.push_back({from_pb(op.request_put())}); break;
      case etcdserverpb::RequestOp::kRequestDeleteRange:
        ops.push_back({from_pb(op.request_delete_range())});
        break;
      case etcdserverpb::RequestOp::kRequestTxn: {
        KEDGE_ASSIGN_OR_RETURN(auto txn, from_pb(op.request_txn()));
        ops.push_back({std::move(txn)});
        break;
      }
      case etcdserverpb::RequestOp::REQUEST_NOT_SET:
        return invalid_argument("etcdserver: key not found");
    }
  }
  return ops;
}

void ops_to_pb(const std::vector<RequestOp>& in,
               google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>* out) {
  for (const auto& op : in) {
    auto* o = out->Add();
    std::visit(
        [o](const auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, RangeRequest>) to_pb(r, o->mutable_request_range());
          if constexpr (std::is_same_v<T, PutRequest>) to_pb(r, o->mutable_request_put());
          if constexpr (std::is_same_v<T, DeleteRangeRequest>) to_pb(r, o->mutable_request_delete_range());
          if constexpr (std::is_same_v<T, TxnRequest>) to_pb(r, o->mutable_request_txn());
        },
        op.op);
  }
}

}  // namespace

RangeRequest from_pb(const etcdserverpb::RangeRequest& in) {
  return RangeRequest{
      .key = in.key(),
      .range_end = in.range_end(),
      .limit = in.limit(),
      .revision = in.revision(),
      .sort_order = static_cast<SortOrder>(in.sort_order()),
      .sort_target = static_cast<SortTarget>(in.sort_target()),
      .serializable = in.serializable(),
      .keys_only = in.keys_only(),
      .count_only = in.count_only(),
      .min_mod_revision = in.min_mod_revision(),
      .max_mod_revision = in.max_mod_revision(),
      .min_create_revision = in.min_create_revision(),
      .max_create_revision = in.max_create_revision(),
  };
}

PutRequest from_pb(const etcdserverpb::PutRequest& in) {
  return PutRequest{.key = in.key(),
                    .value = in.value(),
                    .lease = in.lease(),
                    .prev_kv = in.prev_kv(),
                    .ignore_value = in.ignore_value(),
                    .ignore_lease = in.ignore_lease()};
}

PutRequest from_pb(etcdserverpb::PutRequest&& in) {
  return PutRequest{.key = std::move(*in.mutable_key()),
                    .value = std::move(*in.mutable_value()),
                    .lease = in.lease(),
                    .prev_kv = in.prev_kv(),
                    .ignore_value = in.ignore_value(),
                    .ignore_lease = in.ignore_lease()};
}

DeleteRangeRequest from_pb(const etcdserverpb::DeleteRangeRequest& in) {
  return DeleteRangeRequest{.key = in.key(), .range_end = in.range_end(), .prev_kv = in.prev_kv()};
}

Result<TxnRequest> from_pb(const etcdserverpb::TxnRequest& in) {
  TxnRequest txn;
  txn.compare.reserve(static_cast<std::size_t>(in.compare_size()));
  for (const auto& c : in.compare()) txn.compare.push_back(compare_from_pb(c));
  KEDGE_ASSIGN_OR_RETURN(txn.success, ops_from_pb(in.success()));
  KEDGE_ASSIGN_OR_RETURN(txn.failure, ops_from_pb(in.failure()));
  return txn;
}

KeyValue from_pb(const mvccpb::KeyValue& in) {
  return KeyValue{.key = in.key(),
                  .value = in.value(),
                  .create_revision = in.create_revision(),
                  .mod_revision = in.mod_revision(),
                  .version = in.version(),
                  .lease = in.lease()};
}

Event from_pb(const mvccpb::Event& in) {
  Event e;
  e.type = in.type() == mvccpb::Event::DELETE ? Event::Type::kDelete : Event::Type::kPut;
  e.kv = from_pb(in.kv());
  if (in.has_prev_kv()) e.prev_kv = from_pb(in.prev_kv());
  return e;
}

void to_pb(const KeyValue& in, mvccpb::KeyValue* out) {
  out->set_key(in.key);
  out->set_value(in.value);
  out->set_create_revision(in.create_revision);
  out->set_mod_revision(in.mod_revision);
  out->set_version(in.version);
  out->set_lease(in.lease);
}

void to_pb(const Event& in, mvccpb::Event* out) {
  out->set_type(in.type == Event::Type::kDelete ? mvccpb::Event::DELETE : mvccpb::Event::PUT);
  to_pb(in.kv, out->mutable_kv());
  if (in.prev_kv) to_pb(*in.prev_kv, out->mutable_prev_kv());
}

void to_pb(const RangeResponse& in, etcdserverpb::RangeResponse* out) {
  out->mutable_header()->set_revision(in.revision);
  out->mutable_kvs()->Reserve(static_cast<int>(in.kvs.size()));
  for (const auto& kv : in.kvs) to_pb(kv, out->add_kvs());
  out->set_more(in.more);
  out->set_count(in.count);
}

void to_pb(const PutResponse& in, etcdserverpb::PutResponse* out) {
  out->mutable_header()->set_revision(in.revision);
  if (in.prev_kv) to_pb(*in.prev_kv, out->mutable_prev_kv());
}

void to_pb(const DeleteRangeResponse& in, etcdserverpb::DeleteRangeResponse* out) {
  out->mutable_header()->set_revision(in.revision);
  out->set_deleted(in.deleted);
  for (const auto& kv : in.prev_kvs) to_pb(kv, out->add_prev_kvs());
}

void to_pb(const TxnResponse& in, etcdserverpb::TxnResponse* out) {
  out->mutable_header()->set_revision(in.revision);
  out->set_succeeded(in.succeeded);
  for (const auto& r : in.responses) {
    auto* o = out->add_responses();
    std::visit(
        [o](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, RangeResponse>) to_pb(x, o->mutable_response_range());
          if constexpr (std::is_same_v<T, PutResponse>) to_pb(x, o->mutable_response_put());
          if constexpr (std::is_same_v<T, DeleteRangeResponse>) to_pb(x, o->mutable_response_delete_range());
          if constexpr (std::is_same_v<T, TxnResponse>) to_pb(x, o->mutable_response_txn());
        },
        r.op);
  }
}

void to_pb(const RangeRequest& in, etcdserverpb::RangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_limit(in.limit);
  out->set_revision(in.revision);
  out->set_sort_order(static_cast<etcdserverpb::RangeRequest::SortOrder>(in.sort_order));
  out->set_sort_target(static_cast<etcdserverpb::RangeRequest::SortTarget>(in.sort_target));
  out->set_serializable(in.serializable);
  out->set_keys_only(in.keys_only);
  out->set_count_only(in.count_only);
  out->set_min_mod_revision(in.min_mod_revision);
  out->set_max_mod_revision(in.max_mod_revision);
  out->set_min_create_revision(in.min_create_revision);
  out->set_max_create_revision(in.max_create_revision);
}

void to_pb(const PutRequest& in, etcdserverpb::PutRequest* out) {
  out->set_key(in.key);
  out->set_value(in.value);
  out->set_lease(in.lease);
  out->set_prev_kv(in.prev_kv);
  out->set_ignore_value(in.ignore_value);
  out->set_ignore_lease(in.ignore_lease);
}

void to_pb(const DeleteRangeRequest& in, etcdserverpb::DeleteRangeRequest* out) {
  out->set_key(in.key);
  out->set_range_end(in.range_end);
  out->set_prev_kv(in.prev_kv);
}

void to_pb(const TxnRequest& in, etcdserverpb::TxnRequest* out) {
  for (const auto& c : in.compare) compare_to_pb(c, out->add_compare());
  ops_to_pb(in.success, out->mutable_success());
  ops_to_pb(in.failure, out->mutable_failure());
}

RangeResponse from_pb(const etcdserverpb::RangeResponse& in) {
  RangeResponse r;
  r.revision = in.header().revision();
  r.kvs.reserve(static_cast<std::size_t>(in.kvs_size()));
  for (const auto& kv : in.kvs()) r.kvs.push_back(from_pb(kv));
  r.more = in.more();
  r.count = in.count();
  return r;
}

PutResponse from_pb(const etcdserverpb::PutResponse& in) {
  PutResponse r;
  r.revision = in.header().revision();
  if (in.has_prev_kv()) r.prev_kv = from_pb(in.prev_kv());
  return r;
}

DeleteRangeResponse from_pb(const etcdserverpb::DeleteRangeResponse& in) {
  DeleteRangeResponse r;
  r.revision = in.header().revision();
  r.deleted = in.deleted();
  for (const auto& kv : in.prev_kvs()) r.prev_kvs.push_back(from_pb(kv));
  return r;
}

TxnResponse from_pb(const etcdserverpb::TxnResponse& in) {
  TxnResponse r;
  r.revision = in.header().revision();
  r.succeeded = in.succeeded();
  for (const auto& op : in.responses()) {
    switch (op.response_case()) {
      case etcdserverpb::ResponseOp::kResponseRange: r.responses.push_back({from_pb(op.response_range())}); break;
      case etcdserverpb::ResponseOp::kResponsePut: r.responses.push_back({from_pb(op.response_put())}); break;
      case etcdserverpb::ResponseOp::kResponseDeleteRange:
        r.responses.push_back({from_pb(op.response_delete_range())});
        break;
      case etcdserverpb::ResponseOp::kResponseTxn: r.responses.push_back({from_pb(op.response_txn())}); break;
      case etcdserverpb::ResponseOp::RESPONSE_NOT_SET: r.responses.push_back({RangeResponse{}}); break;
    }
  }
  return r;
}

}  // namespace kedge::store::etcd

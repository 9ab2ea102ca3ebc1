// Request and response values of the store, shaped after etcd v3's
// etcdserverpb/mvccpb messages so the gRPC front is a field-for-field mapping
// and in-process callers (edge-control) see exactly etcd's semantics.
//
// Plain values: copy and move freely between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kedge::store {

using Revision = std::int64_t;
using LeaseId = std::int64_t;

inline constexpr LeaseId kNoLease = 0;

// mvccpb.KeyValue.
struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;
  Revision mod_revision = 0;
  std::int64_t version = 0;  // number of puts since creation; 1 for a new key
  LeaseId lease = kNoLease;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// etcd's key ranges: range_end empty = the single key; "\0" with key "\0" =
// all keys; "\0" otherwise = every key >= key; else [key, range_end).
struct KeyRange {
  std::string key;
  std::string range_end;
};

enum class SortOrder : std::uint8_t { kNone = 0, kAscend = 1, kDescend = 2 };
enum class SortTarget : std::uint8_t { kKey = 0, kVersion = 1, kCreate = 2, kMod = 3, kValue = 4 };

struct RangeRequest {
  std::string key;
  std::string range_end;
  std::int64_t limit = 0;  // 0 = no limit
  Revision revision = 0;   // 0 = current
  SortOrder sort_order = SortOrder::kNone;
  SortTarget sort_target = SortTarget::kKey;
  bool serializable = false;
  bool keys_only = false;
  bool count_only = false;
  Revision min_mod_revision = 0;
  Revision max_mod_revision = 0;
  Revision min_create_revision = 0;
  Revision max_create_revision = 0;
};

struct RangeResponse {
  Revision revision = 0;  // header.revision: the store's revision the read saw
  std::vector<KeyValue> kvs;
  bool more = false;
  std::int64_t count = 0;
};

struct PutRequest {
  std::string key;
  std::string value;
  LeaseId lease = kNoLease;
  bool prev_kv = false;
  bool ignore_value = false;
  bool ignore_lease = false;
};

struct PutResponse {
  Revision revision = 0;
  std::optional<KeyValue> prev_kv;
};

struct DeleteRangeRequest {
  std::string key;
  std::string range_end;
  bool prev_kv = false;
};

struct DeleteRangeResponse {
  Revision revision = 0;
  std::int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

struct Compare {
  enum class Result : std::uint8_t { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
  enum class Target : std::uint8_t { kVersion = 0, kCreate = 1, kMod = 2, kValue = 3, kLease = 4 };
  Result result = Result::kEqual;
  Target target = Target::kVersion;
  std::string key;
  std::string range_end;
  // Target kValue compares `value`; every other target compares `number`.
  std::int64_t number = 0;
  std::string value;
};

struct RequestOp;
struct ResponseOp;

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<RequestOp> success;
  std::vector<RequestOp> failure;
};

struct TxnResponse {
  Revision revision = 0;
  bool succeeded = false;
  std::vector<ResponseOp> responses;
};

struct RequestOp {
  std::variant<RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest> op;
};

struct ResponseOp {
  std::variant<RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse> op;
};

struct CompactResponse {
  Revision revision = 0;
};

// mvccpb.Event.
struct Event {
  enum class Type : std::uint8_t { kPut = 0, kDelete = 1 };
  Type type = Type::kPut;
  KeyValue kv;  // for deletes: key and mod_revision (the delete's revision) only
  std::optional<KeyValue> prev_kv;
};

struct WatchRequest {
  std::string key;
  std::string range_end;
  Revision start_revision = 0;  // 0 = from the next revision
  bool prev_kv = false;
  bool filter_noput = false;
  bool filter_nodelete = false;
};

struct LeaseGrantResponse {
  Revision revision = 0;
  LeaseId id = kNoLease;
  std::int64_t ttl = 0;
};

struct LeaseTimeToLiveResponse {
  Revision revision = 0;
  LeaseId id = kNoLease;
  std::int64_t ttl = -1;  // remaining seconds; -1 when the lease does not exist
  std::int64_t granted_ttl = 0;
  std::vector<std::string> keys;  // only when asked for
};

struct StoreStatus {
  Revision revision = 0;
  Revision compact_revision = 0;
  std::int64_t db_size = 0;          // bytes of the database file plus its WAL
  std::int64_t db_size_in_use = 0;   // bytes of live pages
};

// Maintenance.Hash / HashKV.
struct HashResponse {
  Revision revision = 0;          // the store's current revision (header)
  std::uint32_t hash = 0;
  Revision compact_revision = 0;  // the compaction point the hash was taken at
};

}  // namespace kedge::store

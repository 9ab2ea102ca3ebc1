// What a request does to the MVCC tables, with etcd 3.4's semantics:
// validation as v3rpc/key.go does it, then apply as the applier and mvcc's
// storeTxnWrite do (one revision per request that changes something).
#include <limits>
#include <map>
#include <set>

#include "errors.h"
#include "store_impl.h"

namespace kedge::store {
namespace {

constexpr Revision kLatest = std::numeric_limits<Revision>::max();

// Interval [key, end) of a delete; a point when end is empty; "\0" = open.
struct Interval {
  std::string key;
  std::string end;
  bool contains(const std::string& k) const { return mvcc::in_range(k, key, end); }
};

// etcd's checkIntervals: no put may hit a key another put or a delete of the
// same (flattened) branch touches; then/else of a nested txn may overlap.
Status check_intervals(const std::vector<RequestOp>& ops, std::set<std::string>& puts,
                       std::vector<Interval>& dels) {
  for (const RequestOp& op : ops) {
    if (const auto* d = std::get_if<DeleteRangeRequest>(&op.op)) dels.push_back({d->key, d->range_end});
  }
  auto deleted = [&](const std::string& k) {
    for (const Interval& iv : dels) {
      if (iv.contains(k)) return true;
    }
    return false;
  };
  for (const RequestOp& op : ops) {
    const auto* t = std::get_if<TxnRequest>(&op.op);
    if (t == nullptr) continue;
    std::set<std::string> puts_then, puts_else;
    std::vector<Interval> dels_then, dels_else;
    KEDGE_RETURN_IF_ERROR(check_intervals(t->success, puts_then, dels_then));
    KEDGE_RETURN_IF_ERROR(check_intervals(t->failure, puts_else, dels_else));
    for (const std::string& k : puts_then) {
      if (puts.contains(k) || deleted(k)) return etcd_errors::duplicate_key();
      puts.insert(k);
    }
    for (const std::string& k : puts_else) {
      if (puts.contains(k) && !puts_then.contains(k)) return etcd_errors::duplicate_key();
      if (deleted(k)) return etcd_errors::duplicate_key();
      puts.insert(k);
    }
    dels.insert(dels.end(), dels_then.begin(), dels_then.end());
    dels.insert(dels.end(), dels_else.begin(), dels_else.end());
  }
  for (const RequestOp& op : ops) {
    const auto* p = std::get_if<PutRequest>(&op.op);
    if (p == nullptr) continue;
    if (puts.contains(p->key) || deleted(p->key)) return etcd_errors::duplicate_key();
    puts.insert(p->key);
  }
  return {};
}

Status check_txn_shape(const TxnRequest& r, std::int64_t max_ops) {
  const std::int64_t opc = static_cast<std::int64_t>(
      std::max({r.compare.size(), r.success.size(), r.failure.size()}));
  if (opc > max_ops) return etcd_errors::too_many_ops();
  for (const Compare& c : r.compare) {
    if (c.key.empty()) return etcd_errors::empty_key();
  }
  for (const auto* branch : {&r.success, &r.failure}) {
    for (const RequestOp& op : *branch) {
      Status status;
      if (const auto* range = std::get_if<RangeRequest>(&op.op)) {
        if (range->key.empty()) status = etcd_errors::empty_key();
      } else if (const auto* put = std::get_if<PutRequest>(&op.op)) {
        status = validate_put(*put);
      } else if (const auto* del = std::get_if<DeleteRangeRequest>(&op.op)) {
        if (del->key.empty()) status = etcd_errors::empty_key();
      } else if (const auto* txn = std::get_if<TxnRequest>(&op.op)) {
        // etcd passes max_ops - opc down (key.go), so nesting shrinks the budget.
        status = check_txn_shape(*txn, max_ops - opc);
      }
      KEDGE_RETURN_IF_ERROR(status);
    }
  }
  return {};
}

std::int64_t size_of(const RangeRequest& r) { return static_cast<std::int64_t>(r.key.size() + r.range_end.size()) + 40; }
std::int64_t size_of(const PutRequest& r) { return static_cast<std::int64_t>(r.key.size() + r.value.size()) + 20; }
std::int64_t size_of(const DeleteRangeRequest& r) { return static_cast<std::int64_t>(r.key.size() + r.range_end.size()) + 8; }
std::int64_t size_of(const TxnRequest& r) {
  std::int64_t size = 8;
  for (const Compare& c : r.compare) size += static_cast<std::int64_t>(c.key.size() + c.range_end.size() + c.value.size()) + 16;
  for (const auto* branch : {&r.success, &r.failure}) {
    for (const RequestOp& op : *branch) {
      size += 4 + std::visit([](const auto& o) { return size_of(o); }, op.op);
    }
  }
  return size;
}

int compare_result(const Compare& c, const KeyValue& kv) {
  auto cmp = [](auto a, auto b) { return a < b ? -1 : (a > b ? 1 : 0); };
  switch (c.target) {
    case Compare::Target::kValue: return kv.value.compare(c.value) < 0 ? -1 : (kv.value.compare(c.value) > 0 ? 1 : 0);
    case Compare::Target::kVersion: return cmp(kv.version, c.number);
    case Compare::Target::kCreate: return cmp(kv.create_revision, c.number);
    case Compare::Target::kMod: return cmp(kv.mod_revision, c.number);
    case Compare::Target::kLease: return cmp(kv.lease, c.number);
  }
  return 0;
}

bool compare_holds(const Compare& c, const KeyValue& kv) {
  const int result = compare_result(c, kv);
  switch (c.result) {
    case Compare::Result::kEqual: return result == 0;
    case Compare::Result::kNotEqual: return result != 0;
    case Compare::Result::kGreater: return result > 0;
    case Compare::Result::kLess: return result < 0;
  }
  return false;
}

}  // namespace

Status validate_put(const PutRequest& r) {
  if (r.key.empty()) return etcd_errors::empty_key();
  if (r.ignore_value && !r.value.empty()) return etcd_errors::value_provided();
  if (r.ignore_lease && r.lease != kNoLease) return etcd_errors::lease_provided();
  return {};
}

Status validate_txn(const TxnRequest& r, std::int64_t max_txn_ops) {
  KEDGE_RETURN_IF_ERROR(check_txn_shape(r, max_txn_ops));
  for (const auto* branch : {&r.success, &r.failure}) {
    std::set<std::string> puts;
    std::vector<Interval> dels;
    KEDGE_RETURN_IF_ERROR(check_intervals(*branch, puts, dels));
  }
  return {};
}

std::int64_t request_size(const WriteRequest& request) {
  if (const auto* p = std::get_if<PutRequest>(&request)) return size_of(*p);
  if (const auto* d = std::get_if<DeleteRangeRequest>(&request)) return size_of(*d);
  if (const auto* t = std::get_if<TxnRequest>(&request)) return size_of(*t);
  return 16;
}

bool txn_is_read_only(const TxnRequest& r) {
  for (const auto* branch : {&r.success, &r.failure}) {
    for (const RequestOp& op : *branch) {
      if (std::holds_alternative<RangeRequest>(op.op)) continue;
      if (const auto* t = std::get_if<TxnRequest>(&op.op); t && txn_is_read_only(*t)) continue;
      return false;
    }
  }
  return true;
}

Status Applier::insert(const KeyValue& kv) {
  const auto change = static_cast<std::int64_t>(changes_.size());
  if (change >= mvcc::kMaxChangesPerRevision) {
    return failed_precondition("kedge: one request may change at most " +
                               std::to_string(mvcc::kMaxChangesPerRevision) + " keys");
  }
  KEDGE_ASSIGN_OR_RETURN(Stmt * s, db_.prepare("INSERT INTO kv(id, key, mod_revision, create_revision, version, "
                                               "lease, value) VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6)"));
  s->bind(1, kv.key).bind(2, kv.mod_revision).bind(3, kv.create_revision).bind(4, kv.version);
  const std::int64_t id = mvcc::first_id(kv.mod_revision) + change;
  s->bind(5, kv.lease).bind(6, kv.value).bind(7, id);
  KEDGE_RETURN_IF_ERROR(s->run());
  index_.add(kv.key, id, kv.create_revision == 0);
  return {};
}

Result<PutResponse> Applier::put(const PutRequest& r) {
  if (!writable_) return internal_error("put on a read-only connection");
  KEDGE_ASSIGN_OR_RETURN(std::optional<KeyValue> prev, mvcc::get(db_, index_, r.key, kLatest));
  if ((r.ignore_value || r.ignore_lease) && !prev) return etcd_errors::key_not_found();
  if (r.lease != kNoLease && !lessor_->exists(r.lease)) return etcd_errors::lease_not_found();
  const Revision rev = new_revision();
  KeyValue kv{.key = r.key,
              .value = r.ignore_value ? prev->value : r.value,
              .create_revision = prev ? prev->create_revision : rev,
              .mod_revision = rev,
              .version = prev ? prev->version + 1 : 1,
              .lease = r.ignore_lease ? prev->lease : r.lease};
  KEDGE_RETURN_IF_ERROR(insert(kv));
  if (prev && prev->lease != kNoLease) lessor_->detach(prev->lease, r.key);
  if (kv.lease != kNoLease) lessor_->attach(kv.lease, r.key);
  PutResponse response{.revision = rev, .prev_kv = std::nullopt};
  if (r.prev_kv) response.prev_kv = prev;
  changes_.push_back(Event{.type = Event::Type::kPut, .kv = std::move(kv), .prev_kv = std::move(prev)});
  return response;
}

Status Applier::delete_keys(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    KEDGE_ASSIGN_OR_RETURN(std::optional<KeyValue> prev, mvcc::get(db_, index_, key, kLatest));
    if (!prev) continue;
    KeyValue tomb;
    tomb.key = key;
    tomb.mod_revision = new_revision();
    KEDGE_RETURN_IF_ERROR(insert(tomb));
    if (prev->lease != kNoLease) lessor_->detach(prev->lease, key);
    changes_.push_back(Event{.type = Event::Type::kDelete, .kv = std::move(tomb), .prev_kv = std::move(prev)});
  }
  return {};
}

Result<DeleteRangeResponse> Applier::delete_range(const DeleteRangeRequest& r) {
  if (!writable_) return internal_error("delete on a read-only connection");
  std::vector<mvcc::LiveRow> rows = mvcc::live_rows(index_, r.key, r.range_end, kLatest);
  DeleteRangeResponse response;
  const std::size_t first = changes_.size();
  std::vector<std::string> keys;
  keys.reserve(rows.size());
  for (auto& row : rows) keys.push_back(std::move(row.key));
  KEDGE_RETURN_IF_ERROR(delete_keys(keys));
  response.deleted = static_cast<std::int64_t>(changes_.size() - first);
  if (r.prev_kv) {
    for (std::size_t i = first; i < changes_.size(); ++i) response.prev_kvs.push_back(*changes_[i].prev_kv);
  }
  response.revision = current();
  return response;
}

Result<bool> Applier::compare(const Compare& c) {
  std::vector<mvcc::LiveRow> rows = mvcc::live_rows(index_, c.key, c.range_end, current());
  if (rows.empty()) {
    // etcd: a value compare on a missing key always fails; the numbers of a
    // missing key are all 0.
    if (c.target == Compare::Target::kValue) return false;
    return compare_holds(c, KeyValue{});
  }
  for (mvcc::LiveRow& row : rows) {
    KeyValue kv;
    kv.key = std::move(row.key);
    KEDGE_RETURN_IF_ERROR(mvcc::fill(db_, row.id, c.target != Compare::Target::kValue, kv));
    if (!compare_holds(c, kv)) return false;
  }
  return true;
}

// etcd 3.4 decides every branch (nested ones too) against the state before
// the txn writes anything (compareToPath).
Result<Applier::Path> Applier::evaluate(const TxnRequest& r) {
  Path path;
  path.succeeded = true;
  for (const Compare& c : r.compare) {
    KEDGE_ASSIGN_OR_RETURN(bool ok, compare(c));
    if (!ok) {
      path.succeeded = false;
      break;
    }
  }
  for (const RequestOp& op : path.succeeded ? r.success : r.failure) {
    if (const auto* t = std::get_if<TxnRequest>(&op.op)) {
      KEDGE_ASSIGN_OR_RETURN(Path nested, evaluate(*t));
      path.nested.push_back(std::move(nested));
    }
  }
  return path;
}

// etcd's checkRequests on the chosen path: leases exist, ignore_* keys exist,
// range revisions are neither compacted nor in the future.
Status Applier::check(const TxnRequest& r, const Path& path) {
  std::size_t nested = 0;
  for (const RequestOp& op : path.succeeded ? r.success : r.failure) {
    if (const auto* p = std::get_if<PutRequest>(&op.op)) {
      if (p->ignore_value || p->ignore_lease) {
        KEDGE_ASSIGN_OR_RETURN(std::optional<KeyValue> prev, mvcc::get(db_, index_, p->key, current()));
        if (!prev) return etcd_errors::key_not_found();
      }
      if (p->lease != kNoLease && !lessor_->exists(p->lease)) return etcd_errors::lease_not_found();
    } else if (const auto* g = std::get_if<RangeRequest>(&op.op)) {
      if (g->revision > current()) return etcd_errors::future_rev();
      if (g->revision != 0 && g->revision < compacted_) return etcd_errors::compacted();
    } else if (const auto* t = std::get_if<TxnRequest>(&op.op)) {
      KEDGE_RETURN_IF_ERROR(check(*t, path.nested[nested++]));
    }
  }
  return {};
}

Result<TxnResponse> Applier::execute(const TxnRequest& r, const Path& path) {
  TxnResponse response;
  response.succeeded = path.succeeded;
  std::size_t nested = 0;
  for (const RequestOp& op : path.succeeded ? r.success : r.failure) {
    ResponseOp out;
    if (const auto* g = std::get_if<RangeRequest>(&op.op)) {
      KEDGE_ASSIGN_OR_RETURN(out.op, mvcc::range(db_, index_, *g, current(), compacted_));
    } else if (const auto* p = std::get_if<PutRequest>(&op.op)) {
      KEDGE_ASSIGN_OR_RETURN(out.op, put(*p));
    } else if (const auto* d = std::get_if<DeleteRangeRequest>(&op.op)) {
      KEDGE_ASSIGN_OR_RETURN(out.op, delete_range(*d));
    } else if (const auto* t = std::get_if<TxnRequest>(&op.op)) {
      KEDGE_ASSIGN_OR_RETURN(out.op, execute(*t, path.nested[nested++]));
    }
    response.responses.push_back(std::move(out));
  }
  response.revision = current();
  return response;
}

Result<TxnResponse> Applier::txn(const TxnRequest& r) {
  KEDGE_ASSIGN_OR_RETURN(Path path, evaluate(r));
  KEDGE_RETURN_IF_ERROR(check(r, path));
  KEDGE_ASSIGN_OR_RETURN(TxnResponse response, execute(r, path));
  // Nested txn responses carry the revision the whole txn ends at.
  std::function<void(TxnResponse&)> fix = [&](TxnResponse& t) {
    t.revision = current();
    for (ResponseOp& op : t.responses) {
      if (auto* nested = std::get_if<TxnResponse>(&op.op)) fix(*nested);
    }
  };
  fix(response);
  return response;
}

}  // namespace kedge::store

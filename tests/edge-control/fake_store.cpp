#include "fake_store.h"

#include <algorithm>

namespace kedge::testing {

using namespace kedge::store;

struct FakeStore::Watcher : public Watch {
  FakeStore* store = nullptr;
  WatchObserver* observer = nullptr;
  WatchRequest request;
  bool canceled = false;
  ~Watcher() override {
    std::unique_lock lock(store->mu_);
    std::erase(store->watchers_, this);
    canceled = true;
    // Wait until queued callbacks for this watcher have run.
    store->queue_.push_back([] {});
    store->cv_.notify_all();
    store->cv_.wait(lock, [&] { return store->queue_.empty() || store->stop_; });
  }
  void request_progress() override {
    std::lock_guard lock(store->mu_);
    Revision r = store->rev_;
    WatchObserver* o = observer;
    store->queue_.push_back([o, r] { o->on_events(r, {}); });
    store->cv_.notify_all();
  }
};

FakeStore::FakeStore() : notifier_([this] { notifier_loop(); }) {}

FakeStore::~FakeStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  notifier_.join();
}

void FakeStore::notifier_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto fn = std::move(queue_.front());
    lock.unlock();
    fn();
    lock.lock();
    queue_.pop_front();
    cv_.notify_all();
  }
}

bool FakeStore::in_range(const std::string& key, const std::string& start, const std::string& end) const {
  if (end.empty()) return key == start;
  if (end == std::string(1, '\0')) return key >= start;
  return key >= start && key < end;
}

std::optional<KeyValue> FakeStore::current(const std::string& key) const {
  auto it = data_.find(key);
  if (it == data_.end() || it->second.empty() || it->second.back().deleted) return std::nullopt;
  return it->second.back().kv;
}

RangeResponse FakeStore::range_locked(const RangeRequest& r) const {
  RangeResponse out;
  out.revision = rev_;
  Revision at = r.revision == 0 ? rev_ : r.revision;
  for (const auto& [key, versions] : data_) {
    if (!in_range(key, r.key, r.range_end)) continue;
    const Version* v = nullptr;
    for (const auto& ver : versions) {
      if (ver.kv.mod_revision <= at) v = &ver;
    }
    if (v == nullptr || v->deleted) continue;
    ++out.count;
    if (r.count_only) continue;
    if (r.limit > 0 && static_cast<std::int64_t>(out.kvs.size()) >= r.limit) {
      out.more = true;
      continue;
    }
    KeyValue kv = v->kv;
    if (r.keys_only) kv.value.clear();
    out.kvs.push_back(std::move(kv));
  }
  return out;
}

Result<RangeResponse> FakeStore::range(const RangeRequest& request) {
  std::lock_guard lock(mu_);
  if (request.revision > 0 && request.revision < compacted_) {
    return out_of_range("etcdserver: mvcc: required revision has been compacted");
  }
  if (request.revision > rev_) return out_of_range("etcdserver: mvcc: required revision is a future revision");
  return range_locked(request);
}

bool FakeStore::compare_locked(const Compare& c) const {
  auto kv = current(c.key);
  std::int64_t have = 0;
  switch (c.target) {
    case Compare::Target::kVersion: have = kv ? kv->version : 0; break;
    case Compare::Target::kCreate: have = kv ? kv->create_revision : 0; break;
    case Compare::Target::kMod: have = kv ? kv->mod_revision : 0; break;
    case Compare::Target::kLease: have = kv ? kv->lease : 0; break;
    case Compare::Target::kValue: {
      if (!kv) return false;
      int cmp = kv->value.compare(c.value);
      switch (c.result) {
        case Compare::Result::kEqual: return cmp == 0;
        case Compare::Result::kNotEqual: return cmp != 0;
        case Compare::Result::kGreater: return cmp > 0;
        case Compare::Result::kLess: return cmp < 0;
      }
      return false;
    }
  }
  switch (c.result) {
    case Compare::Result::kEqual: return have == c.number;
    case Compare::Result::kNotEqual: return have != c.number;
    case Compare::Result::kGreater: return have > c.number;
    case Compare::Result::kLess: return have < c.number;
  }
  return false;
}

void FakeStore::apply_locked(const RequestOp& op, Revision rev, ResponseOp& out,
                             std::vector<Event>& events) {
  if (const auto* p = std::get_if<PutRequest>(&op.op)) {
    auto prev = current(p->key);
    KeyValue kv{.key = p->key, .value = p->value,
                .create_revision = prev ? prev->create_revision : rev, .mod_revision = rev,
                .version = prev ? prev->version + 1 : 1, .lease = p->lease};
    data_[p->key].push_back(Version{kv, false});
    events.push_back(Event{Event::Type::kPut, kv, prev});
    out.op = PutResponse{rev, prev};
  } else if (const auto* d = std::get_if<DeleteRangeRequest>(&op.op)) {
    DeleteRangeResponse dr;
    dr.revision = rev;
    for (auto& [key, versions] : data_) {
      if (!in_range(key, d->key, d->range_end)) continue;
      auto prev = current(key);
      if (!prev) continue;
      KeyValue tomb{.key = key, .mod_revision = rev};
      versions.push_back(Version{tomb, true});
      events.push_back(Event{Event::Type::kDelete, tomb, prev});
      ++dr.deleted;
      dr.prev_kvs.push_back(*prev);
    }
    out.op = dr;
  } else if (const auto* r = std::get_if<RangeRequest>(&op.op)) {
    out.op = range_locked(*r);
  }
}

void FakeStore::publish_locked(std::vector<Event> events) {
  if (events.empty()) return;
  history_.insert(history_.end(), events.begin(), events.end());
  for (Watcher* w : watchers_) {
    std::vector<Event> mine;
    for (const auto& e : events) {
      if (in_range(e.kv.key, w->request.key, w->request.range_end)) mine.push_back(e);
    }
    if (mine.empty()) continue;
    Revision r = rev_;
    WatchObserver* o = w->observer;
    queue_.push_back([o, r, mine = std::move(mine)] { o->on_events(r, mine); });
  }
  cv_.notify_all();
}

Result<TxnResponse> FakeStore::txn(const TxnRequest& request) {
  std::lock_guard lock(mu_);
  bool ok = std::all_of(request.compare.begin(), request.compare.end(),
                        [&](const Compare& c) { return compare_locked(c); });
  const auto& ops = ok ? request.success : request.failure;
  bool writes = std::any_of(ops.begin(), ops.end(), [](const RequestOp& op) {
    return !std::holds_alternative<RangeRequest>(op.op);
  });
  Revision rev = writes ? rev_ + 1 : rev_;
  TxnResponse out;
  out.succeeded = ok;
  std::vector<Event> events;
  for (const auto& op : ops) {
    ResponseOp r;
    apply_locked(op, rev, r, events);
    out.responses.push_back(std::move(r));
  }
  if (!events.empty()) rev_ = rev;
  out.revision = rev_;
  publish_locked(std::move(events));
  return out;
}

Result<PutResponse> FakeStore::put(const PutRequest& request) {
  TxnRequest t;
  t.success.push_back(RequestOp{request});
  KEDGE_ASSIGN_OR_RETURN(auto r, txn(t));
  return std::get<PutResponse>(r.responses[0].op);
}

Result<DeleteRangeResponse> FakeStore::delete_range(const DeleteRangeRequest& request) {
  TxnRequest t;
  t.success.push_back(RequestOp{request});
  KEDGE_ASSIGN_OR_RETURN(auto r, txn(t));
  return std::get<DeleteRangeResponse>(r.responses[0].op);
}

Result<CompactResponse> FakeStore::compact(Revision revision, bool) {
  std::lock_guard lock(mu_);
  if (revision <= compacted_) return out_of_range("etcdserver: mvcc: required revision has been compacted");
  compacted_ = revision;
  std::erase_if(history_, [&](const Event& e) { return e.kv.mod_revision < revision; });
  return CompactResponse{rev_};
}

Result<std::unique_ptr<Watch>> FakeStore::watch(const WatchRequest& request, WatchObserver& observer) {
  auto w = std::make_unique<Watcher>();
  w->store = this;
  w->observer = &observer;
  w->request = request;
  std::lock_guard lock(mu_);
  if (request.start_revision > 0 && request.start_revision < compacted_) {
    Revision c = compacted_;
    queue_.push_back([&observer, c] {
      observer.on_canceled(out_of_range("etcdserver: mvcc: required revision has been compacted"), c);
    });
    cv_.notify_all();
    return std::unique_ptr<Watch>(std::move(w));
  }
  std::vector<Event> replay;
  if (request.start_revision > 0) {
    for (const auto& e : history_) {
      if (e.kv.mod_revision >= request.start_revision && in_range(e.kv.key, request.key, request.range_end)) {
        replay.push_back(e);
      }
    }
  }
  if (!replay.empty()) {
    Revision r = rev_;
    queue_.push_back([&observer, r, replay] { observer.on_events(r, replay); });
    cv_.notify_all();
  }
  watchers_.push_back(w.get());
  return std::unique_ptr<Watch>(std::move(w));
}

Result<LeaseGrantResponse> FakeStore::lease_grant(std::int64_t, LeaseId) { return unimplemented("leases"); }
Result<Revision> FakeStore::lease_revoke(LeaseId) { return unimplemented("leases"); }
Result<std::int64_t> FakeStore::lease_keep_alive(LeaseId) { return unimplemented("leases"); }
Result<LeaseTimeToLiveResponse> FakeStore::lease_time_to_live(LeaseId, bool) { return unimplemented("leases"); }
Result<std::vector<LeaseId>> FakeStore::lease_list() { return unimplemented("leases"); }

Result<StoreStatus> FakeStore::status() {
  std::lock_guard lock(mu_);
  return StoreStatus{.revision = rev_, .compact_revision = compacted_};
}

Revision FakeStore::revision() {
  std::lock_guard lock(mu_);
  return rev_;
}

}  // namespace kedge::testing

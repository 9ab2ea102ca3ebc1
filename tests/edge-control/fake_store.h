// An in-memory kedge::store::Store with etcd semantics, enough for the
// registry and watch cache tests: MVCC ranges at a revision, compare-and-swap
// transactions, compaction, and prefix watches delivered on a notifier thread.
// Leases are not modelled (Unimplemented).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "kedge/store/kv.h"

namespace kedge::testing {

class FakeStore : public store::Store {
 public:
  FakeStore();
  ~FakeStore() override;

  Result<store::RangeResponse> range(const store::RangeRequest& request) override;
  Result<store::PutResponse> put(const store::PutRequest& request) override;
  Result<store::DeleteRangeResponse> delete_range(const store::DeleteRangeRequest& request) override;
  Result<store::TxnResponse> txn(const store::TxnRequest& request) override;
  Result<store::CompactResponse> compact(store::Revision revision, bool physical) override;
  Result<std::unique_ptr<store::Watch>> watch(const store::WatchRequest& request,
                                              store::WatchObserver& observer) override;
  Result<store::LeaseGrantResponse> lease_grant(std::int64_t, store::LeaseId) override;
  Result<store::Revision> lease_revoke(store::LeaseId) override;
  Result<std::int64_t> lease_keep_alive(store::LeaseId) override;
  Result<store::LeaseTimeToLiveResponse> lease_time_to_live(store::LeaseId, bool) override;
  Result<std::vector<store::LeaseId>> lease_list() override;
  Result<store::StoreStatus> status() override;

  store::Revision revision();

  struct Watcher;

 private:
  struct Version {
    store::KeyValue kv;
    bool deleted = false;
  };
  bool in_range(const std::string& key, const std::string& start, const std::string& end) const;
  std::optional<store::KeyValue> current(const std::string& key) const;  // REQUIRES mu_
  store::RangeResponse range_locked(const store::RangeRequest& r) const;
  bool compare_locked(const store::Compare& c) const;
  void apply_locked(const store::RequestOp& op, store::Revision rev, store::ResponseOp& out,
                    std::vector<store::Event>& events);
  void publish_locked(std::vector<store::Event> events);
  void notifier_loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<Version>> data_;
  std::vector<store::Event> history_;
  store::Revision rev_ = 1;
  store::Revision compacted_ = 0;
  std::vector<Watcher*> watchers_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread notifier_;
};

}  // namespace kedge::testing

// Expectations: what a controller is waiting to see in its informer after its
// own writes, so it does not act twice on a stale cache (upstream's
// ControllerExpectations). A ReplicaSet that just created 3 pods expects 3
// pod ADDs; until it sees them (or the record expires after 5 minutes, in
// case an event was lost) its sync must not create more.
//
// Thread-safety: every method may be called from any thread (informer
// handlers lower counts, workers raise them).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "kedge/controllers/workqueue.h"

namespace kedge::controllers {

class Expectations {
 public:
  explicit Expectations(Clock* clock = nullptr, Duration ttl = std::chrono::minutes(5))
      : clock_(clock ? *clock : Clock::real()), ttl_(ttl) {}

  // Replaces the record of `key` (the controller's "ns/name").
  void expect(const std::string& key, int adds, int deletes);
  void creation_observed(const std::string& key) { lower(key, 1, 0); }
  void deletion_observed(const std::string& key) { lower(key, 0, 1); }
  // A write that failed will never be observed.
  void lower(const std::string& key, int adds, int deletes);
  // True when nothing is pending, no record exists, or the record expired.
  bool satisfied(const std::string& key) const;
  void forget(const std::string& key);

 private:
  struct Record {
    int adds = 0;
    int deletes = 0;
    TimePoint set_at;
  };
  Clock& clock_;
  const Duration ttl_;
  mutable std::mutex mu_;
  std::map<std::string, Record> records_;  // guarded by mu_
};

}  // namespace kedge::controllers

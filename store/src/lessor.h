// In-memory lease table and the expiry timer. The durable copy is the
// `leases` table; the writer thread mutates both inside its transaction.
//
// Threads: one timer thread sleeps on a condition variable until the
// earliest deadline (no polling; zero CPU when idle), then hands expired
// leases to `on_expire` (which must only enqueue work). All other methods
// are thread-safe (one mutex).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kedge/store/types.h"

namespace kedge::store {

class Lessor {
 public:
  using Clock = std::chrono::steady_clock;
  using ExpireFn = std::function<void(LeaseId)>;

  struct Info {
    std::int64_t ttl = 0;
    Clock::time_point deadline;
    std::vector<std::string> keys;  // sorted
  };

  explicit Lessor(ExpireFn on_expire);
  ~Lessor();
  Lessor(const Lessor&) = delete;
  Lessor& operator=(const Lessor&) = delete;

  void start();
  void stop();

  void grant(LeaseId id, std::int64_t ttl, Clock::time_point deadline);
  void remove(LeaseId id);
  // False when the lease is unknown or already past its deadline.
  bool renew(LeaseId id, Clock::time_point deadline);
  bool exists(LeaseId id) const;
  void attach(LeaseId id, const std::string& key);
  void detach(LeaseId id, const std::string& key);
  std::vector<std::string> keys(LeaseId id) const;
  std::optional<Info> info(LeaseId id, bool with_keys) const;
  std::vector<LeaseId> list() const;
  void clear();
  // The expiry of `id` failed to apply; try again after `delay`.
  void retry_expiry(LeaseId id, Clock::duration delay);

 private:
  struct Lease {
    std::int64_t ttl = 0;
    Clock::time_point deadline;
    std::set<std::string> keys;
    bool expiring = false;
  };
  void run();

  const ExpireFn on_expire_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<LeaseId, Lease> leases_;  // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  std::thread thread_;
};

}  // namespace kedge::store

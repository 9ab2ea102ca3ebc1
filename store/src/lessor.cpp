#include "lessor.h"

#include <utility>

namespace kedge::store {

Lessor::Lessor(ExpireFn on_expire) : on_expire_(std::move(on_expire)) {}

Lessor::~Lessor() { stop(); }

void Lessor::start() { thread_ = std::thread([this] { run(); }); }

void Lessor::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Lessor::grant(LeaseId id, std::int64_t ttl, Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    Lease& lease = leases_[id];
    lease.ttl = ttl;
    lease.deadline = deadline;
    lease.expiring = false;
  }
  cv_.notify_all();
}

void Lessor::remove(LeaseId id) {
  std::lock_guard lock(mu_);
  leases_.erase(id);
}

bool Lessor::renew(LeaseId id, Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.expiring || it->second.deadline <= Clock::now()) return false;
    it->second.deadline = deadline;
  }
  cv_.notify_all();
  return true;
}

bool Lessor::exists(LeaseId id) const {
  std::lock_guard lock(mu_);
  return leases_.contains(id);
}

void Lessor::attach(LeaseId id, const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it != leases_.end()) it->second.keys.insert(key);
}

void Lessor::detach(LeaseId id, const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it != leases_.end()) it->second.keys.erase(key);
}

std::vector<std::string> Lessor::keys(LeaseId id) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return {};
  return {it->second.keys.begin(), it->second.keys.end()};
}

std::optional<Lessor::Info> Lessor::info(LeaseId id, bool with_keys) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  Info info{.ttl = it->second.ttl, .deadline = it->second.deadline, .keys = {}};
  if (with_keys) info.keys.assign(it->second.keys.begin(), it->second.keys.end());
  return info;
}

std::vector<LeaseId> Lessor::list() const {
  std::lock_guard lock(mu_);
  std::vector<LeaseId> ids;
  ids.reserve(leases_.size());
  for (const auto& [id, lease] : leases_) ids.push_back(id);
  return ids;
}

void Lessor::clear() {
  std::lock_guard lock(mu_);
  leases_.clear();
}

void Lessor::retry_expiry(LeaseId id, Clock::duration delay) {
  {
    std::lock_guard lock(mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return;
    it->second.expiring = false;
    it->second.deadline = Clock::now() + delay;
  }
  cv_.notify_all();
}

void Lessor::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    std::optional<Clock::time_point> earliest;
    std::vector<LeaseId> expired;
    for (auto& [id, lease] : leases_) {
      if (lease.expiring) continue;
      if (lease.deadline <= now) {
        lease.expiring = true;
        expired.push_back(id);
      } else if (!earliest || lease.deadline < *earliest) {
        earliest = lease.deadline;
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (LeaseId id : expired) on_expire_(id);
      lock.lock();
      continue;
    }
    // Sleep until the earliest deadline or a change (grant/renew/stop).
    if (earliest) {
      cv_.wait_until(lock, *earliest);
    } else {
      cv_.wait(lock);
    }
  }
}

}  // namespace kedge::store

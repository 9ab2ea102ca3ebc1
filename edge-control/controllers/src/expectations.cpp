#include "kedge/controllers/expectations.h"

namespace kedge::controllers {

void Expectations::expect(const std::string& key, int adds, int deletes) {
  std::lock_guard lock(mu_);
  records_[key] = Record{.adds = adds, .deletes = deletes, .set_at = clock_.now()};
}

void Expectations::lower(const std::string& key, int adds, int deletes) {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end()) return;
  it->second.adds -= adds;
  it->second.deletes -= deletes;
}

bool Expectations::satisfied(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it == records_.end()) return true;
  const Record& r = it->second;
  if (r.adds <= 0 && r.deletes <= 0) return true;
  return clock_.now() - r.set_at > ttl_;
}

void Expectations::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  records_.erase(key);
}

}  // namespace kedge::controllers

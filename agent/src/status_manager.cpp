#include "status_manager.h"

#include <boost/json.hpp>

#include "api_util.h"
#include "kedge/base/log.h"

namespace kedge::agent::detail {

namespace json = boost::json;

void StatusManager::start() {
  thread_ = std::thread([this] { run(); });
}

void StatusManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t StatusManager::set(const std::string& uid, const std::string& ns, const std::string& name,
                                 json::value status) {
  std::lock_guard lock(mu_);
  auto& e = entries_[uid];
  e.ns = ns;
  e.name = name;
  e.status = std::move(status);
  e.version = ++next_version_;
  dirty_.insert(uid);
  wake_.notify_one();
  return e.version;
}

void StatusManager::forget(const std::string& uid) {
  std::lock_guard lock(mu_);
  entries_.erase(uid);
  dirty_.erase(uid);
}

std::uint64_t StatusManager::written_version(const std::string& uid) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(uid);
  return it == entries_.end() ? 0 : it->second.written;
}

void StatusManager::run() {
  auto logger = log::logger("kubelet");
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !dirty_.empty(); });
    if (stopping_) return;
    const std::string uid = *dirty_.begin();
    dirty_.erase(dirty_.begin());
    auto it = entries_.find(uid);
    if (it == entries_.end()) continue;
    const std::uint64_t version = it->second.version;
    std::string text = json::serialize(it->second.status);
    if (text == it->second.written_text) {
      it->second.written = version;
      continue;
    }
    const std::string path = pod_path(it->second.ns, it->second.name) + "/status";
    // The precondition on uid keeps a status from landing on a new pod that
    // reuses the name.
    json::value patch = json::object{{"metadata", json::object{{"uid", uid}}}, {"status", it->second.status}};
    lock.unlock();
    auto written = merge_patch(api_, path, patch);
    lock.lock();
    it = entries_.find(uid);
    if (it == entries_.end()) continue;
    if (written.ok()) {
      it->second.written = std::max(it->second.written, version);
      it->second.written_text = std::move(text);
    } else if (written.status().code() == Code::kNotFound) {
      entries_.erase(it);
    } else {
      logger->warn("status of pod {}/{}: {}", it->second.ns, it->second.name, written.status().to_string());
      // Retry after a pause unless a newer status arrives first.
      dirty_.insert(uid);
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    }
  }
}

}  // namespace kedge::agent::detail

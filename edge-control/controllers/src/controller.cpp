#include "kedge/controllers/controller.h"

#include "kedge/base/log.h"

namespace kedge::controllers {

Controller::Controller(std::string name, Transport& transport, WorkQueueOptions queue_options)
    : transport_(transport), name_(std::move(name)), queue_(queue_options) {}

Controller::~Controller() { stop(); }

void Controller::run(int workers) {
  resync_all();
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker(); });
}

void Controller::stop() {
  queue_.shut_down();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Controller::worker() {
  while (auto key = queue_.get()) handle(*key);
}

bool Controller::process_one() {
  auto key = queue_.try_get();
  if (!key) return false;
  handle(*key);
  return true;
}

void Controller::handle(const std::string& key) {
  Status status = sync(key);
  if (status.ok()) {
    queue_.forget(key);
  } else {
    log::logger("controllers")->warn("{}: sync {} failed (retry {}): {}", name_, key, queue_.num_requeues(key) + 1,
                                     status.to_string());
    queue_.add_rate_limited(key);
  }
  queue_.done(key);
}

}  // namespace kedge::controllers

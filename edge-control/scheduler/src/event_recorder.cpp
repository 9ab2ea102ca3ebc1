#include "kedge/scheduler/event_recorder.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <random>

#include <boost/json.hpp>

#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::scheduler {

namespace json = boost::json;

namespace {

std::string now_rfc3339() { return api::format_rfc3339(std::chrono::system_clock::now()); }

// Upstream names events <object>.<hex nanoseconds>.
std::string event_name(const std::string& object) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[32];
  const auto nanos = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::snprintf(suffix, sizeof suffix, ".%016" PRIx64, nanos ^ (rng() & 0xfff));
  return object + suffix;
}

}  // namespace

EventRecorder::EventRecorder(client::RestClient& client, EventRecorderOptions options)
    : client_(client), options_(std::move(options)) {}

EventRecorder::~EventRecorder() { stop(); }

void EventRecorder::start() {
  std::lock_guard lock(mu_);
  stopping_ = false;
  for (int i = 0; i < std::max(1, options_.writers); ++i) threads_.emplace_back([this] { writer(); });
}

void EventRecorder::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  std::lock_guard lock(mu_);
  order_.clear();
  pending_.clear();
}

void EventRecorder::record(const EventSubject& subject, std::string_view type, std::string_view reason,
                           std::string message) {
  std::string key = subject.uid + "\n" + std::string(reason) + "\n" + message;
  {
    std::lock_guard lock(mu_);
    if (auto it = pending_.find(key); it != pending_.end()) {
      it->second.repeats += 1;
      return;
    }
    if (pending_.size() >= options_.capacity) {
      const std::int64_t n = ++dropped_;
      if (n == 1 || n % 1000 == 0) {
        log::logger("scheduler")->warn("event queue full ({} queued): dropped {} event(s) so far, latest {} for {}/{}",
                                       pending_.size(), n, reason, subject.ns, subject.name);
      }
      return;
    }
    pending_.emplace(key, Pending{.subject = subject,
                                  .type = std::string(type),
                                  .reason = std::string(reason),
                                  .message = std::move(message)});
    order_.push_back(std::move(key));
  }
  cv_.notify_one();
}

void EventRecorder::set_held(bool held) {
  {
    std::lock_guard lock(mu_);
    held_ = held;
  }
  if (!held) cv_.notify_all();
}

void EventRecorder::writer() {
  for (;;) {
    std::string key;
    Pending p;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || (!held_ && !order_.empty()); });
      if (stopping_) return;
      key = std::move(order_.front());
      order_.pop_front();
      auto it = pending_.find(key);
      p = std::move(it->second);
      pending_.erase(it);
    }
    write_one(key, std::move(p));
  }
}

void EventRecorder::write_one(const std::string& key, Pending p) {
  const std::string now = now_rfc3339();
  const std::string collection = "/api/v1/namespaces/" + p.subject.ns + "/events";
  Written prior;
  std::string name;
  {
    std::lock_guard lock(mu_);
    if (auto it = written_by_key_.find(key); it != written_by_key_.end()) {
      it->second.count += p.repeats;
      prior = it->second;
    } else {
      // Bounded memory: forget the correlation state rather than grow without end.
      if (written_by_key_.size() >= options_.correlation_entries) written_by_key_.clear();
      // Registered before the POST so that a repeat written meanwhile by
      // another writer bumps this event instead of creating a second one.
      name = event_name(p.subject.name);
      written_by_key_[key] = Written{.name = name, .count = p.repeats};
    }
  }
  auto logger = log::logger("scheduler");
  if (!prior.name.empty()) {
    // client-go's correlator: the same source, object, reason and message
    // bump count and lastTimestamp of the first event instead of adding one.
    json::object patch{{"count", prior.count}, {"lastTimestamp", now}};
    auto r = client_.send("PATCH", collection + "/" + prior.name, patch, "application/merge-patch+json");
    if (r.ok()) {
      ++written_;
      return;
    }
    if (r.status().code() != Code::kNotFound) {
      logger->debug("event {}: {}", prior.name, r.status().to_string());
      return;
    }
    // The event expired or was deleted: write it anew.
    name = event_name(p.subject.name);
    p.repeats = prior.count;
    std::lock_guard lock(mu_);
    written_by_key_[key] = Written{.name = name, .count = p.repeats};
  }
  json::object ev{{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", json::object{{"name", name}, {"namespace", p.subject.ns}}},
                  {"involvedObject", json::object{{"apiVersion", "v1"},
                                                  {"kind", "Pod"},
                                                  {"namespace", p.subject.ns},
                                                  {"name", p.subject.name},
                                                  {"uid", p.subject.uid}}},
                  {"reason", p.reason},
                  {"message", p.message},
                  {"source", json::object{{"component", options_.component}}},
                  {"firstTimestamp", now},
                  {"lastTimestamp", now},
                  {"count", p.repeats},
                  {"type", p.type},
                  {"reportingComponent", options_.component},
                  {"reportingInstance", options_.component}};
  auto r = client_.send("POST", collection, ev);
  if (!r.ok()) {
    logger->debug("event for {}/{}: {}", p.subject.ns, p.subject.name, r.status().to_string());
    std::lock_guard lock(mu_);
    written_by_key_.erase(key);
    return;
  }
  ++written_;
}

}  // namespace kedge::scheduler

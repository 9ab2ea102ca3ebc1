#include "watch_stream.h"

#include <ctime>

#include <boost/json.hpp>

#include "cached_list.h"
#include "object_util.h"

namespace kedge::control {

namespace {

// Events that may wait while a snapshot is written; more → the watch ends
// with 410 and the client relists (its snapshot would be stale anyway).
constexpr std::size_t kMaxHeldEvents = 10000;
constexpr std::size_t kSnapshotUnsentBytes = 1 << 20;

}  // namespace

WatchStream::WatchStream(WatchStreamOptions options) : options_(std::move(options)) {}

WatchStream::~WatchStream() = default;

void WatchStream::start(std::shared_ptr<StreamSink> sink) {
  {
    std::lock_guard lock(mu_);
    sink_ = sink;
    if (options_.initial_error) {
      json::object ev{{"type", "ERROR"}, {"object", options_.initial_error->to_json()}};
      sink_->write(json::serialize(ev) + "\n");
      finish_locked();
      return;
    }
    live_ = !options_.send_initial;
  }
  if (options_.send_initial) return send_initial(sink);
  // Outside mu_: the cache replays buffered events into on_event, which locks.
  auto added = options_.cache->add_watcher(shared_from_this(), options_.from_revision);
  if (!added.ok()) on_terminated(added.error());
}

void WatchStream::send_initial(const std::shared_ptr<StreamSink>& sink) {
  CacheListOptions lo{.prefix = options_.key_prefix, .match = cache_match(options_.selection)};
  CacheList snapshot;
  auto added = options_.cache->list_and_watch(lo, snapshot, shared_from_this());
  if (!added.ok()) return on_terminated(added.error());
  // Written outside mu_ with flow control; live events are held meanwhile.
  std::size_t since_wait = 0;
  for (const auto& obj : snapshot.items) {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      if (!write_event("ADDED", obj->json)) return finish_locked();
    }
    since_wait += obj->json.size();
    if (since_wait > kSnapshotUnsentBytes / 4) {
      since_wait = 0;
      if (!sink->wait_below(kSnapshotUnsentBytes, std::chrono::seconds(30))) break;
    }
  }
  snapshot.items.clear();
  std::lock_guard lock(mu_);
  if (done_) return;
  last_sent_ = snapshot.revision;
  for (const auto& e : held_) {
    if (!deliver_locked(e)) return finish_locked();
  }
  held_.clear();
  held_.shrink_to_fit();
  live_ = true;
}

void WatchStream::cancel() {
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    finish_locked();
  }
  if (options_.cache != nullptr) options_.cache->remove_watcher(this);
}

void WatchStream::finish_locked() {
  if (done_) return;
  done_ = true;
  if (sink_) sink_->close();
  sink_.reset();
  held_.clear();
  if (options_.on_finished) options_.on_finished();
}

bool WatchStream::write_event(std::string_view type, const std::string& object_json) {
  if (!sink_) return false;
  std::string line;
  if (options_.table) {
    boost::system::error_code ec;
    json::value v = json::parse(object_json, ec);
    if (ec || !v.is_object()) return true;
    const auto& obj = v.as_object();
    json::object ev{{"type", type},
                    {"object", make_table(*options_.info, {obj}, get_string(metadata_of(obj), "resourceVersion"),
                                          "", options_.include, static_cast<std::int64_t>(std::time(nullptr)))}};
    line = json::serialize(ev);
  } else {
    line.reserve(object_json.size() + 32);
    line += "{\"type\":\"";
    line += type;
    line += "\",\"object\":";
    line += object_json;
    line += '}';
  }
  line += '\n';
  return sink_->write(std::move(line));
}

bool WatchStream::on_event(const CacheEvent& event) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  if (!live_) {
    if (held_.size() >= kMaxHeldEvents) {
      json::object ev{{"type", "ERROR"},
                      {"object", expired_error("The resourceVersion for the provided watch is too old.").to_json()}};
      if (sink_) sink_->write(json::serialize(ev) + "\n");
      finish_locked();
      return false;
    }
    held_.push_back(event);
    return true;
  }
  bool ok = deliver_locked(event);
  if (!ok) finish_locked();
  return ok;
}

bool WatchStream::deliver_locked(const CacheEvent& event) {
  if (event.key.compare(0, options_.key_prefix.size(), options_.key_prefix) != 0) return true;
  const auto& sel = *options_.selection;
  bool now_match = event.object && sel.matches(event.object->fields);
  bool prev_match = event.prev && sel.matches(event.prev->fields);
  bool ok = true;
  if (event.type == CacheEvent::Type::kDelete) {
    if (prev_match) ok = write_event("DELETED", event.prev->json_at(event.revision));
  } else if (now_match && prev_match) {
    ok = write_event("MODIFIED", event.object->json);
  } else if (now_match) {
    ok = write_event("ADDED", event.object->json);
  } else if (prev_match) {
    ok = write_event("DELETED", event.object->json);
  }
  last_sent_ = event.revision;
  return ok;
}

bool WatchStream::on_progress(store::Revision revision) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  if (!options_.bookmarks || !live_ || revision <= last_sent_) return true;
  json::object obj{{"kind", options_.info->kind},
                   {"apiVersion", options_.info->api_version()},
                   {"metadata", json::object{{"resourceVersion", std::to_string(revision)}}}};
  json::object ev{{"type", "BOOKMARK"}, {"object", std::move(obj)}};
  bool ok = sink_ && sink_->write(json::serialize(ev) + "\n");
  last_sent_ = revision;
  if (!ok) finish_locked();
  return ok;
}

void WatchStream::on_terminated(const ApiError& error) {
  std::lock_guard lock(mu_);
  if (done_) return;
  json::object ev{{"type", "ERROR"}, {"object", error.to_json()}};
  if (sink_) sink_->write(json::serialize(ev) + "\n");
  finish_locked();
}

}  // namespace kedge::control

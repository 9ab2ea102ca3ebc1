#include "watch_stream.h"

#include <ctime>

#include "kedge/control/registry.h"
#include "object_util.h"

namespace kedge::control {

WatchStream::WatchStream(WatchStreamOptions options) : options_(std::move(options)) {}

WatchStream::~WatchStream() = default;

void WatchStream::start(std::shared_ptr<StreamSink> sink) {
  {
    std::lock_guard lock(mu_);
    sink_ = std::move(sink);
    if (options_.initial_error) {
      json::object ev{{"type", "ERROR"}, {"object", options_.initial_error->to_json()}};
      sink_->write(json::serialize(ev) + "\n");
      finish_locked();
      return;
    }
    for (const auto& obj : options_.initial) {
      if (!write_event("ADDED", obj)) {
        finish_locked();
        return;
      }
    }
    options_.initial.clear();
    options_.initial.shrink_to_fit();
  }
  // Outside mu_: the cache replays buffered events into on_event, which locks.
  auto added = options_.cache->add_watcher(shared_from_this(), options_.from_revision);
  if (!added.ok()) on_terminated(added.error());
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
  if (options_.on_finished) options_.on_finished();
}

bool WatchStream::write_event(std::string_view type, const json::object& obj) {
  json::value payload;
  if (options_.table) {
    payload = make_table(*options_.info, {obj}, get_string(metadata_of(obj), "resourceVersion"), "",
                         options_.include, static_cast<std::int64_t>(std::time(nullptr)));
  } else {
    payload = obj;
  }
  json::object ev{{"type", type}, {"object", std::move(payload)}};
  return sink_ && sink_->write(json::serialize(ev) + "\n");
}

bool WatchStream::on_event(const CacheEvent& event) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  if (event.key.compare(0, options_.key_prefix.size(), options_.key_prefix) != 0) return true;
  auto parse = [&](const std::string& text) -> std::optional<json::object> {
    if (text.empty()) return std::nullopt;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    child_object(v.as_object(), "metadata")["resourceVersion"] = std::to_string(event.revision);
    return std::move(v.as_object());
  };
  auto now_obj = event.type == CacheEvent::Type::kPut ? parse(event.value) : std::nullopt;
  auto prev_obj = parse(event.prev_value);
  const auto& sel = *options_.selection;
  bool now_match = now_obj && sel.matches(*now_obj);
  bool prev_match = prev_obj && !event.created && sel.matches(*prev_obj);
  bool ok = true;
  if (event.type == CacheEvent::Type::kDelete) {
    if (prev_match) ok = write_event("DELETED", *prev_obj);
  } else if (now_match && prev_match) {
    ok = write_event("MODIFIED", *now_obj);
  } else if (now_match) {
    ok = write_event("ADDED", *now_obj);
  } else if (prev_match) {
    ok = write_event("DELETED", *now_obj);
  }
  last_sent_ = event.revision;
  if (!ok) finish_locked();
  return ok;
}

bool WatchStream::on_progress(store::Revision revision) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  if (!options_.bookmarks || revision <= last_sent_) return true;
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

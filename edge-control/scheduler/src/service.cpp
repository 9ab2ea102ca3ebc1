#include "kedge/scheduler/service.h"

#include <chrono>

#include <boost/json.hpp>

#include "kedge/api/meta.h"
#include "kedge/base/log.h"
#include "volume_filter.h"

namespace kedge::scheduler {

namespace json = boost::json;

namespace {

enum class Kind { kPod, kNode, kNamespace, kBindFailed, kBound };

std::string now_rfc3339() { return api::format_rfc3339(std::chrono::system_clock::now()); }

// An update that changes neither spec nor labels/annotations cannot change a
// scheduling decision (our own status writes come back this way); upstream's
// isPodUpdated ignores the same fields.
bool scheduling_relevant_change(const json::value& old_obj, const json::value& obj) {
  auto field = [](const json::value& v, std::string_view k) -> const json::value* {
    const auto* o = v.if_object();
    return o ? o->if_contains(k) : nullptr;
  };
  auto same = [](const json::value* a, const json::value* b) {
    if (!a || !b) return a == b;
    return *a == *b;
  };
  if (!same(field(old_obj, "spec"), field(obj, "spec"))) return true;
  const auto* om = field(old_obj, "metadata");
  const auto* nm = field(obj, "metadata");
  if (!om || !nm) return true;
  return !same(field(*om, "labels"), field(*nm, "labels")) ||
         !same(field(*om, "annotations"), field(*nm, "annotations")) ||
         !same(field(*om, "deletionTimestamp"), field(*nm, "deletionTimestamp"));
}

// Upstream's nodeSchedulingPropertiesChange: only these node changes can make
// an unschedulable pod fit. Heartbeats (lastHeartbeatTime, images, ...) do not
// requeue anything.
bool node_scheduling_change(const json::value& old_obj, const json::value& obj) {
  auto at = [](const json::value& v, std::initializer_list<std::string_view> path) -> const json::value* {
    const json::value* cur = &v;
    for (auto k : path) {
      const auto* o = cur->if_object();
      if (!o) return nullptr;
      cur = o->if_contains(k);
      if (!cur) return nullptr;
    }
    return cur;
  };
  auto same = [&](std::initializer_list<std::string_view> path) {
    const auto* a = at(old_obj, path);
    const auto* b = at(obj, path);
    return (!a && !b) || (a && b && *a == *b);
  };
  auto condition_statuses = [&](const json::value& v) {
    std::string out;
    if (const auto* conds = at(v, {"status", "conditions"}); conds && conds->is_array()) {
      for (const auto& c : conds->as_array()) {
        const auto* o = c.if_object();
        if (!o) continue;
        const auto* t = o->if_contains("type");
        const auto* st = o->if_contains("status");
        if (t && t->is_string() && st && st->is_string()) {
          out += std::string(t->as_string()) + "=" + std::string(st->as_string()) + ";";
        }
      }
    }
    return out;
  };
  return !same({"metadata", "labels"}) || !same({"spec", "taints"}) || !same({"spec", "unschedulable"}) ||
         !same({"status", "allocatable"}) || !same({"status", "capacity"}) ||
         condition_statuses(old_obj) != condition_statuses(obj);
}

// The pod's PodScheduled condition says exactly this already.
bool has_unschedulable_condition(const json::value& pod, std::string_view message) {
  const auto* status = pod.as_object().if_contains("status");
  if (!status || !status->is_object()) return false;
  const auto* conds = status->as_object().if_contains("conditions");
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : conds->as_array()) {
    const auto* o = c.if_object();
    if (!o) continue;
    const auto* type = o->if_contains("type");
    if (!type || !type->is_string() || type->as_string() != "PodScheduled") continue;
    const auto* st = o->if_contains("status");
    const auto* msg = o->if_contains("message");
    return st && st->is_string() && st->as_string() == "False" && msg && msg->is_string() &&
           msg->as_string() == message;
  }
  return false;
}

}  // namespace

struct SchedulerService::Event {
  Kind kind;
  client::Object old_obj;
  client::Object obj;
  bool deleted = false;
  QueuedPod qp;  // kBindFailed / kBound
};

class SchedulerService::Handler final : public client::InformerHandler {
 public:
  Handler(SchedulerService& s, Kind kind) : s_(s), kind_(kind) {}
  void on_add(const client::Object& obj) override { s_.post({.kind = kind_, .obj = obj}); }
  void on_update(const client::Object& old_obj, const client::Object& obj) override {
    s_.post({.kind = kind_, .old_obj = old_obj, .obj = obj});
  }
  void on_delete(const client::Object& obj) override { s_.post({.kind = kind_, .obj = obj, .deleted = true}); }

 private:
  SchedulerService& s_;
  const Kind kind_;
};

SchedulerService::SchedulerService(controllers::Transport& transport, client::RestClient& client,
                                   SchedulerServiceOptions options)
    : transport_(transport),
      client_(client),
      options_(std::move(options)),
      queue_(options_.queue),
      scheduler_(cache_, options_.scheduler),
      events_(client, [&] {
        EventRecorderOptions eo = options_.events;
        eo.component = options_.scheduler.scheduler_name;
        return eo;
      }()) {}

SchedulerService::~SchedulerService() { stop(); }

void SchedulerService::register_watches() {
  handlers_.push_back(std::make_unique<Handler>(*this, Kind::kPod));
  transport_.watch(controllers::pods_resource(), handlers_.back().get());
  handlers_.push_back(std::make_unique<Handler>(*this, Kind::kNode));
  transport_.watch(controllers::nodes_resource(), handlers_.back().get());
  handlers_.push_back(std::make_unique<Handler>(*this, Kind::kNamespace));
  transport_.watch(controllers::namespaces_resource(), handlers_.back().get());
  volume_filter::watch_resources(transport_);
}

void SchedulerService::run() {
  events_.start();
  const int binders = std::max(1, options_.binders);
  for (int i = 0; i < binders; ++i) writer_threads_.emplace_back([this] { writer(); });
  loop_thread_ = std::thread([this] { loop(); });
  log::logger("scheduler")->info("scheduler {} running", options_.scheduler.scheduler_name);
}

void SchedulerService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (loop_thread_.joinable()) loop_thread_.join();
  {
    std::lock_guard lock(write_mu_);
    writers_stopping_ = true;
  }
  write_cv_.notify_all();
  for (auto& t : writer_threads_) t.join();
  writer_threads_.clear();
  events_.stop();
}

void SchedulerService::post(Event event) {
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(std::move(event));
  }
  wake_.notify_one();
}

void SchedulerService::loop() {
  std::vector<Event> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto wakeup = queue_.next_wakeup();
      auto ready = [&] { return stopping_ || !inbox_.empty(); };
      if (!wakeup) {
        wake_.wait(lock, ready);
      } else {
        // The queue's clock is steady_clock unless a test injects another.
        wake_.wait_until(lock, *wakeup, ready);
      }
      if (stopping_) return;
      batch.swap(inbox_);
    }
    for (const auto& e : batch) apply(e);
    batch.clear();
    // Schedule what is ready, but look at the inbox between pods so that
    // node and binding events are not starved by a long queue.
    for (int i = 0; i < 256; ++i) {
      auto qp = queue_.pop();
      if (!qp) break;
      schedule_one(std::move(*qp));
    }
  }
}

void SchedulerService::apply(const Event& e) {
  auto logger = log::logger("scheduler");
  switch (e.kind) {
    case Kind::kPod:
      apply_pod(e.old_obj, e.obj, e.deleted);
      return;
    case Kind::kNode:
      if (e.deleted) {
        cache_.remove_node(api::get_name(*e.obj));
        queue_.on_event(ClusterEvent::kNodeDeleted);
      } else if (Status s = cache_.upsert_node(*e.obj); !s.ok()) {
        logger->warn("node {}: {}", api::get_name(*e.obj), s.to_string());
      } else if (!e.old_obj) {
        queue_.on_event(ClusterEvent::kNodeAdded);
      } else if (node_scheduling_change(*e.old_obj, *e.obj)) {
        queue_.on_event(ClusterEvent::kNodeUpdated);
      }
      return;
    case Kind::kNamespace: {
      std::string name(api::get_name(*e.obj));
      if (e.deleted) {
        cache_.remove_namespace(name);
      } else {
        json::object labels;
        const auto* md = e.obj->as_object().if_contains("metadata");
        if (md && md->is_object()) {
          if (const auto* l = md->as_object().if_contains("labels"); l && l->is_object()) labels = l->as_object();
        }
        cache_.upsert_namespace(name, std::move(labels));
      }
      queue_.on_event(ClusterEvent::kNamespaceChanged);
      return;
    }
    case Kind::kBindFailed:
      cache_.forget_pod(e.qp.pod->key());
      queue_.add_backoff(e.qp);
      return;
    case Kind::kBound:
      queue_.done(e.qp.pod->key());
      return;
  }
}

void SchedulerService::apply_pod(const client::Object& old_obj, const client::Object& obj, bool deleted) {
  auto logger = log::logger("scheduler");
  std::string key = std::string(api::get_namespace(*obj)) + "/" + std::string(api::get_name(*obj));
  if (deleted) {
    queue_.remove(key);
    if (cache_.has_pod(key)) {
      cache_.remove_pod(key);
      queue_.on_event(ClusterEvent::kAssignedPodDeleted);
    }
    return;
  }
  auto parsed = parse_pod(*obj);
  if (!parsed.ok()) {
    logger->warn("pod {}: {}", key, parsed.status().to_string());
    return;
  }
  std::shared_ptr<const PodInfo> pod = *parsed;
  if (!pod->node_name.empty()) {
    queue_.remove(key);
    const bool had = cache_.has_pod(key);
    if (pod->terminal) {
      if (had) {
        cache_.remove_pod(key);
        queue_.on_event(ClusterEvent::kAssignedPodDeleted);
      }
      return;
    }
    if (Status s = cache_.add_pod(pod); !s.ok()) logger->warn("pod {}: {}", key, s.to_string());
    if (!had) queue_.on_event(ClusterEvent::kAssignedPodAdded);
    return;
  }
  const std::string& ours = options_.scheduler.scheduler_name;
  const std::string& theirs = pod->scheduler_name.empty() ? std::string("default-scheduler") : pod->scheduler_name;
  if (theirs != ours || pod->terminating || pod->terminal) {
    queue_.remove(key);
    return;
  }
  // Assumed and binding: the informer has not seen the binding yet.
  if (cache_.is_assumed(key)) return;
  if (old_obj && queue_.contains(key) && !scheduling_relevant_change(*old_obj, *obj)) return;
  queue_.add(std::move(pod));
}

void SchedulerService::schedule_one(QueuedPod qp) {
  auto logger = log::logger("scheduler");
  const auto volumes = volume_filter::check_pod_volumes(transport_, *qp.pod);
  if (!volumes.unschedulable.empty()) {  // retried with backoff: claim events do not requeue
    const std::string message = volume_filter::prefilter_message(cache_.node_count(), volumes.unschedulable);
    auto pod = qp.pod;
    queue_.add_backoff(std::move(qp));
    write([this, pod, message] { report_unschedulable(pod, message); });
    return;
  }
  ScheduleResult result = scheduler_.schedule(volumes.constrained ? *volumes.constrained : *qp.pod);
  if (volumes.constrained) result.message = volume_filter::rename_conflicts(*qp.pod, std::move(result.message));
  switch (result.outcome) {
    case ScheduleResult::Outcome::kScheduled: {
      if (Status s = cache_.assume_pod(qp.pod, result.node); !s.ok()) {
        logger->warn("pod {}: assuming on {}: {}", qp.pod->key(), result.node, s.to_string());
        queue_.add_backoff(std::move(qp));
        return;
      }
      // The pod stays in flight in the queue until the binding is written.
      auto pod = qp.pod;
      write([this, pod, node = result.node, qp = std::move(qp), claims = volumes.delayed_claims]() mutable {
        if (Status s = volume_filter::select_node(transport_, pod->ns, claims, node); !s.ok()) {
          log::logger("scheduler")->warn("pod {}: selecting node {} for its claims: {}", pod->key(), node, s.to_string());
        }
        bind(pod, node, std::move(qp));
      });
      return;
    }
    case ScheduleResult::Outcome::kUnschedulable: {
      ++unschedulable_;
      logger->debug("pod {} unschedulable: {}", qp.pod->key(), result.message);
      auto pod = qp.pod;
      queue_.add_unschedulable(std::move(qp), result);
      write([this, pod, message = result.message] { report_unschedulable(pod, message); });
      return;
    }
    case ScheduleResult::Outcome::kError:
      logger->warn("pod {}: {}", qp.pod->key(), result.message);
      queue_.add_backoff(std::move(qp));
      return;
  }
}

// Events wait while any binding is queued or running (EventRecorder::set_held):
// under a burst they would take a third of the store's writes from bindings.
// The recorder is toggled under write_mu_, so the last state set is the queue's.
void SchedulerService::write(std::function<void()> task) {
  {
    std::lock_guard lock(write_mu_);
    writes_.push_back(std::move(task));
    if (writes_in_flight_++ == 0) events_.set_held(true);
  }
  write_cv_.notify_one();
}

void SchedulerService::writer() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(write_mu_);
      write_cv_.wait(lock, [&] { return writers_stopping_ || !writes_.empty(); });
      if (writers_stopping_) return;  // pending writes are dropped: a new leader redoes them
      task = std::move(writes_.front());
      writes_.pop_front();
    }
    task();
    std::lock_guard lock(write_mu_);
    if (--writes_in_flight_ == 0) events_.set_held(false);
  }
}

void SchedulerService::bind(const std::shared_ptr<const PodInfo>& pod, const std::string& node, QueuedPod qp) {
  json::object body{
      {"apiVersion", "v1"},
      {"kind", "Binding"},
      {"metadata", json::object{{"name", pod->name}, {"namespace", pod->ns}, {"uid", pod->uid}}},
      {"target", json::object{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  auto result = client_.send("POST", "/api/v1/namespaces/" + pod->ns + "/pods/" + pod->name + "/binding", body);
  if (!result.ok()) {
    auto s = result.status();
    // NotFound: the pod is gone. Otherwise (conflict, server unavailable)
    // forget the assumption and try again after backoff.
    if (s.code() != Code::kNotFound) {
      log::logger("scheduler")->warn("binding {} to {}: {}", pod->key(), node, s.to_string());
    }
    post({.kind = Kind::kBindFailed, .qp = std::move(qp)});
    return;
  }
  ++bound_;
  post({.kind = Kind::kBound, .qp = std::move(qp)});
  if (options_.scheduled_events) {
    events_.record({.ns = pod->ns, .name = pod->name, .uid = pod->uid}, "Normal", "Scheduled",
                   "Successfully assigned " + pod->key() + " to " + node);
  }
}

void SchedulerService::report_unschedulable(const std::shared_ptr<const PodInfo>& pod, const std::string& message) {
  auto logger = log::logger("scheduler");
  // Rewrite the condition only when it changes: each write is a pod update
  // every watcher sees.
  controllers::Object current = transport_.get(controllers::pods_resource(), pod->ns, pod->name);
  if (!current || !has_unschedulable_condition(*current, message)) {
    json::object cond{{"type", "PodScheduled"},          {"status", "False"},
                      {"reason", "Unschedulable"},       {"message", message},
                      {"lastProbeTime", nullptr},        {"lastTransitionTime", now_rfc3339()}};
    json::object patch{{"status", json::object{{"conditions", json::array{cond}}}}};
    auto r = client_.send("PATCH", "/api/v1/namespaces/" + pod->ns + "/pods/" + pod->name + "/status", patch,
                          "application/strategic-merge-patch+json");
    if (!r.ok() && r.status().code() != Code::kNotFound) {
      logger->warn("pod {}: writing PodScheduled=False: {}", pod->key(), r.status().to_string());
    }
  }
  events_.record({.ns = pod->ns, .name = pod->name, .uid = pod->uid}, "Warning", "FailedScheduling", message);
}

}  // namespace kedge::scheduler

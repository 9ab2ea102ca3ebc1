#include "kedge/controllers/deployment.h"

#include <algorithm>

#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/api/selectors.h"
#include "kedge/base/log.h"
#include "deployment_util.h"

namespace kedge::controllers {

namespace json = boost::json;
using namespace deployment_detail;

struct DeploymentController::State {
  json::value d;
  std::string key;
  int desired = 0;
  Fenceposts fence;
  Object new_rs;
  std::vector<Object> old;  // oldest first
  std::vector<Condition> events;  // conditions to record this sync (NewReplicaSetCreated...)
};

class DeploymentController::Handler final : public client::InformerHandler {
 public:
  enum class Kind { kDeployment, kReplicaSet, kPod };
  Handler(DeploymentController& c, Kind kind) : c_(c), kind_(kind) {}
  void on_add(const Object& obj) override { handle(*obj); }
  void on_update(const Object& old_obj, const Object& obj) override {
    if (kind_ == Kind::kPod) return;  // only pod deletions matter (Recreate)
    if (kind_ == Kind::kReplicaSet) {
      auto a = api::get_controller_ref(*old_obj);
      auto b = api::get_controller_ref(*obj);
      if (a && (!b || a->uid != b->uid)) handle(*old_obj);
    }
    handle(*obj);
  }
  void on_delete(const Object& obj) override {
    if (kind_ == Kind::kPod) {
      auto ref = api::get_controller_ref(*obj);
      if (!ref || ref->kind != "ReplicaSet") return;
      Object rs = c_.transport_.get(replicasets_resource(), api::get_namespace(*obj), ref->name);
      if (rs) c_.enqueue_for_rs(*rs);
      return;
    }
    handle(*obj);
  }

 private:
  void handle(const json::value& obj) {
    if (kind_ == Kind::kDeployment) c_.queue().add(object_key(obj));
    if (kind_ == Kind::kReplicaSet) c_.enqueue_for_rs(obj);
  }
  DeploymentController& c_;
  Kind kind_;
};

DeploymentController::DeploymentController(Transport& transport, DeploymentControllerOptions options)
    : Controller("deployment", transport, options.queue),
      options_(std::move(options)),
      d_handler_(std::make_unique<Handler>(*this, Handler::Kind::kDeployment)),
      rs_handler_(std::make_unique<Handler>(*this, Handler::Kind::kReplicaSet)) {}

DeploymentController::~DeploymentController() { stop(); }

void DeploymentController::register_watches() {
  transport_.watch(deployments_resource(), d_handler_.get());
  transport_.watch(replicasets_resource(), rs_handler_.get());
  pod_handler_ = std::make_unique<Handler>(*this, Handler::Kind::kPod);
  transport_.watch(pods_resource(), pod_handler_.get());
}

SystemTime DeploymentController::now() const {
  return options_.now ? options_.now() : std::chrono::system_clock::now();
}

void DeploymentController::resync_all() {
  for (const auto& d : transport_.list(deployments_resource(), "")) queue().add(object_key(*d));
}

void DeploymentController::enqueue_for_rs(const json::value& rs) {
  auto ref = api::get_controller_ref(rs);
  if (ref) {
    if (ref->kind == "Deployment") queue().add(std::string(api::get_namespace(rs)) + "/" + ref->name);
    return;
  }
  // An orphan: any Deployment whose selector matches may adopt it.
  for (const auto& d : transport_.list(deployments_resource(), api::get_namespace(rs))) {
    auto sel = selector_of(*d);
    if (sel.ok() && sel->matches(api::get_labels(rs))) queue().add(object_key(*d));
  }
}

Status DeploymentController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object cached = transport_.get(deployments_resource(), ns, name);
  if (!cached) return ok_status();
  KEDGE_ASSIGN_OR_RETURN(State st, load(*cached));
  st.key = key;
  Status work = ok_status();
  if (api::get_deletion_timestamp(st.d)) {
    // The garbage collector removes what we own; just report.
  } else if (bool_at(st.d, "spec", "paused")) {
    if (st.new_rs && old_active(st.old) == 0 && spec_replicas(*st.new_rs) != st.desired) {
      work = scale(*st.new_rs, st.desired, st.d);
    }
  } else if (strategy_type(st.d) == "Recreate") {
    work = recreate(st);
  } else {
    work = rolling(st);
  }
  if (work.ok() && !api::get_deletion_timestamp(st.d) && st.new_rs &&
      is_complete(st.d, compute_status(st.d, st.new_rs, st.old, st.fence))) {
    work = cleanup(st);
  }
  KEDGE_RETURN_IF_ERROR(sync_status(st, key));
  return work;
}

Result<DeploymentController::State> DeploymentController::load(const json::value& d) {
  State st;
  st.d = d;
  st.desired = static_cast<int>(int_at(d, "spec", "replicas", 1));
  if (strategy_type(d) != "Recreate") {
    KEDGE_ASSIGN_OR_RETURN(st.fence, resolve_fenceposts(rolling_param(d, "maxSurge"),
                                                        rolling_param(d, "maxUnavailable"), st.desired));
  }
  KEDGE_ASSIGN_OR_RETURN(api::LabelSelector selector, selector_of(d));
  const json::value* tmpl = field(d, "spec", "template");
  std::string_view uid = api::get_uid(d);
  bool deleting = api::get_deletion_timestamp(d).has_value();
  std::vector<Object> owned;
  for (const auto& rs : transport_.list(replicasets_resource(), api::get_namespace(d))) {
    bool matches = selector.matches(api::get_labels(*rs));
    auto ref = api::get_controller_ref(*rs);
    if (ref && ref->uid == uid) {
      if (matches || deleting) {
        owned.push_back(rs);
      } else {
        KEDGE_RETURN_IF_ERROR(set_owner(*rs, d, false));
      }
    } else if (!ref && matches && !deleting && !api::get_deletion_timestamp(*rs)) {
      KEDGE_RETURN_IF_ERROR(set_owner(*rs, d, true));
      owned.push_back(rs);
    }
  }
  std::sort(owned.begin(), owned.end(), [](const Object& a, const Object& b) {
    auto ca = api::get_creation_timestamp(*a), cb = api::get_creation_timestamp(*b);
    return ca != cb ? ca < cb : api::get_name(*a) < api::get_name(*b);
  });
  for (const auto& rs : owned) {
    const json::value* rs_tmpl = field(*rs, "spec", "template");
    if (!st.new_rs && tmpl && rs_tmpl && templates_equal_ignore_hash(*tmpl, *rs_tmpl)) {
      st.new_rs = rs;  // the oldest match, as upstream
    } else {
      st.old.push_back(rs);
    }
  }
  return st;
}

Status DeploymentController::set_owner(const json::value& rs, const json::value& d, bool adopt) {
  auto refs = api::get_owner_references(rs);
  std::string_view uid = api::get_uid(d);
  std::erase_if(refs, [&](const api::OwnerReference& r) { return r.uid == uid; });
  if (adopt) {
    refs.push_back(api::OwnerReference{.api_version = "apps/v1",
                                       .kind = "Deployment",
                                       .name = std::string(api::get_name(d)),
                                       .uid = std::string(uid),
                                       .controller = true,
                                       .block_owner_deletion = true});
  }
  json::array arr;
  for (const auto& r : refs) arr.push_back(r.to_json());
  json::value patch = json::object{{"metadata", json::object{{"ownerReferences", std::move(arr)},
                                                             {"uid", api::get_uid(rs)},
                                                             {"resourceVersion", api::get_resource_version(rs)}}}};
  auto r = transport_.patch(replicasets_resource(), api::get_namespace(rs), api::get_name(rs), patch);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("claiming replicasets");
  return ok_status();
}

Status DeploymentController::scale(const json::value& rs, int replicas, const json::value& d) {
  int desired = static_cast<int>(int_at(d, "spec", "replicas", 1));
  int max_total = desired;
  if (strategy_type(d) != "Recreate") {
    auto fence = resolve_fenceposts(rolling_param(d, "maxSurge"), rolling_param(d, "maxUnavailable"), desired);
    if (fence.ok()) max_total += fence->max_surge;
  }
  std::string want_desired = std::to_string(desired), want_max = std::to_string(max_total);
  if (spec_replicas(rs) == replicas && api::get_annotation(rs, kDesiredReplicasAnnotation) == want_desired &&
      api::get_annotation(rs, kMaxReplicasAnnotation) == want_max) {
    return ok_status();
  }
  json::value patch = json::object{
      {"metadata", json::object{{"resourceVersion", api::get_resource_version(rs)},
                                {"annotations", json::object{{kDesiredReplicasAnnotation, want_desired},
                                                             {kMaxReplicasAnnotation, want_max}}}}},
      {"spec", json::object{{"replicas", replicas}}}};
  auto r = transport_.patch(replicasets_resource(), api::get_namespace(rs), api::get_name(rs), patch);
  if (!r.ok()) return r.status().with_context("scaling replicaset " + std::string(api::get_name(rs)));
  log::logger("controllers")->info("deployment {}/{}: scaled replicaset {} to {}", api::get_namespace(d),
                                   api::get_name(d), api::get_name(rs), replicas);
  return ok_status();
}

Result<Object> DeploymentController::ensure_new_rs(State& st, int replicas) {
  int max_old = 0;
  for (const auto& rs : st.old) max_old = std::max(max_old, revision_of(*rs));
  const int revision = max_old + 1;
  const std::string rev_text = std::to_string(revision);
  if (st.new_rs) {
    if (revision_of(*st.new_rs) < revision) {
      json::value patch = json::object{
          {"metadata", json::object{{"annotations", json::object{{kRevisionAnnotation, rev_text}}}}}};
      auto r = transport_.patch(replicasets_resource(), api::get_namespace(*st.new_rs), api::get_name(*st.new_rs),
                                patch);
      if (!r.ok()) return r.status().with_context("updating revision");
      st.new_rs = std::make_shared<const json::value>(std::move(*r));
    }
    if (!find_condition(st.d, "Progressing")) {
      st.events.push_back(Condition{"Progressing", "True", "FoundNewReplicaSet",
                                    "Found new replica set \"" + std::string(api::get_name(*st.new_rs)) + "\""});
    }
  } else {
    json::value rs = new_replicaset(st.d, replicas, rev_text);
    auto r = transport_.create(replicasets_resource(), api::get_namespace(st.d), rs);
    if (!r.ok() && r.status().code() == Code::kAlreadyExists) {
      KEDGE_RETURN_IF_ERROR(handle_collision(st, rs));
    }
    if (!r.ok()) return r.status().with_context("creating replicaset");
    st.new_rs = std::make_shared<const json::value>(std::move(*r));
    st.events.push_back(Condition{"Progressing", "True", "NewReplicaSetCreated",
                                  "Created new replica set \"" + std::string(api::get_name(*st.new_rs)) + "\""});
    log::logger("controllers")->info("deployment {}: created replicaset {} (revision {})", st.key,
                                     api::get_name(*st.new_rs), revision);
  }
  if (api::get_annotation(st.d, kRevisionAnnotation) != rev_text) {
    json::value patch =
        json::object{{"metadata", json::object{{"annotations", json::object{{kRevisionAnnotation, rev_text}}}}}};
    auto r = transport_.patch(deployments_resource(), api::get_namespace(st.d), api::get_name(st.d), patch);
    if (!r.ok()) return r.status().with_context("recording revision");
    st.d = std::move(*r);
  }
  return st.new_rs;
}

Status DeploymentController::handle_collision(State& st, const json::value& wanted) {
  Object existing = transport_.get(replicasets_resource(), api::get_namespace(wanted), api::get_name(wanted));
  if (!existing) return unavailable("replicaset " + std::string(api::get_name(wanted)) + " exists but is not cached yet");
  auto ref = api::get_controller_ref(*existing);
  const json::value* a = field(*existing, "spec", "template");
  const json::value* b = field(wanted, "spec", "template");
  if (ref && ref->uid == api::get_uid(st.d) && a && b && templates_equal_ignore_hash(*a, *b)) {
    return unavailable("replicaset " + std::string(api::get_name(wanted)) + " created concurrently; resyncing");
  }
  // A different template hashed to the same name: bump collisionCount so the
  // next hash differs (upstream's answer to fnv collisions).
  json::value d = st.d;
  auto& status = d.as_object()["status"];
  if (!status.is_object()) status = json::object{};
  status.as_object()["collisionCount"] = int_at(st.d, "status", "collisionCount", 0) + 1;
  auto r = transport_.update_status(deployments_resource(), d);
  if (!r.ok()) return r.status().with_context("recording collisionCount");
  return aborted("pod-template-hash collision on " + std::string(api::get_name(wanted)) + "; retrying");
}

// Pods a ReplicaSet may have right now: its spec, or more while the
// ReplicaSet controller has not yet removed pods it was scaled down from.
// Upstream counts spec only, so a new ReplicaSet can be scaled up before the
// old one's pods are gone and the pod count briefly exceeds maxSurge; kedge
// waits for the old pods so the limit holds for pods a user can see.
static int pods_upper_bound(const json::value& rs) {
  return std::max(spec_replicas(rs), static_cast<int>(int_at(rs, "status", "replicas", 0)));
}

Status DeploymentController::rolling(State& st) {
  int old_total = 0;
  for (const auto& rs : st.old) old_total += pods_upper_bound(*rs);
  if (!st.new_rs) {
    int replicas = rolling_new_rs_replicas(st.desired, st.fence.max_surge, old_total, 0);
    return ensure_new_rs(st, replicas).status();
  }
  KEDGE_RETURN_IF_ERROR(ensure_new_rs(st, spec_replicas(*st.new_rs)).status());
  int new_replicas = spec_replicas(*st.new_rs);
  if (old_active(st.old) == 0) {
    // Not rolling: a plain scale event.
    return scale(*st.new_rs, st.desired, st.d);
  }
  int target =
      rolling_new_rs_replicas(st.desired, st.fence.max_surge, old_total + pods_upper_bound(*st.new_rs), new_replicas);
  if (target != new_replicas) return scale(*st.new_rs, target, st.d);
  std::vector<RsCounts> old_counts;
  for (const auto& rs : st.old) old_counts.push_back(counts_of(*rs));
  auto plan = plan_old_rs_scale_down(st.desired, st.fence.max_unavailable, old_counts, counts_of(*st.new_rs));
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (plan[i] != old_counts[i].replicas) KEDGE_RETURN_IF_ERROR(scale(*st.old[i], plan[i], st.d));
  }
  return ok_status();
}

Status DeploymentController::recreate(State& st) {
  bool scaled_down = false;
  for (const auto& rs : st.old) {
    if (spec_replicas(*rs) > 0) {
      KEDGE_RETURN_IF_ERROR(scale(*rs, 0, st.d));
      scaled_down = true;
    }
  }
  if (scaled_down) return ok_status();
  // Wait until no pod of an old ReplicaSet is still running (terminating
  // pods count: Recreate promises old and new never run together).
  for (const auto& pod : transport_.list(pods_resource(), api::get_namespace(st.d))) {
    auto ref = api::get_controller_ref(*pod);
    if (!ref) continue;
    std::string_view phase = str_at(*pod, "status", "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    for (const auto& rs : st.old) {
      if (ref->uid == api::get_uid(*rs)) return ok_status();  // a pod deletion requeues us
    }
  }
  KEDGE_ASSIGN_OR_RETURN(Object new_rs, ensure_new_rs(st, st.desired));
  return scale(*new_rs, st.desired, st.d);
}

Status DeploymentController::cleanup(State& st) {
  int limit = static_cast<int>(int_at(st.d, "spec", "revisionHistoryLimit", 10));
  std::vector<Object> alive;
  for (const auto& rs : st.old) {
    if (!api::get_deletion_timestamp(*rs)) alive.push_back(rs);
  }
  int diff = static_cast<int>(alive.size()) - limit;
  if (diff <= 0) return ok_status();
  std::stable_sort(alive.begin(), alive.end(),
                   [](const Object& a, const Object& b) { return revision_of(*a) < revision_of(*b); });
  for (int i = 0; i < diff; ++i) {
    const json::value& rs = *alive[static_cast<std::size_t>(i)];
    if (int_at(rs, "status", "replicas", 0) != 0 || spec_replicas(rs) != 0 ||
        api::get_generation(rs) > int_at(rs, "status", "observedGeneration", 0)) {
      continue;
    }
    Status s = transport_.remove(replicasets_resource(), api::get_namespace(rs), api::get_name(rs),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(rs))});
    if (!s.ok() && s.code() != Code::kNotFound) return s.with_context("cleaning up old replicasets");
  }
  return ok_status();
}

Status DeploymentController::sync_status(State& st, const std::string& key) {
  SystemTime t = now();
  json::value status = compute_status(st.d, st.new_rs, st.old, st.fence);
  auto deadline = apply_conditions(st.d, status, st.new_rs, st.events, t);
  if (deadline) queue().add_after(key, std::chrono::duration_cast<Duration>(*deadline - t) + std::chrono::seconds(1));
  const json::value* old_status = st.d.as_object().if_contains("status");
  if (old_status && api::json_equal(*old_status, status)) return ok_status();
  json::value updated = st.d;
  updated.as_object()["status"] = std::move(status);
  auto r = transport_.update_status(deployments_resource(), updated);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("updating status");
  return ok_status();
}

}  // namespace kedge::controllers

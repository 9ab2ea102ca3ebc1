#include "kedge/controllers/replicaset.h"

#include <algorithm>

#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/api/selectors.h"
#include "kedge/base/log.h"
#include "kedge/controllers/owned_pods.h"
#include "json_path.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

api::OwnerReference controller_ref_to(const json::value& rs) {
  return api::OwnerReference{.api_version = "apps/v1",
                             .kind = "ReplicaSet",
                             .name = std::string(api::get_name(rs)),
                             .uid = std::string(api::get_uid(rs)),
                             .controller = true,
                             .block_owner_deletion = true};
}

Result<api::LabelSelector> selector_of(const json::value& rs) {
  const json::value* sel = path::at(rs, {"spec", "selector"});
  if (!sel) return api::LabelSelector::nothing();
  auto parsed = api::LabelSelector::from_json(*sel);
  if (!parsed.ok()) return parsed.status().with_context("invalid selector");
  // An empty selector would match every pod in the namespace: upstream
  // refuses to act on it, and so do we.
  if (parsed->empty()) return api::LabelSelector::nothing();
  return parsed;
}

json::value owner_refs_patch(const json::value& pod, const std::vector<api::OwnerReference>& refs) {
  json::array arr;
  for (const auto& r : refs) arr.push_back(r.to_json());
  // resourceVersion and uid make the patch apply only to the pod we looked at.
  return json::object{{"metadata", json::object{{"ownerReferences", std::move(arr)},
                                                {"uid", api::get_uid(pod)},
                                                {"resourceVersion", api::get_resource_version(pod)}}}};
}

}  // namespace

json::value pod_from_template(const json::value& rs) {
  json::object pod{{"apiVersion", "v1"}, {"kind", "Pod"}};
  json::object meta{{"generateName", std::string(api::get_name(rs)) + "-"},
                    {"namespace", api::get_namespace(rs)}};
  const json::value* tmpl = path::at(rs, {"spec", "template"});
  json::value spec = json::object{};
  if (tmpl && tmpl->is_object()) {
    const auto& t = tmpl->as_object();
    if (auto it = t.find("metadata"); it != t.end() && it->value().is_object()) {
      const auto& tm = it->value().as_object();
      if (auto l = tm.find("labels"); l != tm.end()) meta["labels"] = l->value();
      if (auto a = tm.find("annotations"); a != tm.end()) meta["annotations"] = a->value();
    }
    if (auto it = t.find("spec"); it != t.end()) spec = it->value();
  }
  pod["metadata"] = std::move(meta);
  pod["spec"] = std::move(spec);
  json::value out = std::move(pod);
  api::set_owner_references(out, {controller_ref_to(rs)});
  return out;
}

class ReplicaSetController::PodHandler final : public client::InformerHandler {
 public:
  explicit PodHandler(ReplicaSetController& c) : c_(c) {}
  void on_add(const Object& obj) override {
    if (api::get_deletion_timestamp(*obj)) {
      c_.enqueue_owner_of(*obj, false, false);
      return;
    }
    if (api::get_controller_ref(*obj)) {
      c_.enqueue_owner_of(*obj, true, false);
    } else {
      c_.enqueue_matching(*obj);
    }
  }
  void on_update(const Object& old_obj, const Object& obj) override {
    bool now_deleting = api::get_deletion_timestamp(*obj) && !api::get_deletion_timestamp(*old_obj);
    auto old_ref = api::get_controller_ref(*old_obj);
    auto new_ref = api::get_controller_ref(*obj);
    if (old_ref && (!new_ref || old_ref->uid != new_ref->uid)) c_.enqueue_owner_of(*old_obj, false, false);
    if (new_ref) {
      c_.enqueue_owner_of(*obj, false, now_deleting);
    } else {
      c_.enqueue_matching(*obj);
    }
  }
  void on_delete(const Object& obj) override {
    c_.enqueue_owner_of(*obj, false, !api::get_deletion_timestamp(*obj));
  }

 private:
  ReplicaSetController& c_;
};

ReplicaSetController::ReplicaSetController(Transport& transport, ReplicaSetControllerOptions options)
    : Controller("replicaset", transport, options.queue),
      options_(std::move(options)),
      expectations_(options_.clock),
      rs_handler_(std::make_unique<OwnerHandler>(queue(), expectations_)),
      pod_handler_(std::make_unique<PodHandler>(*this)) {}

void ReplicaSetController::register_watches() {
  transport_.watch(replicasets_resource(), rs_handler_.get());
  transport_.watch(pods_resource(), pod_handler_.get());
}

SystemTime ReplicaSetController::now() const {
  return options_.now ? options_.now() : std::chrono::system_clock::now();
}

void ReplicaSetController::resync_all() {
  for (const auto& rs : transport_.list(replicasets_resource(), "")) queue().add(object_key(*rs));
}

void ReplicaSetController::enqueue_owner_of(const json::value& pod, bool observed_create, bool observed_delete) {
  auto ref = api::get_controller_ref(pod);
  if (!ref || ref->kind != "ReplicaSet") return;
  std::string key = std::string(api::get_namespace(pod)) + "/" + ref->name;
  Object rs = transport_.get(replicasets_resource(), api::get_namespace(pod), ref->name);
  if (!rs || api::get_uid(*rs) != ref->uid) return;  // another incarnation
  if (observed_create) expectations_.creation_observed(key);
  if (observed_delete) expectations_.deletion_observed(key);
  queue().add(key);
}

void ReplicaSetController::enqueue_matching(const json::value& pod) {
  for (const auto& rs : transport_.list(replicasets_resource(), api::get_namespace(pod))) {
    auto sel = selector_of(*rs);
    if (sel.ok() && sel->matches(api::get_labels(pod))) queue().add(object_key(*rs));
  }
}

Status ReplicaSetController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object rs = transport_.get(replicasets_resource(), ns, name);
  if (!rs) {
    expectations_.forget(key);
    return ok_status();
  }
  KEDGE_ASSIGN_OR_RETURN(Claimed claimed, claim_pods(*rs));
  Status manage = ok_status();
  if (expectations_.satisfied(key) && !api::get_deletion_timestamp(*rs)) {
    manage = manage_replicas(key, *rs, claimed);
  }
  // Status reflects what we saw even when managing failed.
  KEDGE_RETURN_IF_ERROR(update_status(key, *rs, claimed));
  return manage;
}

Result<ReplicaSetController::Claimed> ReplicaSetController::claim_pods(const json::value& rs) {
  KEDGE_ASSIGN_OR_RETURN(api::LabelSelector selector, selector_of(rs));
  bool rs_deleting = api::get_deletion_timestamp(rs).has_value();
  std::string_view uid = api::get_uid(rs);
  Claimed out;
  Status first_error;
  for (const auto& pod : transport_.list(pods_resource(), api::get_namespace(rs))) {
    bool matches = selector.matches(api::get_labels(*pod));
    auto ref = api::get_controller_ref(*pod);
    if (ref && ref->uid == uid) {
      if (matches || rs_deleting) {
        if (is_pod_active(*pod)) out.owned.push_back(pod);
        continue;
      }
      // Labels changed: let it go (another controller may adopt it).
      auto refs = api::get_owner_references(*pod);
      std::erase_if(refs, [&](const api::OwnerReference& r) { return r.uid == uid; });
      auto r = transport_.patch(pods_resource(), api::get_namespace(*pod), api::get_name(*pod),
                                owner_refs_patch(*pod, refs));
      if (!r.ok() && r.status().code() != Code::kNotFound && first_error.ok()) first_error = r.status();
      continue;
    }
    if (ref || !matches || rs_deleting || api::get_deletion_timestamp(*pod) || !is_pod_active(*pod)) continue;
    auto refs = api::get_owner_references(*pod);
    refs.push_back(controller_ref_to(rs));
    auto r = transport_.patch(pods_resource(), api::get_namespace(*pod), api::get_name(*pod),
                              owner_refs_patch(*pod, refs));
    if (r.ok()) {
      out.owned.push_back(std::make_shared<const json::value>(std::move(*r)));
    } else if (r.status().code() != Code::kNotFound && first_error.ok()) {
      first_error = r.status();
    }
  }
  if (!first_error.ok()) return first_error.with_context("claiming pods");
  return out;
}

Status ReplicaSetController::manage_replicas(const std::string& key, const json::value& rs, const Claimed& claimed) {
  std::int64_t want = path::int_at(rs, {"spec", "replicas"}, 1);
  auto have = static_cast<std::int64_t>(claimed.owned.size());
  std::int64_t diff = have - want;
  if (diff < 0) {
    int count = static_cast<int>(std::min<std::int64_t>(-diff, options_.burst_replicas));
    return create_pods(key, rs, count);
  }
  if (diff == 0) return ok_status();
  int count = static_cast<int>(std::min<std::int64_t>(diff, options_.burst_replicas));
  std::vector<Object> victims = claimed.owned;
  rank_pods_for_deletion(victims, claimed.owned, now());
  victims.resize(count);
  expectations_.expect(key, 0, count);
  Status first_error;
  for (const auto& pod : victims) {
    Status s = transport_.remove(pods_resource(), api::get_namespace(*pod), api::get_name(*pod),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(*pod))});
    if (!s.ok()) {
      expectations_.deletion_observed(key);  // will never be seen
      if (s.code() != Code::kNotFound && first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

Status ReplicaSetController::create_pods(const std::string& key, const json::value& rs, int count) {
  expectations_.expect(key, count, 0);
  json::value pod = pod_from_template(rs);
  int created = 0;
  for (int batch = 1; created < count; batch *= 2) {
    int n = std::min(batch, count - created);
    Status first_error;
    for (int i = 0; i < n; ++i) {
      auto r = transport_.create(pods_resource(), api::get_namespace(rs), pod);
      if (!r.ok()) {
        expectations_.creation_observed(key);
        if (first_error.ok()) first_error = r.status();
      }
    }
    created += n;
    if (!first_error.ok()) {
      // The rest of this sync's creates will not happen either.
      expectations_.lower(key, count - created, 0);
      log::logger("controllers")->warn("replicaset {}: creating pods: {}", key, first_error.to_string());
      return first_error.with_context("creating pods");
    }
  }
  return ok_status();
}

Status ReplicaSetController::update_status(const std::string& key, const json::value& rs, const Claimed& claimed) {
  const int min_ready = static_cast<int>(path::int_at(rs, {"spec", "minReadySeconds"}, 0));
  const json::object* tmpl_labels = nullptr;
  if (const json::value* t = path::at(rs, {"spec", "template"})) tmpl_labels = api::get_labels(*t);
  std::int64_t fully_labeled = 0, ready = 0, available = 0;
  SystemTime t_now = now();
  std::optional<SystemTime> next_available;
  for (const auto& pod : claimed.owned) {
    const auto* labels = api::get_labels(*pod);
    bool all = true;
    if (tmpl_labels) {
      for (const auto& [k, v] : *tmpl_labels) {
        all = all && labels && labels->contains(k) && api::json_equal(labels->at(k), v);
      }
    }
    if (all) ++fully_labeled;
    if (is_pod_ready(*pod)) {
      ++ready;
      if (is_pod_available(*pod, min_ready, t_now)) {
        ++available;
      } else if (auto since = pod_ready_since(*pod)) {
        SystemTime due = *since + std::chrono::seconds(min_ready);
        if (!next_available || due < *next_available) next_available = due;
      }
    }
  }
  json::object status{{"replicas", static_cast<std::int64_t>(claimed.owned.size())},
                      {"fullyLabeledReplicas", fully_labeled},
                      {"readyReplicas", ready},
                      {"availableReplicas", available},
                      {"observedGeneration", api::get_generation(rs)}};
  if (next_available) {
    queue().add_after(key, std::chrono::duration_cast<Duration>(*next_available - t_now) + std::chrono::seconds(1));
  }
  const json::value* old_status = rs.as_object().if_contains("status");
  json::object merged = old_status && old_status->is_object() ? old_status->as_object() : json::object{};
  for (const auto& [k, v] : status) merged[k] = v;
  // Upstream omits zero counts (omitempty); keep the stored form identical.
  for (const char* k : {"fullyLabeledReplicas", "readyReplicas", "availableReplicas"}) {
    if (merged[k].as_int64() == 0) merged.erase(k);
  }
  if (old_status && api::json_equal(*old_status, json::value(merged))) return ok_status();
  json::value updated = rs;
  updated.as_object()["status"] = std::move(merged);
  auto r = transport_.update_status(replicasets_resource(), updated);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("updating status");
  return ok_status();
}

}  // namespace kedge::controllers

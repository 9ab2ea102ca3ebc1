#include "deployment_util.h"

#include <algorithm>

#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "json_path.h"

namespace kedge::controllers::deployment_detail {

namespace json = boost::json;

const json::value* field(const json::value& v, std::string_view a, std::string_view b) { return path::at(v, {a, b}); }

std::int64_t int_at(const json::value& v, std::string_view a, std::string_view b, std::int64_t fallback) {
  const json::value* f = field(v, a, b);
  if (!f) return fallback;
  if (auto* i = f->if_int64()) return *i;
  if (auto* u = f->if_uint64()) return static_cast<std::int64_t>(*u);
  return fallback;
}

std::string_view str_at(const json::value& v, std::string_view a, std::string_view b) {
  const json::value* f = field(v, a, b);
  if (f && f->is_string()) return f->as_string();
  return {};
}

bool bool_at(const json::value& v, std::string_view a, std::string_view b) {
  const json::value* f = field(v, a, b);
  return f && f->is_bool() && f->as_bool();
}

std::string strategy_type(const json::value& d) {
  const json::value* s = field(d, "spec", "strategy");
  if (s && s->is_object()) {
    if (auto* t = s->as_object().if_contains("type"); t && t->is_string() && t->as_string() == "Recreate") {
      return "Recreate";
    }
  }
  return "RollingUpdate";
}

const json::value* rolling_param(const json::value& d, std::string_view name) {
  const json::value* s = field(d, "spec", "strategy");
  if (!s || !s->is_object()) return nullptr;
  auto* ru = s->as_object().if_contains("rollingUpdate");
  if (!ru || !ru->is_object()) return nullptr;
  return ru->as_object().if_contains(name);
}

Result<api::LabelSelector> selector_of(const json::value& obj) {
  const json::value* sel = field(obj, "spec", "selector");
  if (!sel) return api::LabelSelector::nothing();
  auto parsed = api::LabelSelector::from_json(*sel);
  if (!parsed.ok()) return parsed.status().with_context("invalid selector");
  if (parsed->empty()) return api::LabelSelector::nothing();
  return parsed;
}

int spec_replicas(const json::value& rs) { return static_cast<int>(int_at(rs, "spec", "replicas", 1)); }

int revision_of(const json::value& rs) {
  auto v = api::get_annotation(rs, kRevisionAnnotation);
  if (!v) return 0;
  int n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9' || n > 100000000) return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

RsCounts counts_of(const json::value& rs) {
  return RsCounts{.replicas = spec_replicas(rs),
                  .available = static_cast<int>(int_at(rs, "status", "availableReplicas", 0))};
}

int old_active(const std::vector<Object>& rss) {
  int n = 0;
  for (const auto& rs : rss) n += spec_replicas(*rs);
  return n;
}

json::value new_replicaset(const json::value& d, int replicas, const std::string& revision) {
  json::value tmpl = json::object{};
  if (const json::value* t = field(d, "spec", "template")) tmpl = *t;
  if (!tmpl.is_object()) tmpl = json::object{};
  const std::string hash = pod_template_hash(tmpl, int_at(d, "status", "collisionCount", 0));
  api::set_label(tmpl, kPodTemplateHashLabel, hash);

  json::value selector = json::object{};
  if (const json::value* s = field(d, "spec", "selector"); s && s->is_object()) selector = *s;
  auto& ml = selector.as_object()["matchLabels"];
  if (!ml.is_object()) ml = json::object{};
  ml.as_object()[kPodTemplateHashLabel] = hash;

  json::value rs = json::object{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}};
  api::set_name(rs, std::string(api::get_name(d)) + "-" + hash);
  api::set_namespace(rs, api::get_namespace(d));
  if (const auto* labels = api::get_labels(tmpl)) {
    for (const auto& [k, v] : *labels) {
      if (v.is_string()) api::set_label(rs, k, v.as_string());
    }
  }
  // The Deployment's annotations travel with the template's ReplicaSet, so
  // `kubectl rollout history` shows each revision's change-cause; kubectl's
  // own bookkeeping and the controller's are not copied (as upstream).
  if (const auto* annotations = api::get_annotations(d)) {
    for (const auto& [k, v] : *annotations) {
      static constexpr std::string_view kSkip[] = {"kubectl.kubernetes.io/last-applied-configuration",
                                                   "deprecated.deployment.rollback.to",
                                                   kRevisionAnnotation,
                                                   "deployment.kubernetes.io/revision-history",
                                                   kDesiredReplicasAnnotation,
                                                   kMaxReplicasAnnotation};
      if (std::find(std::begin(kSkip), std::end(kSkip), std::string_view(k)) != std::end(kSkip)) continue;
      if (v.is_string()) api::set_annotation(rs, k, v.as_string());
    }
  }
  api::set_annotation(rs, kRevisionAnnotation, revision);
  const int desired = static_cast<int>(int_at(d, "spec", "replicas", 1));
  int max_total = desired;
  if (strategy_type(d) != "Recreate") {
    auto fence = resolve_fenceposts(rolling_param(d, "maxSurge"), rolling_param(d, "maxUnavailable"), desired);
    if (fence.ok()) max_total += fence->max_surge;
  }
  api::set_annotation(rs, kDesiredReplicasAnnotation, std::to_string(desired));
  api::set_annotation(rs, kMaxReplicasAnnotation, std::to_string(max_total));
  api::set_owner_references(rs, {api::OwnerReference{.api_version = "apps/v1",
                                                     .kind = "Deployment",
                                                     .name = std::string(api::get_name(d)),
                                                     .uid = std::string(api::get_uid(d)),
                                                     .controller = true,
                                                     .block_owner_deletion = true}});
  json::object spec{{"replicas", replicas}, {"selector", std::move(selector)}, {"template", std::move(tmpl)}};
  if (auto mrs = int_at(d, "spec", "minReadySeconds", 0); mrs > 0) spec["minReadySeconds"] = mrs;
  rs.as_object()["spec"] = std::move(spec);
  return rs;
}

const json::object* find_condition(const json::value& d, std::string_view type) {
  const json::value* conds = field(d, "status", "conditions");
  if (!conds || !conds->is_array()) return nullptr;
  for (const auto& c : conds->as_array()) {
    if (!c.is_object()) continue;
    auto* t = c.as_object().if_contains("type");
    if (t && t->is_string() && t->as_string() == type) return &c.as_object();
  }
  return nullptr;
}

namespace {

std::string cond_str(const json::object& c, std::string_view key) {
  auto* v = c.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// SetDeploymentCondition: the same status and reason leave the condition
// alone; the same status keeps lastTransitionTime.
void set_condition(json::array& conds, const Condition& c, const std::string& now, bool force_update = false) {
  std::string transition = now;
  for (auto it = conds.begin(); it != conds.end(); ++it) {
    if (!it->is_object() || cond_str(it->as_object(), "type") != c.type) continue;
    const auto& cur = it->as_object();
    if (!force_update && cond_str(cur, "status") == c.status && cond_str(cur, "reason") == c.reason) return;
    if (cond_str(cur, "status") == c.status) transition = cond_str(cur, "lastTransitionTime");
    conds.erase(it);
    break;
  }
  conds.push_back(json::object{{"type", c.type},
                               {"status", c.status},
                               {"lastUpdateTime", now},
                               {"lastTransitionTime", transition},
                               {"reason", c.reason},
                               {"message", c.message}});
}

const json::object* cond_in(const json::array& conds, std::string_view type) {
  for (const auto& c : conds) {
    if (c.is_object() && cond_str(c.as_object(), "type") == type) return &c.as_object();
  }
  return nullptr;
}

std::int64_t status_int(const json::value& status, std::string_view key) {
  auto* v = status.is_object() ? status.as_object().if_contains(key) : nullptr;
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

json::value compute_status(const json::value& d, const Object& new_rs, const std::vector<Object>& old,
                           const Fenceposts& /*fence*/) {
  std::int64_t replicas = 0, ready = 0, available = 0, total_spec = 0;
  auto add = [&](const json::value& rs) {
    replicas += int_at(rs, "status", "replicas", 0);
    ready += int_at(rs, "status", "readyReplicas", 0);
    available += int_at(rs, "status", "availableReplicas", 0);
    total_spec += spec_replicas(rs);
  };
  for (const auto& rs : old) add(*rs);
  if (new_rs) add(*new_rs);
  std::int64_t updated = new_rs ? int_at(*new_rs, "status", "replicas", 0) : 0;
  json::object status;
  const json::value* prev = d.as_object().if_contains("status");
  if (prev && prev->is_object()) status = prev->as_object();
  auto put = [&](const char* key, std::int64_t v) {
    // Upstream's fields are omitempty: zero is absent.
    if (v == 0) {
      status.erase(key);
    } else {
      status[key] = v;
    }
  };
  put("observedGeneration", api::get_generation(d));
  put("replicas", replicas);
  put("updatedReplicas", updated);
  put("readyReplicas", ready);
  put("availableReplicas", available);
  put("unavailableReplicas", std::max<std::int64_t>(total_spec - available, 0));
  return status;
}

bool is_complete(const json::value& d, const json::value& status) {
  std::int64_t desired = int_at(d, "spec", "replicas", 1);
  return status_int(status, "updatedReplicas") == desired && status_int(status, "replicas") == desired &&
         status_int(status, "availableReplicas") == desired &&
         status_int(status, "observedGeneration") >= api::get_generation(d);
}

std::optional<SystemTime> apply_conditions(const json::value& d, json::value& status, const Object& new_rs,
                                           const std::vector<Condition>& events, SystemTime now) {
  const std::string t = api::format_rfc3339(now);
  json::array conds;
  if (auto* c = status.as_object().if_contains("conditions"); c && c->is_array()) conds = c->as_array();
  const int desired = static_cast<int>(int_at(d, "spec", "replicas", 1));
  int max_unavailable = 0;
  if (strategy_type(d) != "Recreate" && desired > 0) {
    auto fence = resolve_fenceposts(rolling_param(d, "maxSurge"), rolling_param(d, "maxUnavailable"), desired);
    if (fence.ok()) max_unavailable = std::min(fence->max_unavailable, desired);
  }
  if (status_int(status, "availableReplicas") >= desired - max_unavailable) {
    set_condition(conds, {"Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."}, t);
  } else {
    set_condition(conds, {"Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability."}, t);
  }
  std::optional<SystemTime> deadline;
  const json::object* prog = cond_in(conds, "Progressing");
  bool paused = bool_at(d, "spec", "paused");
  if (paused) {
    if (!prog || cond_str(*prog, "reason") != "DeploymentPaused") {
      set_condition(conds, {"Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"}, t);
    }
  } else {
    if (prog && cond_str(*prog, "reason") == "DeploymentPaused") {
      set_condition(conds, {"Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"}, t);
    }
    for (const auto& e : events) set_condition(conds, e, t);
    const std::string rs_name = new_rs ? std::string(api::get_name(*new_rs)) : std::string();
    const json::value* old_status = d.as_object().if_contains("status");
    json::value empty = json::object{};
    const json::value& before = old_status ? *old_status : empty;
    auto progressed = [&] {
      auto old_old = status_int(before, "replicas") - status_int(before, "updatedReplicas");
      auto new_old = status_int(status, "replicas") - status_int(status, "updatedReplicas");
      return status_int(status, "updatedReplicas") > status_int(before, "updatedReplicas") ||
             status_int(status, "readyReplicas") > status_int(before, "readyReplicas") ||
             status_int(status, "availableReplicas") > status_int(before, "availableReplicas") || new_old < old_old;
    };
    const std::int64_t pds = int_at(d, "spec", "progressDeadlineSeconds", 600);
    prog = cond_in(conds, "Progressing");
    if (new_rs && is_complete(d, status)) {
      set_condition(conds, {"Progressing", "True", "NewReplicaSetAvailable",
                            "ReplicaSet \"" + rs_name + "\" has successfully progressed."}, t);
    } else if (new_rs && progressed()) {
      set_condition(conds, {"Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"" + rs_name + "\" is progressing."},
                    t, /*force_update=*/true);
    } else if (prog && cond_str(*prog, "reason") != "NewReplicaSetAvailable" &&
               cond_str(*prog, "reason") != "ProgressDeadlineExceeded") {
      auto since = api::parse_rfc3339(cond_str(*prog, "lastUpdateTime"));
      if (since.ok() && *since + std::chrono::seconds(pds) < now) {
        set_condition(conds, {"Progressing", "False", "ProgressDeadlineExceeded",
                              "ReplicaSet \"" + rs_name + "\" has timed out progressing."}, t);
      } else if (since.ok()) {
        deadline = *since + std::chrono::seconds(pds);
      }
    }
    prog = cond_in(conds, "Progressing");
    if (!deadline && prog && cond_str(*prog, "status") == "True" &&
        cond_str(*prog, "reason") != "NewReplicaSetAvailable") {
      if (auto since = api::parse_rfc3339(cond_str(*prog, "lastUpdateTime")); since.ok()) {
        deadline = *since + std::chrono::seconds(pds);
      }
    }
  }
  status.as_object()["conditions"] = std::move(conds);
  return deadline;
}

}  // namespace kedge::controllers::deployment_detail

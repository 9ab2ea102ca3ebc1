#include "kedge/controllers/job.h"

#include <algorithm>

#include "json_path.h"
#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"
#include "kedge/controllers/owned_pods.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using path::opt_int_at;
using path::str_at;

namespace {

constexpr char kLegacyControllerUidLabel[] = "controller-uid";
constexpr char kLegacyJobNameLabel[] = "job-name";

std::string condition_status(const json::value& obj, std::string_view type) {
  if (const auto* conds = path::array_at(obj, {"status", "conditions"})) {
    for (const auto& c : *conds) {
      if (str_at(c, {"type"}) == type) return std::string(str_at(c, {"status"}));
    }
  }
  return {};
}

std::optional<SystemTime> time_at(const json::value& v, std::initializer_list<std::string_view> keys) {
  std::string_view text = str_at(v, keys);
  if (text.empty()) return std::nullopt;
  auto t = api::parse_rfc3339(text);
  return t.ok() ? std::optional<SystemTime>(*t) : std::nullopt;
}

// When a terminated pod finished: its last container's finishedAt; without
// one (a kubelet that did not say), the latest condition transition, then
// its start, then its creation, so the failure backoff still ends.
SystemTime finished_at(const json::value& pod, SystemTime now) {
  std::optional<SystemTime> latest;
  auto consider = [&](std::optional<SystemTime> t) {
    if (t && (!latest || *t > *latest)) latest = t;
  };
  if (const auto* statuses = path::array_at(pod, {"status", "containerStatuses"})) {
    for (const auto& cs : *statuses) consider(time_at(cs, {"state", "terminated", "finishedAt"}));
  }
  if (latest) return *latest;
  if (const auto* conds = path::array_at(pod, {"status", "conditions"})) {
    for (const auto& c : *conds) consider(time_at(c, {"lastTransitionTime"}));
  }
  if (latest) return *latest;
  if (auto t = time_at(pod, {"status", "startTime"})) return *t;
  if (auto t = time_at(pod, {"metadata", "creationTimestamp"})) return *t;
  return now;
}

std::int64_t container_restarts(const json::value& pod) {
  std::int64_t n = 0;
  if (const auto* statuses = path::array_at(pod, {"status", "containerStatuses"})) {
    for (const auto& cs : *statuses) n += path::int_at(cs, {"restartCount"}, 0);
  }
  return n;
}

// Replaces (or appends) the condition `type`, keeping lastTransitionTime
// when the status does not change.
void set_condition(json::object& status, std::string_view type, std::string_view value, std::string_view reason,
                   std::string_view message, const std::string& now) {
  json::array& conds = status["conditions"].is_array() ? status["conditions"].as_array()
                                                         : status["conditions"].emplace_array();
  for (auto& c : conds) {
    if (!c.is_object() || str_at(c, {"type"}) != type) continue;
    auto& co = c.as_object();
    if (str_at(c, {"status"}) != value) co["lastTransitionTime"] = now;
    co["status"] = value;
    co["reason"] = reason;
    co["message"] = message;
    co["lastProbeTime"] = now;
    return;
  }
  conds.push_back(json::object{{"type", type},
                               {"status", value},
                               {"reason", reason},
                               {"message", message},
                               {"lastProbeTime", now},
                               {"lastTransitionTime", now}});
}

api::OwnerReference job_ref(const json::value& job) {
  return api::OwnerReference{.api_version = "batch/v1",
                             .kind = "Job",
                             .name = std::string(api::get_name(job)),
                             .uid = std::string(api::get_uid(job)),
                             .controller = true,
                             .block_owner_deletion = true};
}

json::value pod_for(const json::value& job) {
  json::object meta{{"generateName", std::string(api::get_name(job)) + "-"}, {"namespace", api::get_namespace(job)}};
  if (const auto* l = path::object_at(job, {"spec", "template", "metadata", "labels"})) meta["labels"] = *l;
  if (const auto* a = path::object_at(job, {"spec", "template", "metadata", "annotations"})) meta["annotations"] = *a;
  const json::value* spec = path::at(job, {"spec", "template", "spec"});
  json::value pod = json::object{{"apiVersion", "v1"},
                                 {"kind", "Pod"},
                                 {"metadata", std::move(meta)},
                                 {"spec", spec ? *spec : json::value(json::object{})}};
  api::set_owner_references(pod, {job_ref(job)});
  return pod;
}

std::int64_t as_int(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (auto* i = it->value().if_int64()) return *i;
  if (auto* u = it->value().if_uint64()) return static_cast<std::int64_t>(*u);
  return 0;
}

}  // namespace

std::string job_finished_condition(const json::value& job) {
  for (const char* type : {"Complete", "Failed"}) {
    if (condition_status(job, type) == "True") return type;
  }
  return {};
}

struct JobController::Counts {
  std::vector<Object> active;  // neither terminated nor being deleted
  std::int64_t terminating = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::int64_t ready = 0;
  std::optional<SystemTime> last_failure;
};

JobController::JobController(Transport& transport, JobControllerOptions options)
    : Controller("job", transport, options.queue),
      options_(std::move(options)),
      expectations_(options_.clock),
      job_handler_(std::make_unique<OwnerHandler>(queue(), expectations_)),
      pod_handler_(std::make_unique<OwnedPodHandler>("Job", queue(), expectations_)) {}

void JobController::register_watches() {
  transport_.watch(jobs_resource(), job_handler_.get());
  transport_.watch(pods_resource(), pod_handler_.get());
}

void JobController::resync_all() {
  for (const auto& job : transport_.list(jobs_resource(), "")) queue().add(object_key(*job));
}

SystemTime JobController::now() const { return options_.now ? options_.now() : std::chrono::system_clock::now(); }

Status JobController::default_selector(const json::value& job) {
  if (path::bool_at(job, {"spec", "manualSelector"}, false)) {
    log::logger("controllers")->warn("job {}: manualSelector without a selector; nothing to do", object_key(job));
    return ok_status();
  }
  json::value updated = job;
  std::string uid(api::get_uid(job));
  std::string name(api::get_name(job));
  auto& spec = updated.as_object()["spec"].as_object();
  spec["selector"] = json::object{{"matchLabels", json::object{{kJobControllerUidLabel, uid}}}};
  // The template is shaped like an object: its labels sit under metadata.
  json::value tmpl = spec["template"].is_object() ? spec["template"] : json::value(json::object{});
  api::set_label(tmpl, kJobControllerUidLabel, uid);
  api::set_label(tmpl, kJobNameLabel, name);
  api::set_label(tmpl, kLegacyControllerUidLabel, uid);
  api::set_label(tmpl, kLegacyJobNameLabel, name);
  spec["template"] = std::move(tmpl);
  auto r = transport_.update(jobs_resource(), updated);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("defaulting job selector");
  return ok_status();
}

Status JobController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object job = transport_.get(jobs_resource(), ns, name);
  if (!job) {
    expectations_.forget(key);
    return ok_status();
  }
  if (api::get_deletion_timestamp(*job)) return ok_status();
  if (!path::at(*job, {"spec", "selector"})) return default_selector(*job);
  if (!job_finished_condition(*job).empty()) return sync_finished(key, *job);

  const SystemTime t = now();
  const std::string t_text = api::format_rfc3339(t);
  const bool on_failure = str_at(*job, {"spec", "template", "spec", "restartPolicy"}) == "OnFailure";
  Counts counts;
  for (const auto& pod : transport_.list(pods_resource(), ns)) {
    auto ref = api::get_controller_ref(*pod);
    if (!ref || ref->uid != api::get_uid(*job)) continue;
    std::string_view phase = str_at(*pod, {"status", "phase"});
    if (phase == "Succeeded") {
      ++counts.succeeded;
    } else if (phase == "Failed") {
      ++counts.failed;
      SystemTime at = finished_at(*pod, t);
      if (!counts.last_failure || at > *counts.last_failure) counts.last_failure = at;
    } else if (api::get_deletion_timestamp(*pod)) {
      ++counts.terminating;
    } else {
      counts.active.push_back(pod);
      if (is_pod_ready(*pod)) ++counts.ready;
      if (on_failure) counts.failed += container_restarts(*pod);
    }
  }
  const json::value* old_status = job->as_object().if_contains("status");
  json::object status = old_status && old_status->is_object() ? old_status->as_object() : json::object{};
  // Counts only grow: a terminated pod deleted by someone stays counted.
  counts.succeeded = std::max(counts.succeeded, as_int(status, "succeeded"));
  counts.failed = std::max(counts.failed, as_int(status, "failed"));

  const bool suspended = path::bool_at(*job, {"spec", "suspend"}, false);
  if (!suspended && !status.contains("startTime")) status["startTime"] = t_text;
  const auto completions = opt_int_at(*job, {"spec", "completions"});
  const std::int64_t parallelism = path::int_at(*job, {"spec", "parallelism"}, 1);
  const std::int64_t backoff_limit = path::int_at(*job, {"spec", "backoffLimit"}, 6);
  const auto deadline = opt_int_at(*job, {"spec", "activeDeadlineSeconds"});
  auto start = time_at(json::value(status), {"startTime"});

  std::string fail_reason, fail_message;
  if (counts.failed > backoff_limit) {
    fail_reason = "BackoffLimitExceeded";
    fail_message = "Job has reached the specified backoff limit";
  } else if (deadline && start && !suspended && t - *start >= std::chrono::seconds(*deadline)) {
    fail_reason = "DeadlineExceeded";
    fail_message = "Job was active longer than specified deadline";
  }
  bool complete = completions ? counts.succeeded >= *completions : counts.succeeded > 0 && counts.active.empty();

  Status manage = ok_status();
  std::int64_t active = static_cast<std::int64_t>(counts.active.size());
  if (!fail_reason.empty() || complete) {
    manage = delete_pods(key, counts.active);
    active = 0;
    if (!fail_reason.empty()) {
      // 1.32 sets FailureTarget first, Failed once pods are gone; kedge
      // deletes the pods and records both at once.
      set_condition(status, "FailureTarget", "True", fail_reason, fail_message, t_text);
      set_condition(status, "Failed", "True", fail_reason, fail_message, t_text);
    } else {
      set_condition(status, "SuccessCriteriaMet", "True", "CompletionsReached",
                    "Reached expected number of succeeded pods", t_text);
      set_condition(status, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods",
                    t_text);
      status["completionTime"] = t_text;
    }
  } else {
    std::int64_t want = 0;
    if (!suspended) {
      // A work queue (no completions) starts nothing once a pod succeeded
      // but lets the running ones finish.
      want = completions ? std::min(parallelism, *completions - counts.succeeded)
                         : (counts.succeeded > 0 ? std::min<std::int64_t>(active, parallelism) : parallelism);
    }
    if (expectations_.satisfied(key)) {
      auto after = manage_pods(key, *job, counts, static_cast<int>(std::max<std::int64_t>(want, 0)));
      if (after.ok()) {
        active = *after;
      } else {
        manage = after.status();
      }
    }
    if (suspended) {
      set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", t_text);
    } else if (condition_status(*job, "Suspended") == "True") {
      set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", t_text);
    }
    if (deadline && start && !suspended) {
      queue().add_after(key, std::chrono::duration_cast<Duration>(*start + std::chrono::seconds(*deadline) - t));
    }
  }
  status["active"] = active;
  status["ready"] = counts.ready;
  status["succeeded"] = counts.succeeded;
  status["failed"] = counts.failed;
  status["terminating"] = counts.terminating;
  for (const char* k : {"active", "succeeded", "failed", "terminating"}) {
    if (as_int(status, k) == 0) status.erase(k);  // omitempty, as upstream
  }
  Status written = write_status(*job, std::move(status));
  return manage.ok() ? written : manage;
}

Result<int> JobController::manage_pods(const std::string& key, const json::value& job, const Counts& counts,
                                       int want) {
  const int active = static_cast<int>(counts.active.size());
  if (active > want) {
    // Surplus (parallelism lowered, suspended): newest first.
    std::vector<Object> victims = counts.active;
    std::sort(victims.begin(), victims.end(), [](const Object& a, const Object& b) {
      return api::get_creation_timestamp(*a) > api::get_creation_timestamp(*b);
    });
    victims.resize(active - want);
    KEDGE_RETURN_IF_ERROR(delete_pods(key, victims));
    return want;
  }
  if (active == want) return active;
  if (counts.failed > 0 && counts.last_failure) {
    auto delay = options_.pod_failure_backoff;
    for (std::int64_t i = 1; i < counts.failed && delay < options_.max_pod_failure_backoff; ++i) delay *= 2;
    delay = std::min(delay, options_.max_pod_failure_backoff);
    SystemTime due = *counts.last_failure + delay;
    if (now() < due) {
      queue().add_after(key, std::chrono::duration_cast<Duration>(due - now()));
      return active;
    }
  }
  int count = want - active;
  expectations_.expect(key, count, 0);
  json::value pod = pod_for(job);
  for (int i = 0; i < count; ++i) {
    auto r = transport_.create(pods_resource(), api::get_namespace(job), pod);
    if (!r.ok()) {
      expectations_.lower(key, count - i, 0);
      log::logger("controllers")->warn("job {}: creating pod: {}", key, r.status().to_string());
      return r.status().with_context("creating pods");
    }
  }
  return want;
}

Status JobController::delete_pods(const std::string& key, const std::vector<Object>& pods) {
  if (pods.empty()) return ok_status();
  expectations_.expect(key, 0, static_cast<int>(pods.size()));
  Status first_error;
  for (const auto& pod : pods) {
    Status s = transport_.remove(pods_resource(), api::get_namespace(*pod), api::get_name(*pod),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(*pod))});
    if (!s.ok()) {
      expectations_.deletion_observed(key);
      if (s.code() != Code::kNotFound && first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

Status JobController::write_status(const json::value& job, json::object status) {
  const json::value* old_status = job.as_object().if_contains("status");
  if (old_status && api::json_equal(*old_status, json::value(status))) return ok_status();
  if (!old_status && status.empty()) return ok_status();
  json::value updated = job;
  updated.as_object()["status"] = std::move(status);
  auto r = transport_.update_status(jobs_resource(), updated);
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("updating job status");
  return ok_status();
}

Status JobController::sync_finished(const std::string& key, const json::value& job) {
  // Pods still running after the verdict (deletes that failed) go now.
  std::vector<Object> active;
  for (const auto& pod : transport_.list(pods_resource(), api::get_namespace(job))) {
    auto ref = api::get_controller_ref(*pod);
    if (!ref || ref->uid != api::get_uid(job) || api::get_deletion_timestamp(*pod)) continue;
    std::string_view phase = str_at(*pod, {"status", "phase"});
    if (phase != "Succeeded" && phase != "Failed") active.push_back(pod);
  }
  KEDGE_RETURN_IF_ERROR(delete_pods(key, active));
  auto ttl = opt_int_at(job, {"spec", "ttlSecondsAfterFinished"});
  if (!ttl) return ok_status();
  std::optional<SystemTime> finished = time_at(job, {"status", "completionTime"});
  if (!finished) {
    if (const auto* conds = path::array_at(job, {"status", "conditions"})) {
      for (const auto& c : *conds) {
        if (str_at(c, {"status"}) == "True" && (str_at(c, {"type"}) == "Failed" || str_at(c, {"type"}) == "Complete")) {
          finished = time_at(c, {"lastTransitionTime"});
        }
      }
    }
  }
  if (!finished) return ok_status();
  SystemTime due = *finished + std::chrono::seconds(*ttl);
  SystemTime t = now();
  if (t < due) {
    queue().add_after(key, std::chrono::duration_cast<Duration>(due - t));
    return ok_status();
  }
  // As upstream's ttl-after-finished controller: foreground, so the Job is
  // gone only once its pods are.
  log::logger("controllers")->info("job {}: ttlSecondsAfterFinished expired; deleting", key);
  Status s = transport_.remove(jobs_resource(), api::get_namespace(job), api::get_name(job),
                               DeleteOptions{.propagation_policy = "Foreground",
                                             .precondition_uid = std::string(api::get_uid(job))});
  if (!s.ok() && s.code() != Code::kNotFound) return s.with_context("deleting finished job");
  return ok_status();
}

}  // namespace kedge::controllers

#include "kedge/controllers/cronjob.h"

#include <algorithm>
#include <cstdio>

#include "json_path.h"
#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"
#include "kedge/controllers/job.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using path::str_at;
using namespace std::chrono;

namespace {

std::optional<SysSeconds> seconds_at(const json::value& v, std::initializer_list<std::string_view> keys) {
  std::string_view text = str_at(v, keys);
  if (text.empty()) return std::nullopt;
  auto t = api::parse_rfc3339(text);
  if (!t.ok()) return std::nullopt;
  return floor<seconds>(*t);
}

// RFC 3339 with the zone's offset, as Go formats a time in its location.
std::string format_in_zone(SysSeconds t, const TimeZone& zone) {
  seconds off = zone.offset_at(t);
  SysSeconds local = t + off;
  sys_days day = floor<days>(local);
  year_month_day ymd(day);
  hh_mm_ss hms(local - day);
  char buf[96];
  long o = static_cast<long>(off.count());
  if (o == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                  static_cast<long>(hms.seconds().count()));
  } else {
    char sign = o < 0 ? '-' : '+';
    o = o < 0 ? -o : o;
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ld%c%02ld:%02ld", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                  static_cast<long>(hms.seconds().count()), sign, o / 3600, (o % 3600) / 60);
  }
  return buf;
}

// The latest activation in (earliest, now], searching back from now in
// growing windows so a CronJob idle for years costs a few hundred steps.
std::optional<SysSeconds> most_recent(const CronSchedule& s, const TimeZone& zone, SysSeconds earliest,
                                      SysSeconds now) {
  for (seconds window : {seconds(minutes(2)), seconds(hours(1)), seconds(days(1)), seconds(days(32)),
                         seconds(days(366)), seconds(days(366 * 5))}) {
    SysSeconds from = std::max(earliest, now - window);
    std::optional<SysSeconds> found;
    SysSeconds cur = from;
    for (int i = 0; i < 100000; ++i) {
      auto nx = s.next(cur, zone);
      if (!nx || *nx > now) break;
      found = nx;
      cur = *nx;
    }
    if (found || from == earliest) return found;
  }
  return std::nullopt;
}

api::OwnerReference cronjob_ref(const json::value& cj) {
  return api::OwnerReference{.api_version = "batch/v1",
                             .kind = "CronJob",
                             .name = std::string(api::get_name(cj)),
                             .uid = std::string(api::get_uid(cj)),
                             .controller = true,
                             .block_owner_deletion = true};
}

json::value job_from_template(const json::value& cj, const std::string& name, const std::string& scheduled) {
  json::object meta{{"name", name}, {"namespace", api::get_namespace(cj)}};
  if (const auto* l = path::object_at(cj, {"spec", "jobTemplate", "metadata", "labels"})) meta["labels"] = *l;
  json::object annotations;
  if (const auto* a = path::object_at(cj, {"spec", "jobTemplate", "metadata", "annotations"})) annotations = *a;
  annotations[kCronJobScheduledTimestampAnnotation] = scheduled;
  meta["annotations"] = std::move(annotations);
  const json::value* spec = path::at(cj, {"spec", "jobTemplate", "spec"});
  json::value job = json::object{{"apiVersion", "batch/v1"},
                                 {"kind", "Job"},
                                 {"metadata", std::move(meta)},
                                 {"spec", spec ? *spec : json::value(json::object{})}};
  api::set_owner_references(job, {cronjob_ref(cj)});
  return job;
}

json::object job_reference(const json::value& job) {
  return json::object{{"apiVersion", "batch/v1"},
                      {"kind", "Job"},
                      {"name", api::get_name(job)},
                      {"namespace", api::get_namespace(job)},
                      {"uid", api::get_uid(job)},
                      {"resourceVersion", api::get_resource_version(job)}};
}

SysSeconds finish_time(const json::value& job) {
  if (auto t = seconds_at(job, {"status", "completionTime"})) return *t;
  if (const auto* conds = path::array_at(job, {"status", "conditions"})) {
    for (const auto& c : *conds) {
      if (str_at(c, {"status"}) == "True") {
        if (auto t = seconds_at(c, {"lastTransitionTime"})) return *t;
      }
    }
  }
  return seconds_at(job, {"metadata", "creationTimestamp"}).value_or(SysSeconds{});
}

// status.active = the running Jobs (sorted by name, keeping references
// already recorded); lastSuccessfulTime = the newest completion.
void observe_jobs(json::object& status, std::vector<Object>& running, const std::vector<Object>& finished) {
  std::sort(running.begin(), running.end(),
            [](const Object& a, const Object& b) { return api::get_name(*a) < api::get_name(*b); });
  json::array active;
  for (const auto& job : running) {
    json::object ref = job_reference(*job);
    if (const auto* old = status.if_contains("active"); old && old->is_array()) {
      for (const auto& r : old->as_array()) {
        if (str_at(r, {"uid"}) == api::get_uid(*job)) ref = r.as_object();
      }
    }
    active.push_back(std::move(ref));
  }
  if (active.empty()) {
    status.erase("active");
  } else {
    status["active"] = std::move(active);
  }
  std::optional<SysSeconds> last_success = seconds_at(json::value(status), {"lastSuccessfulTime"});
  for (const auto& job : finished) {
    if (job_finished_condition(*job) != "Complete") continue;
    SysSeconds done = finish_time(*job);
    if (!last_success || done > *last_success) last_success = done;
  }
  if (last_success) status["lastSuccessfulTime"] = api::format_rfc3339(*last_success);
}

}  // namespace

std::string cronjob_job_name(std::string_view cronjob, SysSeconds scheduled) {
  return std::string(cronjob) + "-" + std::to_string(scheduled.time_since_epoch().count() / 60);
}

class CronJobController::CronJobHandler final : public client::InformerHandler {
 public:
  explicit CronJobHandler(CronJobController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_delete(const Object&) override {}

 private:
  CronJobController& c_;
};

class CronJobController::JobHandler final : public client::InformerHandler {
 public:
  explicit JobHandler(CronJobController& c) : c_(c) {}
  void on_add(const Object& obj) override { enqueue(*obj); }
  void on_update(const Object&, const Object& obj) override { enqueue(*obj); }
  void on_delete(const Object& obj) override { enqueue(*obj); }

 private:
  void enqueue(const json::value& job) {
    auto ref = api::get_controller_ref(job);
    if (ref && ref->kind == "CronJob") c_.queue().add(std::string(api::get_namespace(job)) + "/" + ref->name);
  }
  CronJobController& c_;
};

CronJobController::CronJobController(Transport& transport, CronJobControllerOptions options)
    : Controller("cronjob", transport, options.queue),
      options_(std::move(options)),
      cronjob_handler_(std::make_unique<CronJobHandler>(*this)),
      job_handler_(std::make_unique<JobHandler>(*this)) {
  auto zone = TimeZone::load(options_.default_time_zone);
  if (zone.ok()) {
    default_zone_ = std::move(*zone);
  } else {
    log::logger("controllers")->warn("cronjob: default time zone {}: {}; using UTC", options_.default_time_zone,
                                     zone.status().to_string());
  }
}

void CronJobController::register_watches() {
  transport_.watch(cronjobs_resource(), cronjob_handler_.get());
  transport_.watch(jobs_resource(), job_handler_.get());
}

void CronJobController::resync_all() {
  for (const auto& cj : transport_.list(cronjobs_resource(), "")) queue().add(object_key(*cj));
}

SystemTime CronJobController::now() const {
  return options_.now ? options_.now() : system_clock::now();
}

Status CronJobController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object cj = transport_.get(cronjobs_resource(), ns, name);
  if (!cj || api::get_deletion_timestamp(*cj)) return ok_status();
  const SystemTime t = now();
  const SysSeconds t_s = floor<seconds>(t);

  std::vector<Object> running, finished;
  bool started_name_exists = false;
  std::string due_name;
  for (const auto& job : transport_.list(jobs_resource(), ns)) {
    auto ref = api::get_controller_ref(*job);
    if (!ref || ref->uid != api::get_uid(*cj)) continue;
    (job_finished_condition(*job).empty() ? running : finished).push_back(job);
  }
  const json::value* old_status = cj->as_object().if_contains("status");
  json::object status = old_status && old_status->is_object() ? old_status->as_object() : json::object{};

  observe_jobs(status, running, finished);
  Status history = clean_history(*cj, finished);

  auto write = [&]() -> Status {
    if (old_status && api::json_equal(*old_status, json::value(status))) return history;
    if (!old_status && status.empty()) return history;
    json::value updated = *cj;
    updated.as_object()["status"] = status;
    auto r = transport_.update_status(cronjobs_resource(), updated);
    if (!r.ok() && r.status().code() != Code::kNotFound) return r.status().with_context("updating cronjob status");
    return history;
  };
  if (path::bool_at(*cj, {"spec", "suspend"}, false)) return write();

  auto schedule = CronSchedule::parse(str_at(*cj, {"spec", "schedule"}));
  if (!schedule.ok()) {
    log::logger("controllers")->warn("cronjob {}: unparseable schedule \"{}\": {}", key,
                                     str_at(*cj, {"spec", "schedule"}), schedule.status().message());
    return write();
  }
  TimeZone zone = default_zone_;
  if (auto tz_name = str_at(*cj, {"spec", "timeZone"}); !tz_name.empty()) {
    auto loaded = TimeZone::load(tz_name);
    if (!loaded.ok()) {
      log::logger("controllers")->warn("cronjob {}: time zone: {}", key, loaded.status().message());
      return write();
    }
    zone = std::move(*loaded);
  }
  // Wake up for the next activation whatever happens below.
  if (auto next = schedule->next(t_s, zone)) {
    queue().add_after(key, duration_cast<Duration>(*next - t) + milliseconds(100));
  }
  SysSeconds earliest = seconds_at(json::value(status), {"lastScheduleTime"})
                            .value_or(seconds_at(*cj, {"metadata", "creationTimestamp"}).value_or(t_s));
  auto deadline = path::opt_int_at(*cj, {"spec", "startingDeadlineSeconds"});
  if (deadline && earliest < t_s - seconds(*deadline)) earliest = t_s - seconds(*deadline);
  auto scheduled = most_recent(*schedule, zone, earliest, t_s);
  if (!scheduled) return write();

  due_name = cronjob_job_name(name, *scheduled);
  for (const auto& list : {&running, &finished}) {
    for (const auto& job : *list) started_name_exists = started_name_exists || api::get_name(*job) == due_name;
  }
  if (started_name_exists) {
    // Started earlier; the status write may have failed since.
    status["lastScheduleTime"] = api::format_rfc3339(*scheduled);
    return write();
  }
  std::string policy(str_at(*cj, {"spec", "concurrencyPolicy"}));
  if (policy == "Forbid" && !running.empty()) {
    log::logger("controllers")->debug("cronjob {}: {} due, but a Job still runs (Forbid)", key, due_name);
    return write();
  }
  if (policy == "Replace") {
    for (const auto& job : running) {
      Status s = transport_.remove(jobs_resource(), ns, api::get_name(*job),
                                   DeleteOptions{.propagation_policy = "Background",
                                                 .precondition_uid = std::string(api::get_uid(*job))});
      if (!s.ok() && s.code() != Code::kNotFound) return s.with_context("replacing job " + std::string(api::get_name(*job)));
    }
    running.clear();
    observe_jobs(status, running, {});
  }
  auto created = transport_.create(jobs_resource(), ns, job_from_template(*cj, due_name, format_in_zone(*scheduled, zone)));
  if (!created.ok() && created.status().code() != Code::kAlreadyExists) {
    return created.status().with_context("creating job " + due_name);
  }
  if (created.ok()) {
    log::logger("controllers")->info("cronjob {}: created job {}", key, due_name);
    json::array active = status.contains("active") ? status["active"].as_array() : json::array{};
    active.push_back(job_reference(*created));
    status["active"] = std::move(active);
  }
  status["lastScheduleTime"] = api::format_rfc3339(*scheduled);
  return write();
}

Status CronJobController::clean_history(const json::value& cj, const std::vector<Object>& finished) {
  std::vector<Object> succeeded, failed;
  for (const auto& job : finished) {
    (job_finished_condition(*job) == "Complete" ? succeeded : failed).push_back(job);
  }
  Status first_error;
  auto trim = [&](std::vector<Object>& jobs, std::int64_t limit) {
    if (static_cast<std::int64_t>(jobs.size()) <= limit) return;
    std::sort(jobs.begin(), jobs.end(), [](const Object& a, const Object& b) {
      auto ta = finish_time(*a), tb = finish_time(*b);
      return ta != tb ? ta < tb : api::get_name(*a) < api::get_name(*b);
    });
    for (size_t i = 0; i + static_cast<size_t>(std::max<std::int64_t>(limit, 0)) < jobs.size(); ++i) {
      Status s = transport_.remove(jobs_resource(), api::get_namespace(*jobs[i]), api::get_name(*jobs[i]),
                                   DeleteOptions{.propagation_policy = "Background",
                                                 .precondition_uid = std::string(api::get_uid(*jobs[i]))});
      if (!s.ok() && s.code() != Code::kNotFound && first_error.ok()) first_error = s;
    }
  };
  trim(succeeded, path::int_at(cj, {"spec", "successfulJobsHistoryLimit"}, 3));
  trim(failed, path::int_at(cj, {"spec", "failedJobsHistoryLimit"}, 1));
  if (!first_error.ok()) return first_error.with_context("cleaning job history");
  return ok_status();
}

}  // namespace kedge::controllers

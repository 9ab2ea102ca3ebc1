// CronJob controller: creates a Job from spec.jobTemplate at every time the
// schedule (cron_schedule.h) names, in spec.timeZone (default: the
// controller's `default_time_zone`).
//
// One sync(ns/name):
//  * status.active drops Jobs that are gone or finished; lastSuccessfulTime
//    follows the newest completed Job; finished Jobs beyond
//    successfulJobsHistoryLimit (3) / failedJobsHistoryLimit (1) are
//    deleted, oldest first (Background);
//  * suspend: nothing is started;
//  * the most recent activation t with lastScheduleTime (or creation) < t ≤
//    now is due unless it is older than startingDeadlineSeconds (missed);
//    Forbid skips it while a Job runs (it starts late once that one ends,
//    as upstream), Replace deletes the running Jobs first, Allow runs side
//    by side;
//  * the Job is named "<cronjob>-<t in minutes since the epoch>" (so a
//    retried sync can never start an activation twice), is controlled by
//    the CronJob, and carries batch.kubernetes.io/cronjob-scheduled-timestamp;
//    lastScheduleTime = t and the Job joins status.active;
//  * the key is requeued for the next activation.
// An unparseable schedule or unknown time zone is logged at each sync and
// otherwise left alone (API validation normally rejects both).
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <functional>
#include <memory>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/cron_schedule.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {

inline constexpr char kCronJobScheduledTimestampAnnotation[] = "batch.kubernetes.io/cronjob-scheduled-timestamp";

struct CronJobControllerOptions {
  WorkQueueOptions queue;
  // Wall clock; nullptr: system_clock::now. The queue's clock (queue.clock)
  // must advance with it for requeues to fire in tests.
  std::function<SystemTime()> now;
  // Zone of CronJobs without spec.timeZone (upstream: the controller
  // manager's local zone).
  std::string default_time_zone = "Local";
};

class CronJobController final : public Controller {
 public:
  CronJobController(Transport& transport, CronJobControllerOptions options = {});
  ~CronJobController() override { stop(); }

  // Registers the CronJob and Job watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class CronJobHandler;
  class JobHandler;

  Status clean_history(const boost::json::value& cj, const std::vector<Object>& finished);
  SystemTime now() const;

  CronJobControllerOptions options_;
  TimeZone default_zone_;
  std::unique_ptr<client::InformerHandler> cronjob_handler_;
  std::unique_ptr<client::InformerHandler> job_handler_;
};

// "<cronjob>-<scheduled minutes since the epoch>", upstream's Job name.
std::string cronjob_job_name(std::string_view cronjob, SysSeconds scheduled);

}  // namespace kedge::controllers

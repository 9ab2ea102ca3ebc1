// Job controller: runs pods to completion. A Job wants `completions`
// successful pods (default 1; unset with parallelism = a work queue: done
// once any pod succeeded and none is running), at most `parallelism` at a
// time, and gives up after `backoffLimit` failures or `activeDeadlineSeconds`.
//
// One sync(ns/name):
//  * a Job without spec.selector gets upstream's defaults first (selector
//    batch.kubernetes.io/controller-uid=<uid>; template labels
//    batch.kubernetes.io/controller-uid, batch.kubernetes.io/job-name and
//    their legacy spellings controller-uid, job-name);
//  * a finished Job (Complete or Failed condition) is only checked for
//    ttlSecondsAfterFinished, and deleted (Background) once it expired;
//  * pods: those whose controller ownerReference is this Job. succeeded and
//    failed count terminated pods (a restartPolicy OnFailure pod's container
//    restarts count as failures, as upstream); counts never go down;
//  * failed > backoffLimit → condition Failed/BackoffLimitExceeded "Job has
//    reached the specified backoff limit"; running longer than
//    activeDeadlineSeconds → Failed/DeadlineExceeded "Job was active longer
//    than specified deadline"; active pods are deleted;
//  * enough successes → condition Complete, completionTime;
//  * otherwise it creates pods (generateName "<job>-", controller
//    ownerReference) up to min(parallelism, completions − succeeded), after
//    failures only once the pod failure backoff (10 s·2ⁿ⁻¹, max 6 min, as
//    upstream) has passed since the last failure, and deletes surplus ones;
//    spec.suspend deletes the active pods;
//  * status: active, ready, succeeded, failed, startTime, completionTime,
//    conditions.
// Indexed completion mode, pod failure policies and success policies are not
// implemented (NonIndexed only).
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <functional>
#include <memory>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/expectations.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {

inline constexpr char kJobControllerUidLabel[] = "batch.kubernetes.io/controller-uid";
inline constexpr char kJobNameLabel[] = "batch.kubernetes.io/job-name";

struct JobControllerOptions {
  WorkQueueOptions queue;
  Clock* clock = nullptr;  // expectations' clock; nullptr: real
  // Wall clock (startTime, deadlines, TTL); nullptr: system_clock::now.
  std::function<SystemTime()> now;
  // First delay before replacing a failed pod; doubles per failure.
  std::chrono::seconds pod_failure_backoff{10};
  std::chrono::seconds max_pod_failure_backoff{360};
};

class JobController final : public Controller {
 public:
  JobController(Transport& transport, JobControllerOptions options = {});
  ~JobController() override { stop(); }

  // Registers the Job and Pod watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  struct Counts;

  Status default_selector(const boost::json::value& job);
  Status sync_finished(const std::string& key, const boost::json::value& job);
  // Creates or deletes pods towards `want` active; returns how many are
  // active afterwards (fewer than wanted while a failure backoff runs).
  Result<int> manage_pods(const std::string& key, const boost::json::value& job, const Counts& counts, int want);
  Status delete_pods(const std::string& key, const std::vector<Object>& pods);
  Status write_status(const boost::json::value& job, boost::json::object status);
  SystemTime now() const;

  JobControllerOptions options_;
  Expectations expectations_;
  std::unique_ptr<client::InformerHandler> job_handler_;
  std::unique_ptr<client::InformerHandler> pod_handler_;
};

// "Complete" or "Failed" when the Job carries that condition with status True.
std::string job_finished_condition(const boost::json::value& job);

}  // namespace kedge::controllers

// Deployment controller: rolls a Deployment's pod template out through
// ReplicaSets, one per template ("<deployment>-<pod-template-hash>"), and
// reports progress the way `kubectl rollout status` reads it.
//
// One sync(ns/name):
//  1. claim ReplicaSets (controller ownerReference; adopt matching orphans,
//     release those whose labels stopped matching);
//  2. find the new ReplicaSet (template equal ignoring pod-template-hash);
//     the others are old. Its revision annotation becomes max(old) + 1 — so
//     `kubectl rollout undo`, which copies an old template into the
//     Deployment client-side, revives that ReplicaSet as the newest revision;
//  3. paused: only keep the active ReplicaSet at spec.replicas and report;
//     Recreate: scale every old ReplicaSet to 0, wait for their pods to go,
//     then create/scale the new one; RollingUpdate: scale the new one up
//     within maxSurge, old ones down within maxUnavailable (rollout.h);
//  4. when complete, delete old ReplicaSets with no replicas beyond
//     revisionHistoryLimit (default 10), oldest first;
//  5. status: observedGeneration, replicas, updatedReplicas, readyReplicas,
//     availableReplicas, unavailableReplicas, collisionCount and the
//     Available / Progressing conditions with upstream's reasons and
//     messages (progressDeadlineSeconds, default 600, → ProgressDeadlineExceeded).
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <functional>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/pod_util.h"
#include "kedge/controllers/rollout.h"

namespace kedge::controllers {

struct DeploymentControllerOptions {
  WorkQueueOptions queue;
  std::function<SystemTime()> now;  // nullptr: system_clock::now
};

class DeploymentController final : public Controller {
 public:
  DeploymentController(Transport& transport, DeploymentControllerOptions options = {});
  ~DeploymentController() override;

  // Registers Deployment, ReplicaSet and Pod watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class Handler;
  struct State;

  Result<State> load(const boost::json::value& d);
  Result<Object> ensure_new_rs(State& st, int replicas);
  Status set_owner(const boost::json::value& rs, const boost::json::value& d, bool adopt);
  Status handle_collision(State& st, const boost::json::value& wanted);
  Status scale(const boost::json::value& rs, int replicas, const boost::json::value& d);
  Status rolling(State& st);
  Status recreate(State& st);
  Status cleanup(State& st);
  Status sync_status(State& st, const std::string& key);
  void enqueue_for_rs(const boost::json::value& rs);
  SystemTime now() const;

  DeploymentControllerOptions options_;
  std::unique_ptr<client::InformerHandler> d_handler_, rs_handler_, pod_handler_;
};

}  // namespace kedge::controllers

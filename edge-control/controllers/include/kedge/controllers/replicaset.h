// ReplicaSet controller: keeps `spec.replicas` active pods matching the
// ReplicaSet's selector, created from `spec.template`, and reports what it
// sees in `status`.
//
// One sync(ns/name):
//  1. claim pods: own those whose controller ownerReference names this
//     ReplicaSet and still match; adopt matching orphans (patch in an
//     ownerReference with controller=true, blockOwnerDeletion=true); release
//     owned pods whose labels stopped matching;
//  2. if the expectations from the last sync are met, create pods
//     (generateName "<rs>-", slow start in batches 1, 2, 4, ... so a broken
//     template fails once, not 500 times) or delete the lowest-ranked ones
//     (pod_util.h's ranking);
//  3. write status (replicas, fullyLabeledReplicas, readyReplicas,
//     availableReplicas with minReadySeconds, observedGeneration) if changed,
//     and requeue when a ready pod will become available.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <functional>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/expectations.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {

struct ReplicaSetControllerOptions {
  WorkQueueOptions queue;
  Clock* clock = nullptr;  // expectations' clock; nullptr: real
  // Wall clock for minReadySeconds; nullptr: system_clock::now.
  std::function<SystemTime()> now;
  int burst_replicas = 500;  // most creates/deletes per sync, as upstream
};

class ReplicaSetController final : public Controller {
 public:
  ReplicaSetController(Transport& transport, ReplicaSetControllerOptions options = {});
  // Stops the workers before members they use are destroyed.
  ~ReplicaSetController() override { stop(); }

  // Registers the ReplicaSet and Pod watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

  Expectations& expectations() { return expectations_; }

 private:
  class PodHandler;
  friend class PodHandler;

  struct Claimed {
    std::vector<Object> owned;  // active pods controlled by the RS after claiming
  };
  Result<Claimed> claim_pods(const boost::json::value& rs);
  Status manage_replicas(const std::string& key, const boost::json::value& rs, const Claimed& claimed);
  Status create_pods(const std::string& key, const boost::json::value& rs, int count);
  Status update_status(const std::string& key, const boost::json::value& rs, const Claimed& claimed);

  void enqueue_owner_of(const boost::json::value& pod, bool observed_create, bool observed_delete);
  void enqueue_matching(const boost::json::value& pod);
  SystemTime now() const;

  ReplicaSetControllerOptions options_;
  Expectations expectations_;
  std::unique_ptr<client::InformerHandler> rs_handler_;
  std::unique_ptr<client::InformerHandler> pod_handler_;
};

// The pod a ReplicaSet creates: template labels/annotations/spec, namespace,
// generateName "<rs>-", and its controller ownerReference.
boost::json::value pod_from_template(const boost::json::value& rs);

}  // namespace kedge::controllers

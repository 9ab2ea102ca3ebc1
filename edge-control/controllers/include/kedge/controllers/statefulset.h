// StatefulSet controller: pods with stable identities `<sts>-<ordinal>`,
// each with its own PersistentVolumeClaims, started and stopped in order.
//
// One sync(ns/name):
//  * pods are those controlled by the StatefulSet; ordinal = the name's
//    suffix. Failed pods are deleted (and recreated under the same name);
//  * pods for ordinals 0..replicas-1 are created named `<sts>-<i>` with
//    labels statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index
//    and controller-revision-hash, hostname `<sts>-<i>` and subdomain
//    spec.serviceName; each volumeClaimTemplate becomes the PVC
//    `<template>-<sts>-<i>` (created first, kept when pods go: upstream's
//    default Retain policy) mounted through a volume of the template's name;
//  * OrderedReady (default): one pod at a time, ascending, each only once
//    every lower one is Running and Ready; scale-down deletes the highest
//    ordinal first, one at a time, waiting for it to go. Parallel: all at
//    once, in both directions;
//  * RollingUpdate: once all pods are there and ready, the highest ordinal
//    >= partition still on the old template is deleted, one at a time (it
//    comes back on the new one). OnDelete: pods change when users delete them;
//  * status: replicas, readyReplicas, availableReplicas, currentReplicas,
//    updatedReplicas, currentRevision / updateRevision ("<sts>-<hash>"),
//    observedGeneration.
// Not implemented: ControllerRevision objects (rollout history/undo),
// PVC retention policy (always Retain), maxUnavailable, start ordinal.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <memory>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {

inline constexpr char kStatefulSetPodNameLabel[] = "statefulset.kubernetes.io/pod-name";
inline constexpr char kPodIndexLabel[] = "apps.kubernetes.io/pod-index";

struct StatefulSetControllerOptions {
  WorkQueueOptions queue;
};

class StatefulSetController final : public Controller {
 public:
  StatefulSetController(Transport& transport, StatefulSetControllerOptions options = {});
  ~StatefulSetController() override { stop(); }

  // Registers the StatefulSet, Pod and PVC watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class StsHandler;
  class PodHandler;

  Status create_pod(const boost::json::value& sts, int ordinal, const std::string& hash);

  StatefulSetControllerOptions options_;
  std::unique_ptr<client::InformerHandler> sts_handler_;
  std::unique_ptr<client::InformerHandler> pod_handler_;
};

}  // namespace kedge::controllers

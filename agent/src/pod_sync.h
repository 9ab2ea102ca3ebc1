// PodSyncer: one idempotent, level-triggered sync of one pod against the
// runtime — the body of a pod worker. It reads what the runtime has for the
// pod (sandboxes and containers by the io.kubernetes.pod.uid label, so an
// agent restart adopts running pods instead of restarting them), makes one
// step of progress toward the spec (sandbox, init containers in order,
// containers, restarts with CrashLoopBackOff, probes), and hands the status
// it observes to the StatusManager. Termination stops containers with the
// grace period, removes containers, sandboxes, volumes and the pod cgroup,
// then confirms the deletion to the API (DELETE gracePeriodSeconds=0).
//
// Thread-safety: sync() may run concurrently for different pods; the pod
// workers guarantee one sync at a time per pod.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "kedge/agent/qos_cgroups.h"
#include "kedge/client/rest_client.h"
#include "kedge/cri/runtime_client.h"
#include "pod_config.h"
#include "pod_workers.h"
#include "status_manager.h"
#include "volumes.h"

namespace kedge::agent::detail {

struct SyncSettings {
  SandboxSettings sandbox;
  std::vector<std::string> node_ips;
  QosCgroups* qos = nullptr;  // re-sized as Burstable pods come and go
  std::string runtime_name = "containerd";  // containerID scheme
  std::int64_t node_cpu_milli = 0;
  std::int64_t node_memory_bytes = 0;
  std::chrono::milliseconds resync_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_initial{std::chrono::seconds(10)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  std::chrono::minutes backoff_reset{10};
};

// Kubernetes Events, recorded without blocking the caller.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void event(const api::Pod& pod, const std::string& field_path, const std::string& type,
                     const std::string& reason, const std::string& message) = 0;
};

// Timings of the CRI calls a sync made, for the start-latency bench.
struct CriTiming {
  std::chrono::nanoseconds in_runtime{0};
};

class PodSyncer {
 public:
  PodSyncer(SyncSettings settings, cri::RuntimeClient& runtime, client::RestClient& api, StatusManager& statuses,
            VolumeManager& volumes, ObjectSource& objects, EventSink& events)
      : s_(std::move(settings)), runtime_(runtime), api_(api), statuses_(statuses), volumes_(volumes),
        objects_(objects), events_(events) {}

  SyncResult sync(SyncRequest& request);

 private:
  struct PodState;
  struct StatusInputs;
  SyncResult sync_running(const api::Pod& pod, const boost::json::value& raw, PodState& state);
  bool publish_status(const api::Pod& pod, const boost::json::value& raw, PodState& st, const StatusInputs& in);
  SyncResult terminate(const std::string& uid, const api::Pod* pod, bool deleted);
  // Stops one container as upstream's killContainer: its preStop hook (if
  // any, and `pod` is known) inside `grace` seconds, then SIGTERM with what
  // is left (at least 2 s), then SIGKILL. Any thread.
  Status stop_container(const api::Pod* pod, const std::string& name, const std::string& id,
                        const std::string& sandbox_id, std::int64_t grace);

  const SyncSettings s_;
  cri::RuntimeClient& runtime_;
  client::RestClient& api_;
  StatusManager& statuses_;
  VolumeManager& volumes_;
  ObjectSource& objects_;
  EventSink& events_;
};

}  // namespace kedge::agent::detail

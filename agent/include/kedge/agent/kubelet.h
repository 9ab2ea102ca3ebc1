// Kubelet: runs the pods the API server binds to this node on a CRI runtime.
//
// Pieces (see agent/README.md for the pod lifecycle):
//   informer        LIST+WATCH pods with fieldSelector spec.nodeName=<node> (own thread)
//   pod workers     one state machine per pod on a small pool (syncing → terminating → terminated)
//   relister        one ListContainers/ListPodSandboxes per relist period; wakes the
//                   workers of pods whose containers changed state (upstream's PLEG),
//                   and terminates runtime pods no API pod owns (orphans)
//   status manager  one writer thread; versioned pod statuses and Events to the API
// Node registration and the Lease are NodeStatusManager (node_status.h).
//
// Threads: start() starts 3 + `workers` threads; stop() joins them all.
// Running containers are left alone by stop(): a restarted kubelet adopts them.
// Ownership: borrows the RestClient and RuntimeClient; both must outlive it.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kedge/agent/qos_cgroups.h"
#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::agent {

struct KubeletOptions {
  std::string node_name;
  std::vector<std::string> node_ips;
  std::filesystem::path root_dir;  // <data-dir>/kubelet: pods/<uid>/volumes/...
  std::string pod_log_dir = "/var/log/pods";
  std::string cluster_dns;
  std::string cluster_domain = "cluster.local";
  std::string cgroup_root = "/kubepods";
  std::string runtime_name = "containerd";
  int workers = 4;
  std::chrono::milliseconds relist_period{std::chrono::seconds(1)};
  std::chrono::milliseconds resync_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds object_cache_ttl{std::chrono::seconds(5)};  // ConfigMaps/Secrets
  std::chrono::milliseconds backoff_initial{std::chrono::seconds(10)};  // CrashLoopBackOff
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  // How long after start the API may take to list this node's pods before
  // the kubelet runs them from its checkpoint (<root_dir>/pods/checkpoint.json).
  std::chrono::milliseconds checkpoint_grace{std::chrono::seconds(10)};
  // The node's QoS cgroups under cgroup_root (created and limited by the
  // caller); pods' CPU requests re-size its burstable level. Null = none.
  QosCgroups* qos = nullptr;
};

class Kubelet {
 public:
  Kubelet(client::RestClient& api, cri::RuntimeClient& runtime, KubeletOptions options);
  ~Kubelet();
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  Status start();
  void stop();

  // Pods the kubelet is working on (for /pods and tests).
  std::size_t pod_count() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::agent

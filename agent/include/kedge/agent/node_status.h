// NodeStatusManager: the kubelet's side of the Node object — it registers
// the Node, renews the node's Lease in kube-node-lease, and keeps the Node's
// status (capacity, allocatable, addresses, nodeInfo, conditions) current.
//
// Cadence, as upstream's kubelet: the Lease is renewed every
// `lease_renew_interval` (10 s, duration 40 s); the status is computed every
// `status_check_interval` (10 s) and written when something changed, when
// the server's copy of a condition differs (the node lifecycle controller
// marked the node Unknown), or when `status_report_interval` (5 min) passed
// since the last write.
//
// Threads: start() starts one thread that sleeps on a condition variable
// between beats (no polling); stop() wakes and joins it. register_node() and
// pod_cidr() may be called from any thread.
// Ownership: borrows the RestClient; it must outlive the manager.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/types/common.h"
#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"

namespace kedge::agent {

// What the node reports about itself that the manager cannot read from the
// host (the runtime's version and health).
struct RuntimeHealth {
  bool runtime_ready = false;
  bool network_ready = false;
  std::string message;  // why not ready
  std::string version;  // nodeInfo.containerRuntimeVersion, "containerd://1.6.20"
};

struct NodeStatusOptions {
  std::string node_name;
  std::vector<std::string> node_ips;
  bool control_plane = false;
  std::int32_t kubelet_port = 10250;
  std::string data_dir;  // DiskPressure and ephemeral-storage are measured on its filesystem
  // Reservations subtracted from capacity to give allocatable (kubelet's
  // --system-reserved/--kube-reserved and the hard eviction threshold).
  std::string reserved_cpu = "0";
  std::string reserved_memory = "0";
  std::string eviction_memory_available = "100Mi";
  double eviction_disk_available_fraction = 0.10;
  std::int64_t max_pods = 110;
  // Asked at every status check (from the manager's thread); may call the runtime.
  std::function<RuntimeHealth()> runtime_health;
  // Called (from the manager's thread or register_node's caller) when the
  // Node's spec.podCIDR is first seen or changes.
  std::function<void(const std::string& pod_cidr)> on_pod_cidr;
  std::chrono::milliseconds lease_renew_interval{std::chrono::seconds(10)};
  std::chrono::seconds lease_duration{40};
  std::chrono::milliseconds status_check_interval{std::chrono::seconds(10)};
  std::chrono::milliseconds status_report_interval{std::chrono::minutes(5)};
};

class NodeStatusManager {
 public:
  NodeStatusManager(client::RestClient& api, NodeStatusOptions options);
  ~NodeStatusManager();
  NodeStatusManager(const NodeStatusManager&) = delete;
  NodeStatusManager& operator=(const NodeStatusManager&) = delete;

  // Creates the Node (or adopts an existing one, updating its labels and
  // addresses) and writes its first status. Errors when the API refuses.
  Status register_node();
  // Starts the heartbeat thread. If register_node() failed (the API
  // unreachable: the agent started offline), the thread registers the node
  // once the API answers, then heartbeats as usual.
  void start();
  void stop();
  // Asks the heartbeat thread to compute and write the status now (e.g. once
  // the runtime is up, so Ready does not wait for the next 10 s beat).
  void sync_now();

  // Re-reads the Node for spec.podCIDR (calls on_pod_cidr when it changed).
  Status refresh_pod_cidr();
  // spec.podCIDR as last read from the API ("" until the IPAM sets it).
  std::string pod_cidr() const;

  // Capacity and allocatable as reported (for tests and the agent API).
  struct Resources {
    api::ResourceList capacity;
    api::ResourceList allocatable;
  };
  Resources resources() const;

 private:
  void run();
  Status renew_lease();
  Status sync_status(bool force);
  boost::json::value build_status(bool& changed);
  boost::json::value node_object() const;
  void note_pod_cidr(const boost::json::value& node);

  client::RestClient& api_;
  const NodeStatusOptions o_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                    // guarded by mu_
  bool sync_now_ = false;                    // guarded by mu_
  std::string pod_cidr_;                     // guarded by mu_
  Resources resources_;                      // guarded by mu_
  // Conditions as last computed: type → (status, reason, message, lastTransitionTime).
  boost::json::value last_conditions_;       // touched by register_node() then the thread only
  std::string last_fingerprint_;             // ditto
  std::chrono::steady_clock::time_point last_report_{};
  bool registered_ = false;                  // set by register_node(), then the thread only
  std::thread thread_;
};

}  // namespace kedge::agent

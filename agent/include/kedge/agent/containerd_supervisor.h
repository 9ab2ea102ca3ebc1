// ContainerdSupervisor: runs kedge's private containerd.
//
// Why a private containerd: kedge must not depend on (or disturb) a system
// containerd's config — the CRI sandbox image must be one kedge imported
// itself (no registry), restrict_oom_score_adj must match this process's
// capabilities, and the CNI config must match the node's podCIDR. So kedge
// writes its own config.toml and CNI conflist under <data-dir> and runs
// containerd as its child, with root, state and socket there too.
//
// Layout under <data-dir>:
//   containerd/config.toml, containerd.sock, containerd.log, root/, state/
//   agent/cni/net.d/10-<network>.conflist, agent/cni/ipam/ (host-local)
//
// Lifecycle: start() writes the files and starts the supervisor thread,
// which spawns containerd and waits until its CRI socket answers Version;
// wait_ready() blocks until then. If containerd dies, the thread logs how and
// spawns it again after a backoff (initial_backoff doubling to max_backoff,
// reset once a run lasted min_healthy_run). Containers survive a containerd
// restart (their shims are separate processes). stop() stops containerd
// with SIGTERM (SIGKILL after stop_timeout) and leaves pods running unless
// options.drain_on_stop, in which case every pod sandbox is stopped and
// removed first. The thread sleeps in poll(2) on a pidfd and an eventfd: an
// idle supervisor uses no CPU.
//
// Thread-safety: all public methods may be called from any thread.
// Ownership: the supervisor owns the containerd child and its thread; the
// destructor calls stop().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kedge/agent/child_process.h"
#include "kedge/agent/containerd_config.h"
#include "kedge/base/status.h"

namespace kedge::agent {

struct ContainerdSupervisorOptions {
  std::filesystem::path data_dir = "/var/lib/kedge";
  std::string containerd_binary = "containerd";
  std::string sandbox_image;  // default: kPauseImageName
  CniConfig cni = {.network_name = "kedge", .bridge = "kedge0", .pod_cidr = "10.42.0.0/24", .ipam_data_dir = {}, .mtu = 0};
  std::filesystem::path cni_bin_dir = "/usr/lib/cni";
  std::string log_level = "info";
  // How long one containerd start may take to answer CRI Version.
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  std::chrono::milliseconds min_healthy_run{std::chrono::seconds(60)};
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(10)};
  bool drain_on_stop = false;
  // Testing seam: force a snapshotter instead of probing overlayfs.
  std::string force_snapshotter;
};

class ContainerdSupervisor {
 public:
  explicit ContainerdSupervisor(ContainerdSupervisorOptions options);
  ~ContainerdSupervisor();
  ContainerdSupervisor(const ContainerdSupervisor&) = delete;
  ContainerdSupervisor& operator=(const ContainerdSupervisor&) = delete;

  // Detects capabilities and the snapshotter, writes config.toml and the CNI
  // conflist, and starts the supervisor thread. Errors leave nothing running.
  // REQUIRES: called once.
  Status start();

  // Blocks until containerd answers CRI Version (true) or `timeout` passes
  // or the supervisor stops (error naming the last failure and the log file).
  Status wait_ready(std::chrono::milliseconds timeout);

  // Stops containerd (draining pods first if options.drain_on_stop) and
  // joins the thread. Idempotent.
  void stop();

  // "unix://<data-dir>/containerd/containerd.sock".
  std::string endpoint() const;
  const std::filesystem::path& socket_path() const { return paths_.socket; }
  const std::filesystem::path& log_path() const { return paths_.log; }
  const std::filesystem::path& config_path() const { return paths_.config; }
  const std::filesystem::path& cni_conf_dir() const { return paths_.cni_conf_dir; }
  // The snapshotter chosen by start(); `ctr images import` must unpack into it.
  std::string snapshotter() const;
  bool restricts_oom_score_adj() const;

  bool ready() const;
  pid_t pid() const;        // -1 while containerd is not running
  int restarts() const;     // spawns after the first

 private:
  struct Paths {
    std::filesystem::path dir, config, socket, log, root, state, cni_conf_dir, ipam_dir;
  };

  enum class RunOutcome { kStopped, kFailed, kFailedAfterHealthyRun };

  void run();
  // Spawns containerd, waits for readiness, then for its exit or stop().
  RunOutcome run_once();
  Status wait_until_answering(ChildProcess& child);
  bool wait_stop_requested(std::chrono::milliseconds timeout);
  void shut_down(ChildProcess& child);
  void drain_pods();
  void set_error(const std::string& message);

  // Constant after construction / start().
  const ContainerdSupervisorOptions options_;
  const Paths paths_;
  std::string snapshotter_;
  bool restrict_oom_ = false;
  int stop_fd_ = -1;  // eventfd: written once by stop()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = false;          // guarded by mu_
  bool finished_ = false;       // guarded by mu_: the thread has exited
  pid_t pid_ = -1;              // guarded by mu_
  int restarts_ = 0;            // guarded by mu_
  std::string last_error_;      // guarded by mu_

  std::thread thread_;  // started by start(), joined by stop()
  std::once_flag stop_once_;
};

}  // namespace kedge::agent

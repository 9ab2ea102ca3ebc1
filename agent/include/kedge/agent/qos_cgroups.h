// The node's QoS cgroups, as upstream's kubelet lays them out (cgroupfs
// driver):
//
//   <root>                 node allocatable: memory limit = allocatable
//   │                      memory, CPU weight from allocatable CPU
//   ├── pod<uid>           Guaranteed pods, directly under the root
//   ├── burstable          CPU weight = the sum of its pods' CPU requests
//   │   └── pod<uid>
//   └── besteffort         the minimal CPU weight (shares 2 / weight 1)
//       └── pod<uid>
//
// The pod cgroups are the sandboxes' cgroup parents (runc creates them under
// these); kedge creates and limits the three QoS levels with libcgroup at
// start and re-sizes `burstable` whenever the set of running Burstable pods
// or their requests change. Works on cgroup v2 (memory.max, cpu.weight) and
// v1 (memory.limit_in_bytes, cpu.shares; controllers cpu, memory, pids).
//
// Thread-safety: every method may be called from any thread (one mutex).
// Ownership: owns nothing but the cgroups it created, which stay on stop —
// pods keep running across an agent restart.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "kedge/base/status.h"

namespace kedge::agent {

struct QosCgroupsOptions {
  std::string root = "/kubepods";  // cgroup path, as --cgroup-root
  std::int64_t allocatable_cpu_milli = 0;       // 0 = no CPU weight on the root
  std::int64_t allocatable_memory_bytes = 0;    // 0 = no memory limit on the root
  std::string cgroup_mount = "/sys/fs/cgroup";  // for the v1/v2 check only
};

// Upstream's conversions (pkg/kubelet/cm): milli-CPU → cpu.shares, and
// cpu.shares → cgroup v2 cpu.weight.
std::uint64_t cpu_shares_from_milli(std::int64_t milli);
std::uint64_t cpu_weight_from_shares(std::uint64_t shares);

class QosCgroups {
 public:
  explicit QosCgroups(QosCgroupsOptions options) : o_(std::move(options)) {}

  // Creates <root>, <root>/burstable and <root>/besteffort (or adopts them)
  // with their limits.
  Status start();
  bool unified() const { return unified_; }

  // A pod of `qos_class` runs (or changed): Burstable pods' CPU requests
  // size the burstable cgroup. Idempotent.
  Status set_pod(const std::string& uid, const std::string& qos_class, std::int64_t cpu_request_milli);
  Status forget_pod(const std::string& uid);

 private:
  Status write(const std::string& path, const std::string& controller, const std::string& file,
               const std::string& value);
  Status resize_burstable();  // REQUIRES: mu_ held

  const QosCgroupsOptions o_;
  bool unified_ = false;
  std::mutex mu_;
  std::map<std::string, std::int64_t> burstable_milli_;  // guarded by mu_: pod uid → CPU requests
  std::uint64_t burstable_shares_ = 0;                    // guarded by mu_: last written
};

}  // namespace kedge::agent

#include "kedge/agent/qos_cgroups.h"

#include <sys/vfs.h>

#include <algorithm>
#include <memory>

#include <libcgroup.h>

#include "kedge/base/log.h"

namespace kedge::agent {

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;
constexpr std::uint64_t kMinShares = 2;        // upstream's MinShares
constexpr std::uint64_t kMaxShares = 262144;   // upstream's MaxShares
constexpr std::uint64_t kSharesPerCpu = 1024;

struct CgroupDeleter {
  void operator()(cgroup* cg) const { cgroup_free(&cg); }
};
using CgroupPtr = std::unique_ptr<cgroup, CgroupDeleter>;

Status from_cgroup(int rc, const std::string& what) {
  if (rc == 0) return ok_status();
  return internal_error(what + ": " + cgroup_strerror(rc));
}

// libcgroup names groups relative to each hierarchy's root, without the
// leading slash.
std::string relative(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  return p;
}

std::once_flag init_once;
int init_rc = 0;

}  // namespace

std::uint64_t cpu_shares_from_milli(std::int64_t milli) {
  if (milli <= 0) return kMinShares;
  const std::uint64_t shares = static_cast<std::uint64_t>(milli) * kSharesPerCpu / 1000;
  return std::clamp(shares, kMinShares, kMaxShares);
}

std::uint64_t cpu_weight_from_shares(std::uint64_t shares) {
  shares = std::clamp(shares, kMinShares, kMaxShares);
  return 1 + ((shares - 2) * 9999) / 262142;
}

Status QosCgroups::write(const std::string& path, const std::string& controller, const std::string& file,
                         const std::string& value) {
  CgroupPtr cg(cgroup_new_cgroup(relative(path).c_str()));
  if (!cg) return internal_error("libcgroup: cannot describe cgroup " + path);
  cgroup_controller* c = cgroup_add_controller(cg.get(), controller.c_str());
  if (c == nullptr) return internal_error("libcgroup: cannot add controller " + controller + " to " + path);
  KEDGE_RETURN_IF_ERROR(from_cgroup(cgroup_add_value_string(c, file.c_str(), value.c_str()),
                                    "libcgroup: " + path + " " + file + "=" + value));
  return from_cgroup(cgroup_modify_cgroup(cg.get()), "writing " + file + "=" + value + " in cgroup " + path);
}

Status QosCgroups::start() {
  std::call_once(init_once, [] { init_rc = cgroup_init(); });
  KEDGE_RETURN_IF_ERROR(from_cgroup(init_rc, "libcgroup: cgroup_init"));
  struct statfs fs {};
  unified_ = ::statfs(o_.cgroup_mount.c_str(), &fs) == 0 && fs.f_type == kCgroup2SuperMagic;
  for (const std::string& path : {o_.root, o_.root + "/burstable", o_.root + "/besteffort"}) {
    CgroupPtr cg(cgroup_new_cgroup(relative(path).c_str()));
    if (!cg) return internal_error("libcgroup: cannot describe cgroup " + path);
    for (const char* name : {"cpu", "memory", "pids"}) {
      if (cgroup_add_controller(cg.get(), name) == nullptr) {
        return internal_error("libcgroup: cannot add controller " + std::string(name) + " to " + path);
      }
    }
    KEDGE_RETURN_IF_ERROR(from_cgroup(cgroup_create_cgroup(cg.get(), 0), "creating cgroup " + path));
  }
  // Node allocatable on the root, as upstream's enforceNodeAllocatable=pods.
  const std::string cpu_file = unified_ ? "cpu.weight" : "cpu.shares";
  auto cpu_value = [&](std::uint64_t shares) {
    return std::to_string(unified_ ? cpu_weight_from_shares(shares) : shares);
  };
  if (o_.allocatable_cpu_milli > 0) {
    KEDGE_RETURN_IF_ERROR(write(o_.root, "cpu", cpu_file, cpu_value(cpu_shares_from_milli(o_.allocatable_cpu_milli))));
  }
  if (o_.allocatable_memory_bytes > 0) {
    KEDGE_RETURN_IF_ERROR(write(o_.root, "memory", unified_ ? "memory.max" : "memory.limit_in_bytes",
                                std::to_string(o_.allocatable_memory_bytes)));
  }
  KEDGE_RETURN_IF_ERROR(write(o_.root + "/besteffort", "cpu", cpu_file, cpu_value(kMinShares)));
  std::lock_guard lock(mu_);
  burstable_shares_ = 0;
  KEDGE_RETURN_IF_ERROR(resize_burstable());
  log::logger("kubelet")->info("QoS cgroups under {} (cgroup {}): allocatable {}m CPU, {} bytes memory", o_.root,
                               unified_ ? "v2" : "v1", o_.allocatable_cpu_milli, o_.allocatable_memory_bytes);
  return ok_status();
}

Status QosCgroups::set_pod(const std::string& uid, const std::string& qos_class, std::int64_t cpu_request_milli) {
  std::lock_guard lock(mu_);
  if (qos_class != "Burstable") {
    if (burstable_milli_.erase(uid) == 0) return ok_status();
  } else {
    auto [it, added] = burstable_milli_.try_emplace(uid, cpu_request_milli);
    if (!added && it->second == cpu_request_milli) return ok_status();
    it->second = cpu_request_milli;
  }
  return resize_burstable();
}

Status QosCgroups::forget_pod(const std::string& uid) {
  std::lock_guard lock(mu_);
  if (burstable_milli_.erase(uid) == 0) return ok_status();
  return resize_burstable();
}

Status QosCgroups::resize_burstable() {
  std::int64_t milli = 0;
  for (const auto& [uid, m] : burstable_milli_) milli += m;
  const std::uint64_t shares = cpu_shares_from_milli(milli);
  if (shares == burstable_shares_) return ok_status();
  const std::string value = std::to_string(unified_ ? cpu_weight_from_shares(shares) : shares);
  KEDGE_RETURN_IF_ERROR(write(o_.root + "/burstable", "cpu", unified_ ? "cpu.weight" : "cpu.shares", value));
  burstable_shares_ = shares;
  return ok_status();
}

}  // namespace kedge::agent

// Facts about the host the agent adapts to: process capabilities and
// whether overlayfs can be used for container root filesystems.
//
// Thread-safety: reentrant free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "kedge/base/status.h"

namespace kedge::agent {

// The capability sets of the calling thread, as capget(2) reports them:
// bit N set = capability N (linux/capability.h numbering) present.
struct CapabilitySets {
  std::uint64_t effective = 0;
  std::uint64_t permitted = 0;
  std::uint64_t inheritable = 0;

  bool has_effective(int cap) const { return cap >= 0 && cap < 64 && ((effective >> cap) & 1) != 0; }
};

Result<CapabilitySets> current_capabilities();

// CAP_SYS_RESOURCE, which lowering oom_score_adj needs. Without it,
// containerd's CRI plugin must be told restrict_oom_score_adj = true (see
// ContainerdConfig) or every RunPodSandbox fails inside runc.
inline constexpr int kCapSysResource = 24;

struct OverlayCheck {
  bool supported = false;
  std::string reason;  // why not, for the log
};

// Tries what containerd's overlayfs snapshotter will do: mounts an overlay
// with its upper and work dirs under `scratch_dir` (created, then removed).
// Needs CAP_SYS_ADMIN; without it reports unsupported with the reason.
OverlayCheck check_overlayfs(const std::filesystem::path& scratch_dir);

}  // namespace kedge::agent

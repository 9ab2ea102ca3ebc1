#include "kedge/agent/host.h"

#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace kedge::agent {

Result<CapabilitySets> current_capabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;  // the calling thread
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return errno_status("capget", errno);
  const auto join = [](std::uint32_t lo, std::uint32_t hi) { return std::uint64_t{lo} | std::uint64_t{hi} << 32; };
  return CapabilitySets{.effective = join(data[0].effective, data[1].effective),
                        .permitted = join(data[0].permitted, data[1].permitted),
                        .inheritable = join(data[0].inheritable, data[1].inheritable)};
}

OverlayCheck check_overlayfs(const std::filesystem::path& scratch_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path lower = scratch_dir / "lower", upper = scratch_dir / "upper", work = scratch_dir / "work",
                 merged = scratch_dir / "merged";
  for (const auto& d : {lower, upper, work, merged}) {
    fs::create_directories(d, ec);
    if (ec) return {.supported = false, .reason = "create " + d.string() + ": " + ec.message()};
  }
  const std::string options = "lowerdir=" + lower.string() + ",upperdir=" + upper.string() +
                              ",workdir=" + work.string();
  OverlayCheck result{.supported = true, .reason = {}};
  if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) {
    const int err = errno;
    result = {.supported = false,
              .reason = "mount -t overlay under " + scratch_dir.string() + ": " + std::strerror(err)};
  } else {
    ::umount2(merged.c_str(), MNT_DETACH);
  }
  fs::remove_all(scratch_dir, ec);
  return result;
}

}  // namespace kedge::agent

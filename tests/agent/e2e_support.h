// Teardown helpers shared by the agent's e2e tests on real containerd: what
// a test run leaves on the host even when the test fails (mounts under its
// temp dir, the CNI bridge, containerd shims, pod cgroups).
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kedge/testing/process.h"

namespace kedge::agent::e2e {

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Mounts under `dir` (overlay snapshots, sandbox shm) and the CNI bridge.
inline void unmount_under_and_delete_bridge(const std::filesystem::path& dir, const std::string& bridge) {
  std::vector<std::string> targets;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, target;
    fields >> id >> parent >> dev >> root >> target;
    if (target.starts_with(dir.string())) targets.push_back(target);
  }
  std::sort(targets.rbegin(), targets.rend());  // children first
  for (const auto& t : targets) ::umount2(t.c_str(), MNT_DETACH);
  if (!bridge.empty()) testing::run({"ip", "link", "del", bridge});
}

// Shims re-parent to init and name their containerd socket in their arguments.
inline void kill_leftover_shims(const std::string& socket) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_all(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find("containerd-shim") != std::string::npos && cmdline.find(socket) != std::string::npos) {
      ::kill(std::stoi(pid), SIGKILL);
    }
  }
}

// SIGKILLs every process in the cgroup tree `top_name` (any controller):
// containers a test's agent kept re-creating while the test tore it down
// would otherwise outlive the test.
inline void kill_cgroup_processes(const std::string& top_name) {
  std::error_code ec;
  for (int round = 0; round < 20; ++round) {
    bool any = false;
    for (const auto& controller : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
      const std::filesystem::path top = controller.path() / top_name.substr(1);
      if (!std::filesystem::exists(top, ec)) continue;
      for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().filename() != "cgroup.procs") continue;
        std::istringstream procs(read_all(it->path()));
        for (long pid; procs >> pid;) {
          ::kill(static_cast<pid_t>(pid), SIGKILL);
          any = true;
        }
      }
    }
    if (!any) return;
    ::usleep(100 * 1000);  // teardown only: let the kernel reap them
  }
}

// rmdir's `top` (e.g. "/kedge-e2e-abc") and everything under it in every cgroup v1 controller.
inline void remove_cgroups(const std::string& top_name) {
  if (top_name.empty()) return;
  kill_cgroup_processes(top_name);
  std::error_code ec;
  for (const auto& controller : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    const std::filesystem::path top = controller.path() / top_name.substr(1);
    if (!std::filesystem::exists(top, ec)) continue;
    std::vector<std::filesystem::path> dirs;
    for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.rbegin(), dirs.rend());  // deepest first: cgroups go with rmdir only
    for (const auto& d : dirs) ::rmdir(d.c_str());
    ::rmdir(top.c_str());
  }
}

}  // namespace kedge::agent::e2e

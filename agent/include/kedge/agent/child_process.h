// Child processes the agent runs: the managed containerd (long-lived) and
// short helper commands such as `ctr images import`.
//
// Children start with an empty signal mask and default dispositions (kedge
// blocks SIGTERM/SIGINT in every thread, and a child would inherit that),
// in their own process group (a Ctrl-C on kedge's terminal must not reach
// containerd before kedge decides to stop it), and optionally with a
// parent-death signal so they do not outlive a kedge that was SIGKILLed.
// Each child is tracked by a pidfd, so waiting is a poll(2) on a file
// descriptor, never a sleep loop.
//
// Thread-safety: a ChildProcess is owned by one thread at a time.
// IMPORTANT: Linux delivers the parent-death signal when the *thread* that
// spawned the child exits, so spawn long-lived children from a thread that
// lives as long as they should.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::agent {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH (plus /usr/sbin, /sbin)
  // stdout and stderr are appended to this file; empty = /dev/null.
  std::filesystem::path output;
  int parent_death_signal = 0;  // e.g. SIGTERM; 0 = none
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps a child still running: a ChildProcess never leaks a process.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Readable (POLLIN) once the child has exited.
  int pidfd() const { return pidfd_; }
  bool valid() const { return pid_ > 0; }

  Status signal(int sig);
  // Waits up to `timeout` for the child to exit and reaps it. Returns its
  // exit code (128+N when killed by signal N), or nullopt on timeout.
  Result<std::optional<int>> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, wait `grace`, then SIGKILL; returns the exit code.
  int terminate(std::chrono::milliseconds grace);

 private:
  void close_fd();

  pid_t pid_ = -1;
  int pidfd_ = -1;
};

Result<ChildProcess> spawn(const SpawnOptions& options);

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved, at most 1 MiB kept
};

// Runs argv to completion with a deadline (the child is SIGKILLed past it:
// DEADLINE_EXCEEDED). A non-zero exit is not an error here; the caller looks
// at exit_code.
Result<CommandOutput> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// The absolute path of `name` (PATH, then /usr/sbin and /sbin), or NotFound.
Result<std::string> find_executable(const std::string& name);

}  // namespace kedge::agent

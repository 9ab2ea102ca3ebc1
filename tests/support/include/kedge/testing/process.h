// Child processes and scratch space for integration and e2e tests: real
// peers (etcd, containerd, the kedge binary, kubectl) run as subprocesses.
//
// Not thread-safe; one test thread drives these objects.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace kedge::testing {

// A directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "kedge-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

struct CommandOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) the inherited environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{60000};  // the child is SIGKILLed past this
  std::filesystem::path cwd;
};

// Runs argv[0] (looked up on PATH) to completion.
CommandResult run(const std::vector<std::string>& argv, const CommandOptions& options = {});

// A long-running child (a server). Its stdout+stderr go to `log_path`.
// The destructor sends SIGTERM, waits up to 5 s, then SIGKILLs.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& log_path,
          const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig`; with SIGKILL also reaps. Returns the exit code as run() does.
  int kill_and_wait(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::filesystem::path log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// Polls `pred` every 50 ms until true or `timeout`; returns the last value.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Path of the kedge binary under test: $KEDGE_BINARY, else the one this
// build tree produces.
std::string kedge_binary();
// The source tree ($KEDGE_SOURCE_DIR overrides) and the build tree
// ($KEDGE_BUILD_DIR overrides) of this test binary.
std::string source_dir();
std::string build_dir();

}  // namespace kedge::testing

#include <thread>

template <typename Pred>
bool kedge::testing::eventually(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Test helper: a named network namespace (ip netns add) that the calling
// thread can enter and leave. Deleted on destruction, even when the test
// fails, so no namespace outlives its test.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <string>

#include "kedge/testing/process.h"

namespace kedge::testing {

class NetNs {
 public:
  explicit NetNs(std::string name) : name_(std::move(name)) {
    run({"ip", "netns", "del", name_});  // leftovers of a killed run
    ok_ = run({"ip", "netns", "add", name_}).exit_code == 0;
    if (ok_) run({"ip", "netns", "exec", name_, "ip", "link", "set", "lo", "up"});
  }
  ~NetNs() {
    leave();
    run({"ip", "netns", "del", name_});
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

  // Moves the calling thread into the namespace (sockets opened afterwards
  // live there). Returns false on failure.
  bool enter() {
    if (home_ < 0) home_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool entered = setns(fd, CLONE_NEWNET) == 0;
    close(fd);
    return entered;
  }
  void leave() {
    if (home_ >= 0) {
      setns(home_, CLONE_NEWNET);
      close(home_);
      home_ = -1;
    }
  }
  // Runs a command inside the namespace.
  CommandResult exec(std::vector<std::string> argv, const CommandOptions& options = {}) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
    return run(argv, options);
  }

 private:
  std::string name_;
  bool ok_ = false;
  int home_ = -1;
};

}  // namespace kedge::testing

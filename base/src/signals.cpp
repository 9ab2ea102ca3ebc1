#include "kedge/base/signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "kedge/base/log.h"

namespace kedge::signals {
namespace {

sigset_t termination_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void block_termination_signals() {
  sigset_t set = termination_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A closed peer must never kill the process; writes report EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
}

int wait_for_termination(std::chrono::milliseconds drain) {
  sigset_t set = termination_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  log::logger("main")->info("received {}, draining (at most {} ms)", strsignal(sig), drain.count());
  std::thread([set, drain] {
    // Either the drain deadline passes or a second signal arrives; both end
    // the process now. sigtimedwait keeps this thread asleep, not polling.
    // EINTR is neither: any handled signal, or LeakSanitizer stopping the
    // threads at exit, interrupts the wait, and taking it for the deadline
    // killed a drain still in progress (or logged into a logger registry
    // that exit was destroying).
    const auto deadline = std::chrono::steady_clock::now() + drain;
    int again = -1;
    while (true) {
      const auto left = std::max<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now(),
                                                            std::chrono::nanoseconds(0));
      timespec ts{static_cast<time_t>(left.count() / 1000000000), static_cast<long>(left.count() % 1000000000)};
      again = sigtimedwait(&set, nullptr, &ts);
      if (again >= 0 || errno != EINTR) break;
    }
    log::logger("main")->error(again > 0 ? "second signal, exiting now"
                                         : "drain took too long, exiting now");
    spdlog::shutdown();
    _exit(1);
  }).detach();
  return sig;
}

}  // namespace kedge::signals

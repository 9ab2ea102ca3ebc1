// Probe execution (exec via CRI ExecSync, httpGet via client/http_get.h,
// tcpSocket via a non-blocking connect) and upstream's threshold bookkeeping.
//
// Thread-safety: run_probe() is reentrant; it blocks for at most the probe's
// timeoutSeconds, so it runs on pod worker threads only.
#pragma once

#include <chrono>
#include <string>

#include "kedge/api/types/pod.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::agent::detail {

struct ProbeOutcome {
  bool success = false;
  std::string message;  // why it failed, for events and logs
};

ProbeOutcome run_probe(const api::Probe& probe, const api::Container& container, const std::string& container_id,
                       const std::string& pod_ip, cri::RuntimeClient& runtime);

// One probe's state across runs (upstream's prober worker, without a thread).
struct ProbeState {
  std::chrono::steady_clock::time_point next_due{};
  int successes = 0;
  int failures = 0;
  bool result = false;  // the current verdict (readiness: ready; liveness/startup: ok)
  bool have_result = false;
  std::string last_message;

  // Records one outcome against the thresholds; returns true when the
  // verdict changed.
  bool record(const api::Probe& probe, const ProbeOutcome& outcome);
  void reset() { *this = ProbeState{}; }
};

}  // namespace kedge::agent::detail

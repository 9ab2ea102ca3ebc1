// LeaderElector: client-go's leader election over a coordination.k8s.io/v1
// Lease, so that several kedge servers sharing one datastore run exactly one
// active scheduler and controller set.
//
//   candidate: every retry_period, try to take the Lease — create it, or
//     update it (guarded by resourceVersion) when it has no holder or its
//     holder has not renewed for lease_duration *as observed by us* (our
//     monotonic clock since the record last changed, like client-go, so
//     clock skew between servers does not matter);
//   leader: renew every retry_period; if no renewal succeeded for
//     renew_deadline, leadership is lost (on_stopped_leading) and we are a
//     candidate again. stop() while leading releases the Lease (empty
//     holder), so a standby takes over at its next retry instead of after
//     lease_duration.
//
// Threads: run() starts one thread, which calls the callbacks (they may
// block: renewals wait for them). stop() joins it; on_stopped_leading has
// returned by then if we were leading. Ownership: borrows the RestClient.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"

namespace kedge::controllers {

struct LeaderElectionOptions {
  std::string lease_namespace = "kube-system";
  std::string lease_name = "kedge-controllers";
  std::string identity;  // unique per process (hostname_uuid)
  // Upstream's defaults (kube-controller-manager, kube-scheduler).
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
};

class LeaderElector {
 public:
  LeaderElector(client::RestClient& client, LeaderElectionOptions options);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void run();
  void stop();
  bool leading() const;

  // One attempt to acquire or renew (public for tests). True if we hold the
  // Lease afterwards.
  bool try_acquire_or_renew();

 private:
  using Steady = std::chrono::steady_clock;
  void loop();
  Status release();
  std::string lease_path() const;
  bool sleep_for(std::chrono::milliseconds d);  // false when stopping

  client::RestClient& client_;
  const LeaderElectionOptions options_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  bool leading_ = false;   // guarded by mu_
  // Loop thread only: the last Lease record seen and when it changed.
  std::string observed_record_;
  Steady::time_point observed_at_{};
};

// "<hostname>_<random hex>", as client-go's identities.
std::string leader_identity(std::string_view host);

}  // namespace kedge::controllers

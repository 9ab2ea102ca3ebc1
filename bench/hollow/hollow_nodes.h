// Hollow nodes: N simulated nodes that register with an API server, renew
// their Leases and report the pods bound to them as Running and Ready without
// running any container (the idea of upstream's kubemark). They let the
// scheduler, controllers and API server be tested and measured at a scale
// one small machine cannot run for real.
//
// Threads: run() blocks its caller, which becomes the pod-watch thread; it
// starts one heartbeat thread (lease renewals, sleeping on a condition
// variable between rounds). stop() may be called from any thread.
// Ownership: borrows the RestClient, which must outlive this object.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/client/informer.h"
#include "kedge/client/rest_client.h"

namespace kedge::hollow {

struct HollowOptions {
  int nodes = 10;
  std::string name_prefix = "hollow-";
  std::string cpu = "4";
  std::string memory = "8Gi";
  int max_pods = 110;
  std::map<std::string, std::string> labels;  // added to every node
  std::chrono::seconds lease_duration{40};
  std::chrono::seconds renew_interval{10};
  // Pod IPs are handed out from 10.42.<node index>.0/24, as IPAM would.
  bool report_pods = true;
};

class HollowNodes : private client::InformerHandler {
 public:
  HollowNodes(client::RestClient& client, HollowOptions options);
  ~HollowNodes();
  HollowNodes(const HollowNodes&) = delete;
  HollowNodes& operator=(const HollowNodes&) = delete;

  // Creates (or updates) every Node with Ready status and its Lease.
  Status register_nodes();
  // Renews leases and reports pods until stop(). Returns the first
  // unrecoverable error, OK after stop().
  Status run();
  void stop();

  std::vector<std::string> node_names() const;
  // Pods reported Running so far (for tests and benchmarks).
  std::int64_t pods_started() const { return pods_started_; }

 private:
  boost::json::value node_object(int index) const;
  Status renew_leases();
  void heartbeat_loop();
  void handle_pod(const boost::json::value& pod);

  // InformerHandler, on the informer's (run()'s) thread.
  void on_add(const client::Object& pod) override { handle_pod(*pod); }
  void on_update(const client::Object&, const client::Object& pod) override { handle_pod(*pod); }
  void on_delete(const client::Object&) override {}

  client::RestClient& client_;
  const HollowOptions options_;
  std::set<std::string> names_;  // constant after construction

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  client::Informer pods_;                // all pods; bound ones are filtered in handle_pod
  std::map<std::string, int> next_ip_;  // node → last host octet; informer thread only
  std::atomic<std::int64_t> pods_started_{0};
};

}  // namespace kedge::hollow

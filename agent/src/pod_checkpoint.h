// The pods bound to this node as last seen from the API (metadata and spec),
// kept in one file under the kubelet's root dir. After an agent restart
// while the API is unreachable (a power cut on a box whose uplink is down),
// the pod workers start from it, so the node's pods run and crashed
// containers restart without the control plane (the agent's autonomy).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/client/informer.h"

namespace kedge::agent::detail {

class PodCheckpoint {
 public:
  explicit PodCheckpoint(std::filesystem::path path) : path_(std::move(path)) {}

  // Records `pod`; rewrites the file only when its metadata or spec changed
  // (status updates, most of the traffic, do not wear the flash).
  Status put(const std::string& uid, const boost::json::value& pod);
  Status erase(const std::string& uid);
  // Reads the file (at start; empty when there is none). What it holds is
  // also what put() compares with, so re-listing unchanged pods after a
  // restart writes nothing.
  Result<std::vector<client::Object>> load();

 private:
  Status write_locked();  // REQUIRES: mu_ held

  const std::filesystem::path path_;
  mutable std::mutex mu_;
  std::map<std::string, std::string> pods_;  // uid → serialized pod without status; guarded by mu_
};

}  // namespace kedge::agent::detail

// StatusManager: the one writer of pod statuses to the API, as upstream's
// status manager. Pod workers hand it each status they compute with set();
// every set() bumps the pod's version, and the writer thread sends only the
// newest version per pod — a status computed earlier can never overwrite a
// later one, and unchanged statuses are not re-sent.
//
// Threads: one writer thread (start/stop) sleeping on a condition variable;
// set() and forget() may be called from any thread and never block on I/O.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <boost/json/value.hpp>

#include "kedge/client/rest_client.h"

namespace kedge::agent::detail {

class StatusManager {
 public:
  explicit StatusManager(client::RestClient& api) : api_(api) {}
  ~StatusManager() { stop(); }

  void start();
  void stop();

  // Queues `status` (a PodStatus JSON) for the pod; returns its version.
  std::uint64_t set(const std::string& uid, const std::string& ns, const std::string& name, boost::json::value status);
  // Drops the pod's entry (after the pod is gone).
  void forget(const std::string& uid);
  // The newest version written to the API for `uid` (0 = none yet).
  std::uint64_t written_version(const std::string& uid) const;

 private:
  struct Entry {
    std::string ns, name;
    boost::json::value status;
    std::uint64_t version = 0;
    std::uint64_t written = 0;
    std::string written_text;  // serialized status last written
  };
  void run();

  client::RestClient& api_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                   // guarded by mu_
  std::map<std::string, Entry> entries_;    // uid → entry; guarded by mu_
  std::set<std::string> dirty_;             // guarded by mu_
  std::uint64_t next_version_ = 0;          // guarded by mu_
  std::thread thread_;
};

}  // namespace kedge::agent::detail

// Fresh etcd 3.4 and `kedge store` processes for the etcd-front tests: each on
// free loopback ports with its own temp data dir, stopped (SIGTERM) and
// removed when the object goes away.
//
// Not thread-safe; one test thread drives these objects.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::store::testing {

struct Server {
  std::string name;      // "etcd" or "kedge"
  std::string endpoint;  // http://127.0.0.1:<port>
  std::unique_ptr<kedge::testing::TempDir> dir;
  std::unique_ptr<kedge::testing::Process> process;
  std::string log() const { return process ? process->log() : ""; }
};

inline bool etcd_tools_present() {
  return !kedge::testing::find_binary("etcd").empty() && !kedge::testing::find_binary("etcdctl").empty();
}

// True once `etcdctl get` answers at `endpoint` (within ~15 s).
inline bool wait_serving(const std::string& endpoint) {
  return kedge::testing::eventually(
      [&] {
        auto r = kedge::testing::run({"etcdctl", "--endpoints=" + endpoint, "--dial-timeout=1s",
                                      "--command-timeout=2s", "get", "kedge-test-probe"},
                                     {.env = {{"ETCDCTL_API", "3"}}, .stdin_data = {}, .timeout = std::chrono::seconds(5), .cwd = {}});
        return r.exit_code == 0;
      },
      std::chrono::seconds(15));
}

// Debian's etcd 3.4, single member, default fsync behaviour. `extra` is
// appended to its flags (e.g. --unsafe-no-fsync is not used: same durability).
inline Server start_etcd(const std::vector<std::string>& extra = {}) {
  Server s;
  s.name = "etcd";
  s.dir = std::make_unique<kedge::testing::TempDir>("kedge-etcd");
  const int client = kedge::testing::free_port();
  const int peer = kedge::testing::free_port();
  s.endpoint = "http://127.0.0.1:" + std::to_string(client);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
  std::vector<std::string> argv{"etcd",
                                "--data-dir=" + (s.dir->path() / "data").string(),
                                "--listen-client-urls=" + s.endpoint,
                                "--advertise-client-urls=" + s.endpoint,
                                "--listen-peer-urls=" + peer_url,
                                "--initial-advertise-peer-urls=" + peer_url,
                                "--initial-cluster=default=" + peer_url,
                                "--log-level=warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.process = std::make_unique<kedge::testing::Process>(argv, s.dir->path() / "etcd.log");
  return s;
}

inline Server start_kedge_store(const std::vector<std::string>& extra = {}) {
  Server s;
  s.name = "kedge";
  s.dir = std::make_unique<kedge::testing::TempDir>("kedge-store");
  s.endpoint = "http://127.0.0.1:" + std::to_string(kedge::testing::free_port());
  std::vector<std::string> argv{kedge::testing::kedge_binary(), "store",
                                "--listen-client-urls=" + s.endpoint,
                                "--data-dir=" + (s.dir->path() / "data").string(), "--log-level=warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.process = std::make_unique<kedge::testing::Process>(argv, s.dir->path() / "kedge.log");
  return s;
}

}  // namespace kedge::store::testing

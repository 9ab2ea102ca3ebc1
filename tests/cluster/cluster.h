// A small cluster for tests: one real `kedge server` (no agent, no proxy,
// short node-monitor periods) plus hollow nodes (bench/hollow's
// kedge-hollow processes), driven with /usr/bin/kubectl and watched with
// kedge's own client library.
//
// Not thread-safe: one test thread drives it.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kedge/testing/process.h"

namespace kedge::testing {

struct ClusterServer {
  std::unique_ptr<Process> proc;
  std::filesystem::path data;
  std::filesystem::path kubeconfig;
  int port = 0;
};

class Cluster {
 public:
  Cluster();
  ~Cluster();

  // Starts a server with `extra` flags after the defaults; false (with the
  // log on stderr) if it does not become ready.
  bool start_server(const std::vector<std::string>& extra = {});
  ClusterServer& server(std::size_t i = 0) { return *servers_.at(i); }

  // Runs `count` hollow nodes named <prefix><i> against server `on`, with
  // extra kedge-hollow flags; waits until kubectl lists them Ready.
  Process* add_hollow(const std::string& prefix, int count, const std::vector<std::string>& extra = {},
                      std::size_t on = 0);

  // kubectl against server `on` (default: the first).
  CommandResult kubectl(const std::vector<std::string>& args, const std::string& stdin_data = "",
                        std::size_t on = 0);
  // stdout of a kubectl that must succeed, trimmed; "" and a test failure otherwise.
  std::string out(const std::vector<std::string>& args, std::size_t on = 0);

  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  TempDir home_;
  std::vector<std::unique_ptr<ClusterServer>> servers_;
  std::vector<std::unique_ptr<Process>> hollows_;
};

bool has_kubectl();
std::string hollow_binary();

}  // namespace kedge::testing

#include "cluster.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace kedge::testing {

namespace fs = std::filesystem;

bool has_kubectl() { return fs::exists("/usr/bin/kubectl"); }

std::string hollow_binary() { return build_dir() + "/bench/hollow/kedge-hollow"; }

Cluster::Cluster() : dir_("kedge-cluster"), home_("kedge-cluster-home") {}

Cluster::~Cluster() {
  // Hollow nodes first: they talk to the servers.
  hollows_.clear();
  servers_.clear();
}

bool Cluster::start_server(const std::vector<std::string>& extra) {
  auto s = std::make_unique<ClusterServer>();
  s->port = free_port();
  s->data = dir_ / ("server-" + std::to_string(servers_.size()));
  s->kubeconfig = s->data / "kedge.yaml";
  std::vector<std::string> argv = {kedge_binary(), "server", "--disable-agent", "--disable-proxy", "--data-dir",
                                   s->data.string(), "--https-listen-port", std::to_string(s->port),
                                   "--bind-address", "127.0.0.1", "--write-kubeconfig", s->kubeconfig.string(),
                                   "--config", "/dev/null", "--node-name", "server-" + std::to_string(servers_.size()),
                                   // Fast node health for tests (upstream: 50 s / 5 s).
                                   "--node-monitor-grace-period", "3", "--node-monitor-period", "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s->proc = std::make_unique<Process>(argv, dir_ / ("server-" + std::to_string(servers_.size()) + ".log"));
  Process& p = *s->proc;
  bool ready = eventually([&] { return p.log().find("kedge server is ready") != std::string::npos || !p.running(); },
                          std::chrono::seconds(30)) &&
               p.running();
  if (!ready) std::fprintf(stderr, "server log:\n%s\n", p.log().c_str());
  servers_.push_back(std::move(s));
  return ready;
}

Process* Cluster::add_hollow(const std::string& prefix, int count, const std::vector<std::string>& extra,
                             std::size_t on) {
  std::vector<std::string> argv = {hollow_binary(), "--kubeconfig", server(on).kubeconfig.string(), "--nodes",
                                   std::to_string(count), "--name-prefix", prefix, "--renew-interval-seconds", "1"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  hollows_.push_back(
      std::make_unique<Process>(argv, dir_ / ("hollow-" + prefix + std::to_string(hollows_.size()) + ".log")));
  Process* p = hollows_.back().get();
  bool ready = eventually(
      [&] {
        auto r = kubectl({"get", "nodes", "-o",
                          "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")]"
                          ".status}{\"\\n\"}{end}"},
                         "", on);
        int seen = 0;
        for (int i = 0; i < count; ++i) {
          if (r.out.find(prefix + std::to_string(i) + "=True") != std::string::npos) ++seen;
        }
        return seen == count;
      },
      std::chrono::seconds(20));
  if (!ready) {
    ADD_FAILURE() << "hollow nodes " << prefix << " not Ready; log:\n" << p->log();
    return nullptr;
  }
  return p;
}

CommandResult Cluster::kubectl(const std::vector<std::string>& args, const std::string& stdin_data, std::size_t on) {
  std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", server(on).kubeconfig.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env{{"HOME", home_.path().string()},
                                         {"KUBECACHEDIR", (home_ / "cache").string()}};
  return run(argv,
             CommandOptions{.env = env, .stdin_data = stdin_data, .timeout = std::chrono::seconds(60), .cwd = {}});
}

std::string Cluster::out(const std::vector<std::string>& args, std::size_t on) {
  auto r = kubectl(args, "", on);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    ADD_FAILURE() << "kubectl" << cmd << " exited " << r.exit_code << ": " << r.err;
    return "";
  }
  std::string s = r.out;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace kedge::testing

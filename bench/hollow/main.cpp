// kedge-hollow: runs N hollow nodes against an API server (see hollow_nodes.h).
//   kedge-hollow --kubeconfig /etc/kedge/kedge.yaml --nodes 1000
#include <cstdio>
#include <thread>

#include "hollow_nodes.h"
#include "kedge/base/flags.h"
#include "kedge/base/log.h"
#include "kedge/base/signals.h"

int main(int argc, char** argv) {
  using namespace kedge;
  signals::block_termination_signals();
  std::string kubeconfig = "/etc/kedge/kedge.yaml";
  std::int64_t nodes = 10;
  std::int64_t max_pods = 110;
  std::int64_t renew_seconds = 10;
  std::vector<std::string> labels;
  hollow::HollowOptions options;
  std::string log_level = "info";
  flags::FlagSet set("hollow", "Run simulated nodes that heartbeat and report their pods as Running.");
  set.add("kubeconfig", &kubeconfig, "kubeconfig of the API server");
  set.add("nodes", &nodes, "number of hollow nodes");
  set.add("name-prefix", &options.name_prefix, "node names are <prefix><index>");
  set.add("cpu", &options.cpu, "cpu capacity of each node");
  set.add("memory", &options.memory, "memory capacity of each node");
  set.add("max-pods", &max_pods, "pods capacity of each node");
  set.add("node-label", &labels, "extra node labels, key=value");
  set.add("renew-interval-seconds", &renew_seconds, "lease renewal period");
  set.add("log-level", &log_level, "trace|debug|info|warn|error");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = set.parse(args);
  if (!parsed.ok()) {
    std::fprintf(stderr, "kedge-hollow: %s\n", parsed.status().message().c_str());
    return 2;
  }
  if (*parsed == flags::FlagSet::Outcome::kHelp) {
    std::fputs(set.usage().c_str(), stdout);
    return 0;
  }
  log::init({.level = log_level});
  options.nodes = static_cast<int>(nodes);
  options.max_pods = static_cast<int>(max_pods);
  options.renew_interval = std::chrono::seconds(renew_seconds);
  for (const auto& kv : labels) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "kedge-hollow: --node-label %s: want key=value\n", kv.c_str());
      return 2;
    }
    options.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto config = client::Kubeconfig::load(kubeconfig);
  if (!config.ok()) {
    std::fprintf(stderr, "kedge-hollow: %s\n", config.status().to_string().c_str());
    return 1;
  }
  auto client = client::RestClient::create({.config = *config, .user_agent = "kedge-hollow"});
  if (!client.ok()) {
    std::fprintf(stderr, "kedge-hollow: %s\n", client.status().to_string().c_str());
    return 1;
  }
  hollow::HollowNodes hollow(**client, options);
  if (Status s = hollow.register_nodes(); !s.ok()) {
    log::logger("hollow")->error("{}", s.to_string());
    return 1;
  }
  log::logger("hollow")->info("{} hollow nodes registered", options.nodes);
  Status result;
  std::thread runner([&] { result = hollow.run(); });
  // The runner ends on its own only on an error; a signal ends it too.
  std::thread([&] {
    signals::wait_for_termination();
    hollow.stop();
  }).detach();
  runner.join();
  if (!result.ok()) {
    log::logger("hollow")->error("{}", result.to_string());
    return 1;
  }
  return 0;
}

// kedge-controllers: a development binary that runs the ReplicaSet,
// Deployment and garbage-collector controllers against any API server the
// kubeconfig names (kedge's or upstream's), until SIGINT/SIGTERM. `kedge
// server` will run the same controllers in-process.
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "kedge/base/flags.h"
#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/controllers/deployment.h"
#include "kedge/controllers/garbage_collector.h"
#include "kedge/controllers/replicaset.h"
#include "kedge/controllers/rest_transport.h"

int main(int argc, char** argv) {
  using namespace kedge;
  std::string kubeconfig;
  std::int64_t workers = 2;
  std::string log_level = "info";
  flags::FlagSet set("kedge-controllers", "run the workload controllers against an API server");
  set.add("kubeconfig", &kubeconfig, "kubeconfig of the API server (required)");
  set.add("workers", &workers, "worker threads per controller");
  set.add("log-level", &log_level, "trace|debug|info|warn|error");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto outcome = set.parse(std::span<const std::string>(args));
  if (!outcome.ok()) {
    std::fprintf(stderr, "kedge-controllers: %s\n", outcome.status().message().c_str());
    return 2;
  }
  if (*outcome == flags::FlagSet::Outcome::kHelp) {
    std::printf("%s", set.usage().c_str());
    return 0;
  }
  if (kubeconfig.empty() || workers < 1 || workers > 64) {
    std::fprintf(stderr, "kedge-controllers: --kubeconfig is required and --workers must be 1..64\n");
    return 2;
  }
  auto log_options = log::parse_options(log_level, "text");
  if (!log_options.ok()) {
    std::fprintf(stderr, "kedge-controllers: %s\n", log_options.status().message().c_str());
    return 2;
  }
  log::init(*log_options);
  signals::block_termination_signals();
  auto config = client::Kubeconfig::load(kubeconfig);
  if (!config.ok()) {
    std::fprintf(stderr, "kedge-controllers: %s\n", config.status().message().c_str());
    return 1;
  }
  auto client = client::RestClient::create({.config = *config, .user_agent = "kedge-controllers"});
  if (!client.ok()) {
    std::fprintf(stderr, "kedge-controllers: %s\n", client.status().message().c_str());
    return 1;
  }
  controllers::RestTransport transport(**client);
  controllers::ReplicaSetController rs(transport);
  controllers::DeploymentController deployments(transport);
  controllers::GarbageCollector gc(transport);
  rs.register_watches();
  deployments.register_watches();
  gc.register_watches();
  transport.start();
  if (!transport.wait_for_sync()) return 1;
  auto n = static_cast<int>(workers);
  rs.run(n);
  deployments.run(n);
  gc.run(n);
  log::logger("controllers")->info("kedge-controllers: running (ReplicaSet, Deployment, garbage collector)");
  signals::wait_for_termination();
  gc.stop();
  deployments.stop();
  rs.stop();
  transport.stop();
  return 0;
}

// run_parts() and the node settings every part shares.
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "part.h"

namespace kedge::cmd {

void add_node_flags(flags::FlagSet& set, NodeEnvironment& env) {
  set.add("node-name", &env.node_name, "this node's name; default: the hostname, lower-cased");
  set.add("node-ip", &env.node_ips, "this node's addresses (NodePorts, node status); default: every non-loopback one");
  set.add("cluster-cidr", &env.cluster_cidr, "pod addresses of the whole cluster");
  set.add("service-cidr", &env.service_cidr, "ClusterIP range of Services");
  set.add("cluster-dns", &env.cluster_dns, "nameserver written into pods' resolv.conf");
  set.add("cluster-domain", &env.cluster_domain, "DNS domain of the cluster");
  set.add("pod-log-dir", &env.pod_log_dir, "where container logs are written (<ns>_<pod>_<uid>/<container>/<n>.log)");
  set.add("agent-api-port", &env.agent_api_port, "port of the agent API (kubelet port), published in the Node's status");
}

void default_node_environment(NodeEnvironment& env) {
  if (env.node_name.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    env.node_name = host;
    // Node names are DNS-1123 subdomains; hostnames may carry capitals.
    std::transform(env.node_name.begin(), env.node_name.end(), env.node_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  if (env.node_ips.empty()) env.node_ips = local_addresses();
}

int run_parts(const RunPartsOptions& options, const NodeEnvironment& env, std::vector<std::unique_ptr<Part>>& parts,
              const std::function<void()>& on_started) {
  auto logger = log::logger(options.role);
  std::size_t started = 0;
  auto stop_started = [&] {
    while (started > 0) {
      Part& part = *parts[--started];
      logger->info("stopping {}", part.name());
      part.stop();
    }
  };
  for (auto& part : parts) {
    if (Status st = part->start(env); !st.ok()) {
      logger->error("starting {}: {}", part->name(), st.to_string());
      stop_started();
      return 1;
    }
    ++started;
  }
  if (on_started) on_started();
  const int sig = signals::wait_for_termination(options.drain + std::chrono::seconds(5));
  logger->info("signal {}: draining", sig);
  stop_started();
  logger->info("stopped");
  return 0;
}

}  // namespace kedge::cmd

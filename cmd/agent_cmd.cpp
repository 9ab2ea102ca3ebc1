// `kedge agent`: the node parts alone, for a worker device — the container
// runtime side and kubelet, the :10250 agent API, and the service proxy —
// talking to a kedge server over HTTPS with the credentials in --kubeconfig.
#include <cstdio>

#include "kedge/agent/memory.h"
#include "part.h"
#include "roles.h"

namespace kedge::cmd {

int run_agent(std::span<const std::string> args) {
  // Before any thread: the agent's threads mostly wait, so per-thread
  // arenas would only keep freed memory resident (bench/README.md, agent).
  agent::limit_malloc_arenas(2);
  CommonOptions common;
  NodeEnvironment env;
  env.data_dir = "/var/lib/kedge";
  bool disable_proxy = false;
  std::vector<std::unique_ptr<Part>> parts;
  parts.push_back(make_kubelet_part());
  parts.push_back(make_agent_api_part());
  parts.push_back(make_proxy_part());

  flags::FlagSet set("agent",
                     "Run a kedge node: supervise the container runtime (a private containerd unless "
                     "--container-runtime-endpoint), import airgap images, run the pods the API server binds "
                     "to this node, serve the agent API and program the service proxy.");
  add_common_flags(set, common);
  set.add("data-dir", &env.data_dir, "kedge state directory (containerd, CNI, images, pods)");
  set.add("kubeconfig", &env.kubeconfig, "credentials for the kedge server's API");
  set.add("disable-proxy", &disable_proxy, "do not run the service proxy on this node");
  add_node_flags(set, env);
  for (auto& part : parts) part->add_flags(set);
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  default_node_environment(env);
  if (disable_proxy) parts.pop_back();
  return run_parts({.role = "agent", .drain = std::chrono::seconds(20)}, env, parts);
}

}  // namespace kedge::cmd

// Parts: the pieces a role runs side by side in one process. `kedge server`
// runs the API server and then, as parts, the scheduler and controllers, the
// agent for its own node (container runtime + kubelet), the agent's :10250
// API and the service proxy; `kedge agent` runs the node parts alone. Each
// part lives in its own <part>_part.cpp, owns its threads, and is started and
// stopped by run_parts() so that every role drains the same way.
//
// Threading: add_flags/start/stop are called from the role's main thread
// only, in that order; stop() is called once, after a successful start(), in
// reverse start order, and must join every thread the part started.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kedge/base/flags.h"
#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"
#include "roles.h"

namespace kedge::cmd {

// What a part knows about the node and cluster around it. Set by the role
// from its own flags, constant once the first part starts. Settings that
// several parts share live here, so each is one flag with one spelling.
struct NodeEnvironment {
  std::string data_dir;          // the role's --data-dir; each part uses <data_dir>/<part>/
  std::string node_name;         // --node-name, default: the hostname (lower-cased)
  std::vector<std::string> node_ips;  // --node-ip, default: every non-loopback address
  std::string kubeconfig;        // credentials for the Kubernetes API
  std::string cluster_cidr = "10.42.0.0/16";  // pod addresses of the whole cluster
  std::string service_cidr = "10.43.0.0/16";
  std::string cluster_dns = "10.43.0.10";
  std::string cluster_domain = "cluster.local";
  // Container logs: <pod_log_dir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log,
  // the layout upstream's kubelet and log shippers use. The kubelet writes
  // there (through the runtime); the agent API reads from there.
  std::string pod_log_dir = "/var/log/pods";
  // The agent API (kubelet port): the agent-api part listens on it and the
  // kubelet publishes it as the Node's daemonEndpoints.kubeletEndpoint.Port,
  // which edge-control dials for logs and exec.
  std::int64_t agent_api_port = 10250;
  bool control_plane = false;    // this node also runs edge-control
  // Set by `kedge server`: its own API in-process (control/local_client.h),
  // for the parts that run beside it (the scheduler and controllers). Empty
  // in `kedge agent`, whose parts always use HTTPS.
  client::LocalRoundTrip local_api;
};

class Part {
 public:
  virtual ~Part() = default;
  // Short name for logs: "controllers", "kubelet", "agent-api", "proxy".
  virtual const char* name() const = 0;
  // Registers the part's own flags (the same spelling in every role that
  // runs the part). `set` outlives the part.
  virtual void add_flags(flags::FlagSet& set) = 0;
  // Starts the part's threads; returns once it is running (not necessarily
  // converged). An error aborts the role's start.
  virtual Status start(const NodeEnvironment& env) = 0;
  virtual void stop() = 0;
};

std::unique_ptr<Part> make_controllers_part();  // controllers_part.cpp: scheduler + controllers
std::unique_ptr<Part> make_kubelet_part();      // kubelet_part.cpp: container runtime + kubelet
std::unique_ptr<Part> make_agent_api_part();    // agent_api_part.cpp: the :10250 API
std::unique_ptr<Part> make_proxy_part();        // proxy_part.cpp: the nftables service proxy

// Flags for NodeEnvironment's shared fields (except data_dir and
// kubeconfig, which each role defines with its own help text).
void add_node_flags(flags::FlagSet& set, NodeEnvironment& env);
// Fills node_name and node_ips when the flags left them empty.
void default_node_environment(NodeEnvironment& env);

// Starts `parts` in order (a failure stops those already started and
// returns 1), then waits for SIGINT/SIGTERM, then stops them in reverse.
// `on_started` runs after the last start (the role prints its ready line);
// `before_stop` runs first thing after the signal. Returns the exit code.
struct RunPartsOptions {
  const char* role = "";
  std::chrono::seconds drain{5};
};
int run_parts(const RunPartsOptions& options, const NodeEnvironment& env, std::vector<std::unique_ptr<Part>>& parts,
              const std::function<void()>& on_started = {});

}  // namespace kedge::cmd

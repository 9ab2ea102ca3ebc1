// `kedge server`: the control plane of a kedge cluster — the Kubernetes API
// server (edge-control) over the embedded SQLite store or an external etcd —
// and, as parts beside it, the scheduler and controllers, and the agent and
// service proxy for this node (unless --disable-agent / --disable-proxy).
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "kedge/base/log.h"
#include "kedge/control/api_server.h"
#include "kedge/control/local_client.h"
#include "kedge/store/etcd_client.h"
#include "kedge/store/sqlite_store.h"
#include "part.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

struct ServerOptions {
  std::string data_dir = "/var/lib/kedge";
  std::int64_t https_listen_port = 6443;
  std::string bind_address = "0.0.0.0";
  std::string write_kubeconfig = "/etc/kedge/kedge.yaml";
  std::vector<std::string> tls_san;
  std::string datastore_endpoint;
  std::string datastore_cafile;
  std::string datastore_certfile;
  std::string datastore_keyfile;
  std::int64_t max_request_body_bytes = 3 * 1024 * 1024;
  std::int64_t max_connections = 1024;
  std::int64_t drain_seconds = 5;
  bool disable_agent = false;
  bool disable_proxy = false;
  NodeEnvironment node;
};

Result<std::unique_ptr<store::Store>> open_store(const ServerOptions& o) {
  if (!o.datastore_endpoint.empty()) {
    store::EtcdClientOptions eo;
    std::string list = o.datastore_endpoint;
    std::size_t start = 0;
    while (start <= list.size()) {
      auto comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      if (comma > start) eo.endpoints.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    eo.ca_file = o.datastore_cafile;
    eo.cert_file = o.datastore_certfile;
    eo.key_file = o.datastore_keyfile;
    KEDGE_ASSIGN_OR_RETURN(auto etcd, store::EtcdStore::connect(eo));
    return std::unique_ptr<store::Store>(std::move(etcd));
  }
  store::SqliteStoreOptions so;
  so.data_dir = std::filesystem::path(o.data_dir) / "server" / "db";
  // Bounded history: the API's watch caches replay from memory; the store
  // keeps an hour of revisions for clients that resume older watches.
  so.auto_compaction_retention_period = std::chrono::hours(1);
  KEDGE_ASSIGN_OR_RETURN(auto sqlite, store::SqliteStore::open(so));
  return std::unique_ptr<store::Store>(std::move(sqlite));
}

}  // namespace

int run_server(std::span<const std::string> args) {
  CommonOptions common;
  ServerOptions o;
  flags::FlagSet set("server", "Run the kedge control plane: the Kubernetes API server over the "
                               "embedded store (or an external etcd).");
  add_common_flags(set, common);
  set.add("data-dir", &o.data_dir, "state directory (store, certificates)");
  set.add("https-listen-port", &o.https_listen_port, "HTTPS port of the Kubernetes API");
  set.add("bind-address", &o.bind_address, "address the API server listens on");
  set.add("write-kubeconfig", &o.write_kubeconfig,
          "where to write the admin kubeconfig (non-root default: <data-dir>/kedge.yaml)");
  set.add("tls-san", &o.tls_san, "extra DNS names or IPs for the serving certificate");
  set.add("datastore-endpoint", &o.datastore_endpoint,
          "etcd endpoints (http(s)://host:2379[,...]); empty = embedded SQLite store");
  set.add("datastore-cafile", &o.datastore_cafile, "CA bundle for an https etcd");
  set.add("datastore-certfile", &o.datastore_certfile, "client certificate for etcd");
  set.add("datastore-keyfile", &o.datastore_keyfile, "client key for etcd");
  set.add("max-request-body-bytes", &o.max_request_body_bytes,
          "largest request body accepted (413 above)");
  set.add("max-connections", &o.max_connections, "concurrent client connections accepted");
  set.add("drain-seconds", &o.drain_seconds, "how long SIGTERM waits for in-flight requests");
  set.add("disable-agent", &o.disable_agent, "do not run an agent for this node");
  set.add("disable-proxy", &o.disable_proxy, "do not run the service proxy on this node");
  add_node_flags(set, o.node);
  std::vector<std::unique_ptr<Part>> parts;
  parts.push_back(make_controllers_part());
  parts.push_back(make_kubelet_part());
  parts.push_back(make_agent_api_part());
  parts.push_back(make_proxy_part());
  for (auto& part : parts) part->add_flags(set);
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  if (o.https_listen_port < 0 || o.https_listen_port > 65535) {
    std::fprintf(stderr, "kedge server: --https-listen-port=%lld: want 0..65535\n",
                 static_cast<long long>(o.https_listen_port));
    return 2;
  }
  if (!set.was_set("write-kubeconfig") && ::geteuid() != 0) {
    o.write_kubeconfig = (std::filesystem::path(o.data_dir) / "kedge.yaml").string();
  }
  auto logger = log::logger("server");
  std::erase_if(parts, [&](const std::unique_ptr<Part>& part) {
    const std::string_view name = part->name();
    if (o.disable_agent && (name == "kubelet" || name == "agent-api")) return true;
    return o.disable_proxy && name == "proxy";
  });

  auto store = open_store(o);
  if (!store.ok()) {
    std::fprintf(stderr, "kedge server: opening the datastore: %s\n", store.status().to_string().c_str());
    return 1;
  }
  o.node.data_dir = o.data_dir;
  o.node.kubeconfig = o.write_kubeconfig;
  o.node.control_plane = true;
  default_node_environment(o.node);
  control::ApiServerOptions ao;
  // Pods reach the API through the kubernetes Service at this address: the
  // bind address when it is a specific one, else this node's first IPv4.
  if (o.bind_address != "0.0.0.0" && o.bind_address != "::") {
    ao.advertise_address = o.bind_address;
  } else {
    for (const auto& ip : o.node.node_ips) {
      if (ip.find(':') == std::string::npos) {
        ao.advertise_address = ip;
        break;
      }
    }
    if (ao.advertise_address.empty() && !o.node.node_ips.empty()) ao.advertise_address = o.node.node_ips.front();
  }
  ao.data_dir = o.data_dir;
  ao.kubeconfig_path = o.write_kubeconfig;
  ao.tls_sans = o.tls_san;
  ao.store = store->get();
  ao.http.bind_address = o.bind_address;
  ao.http.port = static_cast<int>(o.https_listen_port);
  ao.http.max_body_bytes = static_cast<std::size_t>(o.max_request_body_bytes);
  ao.http.max_connections = static_cast<std::size_t>(o.max_connections);
  control::ApiServer server(std::move(ao));
  if (Status st = server.start(); !st.ok()) {
    std::fprintf(stderr, "kedge server: %s\n", st.to_string().c_str());
    return 1;
  }
  o.node.local_api = control::local_round_trip(server);
  const int rc = run_parts({.role = "server", .drain = std::chrono::seconds(o.drain_seconds)}, o.node, parts, [&] {
    std::printf("kedge server is ready: kubectl --kubeconfig %s get nodes\n", o.write_kubeconfig.c_str());
    std::fflush(stdout);
  });
  server.stop();
  store->reset();
  return rc;
}

}  // namespace kedge::cmd

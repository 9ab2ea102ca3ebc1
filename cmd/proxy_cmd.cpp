// kedge proxy: the nftables service proxy for this node.
//
// Input: the API server (--kubeconfig: Services and EndpointSlices through
// informers), or a directory of Kubernetes JSON manifests (--manifests:
// Services, EndpointSlices, or Lists of them, watched with inotify; every
// change re-reads the directory), for tests and API-less devices.
// Threads: main (signals), the sync loop (owns the netlink socket), the
// informers or the manifest watcher, the /healthz+/metrics server.
//
// Built into both executables: the kedge multi-call binary and the lean
// kedge-proxy (proxy_main.cpp), which links only what this file needs and
// which `kedge proxy` runs instead when it sits next to kedge (main.cpp).
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "kedge/netlink/transport.h"
#include "kedge/proxy/node_proxy.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

// Reads every *.json file of `dir`; a file that does not parse is logged and
// left out (its objects disappear, as if deleted).
proxy::Objects read_manifests(const std::string& dir) {
  proxy::Objects all;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto objs = proxy::parse_objects(ss.str());
    if (!objs.ok()) {
      log::logger("proxy")->error("{}: {}", f.string(), objs.status().message());
      continue;
    }
    for (auto& s : objs->services) all.services.push_back(std::move(s));
    for (auto& s : objs->slices) all.slices.push_back(std::move(s));
  }
  return all;
}

}  // namespace

int run_proxy(std::span<const std::string> args) {
  CommonOptions common;
  std::string table = "kedge-proxy";
  std::string node_name;
  std::vector<std::string> node_ips;
  std::string cluster_cidr = "10.42.0.0/16";
  std::string manifests;
  std::string kubeconfig;
  std::string status_address = "127.0.0.1:10249";
  std::int64_t min_sync_ms = 1000;
  std::int64_t max_endpoints = 10000;
  std::int64_t shards = proxy::LayoutOptions{}.shards;
  bool ipv6 = true;
  bool cleanup = false;
  flags::FlagSet set("proxy", "Run the nftables service proxy for this node.");
  add_common_flags(set, common);
  set.add("table", &table, "name of the nftables tables the proxy owns (family ip and ip6; shards are <table>-NN)");
  set.add("shards", &shards, "spread services over this many tables (a change costs the kernel what one holds)");
  set.add("node-name", &node_name, "this node's name (for traffic policy Local); default: hostname");
  set.add("node-ip", &node_ips, "addresses NodePorts listen on; default: every non-loopback address");
  set.add("cluster-cidr", &cluster_cidr, "pod CIDR; other sources reaching a cluster IP are masqueraded");
  set.add("kubeconfig", &kubeconfig, "watch Services and EndpointSlices on the API server this kubeconfig names");
  set.add("manifests", &manifests, "instead of the API: a directory of Service/EndpointSlice JSON files (watched)");
  set.add("status-address", &status_address, "where /healthz and /metrics are served (host:port; empty: nowhere)");
  set.add("min-sync-interval-ms", &min_sync_ms, "minimum time between two syncs");
  set.add("max-endpoints-per-service", &max_endpoints, "services with more endpoints are refused");
  set.add("ipv6", &ipv6, "also program the ip6 table");
  set.add("cleanup", &cleanup, "remove the proxy's tables and exit");
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  auto logger = log::logger("proxy");
  if (shards < 1 || shards > 100) {
    std::fprintf(stderr, "kedge proxy: --shards must be between 1 and 100, got %lld\n", static_cast<long long>(shards));
    return 2;
  }

  if (cleanup) {
    auto transport = netlink::open_netfilter_socket();
    if (!transport.ok()) {
      std::fprintf(stderr, "kedge proxy: %s\n", transport.status().to_string().c_str());
      return 1;
    }
    Status st = proxy::cleanup(**transport, table);
    if (!st.ok()) {
      std::fprintf(stderr, "kedge proxy --cleanup: %s\n", st.to_string().c_str());
      return 1;
    }
    logger->info("removed tables ip/ip6 {} and its shards", table);
    return 0;
  }
  // One malloc arena: the standalone proxy's threads are idle but for the
  // sync loop, and per-thread arenas kept ~20 MB more at 10k services (RSS
  // 88 → 68 MB, peak 166 → 122 MB, bench/proxy/rss.sh).
  mallopt(M_ARENA_MAX, 1);
  if (manifests.empty() == kubeconfig.empty()) {
    std::fprintf(stderr, "kedge proxy: give exactly one of --kubeconfig and --manifests\n");
    return 2;
  }
  if (node_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    node_name = host;
  }
  if (node_ips.empty()) node_ips = local_addresses();

  proxy::NodeProxyOptions options{.kubeconfig = kubeconfig, .status_address = status_address};
  options.proxier.layout.table = table;
  options.proxier.layout.shards = static_cast<std::uint32_t>(shards);
  options.proxier.layout.node_name = node_name;
  options.proxier.layout.node_ips = node_ips;
  options.proxier.layout.cluster_cidr = cluster_cidr;
  options.proxier.layout.max_endpoints_per_service = static_cast<std::size_t>(max_endpoints);
  options.proxier.min_sync_interval = std::chrono::milliseconds(min_sync_ms);
  if (!ipv6) options.proxier.families = {netlink::Family::kIp};
  auto started = proxy::NodeProxy::start(std::move(options));
  if (!started.ok()) {
    std::fprintf(stderr, "kedge proxy: %s\n", started.status().to_string().c_str());
    return 1;
  }
  auto& node_proxy = **started;
  proxy::Proxier& proxier = node_proxy.proxier();
  logger->info("proxy running: table {}, node {}, {} node addresses, {} {}, status port {}", table, node_name,
               node_ips.size(), kubeconfig.empty() ? "manifests" : "kubeconfig",
               kubeconfig.empty() ? manifests : kubeconfig, node_proxy.status_port());
  if (!kubeconfig.empty()) {
    signals::wait_for_termination();
    node_proxy.stop();
    auto st = proxier.stats();
    logger->info("proxy stopped after {} syncs ({} failed)", st.syncs, st.sync_failures);
    return 0;
  }

  int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  int wake[2];
  if (ino < 0 || pipe2(wake, O_CLOEXEC) != 0 ||
      inotify_add_watch(ino, manifests.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0) {
    std::fprintf(stderr, "kedge proxy: cannot watch %s\n", manifests.c_str());
    return 1;
  }
  proxier.replace_all(read_manifests(manifests));
  proxier.set_synced();
  std::thread watch_thread([&] {
    char buf[4096];
    while (true) {
      pollfd fds[2] = {{ino, POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents) break;
      if (fds[0].revents) {
        while (read(ino, buf, sizeof buf) > 0) {
        }
        proxier.replace_all(read_manifests(manifests));
      }
    }
  });
  signals::wait_for_termination();
  // The tables stay: a restarted proxy adopts them without a traffic gap.
  if (write(wake[1], "x", 1) < 0) {
  }
  watch_thread.join();
  node_proxy.stop();
  auto st = proxier.stats();
  logger->info("proxy stopped after {} syncs ({} failed)", st.syncs, st.sync_failures);
  return 0;
}

}  // namespace kedge::cmd

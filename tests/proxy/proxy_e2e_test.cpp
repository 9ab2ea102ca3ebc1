// End to end through the real binaries: in a "node" network namespace run
// `kedge server --disable-agent --disable-proxy` (the API) and
// `kedge proxy --kubeconfig` (informers → nftables); Services and
// EndpointSlices are created with /usr/bin/kubectl. A client namespace and
// two backend namespaces (each running busybox httpd that names itself) are
// wired to the node with veth pairs. Traffic
// from the client must reach the backends through ClusterIP and NodePort,
// spread over endpoints, stick with ClientIP affinity, be refused at once
// for a service without endpoints, stop when the Service goes, and keep
// flowing while the proxy restarts. UDP (python3 servers) reaches a
// ClusterIP, and a flow whose endpoint goes away is moved to the remaining
// one (stale conntrack entry deleted).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <csignal>

#include "../netlink/netns.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"
#include "scenario.h"

namespace kedge::testing {
namespace {

using namespace std::chrono_literals;

class ProxyE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root() || find_binary("nft").empty() || access("/bin/busybox", X_OK) != 0) return;
    const std::string tag = std::to_string(getpid() % 100000);
    node_ = std::make_unique<NetNs>("kp-node-" + tag);
    client_ = std::make_unique<NetNs>("kp-client-" + tag);
    be1_ = std::make_unique<NetNs>("kp-be1-" + tag);
    be2_ = std::make_unique<NetNs>("kp-be2-" + tag);
    // Deleting the namespaces removes the veths with them.
    link(*client_, "10.100.0.2", *node_, "10.100.0.1", "kpc" + tag);
    link(*be1_, "10.42.1.5", *node_, "10.42.1.1", "kpb1" + tag);
    link(*be2_, "10.42.2.5", *node_, "10.42.2.1", "kpb2" + tag);
    node_->exec({"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    // Like a real node, this one has a default route: traffic to a cluster IP
    // nobody DNATs is routed (and then rejected by the proxy), not refused
    // by routing with "network unreachable".
    node_->exec({"ip", "route", "add", "default", "via", "10.100.0.2"});
    for (auto* be : {be1_.get(), be2_.get()}) {
      auto dir = tmp_ / be->name();
      std::filesystem::create_directories(dir);
      std::ofstream(dir / "index.html") << (be == be1_.get() ? "be1" : "be2");
      servers_.push_back(std::make_unique<Process>(
          std::vector<std::string>{"ip", "netns", "exec", be->name(), "/bin/busybox", "httpd", "-f", "-p", "8080",
                                   "-h", dir.string()},
          tmp_ / (be->name() + ".log")));
      // A UDP server answering every datagram with the backend's name.
      const std::string name = be == be1_.get() ? "be1" : "be2";
      servers_.push_back(std::make_unique<Process>(
          std::vector<std::string>{"ip", "netns", "exec", be->name(), "/usr/bin/python3", "-c",
                                   "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                                   "s.bind(('',5353))\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(b'" +
                                       name + "',a)\n"},
          tmp_ / (be->name() + "-udp.log")));
    }
    ready_ = true;
  }
  void TearDown() override {
    stop_proxy();
    server_.reset();
    servers_.clear();
    node_.reset();
    client_.reset();
    be1_.reset();
    be2_.reset();
  }

  static void link(NetNs& a, const std::string& a_ip, NetNs& b, const std::string& b_ip, const std::string& name) {
    run({"ip", "link", "add", name + "a", "netns", a.name(), "type", "veth", "peer", "name", name + "b", "netns",
         b.name()});
    a.exec({"ip", "addr", "add", a_ip + "/24", "dev", name + "a"});
    a.exec({"ip", "link", "set", name + "a", "up"});
    a.exec({"ip", "route", "add", "default", "via", b_ip});
    b.exec({"ip", "addr", "add", b_ip + "/24", "dev", name + "b"});
    b.exec({"ip", "link", "set", name + "b", "up"});
  }

  // The API server of this node, inside its namespace (loopback only).
  void start_server() {
    kubeconfig_ = tmp_ / "kedge.yaml";
    server_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", node_->name(), kedge_binary(), "server", "--disable-agent",
                                 "--disable-proxy", "--data-dir", (tmp_ / "server").string(), "--https-listen-port",
                                 "6443", "--bind-address", "127.0.0.1", "--write-kubeconfig", kubeconfig_.string(),
                                 "--config", "/dev/null"},
        tmp_ / "server.log");
    ASSERT_TRUE(eventually([&] { return server_->log().find("kedge server is ready") != std::string::npos ||
                                        !server_->running(); },
                           30s) &&
                server_->running())
        << server_->log();
  }

  CommandResult kubectl(std::vector<std::string> args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", kubeconfig_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return node_->exec(argv, CommandOptions{.env = {{"HOME", tmp_.path().string()},
                                                    {"KUBECACHEDIR", (tmp_ / "kcache").string()}},
                                            .stdin_data = stdin_data,
                                            .timeout = 30s,
                                            .cwd = {}});
  }
  void apply(const std::string& json) {
    auto r = kubectl({"apply", "-f", "-"}, json);
    ASSERT_EQ(r.exit_code, 0) << r.err << "\n" << json;
  }

  // `kedge proxy` in the node namespace, watching the API server.
  void start_proxy() {
    proxy_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", node_->name(), kedge_binary(), "proxy", "--kubeconfig",
                                 kubeconfig_.string(), "--node-name", "node-a", "--node-ip",
                                 "10.100.0.1,10.42.1.1,10.42.2.1", "--cluster-cidr", "10.42.0.0/16",
                                 "--min-sync-interval-ms", "100", "--status-address", "127.0.0.1:10249",
                                 "--config", "/dev/null"},
        tmp_ / ("proxy-" + std::to_string(++proxy_runs_) + ".log"));
  }
  void stop_proxy() {
    if (proxy_) proxy_->kill_and_wait(SIGTERM);
    proxy_.reset();
  }
  std::string proxy_log() { return proxy_ ? proxy_->log() : ""; }
  // /healthz or /metrics of the running proxy (node namespace, loopback).
  std::string status(const std::string& path) {
    auto r = node_->exec({"/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:10249" + path}, {.timeout = 5s});
    return r.exit_code == 0 ? r.out : "ERR: " + r.err;
  }

  // GET through the client namespace: body, or "ERR: <wget's message>".
  std::string get(const std::string& url, std::chrono::milliseconds timeout = 3s) {
    // busybox 1.35's `wget -T` crashes; run() enforces the timeout instead.
    auto r = client_->exec({"/bin/busybox", "wget", "-q", "-O", "-", url}, {.timeout = timeout});
    return r.exit_code == 0 ? r.out : "ERR: " + r.err;
  }

  // One datagram from the client's fixed source port 40000 (so every call is
  // the same conntrack flow): the answering backend's name, or "ERR".
  std::string udp(const std::string& ip, int port) {
    auto r = client_->exec({"/usr/bin/python3", "-c",
                            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('',40000))\n"
                            "s.settimeout(2)\ns.sendto(b'x',('" + ip + "'," + std::to_string(port) +
                                "))\nprint(s.recvfrom(100)[0].decode(),end='')\n"},
                           {.timeout = 5s});
    return r.exit_code == 0 ? r.out : "ERR: " + r.err;
  }

  // The proxy's ip tables (main and shards; the node namespace holds no others).
  std::string table() {
    auto r = node_->exec({"nft", "list", "ruleset", "ip"});
    return r.exit_code == 0 ? r.out : "";
  }

  TempDir tmp_{"kedge-proxy-e2e"};
  std::filesystem::path kubeconfig_;
  std::unique_ptr<NetNs> node_, client_, be1_, be2_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::unique_ptr<Process> server_;
  std::unique_ptr<Process> proxy_;
  int proxy_runs_ = 0;
  bool ready_ = false;
};

TEST_F(ProxyE2E, ServicesThroughTheKernel) {
  KEDGE_REQUIRE(is_root(), "needs root for network namespaces");
  KEDGE_REQUIRE(!find_binary("nft").empty(), "needs nft");
  KEDGE_REQUIRE(access("/bin/busybox", X_OK) == 0, "needs busybox-static");
  KEDGE_REQUIRE(access("/usr/bin/kubectl", X_OK) == 0, "needs /usr/bin/kubectl");
  KEDGE_REQUIRE(access("/usr/bin/python3", X_OK) == 0, "needs /usr/bin/python3 (UDP server and client)");
  ASSERT_TRUE(ready_);
  start_server();
  const std::vector<std::string> both = {"10.42.1.5@node-a", "10.42.2.5@node-b"};
  apply(service_json("web", "10.43.1.10", 80, "", "TCP", 30080, "NodePort"));
  apply(slice_json("web", "web-1", both, 8080));
  apply(service_json("sticky", "10.43.1.11", 80,
                     R"(,"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":300}})"));
  apply(slice_json("sticky", "sticky-1", both, 8080));
  apply(service_json("empty", "10.43.1.20", 80));
  apply(service_json("dns", "10.43.1.30", 53, "", "UDP"));
  apply(slice_json("dns", "dns-1", both, 5353, "UDP"));
  start_proxy();
  ASSERT_TRUE(eventually([&] { return get("http://10.43.1.10/").rfind("be", 0) == 0; }, 20s))
      << get("http://10.43.1.10/") << "\n" << proxy_log();
  EXPECT_EQ(status("/healthz"), "ok\n");
  // `kedge proxy` ran the lean kedge-proxy built next to kedge (cmd/main.cpp):
  // `ip netns exec` execs in place, so the child's pid is the proxy's.
  if (access((std::filesystem::path(kedge_binary()).parent_path() / "kedge-proxy").c_str(), X_OK) == 0) {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(proxy_->pid()) + "/exe", ec);
    EXPECT_EQ(exe.filename(), "kedge-proxy") << exe << " " << ec.message();
  }
  const std::string metrics = status("/metrics");
  EXPECT_NE(metrics.find("kedge_proxy_sync_duration_seconds_count "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("kedge_proxy_last_sync_ok 1"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("kedge_proxy_rules 0\n"), std::string::npos) << metrics;

  // ClusterIP and NodePort reach both backends (load spreads).
  std::set<std::string> seen_cluster, seen_nodeport;
  for (int i = 0; i < 40 && (seen_cluster.size() < 2 || seen_nodeport.size() < 2); ++i) {
    seen_cluster.insert(get("http://10.43.1.10/"));
    seen_nodeport.insert(get("http://10.100.0.1:30080/"));
  }
  EXPECT_EQ(seen_cluster, (std::set<std::string>{"be1", "be2"}));
  EXPECT_EQ(seen_nodeport, (std::set<std::string>{"be1", "be2"}));

  // Hairpin: a backend calling its own service sometimes lands on itself;
  // without the masquerade (hairpin-endpoints) its reply would bypass the
  // node and the connection would hang.
  std::set<std::string> from_be1;
  for (int i = 0; i < 40 && from_be1.size() < 2; ++i) {
    auto r = be1_->exec({"/bin/busybox", "wget", "-q", "-O", "-", "http://10.43.1.10/"}, {.timeout = 3s});
    from_be1.insert(r.exit_code == 0 ? r.out : "ERR: " + r.err);
  }
  EXPECT_EQ(from_be1, (std::set<std::string>{"be1", "be2"}));

  // ClientIP affinity pins the client to one backend.
  std::set<std::string> sticky;
  for (int i = 0; i < 15; ++i) sticky.insert(get("http://10.43.1.11/"));
  EXPECT_EQ(sticky.size(), 1u) << *sticky.begin();
  EXPECT_EQ(sticky.begin()->rfind("be", 0), 0u) << *sticky.begin();

  // No endpoints: refused at once, not a timeout.
  auto t0 = std::chrono::steady_clock::now();
  std::string refused = get("http://10.43.1.20/");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(refused.find("refused"), std::string::npos) << refused;
  EXPECT_LT(took, 1s);

  // An endpoint added through the API starts taking traffic; its removal
  // stops it (watch events, not only the initial list).
  apply(slice_json("web", "web-1", {"10.42.1.5@node-a"}, 8080));
  EXPECT_TRUE(eventually([&] {
    std::set<std::string> seen;
    for (int i = 0; i < 10; ++i) seen.insert(get("http://10.43.1.10/"));
    return seen == std::set<std::string>{"be1"};
  }, 15s)) << proxy_log();
  apply(slice_json("web", "web-1", both, 8080));

  // UDP ClusterIP; when the endpoint a flow was sent to goes away, the
  // flow's conntrack entry is deleted so the next datagram of the same flow
  // reaches the remaining endpoint (the old backend still runs and would
  // answer if the stale entry survived).
  const std::string first = udp("10.43.1.30", 53);
  ASSERT_TRUE(first == "be1" || first == "be2") << first << "\n" << proxy_log();
  EXPECT_EQ(udp("10.43.1.30", 53), first) << "one flow, one backend";
  const bool keep_be2 = first == "be1";
  apply(slice_json("dns", "dns-1", {keep_be2 ? "10.42.2.5@node-b" : "10.42.1.5@node-a"}, 5353, "UDP"));
  EXPECT_TRUE(eventually([&] { return udp("10.43.1.30", 53) == (keep_be2 ? "be2" : "be1"); }, 10s))
      << udp("10.43.1.30", 53) << "\n" << proxy_log();
  EXPECT_EQ(status("/metrics").find("kedge_proxy_conntrack_deleted_total 0\n"), std::string::npos);

  // Restart: traffic keeps flowing while the proxy is down and back.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string last_failure;
  std::thread load([&] {
    while (!stop) {
      std::string r = get("http://10.43.1.10/");
      if (r.rfind("be", 0) == 0) ++ok;
      else {
        ++failed;
        last_failure = r;
      }
    }
  });
  std::this_thread::sleep_for(500ms);
  stop_proxy();  // SIGTERM; its tables stay in the kernel
  std::this_thread::sleep_for(500ms);
  start_proxy();
  EXPECT_TRUE(eventually([&] { return status("/healthz") == "ok\n"; }, 15s)) << proxy_log();
  std::this_thread::sleep_for(500ms);
  stop = true;
  load.join();
  EXPECT_GT(ok.load(), 5);
  EXPECT_EQ(failed.load(), 0) << last_failure;

  // Deleting the Service removes its rules and its traffic.
  auto del = kubectl({"delete", "service", "web"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(eventually([&] { return table().find("default/web/") == std::string::npos; }, 10s)) << table();
  EXPECT_EQ(get("http://10.43.1.10/").rfind("ERR", 0), 0u);
  EXPECT_NE(table().find("default/sticky/"), std::string::npos);

  // `kedge proxy --cleanup` removes everything.
  stop_proxy();
  auto cleanup = node_->exec({kedge_binary(), "proxy", "--cleanup", "--config", "/dev/null"});
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.err;
  auto tables = node_->exec({"nft", "list", "tables"});
  EXPECT_EQ(tables.out.find("kedge-proxy"), std::string::npos) << tables.out;
}

}  // namespace
}  // namespace kedge::testing

// End to end: the proxy (library, on its own thread that entered a "node"
// network namespace, exactly as `kedge proxy` runs it) programs that node; a client namespace and two backend namespaces (each running
// busybox httpd that names itself) are wired to it with veth pairs. Traffic
// from the client must reach the backends through ClusterIP and NodePort,
// spread over endpoints, stick with ClientIP affinity, be refused at once
// for a service without endpoints, stop when the Service goes, and keep
// flowing while the proxy restarts.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>

#include "../netlink/netns.h"
#include "kedge/netlink/reader.h"
#include "kedge/proxy/proxier.h"
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
    }
    ready_ = true;
  }
  void TearDown() override {
    proxy_.reset();
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

  // The proxy as `kedge proxy` runs it: a sync thread owning a netlink
  // socket in the node's namespace, fed whole object lists.
  struct RunningProxy {
    std::unique_ptr<netlink::Transport> transport;
    std::unique_ptr<proxy::Proxier> proxier;
    std::thread thread;
    ~RunningProxy() {
      if (proxier) proxier->stop();
      if (thread.joinable()) thread.join();
    }
  };

  proxy::Objects objects() {
    proxy::Objects out;
    for (const auto& [file, json] : manifests_) {
      auto o = proxy::parse_objects(json);
      for (auto& s : o->services) out.services.push_back(s);
      for (auto& s : o->slices) out.slices.push_back(s);
    }
    return out;
  }
  void write(const std::string& file, const std::string& json) {
    manifests_[file] = json;
    if (proxy_) proxy_->proxier->replace_all(objects());
  }
  void remove(const std::string& file) {
    manifests_.erase(file);
    if (proxy_) proxy_->proxier->replace_all(objects());
  }

  void start_proxy() {
    proxy_ = std::make_unique<RunningProxy>();
    std::promise<bool> started;
    auto done = started.get_future();
    proxy::ProxierOptions options;
    options.layout.node_name = "node-a";
    options.layout.node_ips = {"10.100.0.1", "10.42.1.1", "10.42.2.1"};
    options.layout.cluster_cidr = "10.42.0.0/16";
    options.families = {netlink::Family::kIp};
    options.min_sync_interval = 100ms;
    auto* rp = proxy_.get();
    const std::string ns = node_->name();
    auto objs = objects();
    rp->thread = std::thread([rp, ns, options, objs, &started] {
      int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      bool ok = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
      if (fd >= 0) close(fd);
      auto t = ok ? netlink::open_netfilter_socket() : Result<std::unique_ptr<netlink::Transport>>(internal_error("setns"));
      if (!t.ok()) {
        started.set_value(false);
        return;
      }
      rp->transport = std::move(*t);
      rp->proxier = std::make_unique<proxy::Proxier>(options, *rp->transport);
      rp->proxier->replace_all(objs);
      rp->proxier->set_synced();
      started.set_value(true);
      rp->proxier->run();
    });
    ASSERT_TRUE(done.get()) << "could not start the proxy in the node namespace";
  }
  void stop_proxy() { proxy_.reset(); }

  // GET through the client namespace: body, or "ERR: <wget's message>".
  std::string get(const std::string& url, std::chrono::milliseconds timeout = 3s) {
    // busybox 1.35's `wget -T` crashes; run() enforces the timeout instead.
    auto r = client_->exec({"/bin/busybox", "wget", "-q", "-O", "-", url}, {.timeout = timeout});
    return r.exit_code == 0 ? r.out : "ERR: " + r.err;
  }

  std::string table() {
    auto r = node_->exec({"nft", "list", "table", "ip", "kedge-proxy"});
    return r.exit_code == 0 ? r.out : "";
  }

  TempDir tmp_{"kedge-proxy-e2e"};
  std::map<std::string, std::string> manifests_;
  std::unique_ptr<NetNs> node_, client_, be1_, be2_;
  std::vector<std::unique_ptr<Process>> servers_;
  std::unique_ptr<RunningProxy> proxy_;
  bool ready_ = false;
};

TEST_F(ProxyE2E, ServicesThroughTheKernel) {
  KEDGE_REQUIRE(is_root(), "needs root for network namespaces");
  KEDGE_REQUIRE(!find_binary("nft").empty(), "needs nft");
  KEDGE_REQUIRE(access("/bin/busybox", X_OK) == 0, "needs busybox-static");
  ASSERT_TRUE(ready_);
  const std::vector<std::string> both = {"10.42.1.5@node-a", "10.42.2.5@node-b"};
  write("web.json", service_json("web", "10.43.0.10", 80, "", "TCP", 30080, "NodePort"));
  write("web-slice.json", slice_json("web", "web-1", both, 8080));
  write("sticky.json", service_json("sticky", "10.43.0.11", 80,
                                    R"(,"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":300}})"));
  write("sticky-slice.json", slice_json("sticky", "sticky-1", both, 8080));
  write("empty.json", service_json("empty", "10.43.0.20", 80));
  start_proxy();
  ASSERT_TRUE(eventually([&] { return get("http://10.43.0.10/").rfind("be", 0) == 0; }, 15s))
      << get("http://10.43.0.10/") << "\n" << proxy_->proxier->stats().last_error;

  // ClusterIP and NodePort reach both backends (load spreads).
  std::set<std::string> seen_cluster, seen_nodeport;
  for (int i = 0; i < 40 && (seen_cluster.size() < 2 || seen_nodeport.size() < 2); ++i) {
    seen_cluster.insert(get("http://10.43.0.10/"));
    seen_nodeport.insert(get("http://10.100.0.1:30080/"));
  }
  EXPECT_EQ(seen_cluster, (std::set<std::string>{"be1", "be2"}));
  EXPECT_EQ(seen_nodeport, (std::set<std::string>{"be1", "be2"}));

  // ClientIP affinity pins the client to one backend.
  std::set<std::string> sticky;
  for (int i = 0; i < 15; ++i) sticky.insert(get("http://10.43.0.11/"));
  EXPECT_EQ(sticky.size(), 1u) << *sticky.begin();
  EXPECT_EQ(sticky.begin()->rfind("be", 0), 0u) << *sticky.begin();

  // No endpoints: refused at once, not a timeout.
  auto t0 = std::chrono::steady_clock::now();
  std::string refused = get("http://10.43.0.20/");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(refused.find("refused"), std::string::npos) << refused;
  EXPECT_LT(took, 1s);

  // Restart: traffic keeps flowing while the proxy is down and back.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string last_failure;
  std::thread load([&] {
    while (!stop) {
      std::string r = get("http://10.43.0.10/");
      if (r.rfind("be", 0) == 0) ++ok;
      else {
        ++failed;
        last_failure = r;
      }
    }
  });
  std::this_thread::sleep_for(500ms);
  stop_proxy();  // its tables stay in the kernel
  std::this_thread::sleep_for(500ms);
  start_proxy();
  std::this_thread::sleep_for(1500ms);
  stop = true;
  load.join();
  EXPECT_GT(ok.load(), 5);
  EXPECT_EQ(failed.load(), 0) << last_failure;

  // Deleting the Service removes its rules and its traffic.
  remove("web.json");
  EXPECT_TRUE(eventually([&] { return table().find("default/web/") == std::string::npos; }, 10s)) << table();
  EXPECT_EQ(get("http://10.43.0.10/").rfind("ERR", 0), 0u);
  EXPECT_NE(table().find("default/sticky/"), std::string::npos);

  // Cleanup (what `kedge proxy --cleanup` calls) removes everything.
  stop_proxy();
  ASSERT_TRUE(node_->enter());
  {
    auto t = netlink::open_netfilter_socket();
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(proxy::cleanup(**t, "kedge-proxy").ok());
  }
  node_->leave();
  auto tables = node_->exec({"nft", "list", "tables"});
  EXPECT_EQ(tables.out.find("kedge-proxy"), std::string::npos) << tables.out;
}

}  // namespace
}  // namespace kedge::testing

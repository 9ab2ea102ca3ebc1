// Golden tests: Services + EndpointSlices in, the ruleset the kernel holds
// out. The proxy programs a network namespace the test creates; the table is
// read back over netlink, printed, and compared with reviewed files in
// tests/proxy/golden/ (KEDGE_UPDATE_GOLDEN=1 rewrites them for review).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "../netlink/netns.h"
#include "kedge/netlink/printer.h"
#include "kedge/netlink/reader.h"
#include "kedge/proxy/proxier.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"
#include "scenario.h"

namespace kedge::proxy {
namespace {

using testing::NetNs;
using testing::service_json;
using testing::slice_json;

std::string golden_path(const std::string& name) {
  return kedge::testing::source_dir() + "/tests/proxy/golden/" + name;
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (const char* u = std::getenv("KEDGE_UPDATE_GOLDEN"); u != nullptr && std::string(u) == "1") {
    std::ofstream(path) << actual;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path << " (run with KEDGE_UPDATE_GOLDEN=1 and review it)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(actual, want.str()) << "ruleset differs from " << path;
}

Objects objects(const std::vector<std::string>& jsons) {
  Objects out;
  for (const auto& j : jsons) {
    auto o = parse_objects(j);
    EXPECT_TRUE(o.ok()) << o.status().to_string();
    for (auto& s : o->services) out.services.push_back(s);
    for (auto& s : o->slices) out.slices.push_back(s);
  }
  return out;
}

std::vector<std::string> base_scenario() {
  return {
      service_json("web", "10.43.0.10", 80),
      slice_json("web", "web-1", {"10.42.1.5@node-a", "10.42.2.7@node-b", "10.42.3.3@node-b!"}, 8080),
      service_json("dns", "10.43.0.53", 53, "", "UDP"),
      slice_json("dns", "dns-1", {"10.42.1.9@node-a"}, 5353, "UDP"),
      service_json("sticky", "10.43.0.11", 80,
                   R"(,"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}},"externalIPs":["192.0.2.10"])",
                   "TCP", 30080, "NodePort"),
      slice_json("sticky", "sticky-1", {"10.42.1.6@node-a", "10.42.2.8@node-b"}, 8080),
      service_json("local", "10.43.0.12", 80, R"(,"externalTrafficPolicy":"Local")", "TCP", 30081, "NodePort"),
      slice_json("local", "local-1", {"10.42.1.7@node-a", "10.42.2.9@node-b"}, 8080),
      service_json("empty", "10.43.0.20", 80, "", "TCP", 30082, "NodePort"),
  };
}

class GoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::is_root()) return;
    ns_ = std::make_unique<NetNs>("kedge-golden-" + std::to_string(getpid()));
    if (!ns_->ok() || !ns_->enter()) return;
    auto t = netlink::open_netfilter_socket();
    if (t.ok()) transport_ = std::move(*t);
    options_.layout.node_name = "node-a";
    options_.layout.node_ips = {"192.168.1.10", "127.0.0.1"};
    options_.layout.cluster_cidr = "10.42.0.0/16";
    options_.layout.max_endpoints_per_service = 1000;
    options_.families = {netlink::Family::kIp};
    // Two shards keep the golden files short and still put services in
    // different tables.
    options_.layout.shards = 2;
    // Shared balancing chains for 1 and 2 endpoints only: sticky (affinity)
    // keeps chains of its own, and so does web once it has 3 endpoints.
    options_.layout.shared_balancing_max = 2;
    options_.min_sync_interval = std::chrono::milliseconds(0);
  }
  void TearDown() override {
    transport_.reset();
    ns_.reset();
  }
  // Every table of the layout (main, then shards by name), printed.
  std::string installed(netlink::Family family = netlink::Family::kIp) {
    auto tables = netlink::list_tables(*transport_, family);
    EXPECT_TRUE(tables.ok()) << tables.status().to_string();
    if (!tables.ok()) return "<error>";
    std::vector<std::string> names;
    for (const auto& t : *tables) {
      if (is_layout_table("kedge-proxy", t.name)) names.push_back(t.name);
    }
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& name : names) {
      auto rs = netlink::read_table(*transport_, netlink::Table{family, name});
      EXPECT_TRUE(rs.ok()) << rs.status().to_string();
      if (rs.ok() && rs->has_value()) out += netlink::print(**rs);
    }
    return out.empty() ? "<no table>" : out;
  }
  std::unique_ptr<NetNs> ns_;
  std::unique_ptr<netlink::Transport> transport_;
  ProxierOptions options_;
};

#define REQUIRE_KERNEL()                                                      \
  KEDGE_REQUIRE(testing::is_root(), "needs root for network namespaces");     \
  KEDGE_REQUIRE(!testing::find_binary("nft").empty(), "needs nft");           \
  ASSERT_TRUE(transport_) << "no netfilter socket in the test namespace"

TEST_F(GoldenTest, FullSyncThenIncrementalChangesThenRestart) {
  REQUIRE_KERNEL();
  auto scenario = base_scenario();
  {
    Proxier p(options_, *transport_);
    p.replace_all(objects(scenario));
    ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
    EXPECT_EQ(p.stats().full_syncs, 1u);
    expect_golden("full_sync.nft", installed());

    // nft itself reads the same tables.
    auto nft = ns_->exec({"nft", "list", "ruleset"});
    ASSERT_EQ(nft.exit_code, 0) << nft.err;
    for (const char* line : {"ip daddr . meta l4proto . th dport vmap @service-ips", "10.43.0.20 . tcp . 80 : goto reject-chain",
                             "update @affinity-", "dnat to 10.42.1.6:8080", "numgen random mod 2 0 goto endpoint-",
                             "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @service-backends",
                             "dnat ip to meta l4proto . th dport . numgen random mod 1 map @nodeport-backends"}) {
      EXPECT_NE(nft.out.find(line), std::string::npos) << "nft list lacks: " << line << "\n" << nft.out;
    }

    // Incremental: scale web up, drop dns, give empty an endpoint.
    scenario[1] = slice_json("web", "web-1", {"10.42.1.5@node-a", "10.42.2.7@node-b", "10.42.3.3@node-b"}, 8080);
    scenario.erase(scenario.begin() + 2, scenario.begin() + 4);
    scenario.push_back(slice_json("empty", "empty-1", {"10.42.1.8@node-a"}, 80));
    p.replace_all(objects(scenario));
    ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
    EXPECT_EQ(p.stats().full_syncs, 1u) << "the change was not applied incrementally";
    expect_golden("incremental.nft", installed());
  }
  // A new proxy process adopts the table: full sync, same result.
  Proxier restarted(options_, *transport_);
  restarted.replace_all(objects(scenario));
  ASSERT_TRUE(restarted.sync_now().ok()) << restarted.stats().last_error;
  EXPECT_EQ(restarted.stats().full_syncs, 1u);
  expect_golden("incremental.nft", installed());

  // Another shard count: the services move, shards nobody wants go away, in
  // the same full sync.
  for (std::uint32_t shards : {3u, 1u}) {
    ProxierOptions o = options_;
    o.layout.shards = shards;
    Proxier resharded(o, *transport_);
    resharded.replace_all(objects(scenario));
    ASSERT_TRUE(resharded.sync_now().ok()) << resharded.stats().last_error;
    auto tables = ns_->exec({"nft", "list", "tables"});
    std::vector<std::string> got, want = {"table ip kedge-proxy"};
    std::istringstream lines(tables.out);
    for (std::string line; std::getline(lines, line);) got.push_back(line);
    std::sort(got.begin(), got.end());
    for (std::uint32_t i = 0; i < shards; ++i) want.push_back("table ip kedge-proxy-0" + std::to_string(i));
    EXPECT_EQ(got, want);
    const std::string now = installed();
    // web, sticky, local and empty (each by its cluster IP's key).
    for (const char* svc : {"10.43.0.10 . tcp . 80 :", "10.43.0.11 . tcp . 80 :", "10.43.0.12 . tcp . 80 :", "10.43.0.20 . tcp . 80 :"}) {
      EXPECT_NE(now.find(svc), std::string::npos) << svc << " lost when resharding\n" << now;
    }
  }

  ASSERT_TRUE(cleanup(*transport_, "kedge-proxy").ok());
  EXPECT_EQ(installed(), "<no table>");
}

TEST_F(GoldenTest, BadInputNeverHalfProgramsTheKernel) {
  REQUIRE_KERNEL();
  Proxier p(options_, *transport_);
  auto scenario = base_scenario();
  p.replace_all(objects(scenario));
  ASSERT_TRUE(p.sync_now().ok());
  const std::string before = installed();

  // A malformed IP and a port out of range are refused, logged and counted.
  p.update_service(*parse_service(service_json("badip", "10.43.0.999", 80)));
  p.update_service(*parse_service(service_json("badport", "10.43.0.40", 70000)));
  ASSERT_TRUE(p.sync_now().ok());
  EXPECT_EQ(p.stats().invalid_objects, 2u);
  EXPECT_EQ(installed(), before);

  // 100k endpoints for one service: refused as a whole, others untouched.
  std::vector<std::string> eps;
  for (int i = 0; i < 100000; ++i) {
    eps.push_back("10." + std::to_string(64 + i / 62500) + "." + std::to_string((i / 250) % 250) + "." +
                  std::to_string(i % 250 + 1));
  }
  p.update_service(*parse_service(service_json("huge", "10.43.0.41", 80)));
  p.update_slice(*parse_endpoint_slice(slice_json("huge", "huge-1", eps, 80)));
  ASSERT_TRUE(p.sync_now().ok());
  EXPECT_EQ(p.stats().invalid_objects, 3u);
  EXPECT_NE(p.stats().last_error.find("100000 endpoints exceed the limit"), std::string::npos) << p.stats().last_error;
  EXPECT_EQ(installed(), before);

  // Drift: someone added a chain to our table that jumps to a chain the
  // next partial sync deletes. The kernel refuses that batch as a whole
  // (logged, counted, nothing changes); the next sync is full, removes the
  // intruder and applies the change.
  // sticky (session affinity) has chains of its own.
  const std::string sticky_chain = "service-LBIPX4XU-default/sticky/tcp/http";
  const std::string sticky_table = shard_table(options_.layout, shard_of("default/sticky", options_.layout.shards));
  ASSERT_NE(before.find("chain " + sticky_chain + " {"), std::string::npos) << before;
  ASSERT_EQ(ns_->exec({"nft", "add chain ip " + sticky_table + " intruder"}).exit_code, 0);
  auto add = ns_->exec({"nft", "add rule ip " + sticky_table + " intruder goto " + sticky_chain});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string drifted = installed();
  p.delete_service("default", "sticky");
  Status st = p.sync_now();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(sticky_chain), std::string::npos) << st.message();
  EXPECT_EQ(p.stats().sync_failures, 1u);
  EXPECT_EQ(installed(), drifted) << "a failed batch changed the kernel";
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  const std::string repaired = installed();
  EXPECT_EQ(repaired.find("intruder"), std::string::npos);
  EXPECT_EQ(repaired.find("default/sticky"), std::string::npos);
  EXPECT_EQ(repaired.find("10.43.0.11 "), std::string::npos) << "sticky's map elements went with it";
}

// Hairpin pairs (endpoint . endpoint) are shared by every service with that
// endpoint: removing one service keeps the pair for the other, incrementally.
TEST_F(GoldenTest, SharedEndpointKeepsItsHairpinPairUntilTheLastServiceGoes) {
  REQUIRE_KERNEL();
  Proxier p(options_, *transport_);
  p.replace_all(objects({service_json("a", "10.43.0.70", 80), slice_json("a", "a-1", {"10.42.7.7"}, 8080),
                         service_json("b", "10.43.0.71", 80), slice_json("b", "b-1", {"10.42.7.7"}, 8080)}));
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  const std::string pair = "10.42.7.7 . 10.42.7.7";
  EXPECT_NE(installed().find(pair), std::string::npos) << installed();
  // A third user arrives and the first leaves, in one partial sync.
  p.update_service(*parse_service(service_json("c", "10.43.0.72", 80)));
  p.update_slice(*parse_endpoint_slice(slice_json("c", "c-1", {"10.42.7.7"}, 8080)));
  p.delete_service("default", "a");
  p.delete_slice("default", "a-1");
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  EXPECT_NE(installed().find(pair), std::string::npos) << "b and c still DNAT to 10.42.7.7";
  p.delete_service("default", "b");
  p.delete_slice("default", "b-1");
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  EXPECT_NE(installed().find(pair), std::string::npos) << "c still DNATs to 10.42.7.7";
  p.delete_service("default", "c");
  p.delete_slice("default", "c-1");
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  EXPECT_EQ(installed().find(pair), std::string::npos) << installed();
  EXPECT_EQ(p.stats().full_syncs, 1u) << "the changes were not applied incrementally";
}

// IPv6: the same layout in table ip6 kedge-proxy, keys of 16-byte addresses,
// NodePorts on the node's IPv6 address, a dual-stack service programmed with
// its IPv6 cluster IP only, IPv4 slices left out.
TEST_F(GoldenTest, Ipv6FullSync) {
  REQUIRE_KERNEL();
  options_.families = {netlink::Family::kIp6};
  options_.layout.node_ips = {"192.168.1.10", "fd00:1::10", "::1"};
  const std::string svc = R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web6","namespace":"default"},
    "spec":{"type":"NodePort","clusterIP":"fd00:43::10","clusterIPs":["fd00:43::10","10.43.0.60"],
            "ipFamilies":["IPv6","IPv4"],"ports":[{"name":"http","protocol":"TCP","port":80,"nodePort":30090}]}})";
  const std::string slice6 = R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"web6-v6","namespace":"default","labels":{"kubernetes.io/service-name":"web6"}},
    "addressType":"IPv6","endpoints":[{"addresses":["fd00:42:1::5"],"conditions":{"ready":true},"nodeName":"node-a"},
                                      {"addresses":["fd00:42:2::7"],"conditions":{"ready":true},"nodeName":"node-b"}],
    "ports":[{"name":"http","protocol":"TCP","port":8080}]})";
  const std::string slice4 = slice_json("web6", "web6-v4", {"10.42.1.60@node-a"}, 8080);
  const std::string empty = R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"empty6","namespace":"default"},
    "spec":{"type":"ClusterIP","clusterIP":"fd00:43::20","clusterIPs":["fd00:43::20"],"ipFamilies":["IPv6"],
            "ports":[{"name":"dns","protocol":"UDP","port":53}]}})";
  Proxier p(options_, *transport_);
  p.replace_all(objects({svc, slice6, slice4, empty}));
  ASSERT_TRUE(p.sync_now().ok()) << p.stats().last_error;
  const std::string printed = installed(netlink::Family::kIp6);
  expect_golden("ip6_full_sync.nft", printed);
  EXPECT_EQ(printed.find("10.42.1.60"), std::string::npos) << "IPv4 endpoints stay out of the ip6 tables";
  auto nft = ns_->exec({"nft", "list", "ruleset", "ip6"});
  ASSERT_EQ(nft.exit_code, 0) << nft.err;
  for (const char* line : {"fd00:43::10 . tcp . 80 . 0x00000001 : fd00:42:2::7 . 8080", "fd00:43::20 . udp . 53 : goto reject-chain",
                           "fd00:1::10", "dnat ip6 to ip6 daddr . meta l4proto . th dport . numgen random mod 2 map @service-backends"}) {
    EXPECT_NE(nft.out.find(line), std::string::npos) << "nft list lacks: " << line << "\n" << nft.out;
  }
}

}  // namespace
}  // namespace kedge::proxy

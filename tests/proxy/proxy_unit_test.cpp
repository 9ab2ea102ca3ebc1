// Unit tests of the proxy without a kernel: parsing, validation, the
// desired ruleset, change tracking and what a partial sync sends.
#include <gtest/gtest.h>

#include "../netlink/fake_transport.h"
#include "kedge/netlink/printer.h"
#include "kedge/proxy/packed.h"
#include "kedge/proxy/proxier.h"
#include "kedge/proxy/status_server.h"
#include "kedge/proxy/ruleset.h"
#include "kedge/proxy/syncer.h"
#include "scenario.h"

namespace kedge::proxy {
namespace {

using testing::service_json;
using testing::slice_json;

TEST(Parse, ServiceAndSliceFromKubernetesJson) {
  auto svc = parse_service(service_json("web", "10.43.0.10", 80,
                                        R"(,"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}},"externalTrafficPolicy":"Local")",
                                        "UDP", 30080, "NodePort"));
  ASSERT_TRUE(svc.ok()) << svc.status().to_string();
  EXPECT_EQ(key_of(*svc), "default/web");
  EXPECT_EQ(svc->type, ServiceType::kNodePort);
  ASSERT_EQ(svc->ports.size(), 1u);
  EXPECT_EQ(svc->ports[0].protocol, Protocol::kUdp);
  EXPECT_EQ(svc->ports[0].node_port, 30080);
  EXPECT_TRUE(svc->affinity_client_ip);
  EXPECT_EQ(svc->affinity_timeout_seconds, 60);
  EXPECT_EQ(svc->external_traffic_policy, TrafficPolicy::kLocal);
  auto sl = parse_endpoint_slice(slice_json("web", "web-abc", {"10.42.1.5@node-a", "10.42.2.7!"}, 8080));
  ASSERT_TRUE(sl.ok()) << sl.status().to_string();
  EXPECT_EQ(sl->service_name, "web");
  ASSERT_EQ(sl->endpoints.size(), 2u);
  EXPECT_FALSE(sl->endpoints[1].conditions.ready);
  EXPECT_EQ(sl->endpoints[0].node_name, "node-a");
  auto list = parse_objects(R"({"kind":"List","items":[)" + service_json("a", "10.43.0.1", 80) + "," +
                            slice_json("a", "a-1", {"10.42.0.9"}, 80) + "]}");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->services.size(), 1u);
  EXPECT_EQ(list->slices.size(), 1u);
  EXPECT_FALSE(parse_objects("{not json").ok());
}

// The Proxier keeps objects packed (kedge/proxy/packed.h); every field must
// come back as it went in, including values off the defaults and widths
// validate() would refuse.
TEST(Packed, EveryFieldRoundTrips) {
  Service svc{.namespace_name = "ns",
              .name = "web",
              .type = ServiceType::kLoadBalancer,
              .cluster_ips = {"10.43.0.10", "fd00::10"},
              .ports = {{.name = "http", .protocol = Protocol::kSctp, .port = 70000, .node_port = -3},
                        {.name = "", .protocol = Protocol::kUdp, .port = 53, .node_port = 30053}},
              .external_ips = {"192.0.2.1"},
              .load_balancer_ips = {"198.51.100.7", "198.51.100.8"},
              .affinity_client_ip = true,
              .affinity_timeout_seconds = 86400,
              .internal_traffic_policy = TrafficPolicy::kLocal,
              .external_traffic_policy = TrafficPolicy::kLocal,
              .ip_families = {IpFamily::kV6, IpFamily::kV4}};
  Service s = packed::unpack_service(packed::pack(svc));
  EXPECT_EQ(packed::pack(s), packed::pack(svc));
  EXPECT_EQ(s.namespace_name, "ns");
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.type, ServiceType::kLoadBalancer);
  EXPECT_EQ(s.cluster_ips, svc.cluster_ips);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].name, "http");
  EXPECT_EQ(s.ports[0].protocol, Protocol::kSctp);
  EXPECT_EQ(s.ports[0].port, 70000);
  EXPECT_EQ(s.ports[0].node_port, -3);
  EXPECT_EQ(s.ports[1].node_port, 30053);
  EXPECT_EQ(s.external_ips, svc.external_ips);
  EXPECT_EQ(s.load_balancer_ips, svc.load_balancer_ips);
  EXPECT_TRUE(s.affinity_client_ip);
  EXPECT_EQ(s.affinity_timeout_seconds, 86400);
  EXPECT_EQ(s.internal_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s.external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(s.ip_families, svc.ip_families);

  EndpointSlice slice{.namespace_name = "ns",
                      .name = "web-abcde",
                      .service_name = "web",
                      .address_type = AddressType::kIPv6,
                      .endpoints = {{.addresses = {"fd00::1"},
                                     .conditions = {.ready = false, .serving = true, .terminating = true},
                                     .node_name = "node-a",
                                     .zone = "z1"},
                                    {.addresses = {"fd00::2", "fd00::3"}, .conditions = {}, .node_name = "", .zone = ""}},
                      .ports = {{.name = "http", .protocol = Protocol::kTcp, .port = 8080}}};
  const std::string data = packed::pack(slice);
  EXPECT_EQ(packed::slice_service_key(data), "ns/web");
  EndpointSlice e = packed::unpack_slice(data);
  EXPECT_EQ(packed::pack(e), data);
  EXPECT_EQ(e.name, "web-abcde");
  EXPECT_EQ(e.service_name, "web");
  EXPECT_EQ(e.address_type, AddressType::kIPv6);
  ASSERT_EQ(e.endpoints.size(), 2u);
  EXPECT_EQ(e.endpoints[0].addresses, slice.endpoints[0].addresses);
  EXPECT_FALSE(e.endpoints[0].conditions.ready);
  EXPECT_TRUE(e.endpoints[0].conditions.serving);
  EXPECT_TRUE(e.endpoints[0].conditions.terminating);
  EXPECT_EQ(e.endpoints[0].node_name, "node-a");
  EXPECT_EQ(e.endpoints[0].zone, "z1");
  EXPECT_TRUE(e.endpoints[1].conditions.ready);
  EXPECT_EQ(e.endpoints[1].addresses.size(), 2u);
  ASSERT_EQ(e.ports.size(), 1u);
  EXPECT_EQ(e.ports[0].port, 8080);
}

TEST(PairCounts, CountsUsersPerKeyAndForgetsAtZero) {
  PairCounts c;
  const netlink::Bytes a = {10, 0, 0, 1, 10, 0, 0, 1}, b = {10, 0, 0, 2, 10, 0, 0, 2}, odd = {1, 2};
  c.assign({{b, 2}});
  EXPECT_EQ(c.add(a, +1), 1u);  // inserted before b: order kept
  EXPECT_EQ(c.add(a, +1), 2u);
  EXPECT_EQ(c.add(b, -1), 1u);
  EXPECT_EQ(c.add(b, -1), 0u);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.add(b, -1), 0u);  // unknown: nothing to forget
  EXPECT_EQ(c.add(odd, +1), 1u);  // another length still counts
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.add(a, -1), 1u);
  EXPECT_EQ(c.add(a, -1), 0u);
  EXPECT_EQ(c.add(odd, -1), 0u);
  EXPECT_EQ(c.size(), 0u);
}

TEST(Validate, NamesTheObjectAndField) {
  auto bad_ip = parse_service(service_json("web", "10.43.0.300", 80));
  ASSERT_TRUE(bad_ip.ok());
  Status st = validate(*bad_ip);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "Service default/web: spec.clusterIPs[0]: \"10.43.0.300\" is not an IP address");
  auto bad_port = parse_service(service_json("web", "10.43.0.3", 70000));
  ASSERT_TRUE(bad_port.ok());
  EXPECT_EQ(validate(*bad_port).message(), "Service default/web: spec.ports[0].port: 70000 is out of range 1..65535");
  auto bad_ep = parse_endpoint_slice(slice_json("web", "w", {"fd00::1"}, 80));
  EXPECT_NE(validate(*bad_ep).message().find("does not match addressType"), std::string::npos);
}

TEST(ChangeTracker, KeepsFirstBeforeAndLastAfter) {
  ChangeTracker<int> t;
  std::map<std::string, int> cur{{"a", 1}};
  t.update("a", 1, 2);
  t.update("a", 2, 3);
  t.update("b", std::nullopt, 7);
  t.update("b", 7, std::nullopt);
  EXPECT_EQ(t.size(), 2u);
  t.drain([&](const std::string& key, std::optional<int>&& after) {
    if (after) cur[key] = *after;
    else cur.erase(key);
  });
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(cur, (std::map<std::string, int>{{"a", 3}}));
}

ProxyState state_of(const std::vector<std::string>& jsons) {
  ProxyState st;
  for (const auto& j : jsons) {
    auto o = parse_objects(j);
    for (auto& s : o->services) st.services[key_of(s)] = s;
    for (auto& s : o->slices) st.slices[key_of(s)] = s;
  }
  return st;
}

std::string print_all(const std::vector<netlink::Ruleset>& tables) {
  std::string out;
  for (const auto& t : tables) out += netlink::print(t);
  return out;
}

TEST(Ruleset, ServiceWithoutEndpointsIsRejectedNotBlackholed) {
  LayoutOptions o;
  auto built = build_ruleset(state_of({service_json("empty", "10.43.0.20", 80)}), o, netlink::Family::kIp);
  std::string text = print_all(built.tables);
  EXPECT_NE(text.find("10.43.0.20 . tcp . 80 : goto reject-chain"), std::string::npos) << text;
  EXPECT_EQ(text.find("default/empty"), std::string::npos) << "no service chain without endpoints\n" << text;
}

TEST(Ruleset, TooManyEndpointsSkipsTheServiceOnly) {
  LayoutOptions o;
  o.max_endpoints_per_service = 100;
  std::vector<std::string> many;
  for (int i = 0; i < 101; ++i) many.push_back("10.42." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1));
  auto built = build_ruleset(state_of({service_json("big", "10.43.0.30", 80), slice_json("big", "big-1", many, 80),
                                       service_json("ok", "10.43.0.31", 80), slice_json("ok", "ok-1", {"10.42.9.9"}, 80)}),
                             o, netlink::Family::kIp);
  ASSERT_EQ(built.skipped.size(), 1u);
  EXPECT_NE(built.skipped[0].message().find("101 endpoints exceed the limit of 100"), std::string::npos);
  std::string text = print_all(built.tables);
  EXPECT_EQ(text.find("10.43.0.30"), std::string::npos);
  EXPECT_NE(text.find("10.43.0.31 . tcp . 80"), std::string::npos);
}

TEST(Plan, EndpointChangeSendsOnlyTheDifference) {
  LayoutOptions o;
  auto before = build_ruleset(state_of({service_json("web", "10.43.0.10", 80),
                                        slice_json("web", "web-1", {"10.42.1.5", "10.42.2.7"}, 8080)}),
                              o, netlink::Family::kIp);
  auto after = build_ruleset(state_of({service_json("web", "10.43.0.10", 80),
                                       slice_json("web", "web-1", {"10.42.1.5", "10.42.2.7", "10.42.3.9"}, 8080)}),
                             o, netlink::Family::kIp);
  ASSERT_EQ(before.tables.size(), 9u);  // main + 8 shards
  netlink::Batch b;
  for (std::size_t i = 0; i < before.tables.size(); ++i) plan_partial(before.tables[i], after.tables[i], b);
  // Set elements only, no chain or rule: the cluster IP's service-ips
  // element now goes to cluster-03 (one delete, one add), the new endpoint
  // is index 2 in service-backends, and its hairpin pair is new.
  std::vector<std::string> what;
  for (std::size_t i = 0; i < b.size(); ++i) what.push_back(b.describe(i));
  for (const auto& w : what) {
    EXPECT_NE(w.find(" elements "), std::string::npos) << w;
    EXPECT_EQ(w.find("service-backends (elements 0..1)"), std::string::npos) << "kept endpoints were resent: " << w;
  }
  EXPECT_EQ(b.size(), 4u);
  netlink::Batch none;
  for (const auto& t : after.tables) plan_partial(t, t, none);
  EXPECT_TRUE(none.empty());
}

// /metrics: Prometheus text with a cumulative histogram and the last error
// as an escaped label.
TEST(Metrics, RenderedAsPrometheusText) {
  ProxierStats st;
  st.syncs = 3;
  st.sync_duration_buckets = {0, 1, 1, 2, 2, 2, 3, 3, 3, 3};
  st.sync_duration_sum_seconds = 0.0625;
  st.rules = 42;
  st.conntrack_deleted = 2;
  st.last_sync_ok = true;
  st.last_error = "Service a/b: \"bad\"\nport";
  const std::string m = render_metrics(st);
  EXPECT_NE(m.find("# TYPE kedge_proxy_sync_duration_seconds histogram\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_sync_duration_seconds_bucket{le=\"0.001\"} 0\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_sync_duration_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_sync_duration_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_sync_duration_seconds_sum 0.0625\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_syncs_total 3\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_rules 42\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_conntrack_deleted_total 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kedge_proxy_last_error{error=\"Service a/b: \\\"bad\\\"\\nport\"} 1\n"), std::string::npos) << m;
}

// A service's share holds only its own chains and elements plus the empty
// shared maps, so a delta between two shares never touches other services.
TEST(Ruleset, ServiceShareIsItsPartOfTheWhole) {
  LayoutOptions o;
  o.cluster_cidr = "10.42.0.0/16";
  o.node_name = "n";  // the endpoints run here: they get hairpin pairs
  auto svc = parse_service(service_json("web", "10.43.0.10", 80));
  auto sl = parse_endpoint_slice(slice_json("web", "web-1", {"10.42.1.5@n", "10.42.2.7@n"}, 8080));
  ASSERT_TRUE(svc.ok() && sl.ok());
  auto share = build_service("default/web", &*svc, {&*sl}, o, netlink::Family::kIp);
  auto none = build_service("default/web", nullptr, {}, o, netlink::Family::kIp);
  ASSERT_EQ(share.tables.size(), 2u);  // main, the service's shard
  const std::string shard = shard_table(o, shard_of("default/web", o.shards));
  EXPECT_EQ(share.tables[1].table.name, shard);
  EXPECT_EQ(size_of(none.tables).chains, 0u);
  EXPECT_EQ(none.tables[0].sets.size(), 5u);  // main: no-endpoint maps, cluster-ips, nodeport-ips, hairpin
  // shard: service-ips, service-nodeports, nodeport-ips, service-backends, nodeport-backends
  EXPECT_EQ(none.tables[1].sets.size(), 5u);
  EXPECT_EQ(size_of(none.tables).elements, 0u);
  EXPECT_EQ(size_of(share.tables[0]).chains, 0u) << "no service chain in the main table";
  EXPECT_EQ(size_of(share.tables[1]).chains, 0u) << "2 endpoints: the shared cluster-02 chain balances them";
  EXPECT_EQ(size_of(share.tables[0]).elements, 3u);  // cluster IP, 2 hairpin pairs
  EXPECT_EQ(size_of(share.tables[1]).elements, 3u);  // service-ips → cluster-02, 2 backends
  EXPECT_NE(print_all(share.tables).find("10.43.0.10 . tcp . 80 : goto cluster-02"), std::string::npos)
      << print_all(share.tables);
  EXPECT_NE(print_all(share.tables).find("10.43.0.10 . tcp . 80 . 0x00000001 : 10.42.2.7 . 8080"), std::string::npos);
  ProxyState st;
  st.services["default/web"] = *svc;
  st.slices["default/web-1"] = *sl;
  auto whole = build_ruleset(st, o, netlink::Family::kIp);
  const netlink::Ruleset* whole_shard = nullptr;
  for (const auto& t : whole.tables) {
    if (t.table.name == shard) whole_shard = &t;
  }
  ASSERT_NE(whole_shard, nullptr);
  for (const auto& c : share.tables[1].chains) {
    const auto* w = whole_shard->find_chain(c.name);
    ASSERT_NE(w, nullptr) << c.name;
    EXPECT_EQ(w->rules, c.rules) << c.name;
  }
  EXPECT_EQ(size_of(whole.tables).elements, size_of(share.tables).elements);
}

// Services spread over the shard tables; each shard hooks nat itself and
// holds only its services' map elements; the main table holds no service
// chain.
TEST(Ruleset, ServicesAreShardedOverTables) {
  LayoutOptions o;
  o.shards = 4;
  std::vector<std::string> objs;
  for (int i = 0; i < 40; ++i) {
    const std::string n = "svc" + std::to_string(i);
    objs.push_back(service_json(n, "10.43.1." + std::to_string(i + 1), 80));
    objs.push_back(slice_json(n, n + "-1", {"10.42.1." + std::to_string(i + 1)}, 8080));
  }
  auto built = build_ruleset(state_of(objs), o, netlink::Family::kIp);
  ASSERT_EQ(built.tables.size(), 5u);
  EXPECT_EQ(built.tables[0].table.name, "kedge-proxy");
  EXPECT_EQ(built.tables[0].find_chain("nat-prerouting"), nullptr);
  EXPECT_NE(built.tables[0].find_chain("filter-forward"), nullptr);
  std::size_t service_keys = 0;
  for (std::uint32_t i = 0; i < 4; ++i) {
    const auto& t = built.tables[1 + i];
    EXPECT_EQ(t.table.name, "kedge-proxy-0" + std::to_string(i));
    EXPECT_NE(t.find_chain("nat-prerouting"), nullptr);
    EXPECT_NE(t.find_chain("nat-output"), nullptr);
    EXPECT_EQ(t.find_chain("filter-input"), nullptr);
    std::size_t here = 0;
    const auto* ips = t.find_set("service-ips");
    ASSERT_NE(ips, nullptr);
    for (const auto& e : ips->elements) {
      ++here;
      // 10.43.1.(N+1) is svcN's cluster IP → that service's shard.
      const std::string key = "default/svc" + std::to_string(e.key[3] - 1);
      EXPECT_EQ(shard_of(key, 4), i) << key;
    }
    EXPECT_GT(here, 0u) << "40 services all hashed away from shard " << i;
    service_keys += here;
  }
  EXPECT_EQ(service_keys, 40u);
  EXPECT_TRUE(is_layout_table("kedge-proxy", "kedge-proxy"));
  EXPECT_TRUE(is_layout_table("kedge-proxy", "kedge-proxy-07"));
  EXPECT_TRUE(is_layout_table("kedge-proxy", "kedge-proxy-123"));
  EXPECT_FALSE(is_layout_table("kedge-proxy", "kedge-proxy-x1"));
  EXPECT_FALSE(is_layout_table("kedge-proxy", "kedge-proxy-"));
  EXPECT_FALSE(is_layout_table("kedge-proxy", "kedge-proxyfoo"));
  EXPECT_FALSE(is_layout_table("kedge-proxy", "filter"));
}

}  // namespace
}  // namespace kedge::proxy

#include "kedge/proxy/ruleset.h"

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

namespace kedge::proxy {
namespace {

using netlink::Chain;
using netlink::Element;
using netlink::Expr;
using netlink::Family;
using netlink::Rule;
using netlink::Set;
namespace nl = netlink;

// ---- the layout, as data ----
constexpr const char* kServices = "services";
constexpr const char* kServiceEndpointsCheck = "service-endpoints-check";
constexpr const char* kNodeportEndpointsCheck = "nodeport-endpoints-check";
constexpr const char* kClusterIpsCheck = "cluster-ips-check";
constexpr const char* kMarkForMasquerade = "mark-for-masquerade";
constexpr const char* kMasquerading = "masquerading";
constexpr const char* kRejectChain = "reject-chain";
constexpr const char* kDropChain = "drop-chain";

constexpr const char* kServiceIps = "service-ips";
constexpr const char* kServiceNodeports = "service-nodeports";
constexpr const char* kNoEndpointServices = "no-endpoint-services";
constexpr const char* kNoEndpointNodeports = "no-endpoint-nodeports";
constexpr const char* kClusterIps = "cluster-ips";
constexpr const char* kNodeportIps = "nodeport-ips";
constexpr const char* kHairpin = "hairpin-endpoints";
constexpr const char* kBackends = "service-backends";
constexpr const char* kNodeportBackends = "nodeport-backends";

// The shared balancing chains, one of each kind per endpoint count N. Only
// the dnat kinds look the backends maps up: every rule that uses a map with
// data makes the kernel check each of its elements against that rule (when
// the rule is added, and for each element added later), so the other kinds
// share them with a goto.
enum class Balancing {
  kDnat,          // DNAT to endpoint `numgen mod N` of (daddr . proto . dport)
  kCluster,       // cluster IPs: masquerade off-cluster sources → dnat
  kExternal,      // external/LB IPs, externalTrafficPolicy Cluster: masquerade → dnat
                  // (policy Local: dnat directly, the client address kept)
  kNodeportDnat,  // DNAT to endpoint `numgen mod N` of (proto . node port)
  kNodeport,      // node ports, policy Cluster: masquerade → nodeport-dnat (Local: directly)
};
constexpr std::array kBalancingKinds = {Balancing::kDnat, Balancing::kCluster, Balancing::kExternal,
                                        Balancing::kNodeportDnat, Balancing::kNodeport};

std::string balancing_chain(Balancing kind, std::size_t endpoints) {
  static constexpr const char* kPrefix[] = {"dnat", "cluster", "external", "nodeport-dnat", "nodeport"};
  char name[48];
  std::snprintf(name, sizeof name, "%s-%02zu", kPrefix[static_cast<int>(kind)], endpoints);
  return name;
}

// Which table an object lives in: the main table (filtering, rejecting,
// masquerading: nothing per service but set elements) or every shard table
// (DNAT: the per-service chains, reached from the shard's own nat base
// chains through its own service-ips map).
enum class Where { kMain, kShard };

struct BaseChainSpec {
  const char* name;
  const char* type;
  std::uint32_t hook;
  std::int32_t priority;
  Where where;
};
// Filter chains run just before (-110) or after (-90) DNAT (-100). Every
// shard hooks nat prerouting/output at -100: the kernel runs the nat chains
// of a hook one after the other until one of them sets up a DNAT, and a
// service's key is in one shard's map only.
constexpr std::array kBaseChains = {
    BaseChainSpec{"filter-input", "filter", NF_INET_LOCAL_IN, -110, Where::kMain},
    BaseChainSpec{"filter-forward", "filter", NF_INET_FORWARD, -110, Where::kMain},
    BaseChainSpec{"filter-output", "filter", NF_INET_LOCAL_OUT, -110, Where::kMain},
    BaseChainSpec{"filter-output-post-dnat", "filter", NF_INET_LOCAL_OUT, -90, Where::kMain},
    BaseChainSpec{"nat-prerouting", "nat", NF_INET_PRE_ROUTING, -100, Where::kShard},
    BaseChainSpec{"nat-output", "nat", NF_INET_LOCAL_OUT, -100, Where::kShard},
    BaseChainSpec{"nat-postrouting", "nat", NF_INET_POST_ROUTING, 100, Where::kMain},
};

struct JumpSpec {
  const char* from;
  bool ct_new;  // only for the first packet of a connection
  const char* to;
};
constexpr std::array kJumps = {
    JumpSpec{"filter-input", true, kNodeportEndpointsCheck},
    JumpSpec{"filter-input", true, kServiceEndpointsCheck},
    JumpSpec{"filter-forward", true, kServiceEndpointsCheck},
    JumpSpec{"filter-forward", true, kClusterIpsCheck},
    JumpSpec{"filter-output", true, kServiceEndpointsCheck},
    JumpSpec{"filter-output-post-dnat", true, kClusterIpsCheck},
    JumpSpec{"nat-prerouting", false, kServices},
    JumpSpec{"nat-output", false, kServices},
    JumpSpec{"nat-postrouting", false, kMasquerading},
};

enum class KeyKind { kAddrProtoPort, kProtoPort, kAddr, kAddrAddr, kAddrProtoPortIndex, kProtoPortIndex };
struct MapSpec {
  const char* name;
  KeyKind key;
  bool verdict_map;
  Where where;
};
// nodeport-ips is in both: sets cannot be shared across tables.
constexpr std::array kMaps = {
    MapSpec{kServiceIps, KeyKind::kAddrProtoPort, true, Where::kShard},
    MapSpec{kServiceNodeports, KeyKind::kProtoPort, true, Where::kShard},
    MapSpec{kNodeportIps, KeyKind::kAddr, false, Where::kShard},
    MapSpec{kNoEndpointServices, KeyKind::kAddrProtoPort, true, Where::kMain},
    MapSpec{kNoEndpointNodeports, KeyKind::kProtoPort, true, Where::kMain},
    MapSpec{kClusterIps, KeyKind::kAddr, false, Where::kMain},
    MapSpec{kNodeportIps, KeyKind::kAddr, false, Where::kMain},
    MapSpec{kHairpin, KeyKind::kAddrAddr, false, Where::kMain},
    // Data maps: (service key . endpoint index) → endpoint address . port.
    MapSpec{kBackends, KeyKind::kAddrProtoPortIndex, false, Where::kShard},
    MapSpec{kNodeportBackends, KeyKind::kProtoPortIndex, false, Where::kShard},
};

std::uint32_t addr_type(Family f) { return f == Family::kIp6 ? nl::type::kIpv6Addr : nl::type::kIpv4Addr; }
std::uint32_t addr_len(Family f) { return f == Family::kIp6 ? 16 : 4; }

Set make_set(const MapSpec& m, Family f) {
  Set s;
  s.name = m.name;
  switch (m.key) {
    case KeyKind::kAddrProtoPort:
      s.key_type = nl::type::concat({addr_type(f), nl::type::kInetProto, nl::type::kInetService});
      s.key_len = addr_len(f) + 8;
      break;
    case KeyKind::kProtoPort:
      s.key_type = nl::type::concat({nl::type::kInetProto, nl::type::kInetService});
      s.key_len = 8;
      break;
    case KeyKind::kAddr:
      s.key_type = addr_type(f);
      s.key_len = addr_len(f);
      break;
    case KeyKind::kAddrAddr:
      s.key_type = nl::type::concat({addr_type(f), addr_type(f)});
      s.key_len = addr_len(f) * 2;
      break;
    case KeyKind::kAddrProtoPortIndex:
      s.key_type = nl::type::concat({addr_type(f), nl::type::kInetProto, nl::type::kInetService, nl::type::kMark});
      s.key_len = addr_len(f) + 12;
      break;
    case KeyKind::kProtoPortIndex:
      s.key_type = nl::type::concat({nl::type::kInetProto, nl::type::kInetService, nl::type::kMark});
      s.key_len = 12;
      break;
  }
  if (m.verdict_map) {
    s.flags = NFT_SET_MAP;
    s.data_type = NFT_DATA_VERDICT;
  } else if (m.key == KeyKind::kAddrProtoPortIndex || m.key == KeyKind::kProtoPortIndex) {
    s.flags = NFT_SET_MAP;
    s.data_type = nl::type::concat({addr_type(f), nl::type::kInetService});
    s.data_len = addr_len(f) + 4;
  }
  return s;
}

// Map keys and data, built in place (each field padded to 4 bytes): a full
// sync at 10k services builds ~100k of them.
void append_proto_port(nl::ElementBytes& k, Protocol p, std::int64_t port) {
  const std::uint8_t tail[8] = {protocol_number(p), 0, 0, 0, static_cast<std::uint8_t>(port >> 8),
                                static_cast<std::uint8_t>(port), 0, 0};
  k.append(tail, sizeof tail);
}
// addr . proto . port
nl::ElementBytes service_key(const nl::Bytes& addr, Protocol p, std::int64_t port) {
  nl::ElementBytes k(addr);
  append_proto_port(k, p, port);
  return k;
}
// proto . node port
nl::ElementBytes nodeport_key(Protocol p, std::int64_t port) {
  nl::ElementBytes k;
  append_proto_port(k, p, port);
  return k;
}

// Upstream-style chain names: a short stable hash keeps names unique while
// the readable suffix says what the chain is for.
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hashed(const std::string& prefix, const std::string& what) {
  const std::uint64_t h = fnv1a(what);
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string tag;
  for (int i = 0; i < 8; ++i) tag += kAlphabet[(h >> (i * 5)) & 31];
  return prefix + "-" + tag + "-" + what;
}

std::vector<Expr> ct_new() { return nl::ct_state_is(NF_CT_STATE_BIT(IP_CT_NEW)); }

// The 32-bit register `index` (0 = the start of register 1) as the kernel
// reports it back: one at a 16-byte boundary reads back as that register.
std::uint32_t reg_at(std::uint32_t index) { return index % 4 == 0 ? nl::kReg1 + index / 4 : nl::reg32(index); }

// `dnat to <service key> . numgen random mod n map @service-backends` (or,
// for node ports, `meta l4proto . th dport . numgen … map
// @nodeport-backends`): the map's data is the endpoint's address and port,
// which land in consecutive registers where the NAT expression reads them.
std::vector<Expr> dnat_by_map(Family f, bool nodeport, std::uint32_t n) {
  const std::uint32_t addr_regs = addr_len(f) / 4;
  std::vector<Expr> e;
  e.reserve(6);
  std::uint32_t next = 0;
  if (!nodeport) {
    e.emplace_back(nl::ip_daddr(f, nl::kReg1));
    next = addr_regs;
  }
  e.emplace_back(nl::meta_l4proto(reg_at(next)));
  e.emplace_back(nl::th_dport(reg_at(next + 1)));
  e.emplace_back(nl::Numgen{reg_at(next + 2), n, NFT_NG_RANDOM, 0});
  e.emplace_back(nl::Lookup{nl::kReg1, nodeport ? kNodeportBackends : kBackends, nl::kReg1, false, std::nullopt});
  e.emplace_back(nl::Nat{NFT_NAT_DNAT, f, nl::kReg1, reg_at(addr_regs), 0});
  return e;
}

Rule rule(std::vector<Expr> exprs, std::string comment = {}) { return Rule{std::move(exprs), std::move(comment)}; }

// Fixed content of the main table or of a shard table: everything that
// does not depend on services.
void add_static(nl::Ruleset& rs, const LayoutOptions& o, Family f, Where where) {
  for (const auto& b : kBaseChains) {
    if (b.where == where) rs.chains.push_back(Chain{b.name, nl::BaseHook{b.hook, b.priority, b.type, NF_ACCEPT}, {}});
  }
  for (const auto& j : kJumps) {
    auto it = std::find_if(rs.chains.begin(), rs.chains.end(), [&](const Chain& c) { return c.name == j.from; });
    if (it == rs.chains.end()) continue;  // a base chain of the other kind of table
    std::vector<Expr> e = j.ct_new ? ct_new() : std::vector<Expr>{};
    e.push_back(nl::verdict(nl::jump(j.to)));
    it->rules.push_back(rule(std::move(e)));
  }
  for (const auto& m : kMaps) {
    if (m.where == where) rs.sets.push_back(make_set(m, f));
  }

  auto concat_lookup = [&](const char* map) {
    return std::vector<Expr>{nl::ip_daddr(f, nl::kReg1), nl::meta_l4proto(nl::reg32(f == Family::kIp6 ? 4 : 1)),
                             nl::th_dport(nl::reg32(f == Family::kIp6 ? 5 : 2)),
                             nl::Lookup{nl::kReg1, map, nl::kRegVerdict, false, std::nullopt}};
  };
  auto nodeport_lookup = [&](const char* map) {
    return std::vector<Expr>{nl::ip_daddr(f), nl::Lookup{nl::kReg1, kNodeportIps, std::nullopt, false, std::nullopt},
                             nl::meta_l4proto(nl::kReg1), nl::th_dport(nl::reg32(1)),
                             nl::Lookup{nl::kReg1, map, nl::kRegVerdict, false, std::nullopt}};
  };
  const std::uint32_t mark = o.masquerade_mark;
  if (where == Where::kShard) {
    rs.chains.push_back(
        Chain{kServices, std::nullopt, {rule(concat_lookup(kServiceIps)), rule(nodeport_lookup(kServiceNodeports))}});
    rs.chains.push_back(Chain{kMarkForMasquerade, std::nullopt,
                              {rule({nl::Meta{NFT_META_MARK, nl::kReg1},
                                     nl::Bitwise{nl::kReg1, nl::kReg1, nl::host32(~mark), nl::host32(mark)},
                                     nl::MetaSet{NFT_META_MARK, nl::kReg1}})}});
    rs.chains.push_back(Chain{kDropChain, std::nullopt, {rule({nl::verdict(nl::drop())})}});
    std::optional<nl::Cidr> cluster_cidr;
    if (!o.cluster_cidr.empty()) {
      auto cidr = nl::parse_cidr(o.cluster_cidr);
      if (cidr.ok() && cidr->address.size() == addr_len(f)) cluster_cidr = std::move(*cidr);
    }
    for (Balancing kind : kBalancingKinds) {
      for (std::uint32_t n = 1; n <= o.shared_balancing_max; ++n) {
        Chain c{balancing_chain(kind, n), std::nullopt, {}};
        switch (kind) {
          case Balancing::kDnat:
          case Balancing::kNodeportDnat:
            c.rules.push_back(rule(dnat_by_map(f, kind == Balancing::kNodeportDnat, n)));
            break;
          case Balancing::kCluster:
            if (cluster_cidr) {
              auto e = nl::match_prefix(nl::ip_saddr(f), *cluster_cidr, true);
              e.push_back(nl::verdict(nl::jump(kMarkForMasquerade)));
              c.rules.push_back(rule(std::move(e)));
            }
            c.rules.push_back(rule({nl::verdict(nl::go_to(balancing_chain(Balancing::kDnat, n)))}));
            break;
          case Balancing::kExternal:
          case Balancing::kNodeport:
            c.rules.push_back(rule({nl::verdict(nl::jump(kMarkForMasquerade))}));
            c.rules.push_back(rule({nl::verdict(nl::go_to(
                balancing_chain(kind == Balancing::kExternal ? Balancing::kDnat : Balancing::kNodeportDnat, n)))}));
            break;
        }
        rs.chains.push_back(std::move(c));
      }
    }
  } else {
    rs.chains.push_back(Chain{kServiceEndpointsCheck, std::nullopt, {rule(concat_lookup(kNoEndpointServices))}});
    rs.chains.push_back(Chain{kNodeportEndpointsCheck, std::nullopt, {rule(nodeport_lookup(kNoEndpointNodeports))}});
    rs.chains.push_back(
        Chain{kClusterIpsCheck, std::nullopt,
              {rule({nl::ip_daddr(f), nl::Lookup{nl::kReg1, kClusterIps, std::nullopt, false, std::nullopt},
                     nl::Reject{NFT_REJECT_ICMP_UNREACH, static_cast<std::uint8_t>(f == Family::kIp6 ? 4 : 3)}},
                    "reject traffic to unknown ports of cluster IPs")}});
    rs.chains.push_back(Chain{kMasquerading, std::nullopt,
                              {rule({nl::ip_saddr(f, nl::kReg1), nl::ip_daddr(f, nl::reg32(f == Family::kIp6 ? 4 : 1)),
                                     nl::Lookup{nl::kReg1, kHairpin, std::nullopt, false, std::nullopt},
                                     nl::Masquerade{NF_NAT_RANGE_PROTO_RANDOM_FULLY}},
                                    "hairpin: an endpoint reached itself through a service"),
                               rule({nl::Meta{NFT_META_MARK, nl::kReg1},
                                     nl::Bitwise{nl::kReg1, nl::kReg1, nl::host32(mark), nl::host32(0)},
                                     nl::cmp_eq(nl::host32(0)), nl::verdict(nl::return_verdict())}),
                               rule({nl::Meta{NFT_META_MARK, nl::kReg1},
                                     nl::Bitwise{nl::kReg1, nl::kReg1, nl::host32(0xffffffffu), nl::host32(mark)},
                                     nl::MetaSet{NFT_META_MARK, nl::kReg1}}),
                               rule({nl::Masquerade{NF_NAT_RANGE_PROTO_RANDOM_FULLY}})}});
    // TCP gets a reset: measured here, an ICMP port-unreachable for a
    // forwarded SYN did not always reach the client, a RST always did.
    rs.chains.push_back(
        Chain{kRejectChain, std::nullopt,
              {rule({nl::meta_l4proto(), nl::cmp_eq({IPPROTO_TCP}), nl::Reject{NFT_REJECT_TCP_RST, 0}}),
               rule({nl::Reject{NFT_REJECT_ICMP_UNREACH, static_cast<std::uint8_t>(f == Family::kIp6 ? 4 : 3)}})}});
  }
  for (const auto& ip : o.node_ips) {
    auto b = nl::parse_ip(ip);
    if (!b.ok() || b->size() != addr_len(f)) continue;
    if ((f == Family::kIp && (*b)[0] == 127) || (f == Family::kIp6 && ip == "::1")) continue;
    std::find_if(rs.sets.begin(), rs.sets.end(), [](const Set& s) { return s.name == kNodeportIps; })
        ->elements.push_back(Element{*b, {}, {}, 0, 0});
  }
}

// One endpoint of a service port, its address inline (a 10k-service build
// sees ~50k of them).
struct Backend {
  std::uint8_t ip[16];
  std::uint8_t ip_len;
  const std::string* ip_text;  // in the slice, which outlives the build
  std::int64_t port;
  bool local;
  bool maybe_local;  // local, or its slice does not say where it runs
  nl::Bytes ip_bytes() const { return nl::Bytes(ip, ip + ip_len); }
  bool loopback() const {
    static constexpr std::uint8_t kIpv6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return ip_len == 4 ? ip[0] == 127 : std::memcmp(ip, kIpv6Loopback, 16) == 0;
  }
  friend bool operator<(const Backend& a, const Backend& b) {
    const int c = std::memcmp(a.ip, b.ip, 16);
    return c != 0 ? c < 0 : a.port < b.port;
  }
  friend bool operator==(const Backend& a, const Backend& b) {
    return std::memcmp(a.ip, b.ip, 16) == 0 && a.port == b.port;
  }
};

Set& find_set(nl::Ruleset& rs, const char* name) {
  return *std::find_if(rs.sets.begin(), rs.sets.end(), [&](const Set& s) { return s.name == name; });
}

// Where the balancing rules send a connection to one endpoint.
struct Target {
  nl::Bytes ip;
  std::int64_t port = 0;
  std::string chain;     // services with affinity: the endpoint's chain; else "" (DNAT inline)
  std::string affinity;  // its affinity set (with `chain`)
};

// The verdict part of a rule that picks `t`: a goto to its chain, or the
// DNAT itself. Inlining the DNAT saves a chain per endpoint, and chains are
// what every commit costs: the kernel walks every chain of every table at
// each commit (nf_tables_commit → nf_tables_commit_chain), so 50k endpoint
// chains made a one-service change cost ~10 ms however the tables are split.
// Appends in place: a full sync builds ~60k of these rules at 10k services,
// and copying expressions (each comparison owns its bytes) was most of the
// builder's mallocs.
void send_to(std::vector<Expr>& e, const Target& t, Protocol p, Family f) {
  if (!t.chain.empty()) {
    e.emplace_back(nl::verdict(nl::go_to(t.chain)));
    return;
  }
  e.emplace_back(nl::meta_l4proto());
  e.emplace_back(nl::cmp_eq({protocol_number(p)}));
  e.emplace_back(nl::load(t.ip, nl::kReg1));
  e.emplace_back(nl::load(nl::be16(static_cast<std::uint16_t>(t.port)), nl::kReg2));
  e.emplace_back(nl::Nat{NFT_NAT_DNAT, f, nl::kReg1, nl::kReg2, 0});
}

// Load-balances over `eps`: affinity first, then numgen.
void add_balancing(std::vector<Rule>& rules, const std::vector<Target>& eps, bool affinity, Protocol p, Family f) {
  if (affinity) {
    for (const auto& t : eps) {
      rules.push_back(rule({nl::ip_saddr(f), nl::Lookup{nl::kReg1, t.affinity, std::nullopt, false, std::nullopt},
                            nl::verdict(nl::go_to(t.chain))}));
    }
  }
  // Endpoint i is taken with probability 1/(N-i) among those not taken
  // before it, which makes every endpoint equally likely (iptables mode's
  // `statistic --probability` ladder). Upstream's nftables mode uses one
  // anonymous `numgen … vmap` per service instead; we measured that layout
  // to make the kernel's commit quadratic: every jump/goto it validates
  // walks the table's whole list of sets (nf_tables_check_loops), so 10k
  // anonymous vmaps × 50k endpoint gotos took minutes. Without them the
  // table holds a handful of sets and the commit stays linear.
  rules.reserve(rules.size() + eps.size());
  for (std::size_t i = 0; i < eps.size(); ++i) {
    std::vector<Expr> e;
    if (i + 1 < eps.size()) {
      e.emplace_back(nl::Numgen{nl::kReg1, static_cast<std::uint32_t>(eps.size() - i), NFT_NG_RANDOM, 0});
      e.emplace_back(nl::cmp_eq(nl::host32(0)));
    }
    send_to(e, eps[i], p, f);
    rules.push_back(Rule{std::move(e), {}});
  }
}

// Where a service's share goes: its set elements in the main table, its
// chains and map elements in its shard. The shared sets are found once, and
// kept by index: affinity sets are appended to the shard's sets as services
// are added, which moves them.
struct Tables {
  Tables(nl::Ruleset& main_table, nl::Ruleset& shard_table) : main(main_table), shard(shard_table) {}
  nl::Ruleset& main;
  nl::Ruleset& shard;
  Set& cluster_ips() { return main.sets[cluster_ips_]; }
  Set& hairpin() { return main.sets[hairpin_]; }
  Set& no_endpoint_services() { return main.sets[no_endpoint_services_]; }
  Set& no_endpoint_nodeports() { return main.sets[no_endpoint_nodeports_]; }
  Set& service_ips() { return shard.sets[service_ips_]; }
  Set& service_nodeports() { return shard.sets[service_nodeports_]; }
  Set& backends() { return shard.sets[backends_]; }
  Set& nodeport_backends() { return shard.sets[nodeport_backends_]; }

 private:
  static std::size_t index_of(const nl::Ruleset& rs, const char* name) {
    return static_cast<std::size_t>(
        std::find_if(rs.sets.begin(), rs.sets.end(), [&](const Set& s) { return s.name == name; }) - rs.sets.begin());
  }
  std::size_t cluster_ips_ = index_of(main, kClusterIps);
  std::size_t hairpin_ = index_of(main, kHairpin);
  std::size_t no_endpoint_services_ = index_of(main, kNoEndpointServices);
  std::size_t no_endpoint_nodeports_ = index_of(main, kNoEndpointNodeports);
  std::size_t service_ips_ = index_of(shard, kServiceIps);
  std::size_t service_nodeports_ = index_of(shard, kServiceNodeports);
  std::size_t backends_ = index_of(shard, kBackends);
  std::size_t nodeport_backends_ = index_of(shard, kNodeportBackends);
};

// A service's map elements that send it through the shared balancing chains:
// its keys in service-ips / service-nodeports go to the chain for its
// endpoint count (drop-chain if a Local policy leaves none), and endpoint i
// is the data of (key . i) in the backends maps.
void add_shared_balancing(Tables& t, const Service& svc, const ServicePort& sp, const std::vector<nl::Bytes>& cluster_ips,
                          const std::vector<nl::Bytes>& external_ips, bool has_nodeport,
                          const std::vector<const Backend*>& all, const std::vector<const Backend*>& local) {
  auto add_backends = [](Set& map, const nl::ElementBytes& key, const std::vector<const Backend*>& list) {
    for (std::uint32_t i = 0; i < list.size(); ++i) {
      Element& e = map.elements.emplace_back();
      e.key = key;
      e.key.append(reinterpret_cast<const std::uint8_t*>(&i), sizeof i);  // numgen's value: host order
      e.data.assign(list[i]->ip, list[i]->ip_len);
      const std::uint8_t port[4] = {static_cast<std::uint8_t>(list[i]->port >> 8),
                                    static_cast<std::uint8_t>(list[i]->port), 0, 0};
      e.data.append(port, sizeof port);
    }
  };
  auto to = [](Balancing kind, const std::vector<const Backend*>& list) {
    return nl::go_to(list.empty() ? std::string(kDropChain) : balancing_chain(kind, list.size()));
  };
  const bool external_local = svc.external_traffic_policy == TrafficPolicy::kLocal;
  const auto& cluster_eps = svc.internal_traffic_policy == TrafficPolicy::kLocal ? local : all;
  const auto& external_eps = external_local ? local : all;
  for (const auto& ip : cluster_ips) {
    auto key = service_key(ip, sp.protocol, sp.port);
    add_backends(t.backends(), key, cluster_eps);
    t.service_ips().elements.push_back(Element{key, {}, to(Balancing::kCluster, cluster_eps), 0, 0});
  }
  for (const auto& ip : external_ips) {
    auto key = service_key(ip, sp.protocol, sp.port);
    add_backends(t.backends(), key, external_eps);
    t.service_ips().elements.push_back(
        Element{key, {}, to(external_local ? Balancing::kDnat : Balancing::kExternal, external_eps), 0, 0});
  }
  if (has_nodeport) {
    auto key = nodeport_key(sp.protocol, sp.node_port);
    add_backends(t.nodeport_backends(), key, external_eps);
    t.service_nodeports().elements.push_back(
        Element{key, {}, to(external_local ? Balancing::kNodeportDnat : Balancing::kNodeport, external_eps), 0, 0});
  }
}

void add_service_port(Tables& t, BuildResult& out, const Service& svc, const ServicePort& sp,
                      const std::vector<const EndpointSlice*>& slices, const LayoutOptions& o, Family f) {
  const std::string what = key_of(svc) + "/" + std::string(protocol_name(sp.protocol)) + "/" +
                           (sp.name.empty() ? std::to_string(sp.port) : sp.name);
  // Endpoints: ready ones; serving-terminating ones only if none is ready.
  std::vector<Backend> ready, terminating;
  const auto want_type = f == Family::kIp6 ? AddressType::kIPv6 : AddressType::kIPv4;
  for (const auto* sl : slices) {
    if (sl->address_type != want_type) continue;
    const EndpointPort* port = nullptr;
    for (const auto& p : sl->ports) {
      if (p.name == sp.name && p.protocol == sp.protocol) port = &p;
    }
    if (port == nullptr) continue;
    ready.reserve(ready.size() + sl->endpoints.size());
    for (const auto& ep : sl->endpoints) {
      if (ep.addresses.empty()) continue;
      Backend b{};
      b.ip_len = static_cast<std::uint8_t>(nl::parse_ip(ep.addresses[0], b.ip));  // validate() checked it
      b.ip_text = &ep.addresses[0];
      b.port = port->port;
      b.local = ep.node_name == o.node_name;
      b.maybe_local = b.local || ep.node_name.empty();
      if (ep.conditions.ready) ready.push_back(b);
      else if (ep.conditions.serving && ep.conditions.terminating) terminating.push_back(b);
    }
  }
  std::vector<Backend>& all = ready.empty() ? terminating : ready;
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.size() > o.max_endpoints_per_service) {
    out.skipped.push_back(resource_exhausted("Service " + key_of(svc) + " port " + what + ": " +
                                             std::to_string(all.size()) + " endpoints exceed the limit of " +
                                             std::to_string(o.max_endpoints_per_service)));
    return;
  }
  std::vector<nl::Bytes> cluster_ips, external_ips;
  for (const auto& ip : svc.cluster_ips) {
    auto b = nl::parse_ip(ip);
    if (b.ok() && b->size() == addr_len(f)) cluster_ips.push_back(*b);
  }
  for (const auto* list : {&svc.external_ips, &svc.load_balancer_ips}) {
    for (const auto& ip : *list) {
      auto b = nl::parse_ip(ip);
      if (b.ok() && b->size() == addr_len(f)) external_ips.push_back(*b);
    }
  }
  const bool has_nodeport = sp.node_port != 0 && svc.type != ServiceType::kClusterIP;
  if (cluster_ips.empty() && external_ips.empty() && !has_nodeport) return;

  if (sp.protocol == Protocol::kUdp) {
    std::vector<nl::Bytes> eps;
    for (const auto& b : all) eps.push_back(b.ip_bytes());
    for (const auto* list : {&cluster_ips, &external_ips}) {
      for (const auto& ip : *list) out.udp.push_back(UdpDestination{ip, static_cast<std::uint16_t>(sp.port), eps});
    }
    if (has_nodeport) {
      for (const auto& ip : o.node_ips) {
        auto b = nl::parse_ip(ip);
        if (b.ok() && b->size() == addr_len(f)) {
          out.udp.push_back(UdpDestination{*b, static_cast<std::uint16_t>(sp.node_port), eps});
        }
      }
    }
  }

  for (const auto& ip : cluster_ips) t.cluster_ips().elements.push_back(Element{ip, {}, {}, 0, 0});

  // Hairpin (an endpoint reaching itself through the service) is
  // masqueraded in postrouting, where saddr == daddr tells it apart: one
  // element per endpoint in the main table instead of a rule per endpoint.
  // Only endpoints on this node can be a connection's source here (a node
  // runs ~100 pods, a cluster tens of thousands of endpoints); those whose
  // node is unknown are kept, to be safe. Never a loopback address (the
  // `kubernetes` Service's endpoint with --bind-address 127.0.0.1): its pair
  // would masquerade every connection on lo, and the proxy's own
  // connections to the API with them.
  for (const auto& b : all) {
    if (!b.maybe_local || b.loopback()) continue;
    Element& pair = t.hairpin().elements.emplace_back();
    pair.key.assign(b.ip, b.ip_len);
    pair.key.append(b.ip, b.ip_len);
  }

  if (all.empty()) {
    // No endpoints at all: reject at once (filter hooks), never black-hole.
    for (const auto* list : {&cluster_ips, &external_ips}) {
      for (const auto& ip : *list) {
        t.no_endpoint_services().elements.push_back(
            Element{service_key(ip, sp.protocol, sp.port), {}, nl::go_to(kRejectChain), 0, 0});
      }
    }
    if (has_nodeport) {
      t.no_endpoint_nodeports().elements.push_back(
          Element{nodeport_key(sp.protocol, sp.node_port), {}, nl::go_to(kRejectChain), 0, 0});
    }
    return;
  }

  if (!svc.affinity_client_ip && all.size() <= o.shared_balancing_max) {
    std::vector<const Backend*> every, local;
    every.reserve(all.size());
    for (const auto& b : all) {
      every.push_back(&b);
      if (b.local) local.push_back(&b);
    }
    add_shared_balancing(t, svc, sp, cluster_ips, external_ips, has_nodeport, every, local);
    return;
  }

  // Chains of its own. Endpoint chains only with session affinity (the
  // affinity set update needs a rule of its own); else the balancing rules
  // DNAT directly.
  std::vector<Target> eps, local_eps;
  eps.reserve(all.size());
  for (const auto& b : all) {
    Target target{b.ip_bytes(), b.port, {}, {}};
    if (svc.affinity_client_ip) {
      std::string ep_what = what + "__" + *b.ip_text + "/" + std::to_string(b.port);
      target.chain = hashed("endpoint", ep_what);
      target.affinity = hashed("affinity", ep_what);
      Set s;
      s.name = target.affinity;
      s.flags = NFT_SET_TIMEOUT | NFT_SET_EVAL;
      s.key_type = addr_type(f);
      s.key_len = addr_len(f);
      s.timeout_ms = static_cast<std::uint64_t>(svc.affinity_timeout_seconds) * 1000;
      s.size = 65535;
      t.shard.sets.push_back(std::move(s));
      Chain c{target.chain, std::nullopt, {}};
      c.rules.push_back(rule({nl::ip_saddr(f), nl::Dynset{NFT_DYNSET_OP_UPDATE, nl::kReg1, target.affinity, 0}}));
      std::vector<Expr> dnat;
      send_to(dnat, Target{b.ip_bytes(), b.port, {}, {}}, sp.protocol, f);
      c.rules.push_back(Rule{std::move(dnat), {}});
      t.shard.chains.push_back(std::move(c));
    }
    if (b.local) local_eps.push_back(target);
    eps.push_back(std::move(target));
  }

  const auto& cluster_eps = svc.internal_traffic_policy == TrafficPolicy::kLocal ? local_eps : eps;
  const auto& external_eps = svc.external_traffic_policy == TrafficPolicy::kLocal ? local_eps : eps;
  auto to = [](const std::string& chain) { return nl::go_to(chain); };

  // Service (cluster traffic) chain.
  const std::string svc_chain = hashed("service", what);
  const std::string ext_chain = hashed("external", what);
  const bool has_external = !external_ips.empty() || has_nodeport;
  Chain sc{svc_chain, std::nullopt, {}};
  if (!o.cluster_cidr.empty()) {
    auto cidr = nl::parse_cidr(o.cluster_cidr);
    if (cidr.ok() && cidr->address.size() == addr_len(f)) {
      for (const auto& ip : cluster_ips) {
        std::vector<Expr> e{nl::ip_daddr(f), nl::cmp_eq(ip), nl::meta_l4proto(), nl::cmp_eq({protocol_number(sp.protocol)}),
                            nl::th_dport(), nl::cmp_eq(nl::be16(static_cast<std::uint16_t>(sp.port)))};
        auto pre = nl::match_prefix(nl::ip_saddr(f), *cidr, true);
        e.insert(e.end(), pre.begin(), pre.end());
        e.push_back(nl::verdict(nl::jump(kMarkForMasquerade)));
        sc.rules.push_back(rule(std::move(e)));
      }
    }
  }
  if (cluster_eps.empty()) sc.rules.push_back(rule({nl::verdict(nl::drop())}, "no local endpoints"));
  else add_balancing(sc.rules, cluster_eps, svc.affinity_client_ip, sp.protocol, f);
  t.shard.chains.push_back(std::move(sc));
  for (const auto& ip : cluster_ips) {
    t.service_ips().elements.push_back(Element{service_key(ip, sp.protocol, sp.port), {}, to(svc_chain), 0, 0});
  }

  if (!has_external) return;
  // External (NodePort, external and load-balancer IPs) chain.
  Chain ec{ext_chain, std::nullopt, {}};
  if (svc.external_traffic_policy == TrafficPolicy::kLocal) {
    // Keep the client's address: no masquerade, local endpoints only.
    if (external_eps.empty()) ec.rules.push_back(rule({nl::verdict(nl::go_to(kDropChain))}, "no local endpoints"));
    else add_balancing(ec.rules, external_eps, svc.affinity_client_ip, sp.protocol, f);
  } else {
    ec.rules.push_back(rule({nl::verdict(nl::jump(kMarkForMasquerade))}, "masquerade external traffic"));
    // Every endpoint, as the shared chains do: internalTrafficPolicy
    // restricts cluster traffic only.
    if (svc.internal_traffic_policy == TrafficPolicy::kLocal) add_balancing(ec.rules, eps, svc.affinity_client_ip, sp.protocol, f);
    else ec.rules.push_back(rule({nl::verdict(nl::go_to(svc_chain))}));
  }
  t.shard.chains.push_back(std::move(ec));
  for (const auto& ip : external_ips) {
    t.service_ips().elements.push_back(Element{service_key(ip, sp.protocol, sp.port), {}, to(ext_chain), 0, 0});
  }
  if (has_nodeport) {
    t.service_nodeports().elements.push_back(Element{nodeport_key(sp.protocol, sp.node_port), {}, to(ext_chain), 0, 0});
  }
}

}  // namespace

namespace {

// Several ports of one service share cluster IPs, several services an
// endpoint (hairpin pairs), and two broken services may claim one key: each
// key goes to the kernel once, the first one built (services in key order)
// wins. Elements keep the order they were built in (the kernel and our
// reader do not care; sorting ~100k elements cost more than building them);
// chains and sets are sorted by name.
void canonicalize(nl::Ruleset& rs) {
  std::vector<std::uint32_t> slots;
  for (auto& s : rs.sets) {
    auto& els = s.elements;
    if (els.size() < 2) continue;
    // Open addressing over element indices (no per-key allocation).
    std::size_t cap = 4;
    while (cap < els.size() * 2) cap *= 2;
    constexpr std::uint32_t kEmpty = ~0u;
    slots.assign(cap, kEmpty);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < els.size(); ++i) {
      const auto& key = els[i].key;
      std::size_t h = std::hash<std::string_view>{}(
                          std::string_view(reinterpret_cast<const char*>(key.data()), key.size())) & (cap - 1);
      bool seen = false;
      for (; slots[h] != kEmpty; h = (h + 1) & (cap - 1)) {
        if (els[slots[h]].key == key) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      if (kept != i) els[kept] = std::move(els[i]);
      slots[h] = static_cast<std::uint32_t>(kept++);
    }
    els.resize(kept);
  }
  std::sort(rs.chains.begin(), rs.chains.end(), [](const Chain& a, const Chain& b) { return a.name < b.name; });
  std::sort(rs.sets.begin(), rs.sets.end(), [](const Set& a, const Set& b) { return a.name < b.name; });
}

void add_service(Tables& t, BuildResult& out, const Service& svc, const std::vector<const EndpointSlice*>& slices,
                 const LayoutOptions& o, Family f) {
  if (svc.type == ServiceType::kExternalName) return;
  for (const auto& sp : svc.ports) add_service_port(t, out, svc, sp, slices, o, f);
}

nl::Ruleset empty_table(Family f, std::string name) {
  nl::Ruleset rs;
  rs.table = nl::Table{f, std::move(name)};
  return rs;
}

}  // namespace

std::uint32_t shard_of(const std::string& service_key, std::uint32_t shards) {
  return shards <= 1 ? 0 : static_cast<std::uint32_t>(fnv1a(service_key) % shards);
}

std::string shard_table(const LayoutOptions& o, std::uint32_t shard) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "-%02u", shard);
  return o.table + suffix;
}

bool is_layout_table(const std::string& main_table, const std::string& name) {
  if (name == main_table) return true;
  if (name.size() < main_table.size() + 2 || name.compare(0, main_table.size(), main_table) != 0 ||
      name[main_table.size()] != '-') {
    return false;
  }
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(main_table.size()) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

BuildResult build_ruleset_streamed(const ProxyState& state, const LayoutOptions& o, Family f,
                                   const std::function<void(netlink::Ruleset&&)>& shard_done) {
  BuildResult out;
  out.tables.push_back(empty_table(f, o.table));
  nl::Ruleset& main = out.tables.front();
  add_static(main, o, f, Where::kMain);
  std::map<std::string, std::vector<const EndpointSlice*>> by_service;
  for (const auto& [key, sl] : state.slices) by_service[sl.namespace_name + "/" + sl.service_name].push_back(&sl);
  const std::uint32_t shards = std::max<std::uint32_t>(o.shards, 1);
  // Each shard's services with their slices, looked up once.
  static const std::vector<const EndpointSlice*> kNone;
  struct Input {
    const Service* service;
    const std::vector<const EndpointSlice*>* slices;
  };
  std::vector<std::vector<Input>> per_shard(shards);
  for (const auto& [key, svc] : state.services) {
    auto it = by_service.find(key);
    per_shard[shard_of(key, shards)].push_back(Input{&svc, it == by_service.end() ? &kNone : &it->second});
  }
  // Room for the large maps' elements up front: at 10k services they hold
  // ~70k, and growing their vectors step by step copied them several times
  // and faulted in fresh pages for each copy.
  find_set(main, kClusterIps).elements.reserve(state.services.size());
  for (std::uint32_t i = 0; i < shards; ++i) {
    nl::Ruleset shard = empty_table(f, shard_table(o, i));
    add_static(shard, o, f, Where::kShard);
    std::size_t keys = 0, backends = 0;
    for (const auto& [svc, slices] : per_shard[i]) {
      const std::size_t addresses = svc->cluster_ips.size() + svc->external_ips.size() + svc->load_balancer_ips.size();
      std::size_t endpoints = 0;
      for (const auto* sl : *slices) endpoints += sl->endpoints.size();
      keys += svc->ports.size() * addresses;
      backends += svc->ports.size() * addresses * std::min<std::size_t>(endpoints, o.shared_balancing_max);
    }
    find_set(shard, kServiceIps).elements.reserve(keys);
    find_set(shard, kBackends).elements.reserve(backends);
    Tables t{main, shard};
    auto& hairpin = find_set(main, kHairpin).elements;
    for (const auto& [svc, slices] : per_shard[i]) {
      const std::size_t had = hairpin.size();
      add_service(t, out, *svc, *slices, o, f);
      std::vector<const nl::ElementBytes*> mine;  // this service's pairs, once each
      for (std::size_t e = had; e < hairpin.size(); ++e) mine.push_back(&hairpin[e].key);
      std::sort(mine.begin(), mine.end(), [](const nl::ElementBytes* a, const nl::ElementBytes* b) { return *a < *b; });
      for (std::size_t e = 0; e < mine.size(); ++e) {
        if (e == 0 || *mine[e] != *mine[e - 1]) ++out.hairpin_users[*mine[e]];
      }
    }
    canonicalize(shard);
    shard_done(std::move(shard));
  }
  canonicalize(main);
  return out;
}

BuildResult build_ruleset(const ProxyState& state, const LayoutOptions& o, Family f) {
  std::vector<nl::Ruleset> shards;
  BuildResult out = build_ruleset_streamed(state, o, f, [&](nl::Ruleset&& rs) { shards.push_back(std::move(rs)); });
  for (auto& rs : shards) out.tables.push_back(std::move(rs));
  return out;
}

BuildResult build_service(const std::string& key, const Service* svc, const std::vector<const EndpointSlice*>& slices,
                          const LayoutOptions& o, Family f) {
  BuildResult out;
  out.tables.push_back(empty_table(f, o.table));
  out.tables.push_back(empty_table(f, shard_table(o, shard_of(key, std::max<std::uint32_t>(o.shards, 1)))));
  // The shared maps are always present (empty but for this service's
  // elements), so a delta never creates or deletes them.
  for (const auto& m : kMaps) out.tables[m.where == Where::kMain ? 0 : 1].sets.push_back(make_set(m, f));
  Tables t{out.tables[0], out.tables[1]};
  if (svc != nullptr) add_service(t, out, *svc, slices, o, f);
  for (auto& rs : out.tables) canonicalize(rs);
  return out;
}

RulesetSize size_of(const nl::Ruleset& rs) {
  RulesetSize n;
  n.chains = rs.chains.size();
  for (const auto& c : rs.chains) n.rules += c.rules.size();
  for (const auto& s : rs.sets) n.elements += s.elements.size();
  return n;
}

RulesetSize size_of(const std::vector<netlink::Ruleset>& tables) {
  RulesetSize n;
  for (const auto& rs : tables) n += size_of(rs);
  return n;
}

}  // namespace kedge::proxy

// The desired nftables ruleset for a set of Services and EndpointSlices,
// built as a plain value (netlink::Ruleset). The chain layout follows
// upstream kube-proxy's nftables mode and is declared as data in ruleset.cpp
// (kBaseChains, kJumps, kMaps): see proxy/README.md. Services are spread
// over `shards` tables next to the main one, so that the kernel's per-commit
// validation of a table (which walks every chain reachable from its base
// chains) costs a change what one shard holds, not the whole ruleset.
//
// Thread-safety: pure functions.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kedge/netlink/model.h"
#include "kedge/proxy/types.h"

namespace kedge::proxy {

struct LayoutOptions {
  std::string table = "kedge-proxy";  // the main table; shards are "<table>-NN"
  std::uint32_t shards = 8;           // shard tables for the services' map elements and chains (>= 1)
  std::string node_name;                 // for internal/externalTrafficPolicy Local
  std::vector<std::string> node_ips;     // NodePort listens on these (never 127.0.0.1)
  std::string cluster_cidr;              // off-cluster sources to cluster IPs get masqueraded; "" = never
  std::uint32_t masquerade_mark = 0x4000;
  std::size_t max_endpoints_per_service = 10000;
  // Services with up to this many endpoints (and no session affinity) get no
  // chain of their own: their map elements send them to a shared balancing
  // chain for their endpoint count, whose one DNAT rule picks the endpoint by
  // looking `daddr . proto . dport . numgen random mod N` up in a data map.
  // Chains and rules are what a commit costs the kernel, set elements far
  // less (proxy/README.md). Larger services keep a chain of their own.
  std::uint32_t shared_balancing_max = 16;
};

// Services keyed "ns/name"; slices keyed "ns/slicename".
struct ProxyState {
  std::map<std::string, Service> services;
  std::map<std::string, EndpointSlice> slices;
};

// A UDP destination a service port answers on (cluster/external IP or node
// address + node port) and the endpoints it is balanced over (empty: the
// traffic is rejected). Comparing them before/after a change tells which
// conntrack entries went stale.
struct UdpDestination {
  netlink::Bytes address;
  std::uint16_t port = 0;
  std::vector<netlink::Bytes> endpoints;
};

// The main table's set of hairpin pairs (endpoint . endpoint): an element
// belongs to every service with that endpoint, so shares overlap there.
inline constexpr const char* kHairpinSet = "hairpin-endpoints";

struct BuildResult {
  // The main table first, then shard tables (build_ruleset: all of them, in
  // shard order; build_service: the service's shard).
  std::vector<netlink::Ruleset> tables;
  std::vector<UdpDestination> udp;
  // Services left out, with why (too many endpoints, ...): logged and counted.
  std::vector<Status> skipped;
  // build_ruleset*: how many services have each element of kHairpinSet.
  std::map<netlink::ElementBytes, std::uint32_t> hairpin_users;
};

// The shard holding a service's chains (a stable hash of "ns/name").
std::uint32_t shard_of(const std::string& service_key, std::uint32_t shards);
std::string shard_table(const LayoutOptions& options, std::uint32_t shard);
// Whether `name` is the main table or a shard of it, for any shard count
// (cleanup, and stale shards after the count changed).
bool is_layout_table(const std::string& main_table, const std::string& name);

// REQUIRES: every object in `state` passed validate().
BuildResult build_ruleset(const ProxyState& state, const LayoutOptions& options, netlink::Family family);
// The same, handing each shard table to `shard_done` as soon as it is built
// (a full sync encodes it and drops it); the result holds the main table
// only. The whole ruleset never exists as one value.
BuildResult build_ruleset_streamed(const ProxyState& state, const LayoutOptions& options, netlink::Family family,
                                   const std::function<void(netlink::Ruleset&&)>& shard_done);

// One service's share of the ruleset: tables[0] its elements of the main
// table's sets, tables[1] its shard's part (its chains, affinity sets, its
// elements of the shard's maps); the shared map definitions are always
// included. build_ruleset() is the fixed chains plus every service's share.
// A change to one service is plan_partial(old share, new share) per table —
// the cost of a change does not grow with the number of services.
// `service` nullptr = absent (only the shared map definitions); `key` is
// "ns/name" either way (it picks the shard).
BuildResult build_service(const std::string& key, const Service* service,
                          const std::vector<const EndpointSlice*>& slices, const LayoutOptions& options,
                          netlink::Family family);

struct RulesetSize {
  std::size_t chains = 0;
  std::size_t rules = 0;
  std::size_t elements = 0;
  RulesetSize& operator+=(const RulesetSize& o) {
    chains += o.chains;
    rules += o.rules;
    elements += o.elements;
    return *this;
  }
};
RulesetSize size_of(const netlink::Ruleset& ruleset);
RulesetSize size_of(const std::vector<netlink::Ruleset>& tables);

}  // namespace kedge::proxy

// The desired nftables ruleset for a set of Services and EndpointSlices,
// built as a plain value (netlink::Ruleset). The chain layout follows
// upstream kube-proxy's nftables mode and is declared as data in ruleset.cpp
// (kBaseChains, kJumps, kMaps): see proxy/README.md.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kedge/netlink/model.h"
#include "kedge/proxy/types.h"

namespace kedge::proxy {

struct LayoutOptions {
  std::string table = "kedge-proxy";
  std::string node_name;                 // for internal/externalTrafficPolicy Local
  std::vector<std::string> node_ips;     // NodePort listens on these (never 127.0.0.1)
  std::string cluster_cidr;              // off-cluster sources to cluster IPs get masqueraded; "" = never
  std::uint32_t masquerade_mark = 0x4000;
  std::size_t max_endpoints_per_service = 10000;
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

struct BuildResult {
  netlink::Ruleset ruleset;
  std::vector<UdpDestination> udp;
  // Services left out, with why (too many endpoints, ...): logged and counted.
  std::vector<Status> skipped;
};

// REQUIRES: every object in `state` passed validate().
BuildResult build_ruleset(const ProxyState& state, const LayoutOptions& options, netlink::Family family);

// One service's share of the ruleset (its chains, affinity sets, and its
// elements of the shared maps, whose definitions are always included):
// build_ruleset() is the fixed chains plus every service's share. A change
// to one service is plan_partial(old share, new share) — the cost of a
// change does not grow with the number of services. `service` nullptr =
// absent (only the shared map definitions).
BuildResult build_service(const Service* service, const std::vector<const EndpointSlice*>& slices,
                          const LayoutOptions& options, netlink::Family family);

struct RulesetSize {
  std::size_t chains = 0;
  std::size_t rules = 0;
  std::size_t elements = 0;
};
RulesetSize size_of(const netlink::Ruleset& ruleset);

}  // namespace kedge::proxy

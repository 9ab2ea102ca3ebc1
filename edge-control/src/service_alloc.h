// ClusterIP and NodePort allocation for Services, safe under concurrent
// creates on any number of API servers: every allocation is a key in the store
// (/registry/kedge/clusterips/<ip>, /registry/kedge/nodeports/<port>) claimed
// in the same transaction that writes the Service, guarded by "key absent".
// Two creates racing for one value: exactly one transaction succeeds; the
// other retries with a fresh pick. Deleting the Service deletes its keys in
// the same transaction.
//
// Thread-safety: stateless apart from the store; callable from any worker.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "kedge/control/api_error.h"
#include "kedge/store/kv.h"

namespace kedge::control {

// Extra compares and operations a registry write carries.
struct TxnExtras {
  std::vector<store::Compare> compares;
  std::vector<store::RequestOp> ops;
};

struct ServiceNetwork {
  std::uint32_t cidr_base = (10u << 24) | (43u << 16);  // 10.43.0.0
  int cidr_bits = 16;
  int node_port_min = 30000;
  int node_port_max = 32767;
};

class ServiceAllocator {
 public:
  ServiceAllocator(store::Store& store, ServiceNetwork network = {});

  // Fills spec.clusterIP(s) and nodePorts of `svc` (old = stored version on
  // update) and adds the claims/releases to `extras`. Blocking (reads the
  // store). Errors: 422 for a value outside the range, already allocated, or
  // changed on update.
  ApiStatus allocate(const boost::json::object* old, boost::json::object& svc,
                     const std::string& service_key, TxnExtras& extras);
  // Releases everything `svc` holds.
  void release(const boost::json::object& svc, TxnExtras& extras);

  std::string first_ip() const;  // 10.43.0.1, the kubernetes service

 private:
  ApiResult<std::set<std::string>> allocated(const std::string& prefix);
  std::string ip_string(std::uint32_t ip) const;
  bool in_range(const std::string& ip) const;

  store::Store& store_;
  ServiceNetwork net_;
};

inline constexpr std::string_view kClusterIpPrefix = "/registry/kedge/clusterips/";
inline constexpr std::string_view kNodePortPrefix = "/registry/kedge/nodeports/";

}  // namespace kedge::control

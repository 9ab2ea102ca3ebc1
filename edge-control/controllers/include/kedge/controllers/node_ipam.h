// NodeIpamController: upstream's range allocator. Each Node gets
// spec.podCIDR and spec.podCIDRs (one /node_mask_size subnet of the cluster
// CIDR, /24 of 10.42.0.0/16 by default); a deleted node's subnet is free
// again. Restart-safe: the allocation map is rebuilt from the podCIDRs of
// the nodes in the cache before the first allocation, so nothing is handed
// out twice after a restart or a leader change.
//
// Threads: the Controller's workers; the allocation map is guarded by a
// mutex. Ownership: borrows the Transport.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "kedge/controllers/controller.h"

namespace kedge::controllers {

struct NodeIpamOptions {
  WorkQueueOptions queue;
  std::string cluster_cidr = "10.42.0.0/16";  // IPv4
  int node_mask_size = 24;
};

class NodeIpamController final : public Controller {
 public:
  // InvalidArgument from validate() for a CIDR that is not IPv4 a.b.c.d/n
  // with n <= node_mask_size <= 30.
  NodeIpamController(Transport& transport, NodeIpamOptions options = {});
  ~NodeIpamController() override;
  static Status validate(const NodeIpamOptions& options);

  void register_watches();
  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class Handler;
  void rebuild_locked();
  std::string format(std::uint32_t index) const;
  std::optional<std::uint32_t> index_of(std::string_view cidr) const;

  NodeIpamOptions options_;
  std::uint32_t base_ = 0;     // network address of the cluster CIDR
  std::uint32_t subnets_ = 0;  // how many node subnets fit
  std::unique_ptr<client::InformerHandler> handler_;
  std::mutex mu_;
  bool rebuilt_ = false;                           // guarded by mu_
  std::map<std::string, std::uint32_t> by_node_;   // guarded by mu_
  std::set<std::uint32_t> used_;                   // guarded by mu_
  std::uint32_t next_ = 0;                         // guarded by mu_: where the search starts
};

}  // namespace kedge::controllers

// The files kedge writes for its managed containerd: config.toml and the
// CNI network config. Pure functions of their options, so unit tests check
// them byte for byte and a restart rewrites identical files.
//
// Thread-safety: reentrant free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "kedge/base/status.h"

namespace kedge::agent {

struct ContainerdConfig {
  std::filesystem::path root;     // containerd's persistent root (content, snapshots, metadata)
  std::filesystem::path state;    // containerd's runtime state (tasks, sockets)
  std::filesystem::path address;  // the gRPC socket; CRI is served on it too
  std::string sandbox_image;      // the pause image, imported before any pod starts
  // Without CAP_SYS_RESOURCE nothing may lower oom_score_adj: the CRI plugin
  // must clamp it to the agent's own value instead of asking for -998.
  bool restrict_oom_score_adj = false;
  std::string snapshotter = "overlayfs";  // "native" where overlayfs cannot mount
  std::filesystem::path cni_bin_dir = "/usr/lib/cni";
  std::filesystem::path cni_conf_dir;
  std::string log_level = "info";
};

// The containerd 1.6 (config version 2) TOML. Errors on empty paths or a
// value that cannot be written as a TOML basic string.
Result<std::string> render_containerd_config(const ContainerdConfig& config);

struct CniConfig {
  std::string network_name = "kedge";
  std::string bridge = "kedge0";  // at most 15 bytes (IFNAMSIZ - 1)
  std::string pod_cidr;           // IPv4 "a.b.c.d/n", the node's share of the cluster CIDR
  std::filesystem::path ipam_data_dir;  // host-local's allocation records
  std::uint32_t mtu = 0;          // 0 = the plugin's default
};

// A CNI conflist (bridge with isGateway/ipMasq/hairpinMode and host-local
// IPAM on pod_cidr, then portmap for hostPort). Errors name the bad field.
Result<std::string> render_cni_conflist(const CniConfig& config);

// Parses an IPv4 CIDR; errors when malformed or when host bits are set.
struct Ipv4Cidr {
  std::uint32_t network = 0;  // host byte order
  int prefix = 0;
  bool contains(std::uint32_t address) const;
  static Result<Ipv4Cidr> parse(std::string_view text);
  static Result<std::uint32_t> parse_address(std::string_view text);
};

}  // namespace kedge::agent

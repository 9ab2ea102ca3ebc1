#include "kedge/agent/containerd_config.h"

#include <charconv>

#include <boost/json.hpp>

namespace kedge::agent {
namespace {

// A TOML basic string. Paths and image names never need escapes; refusing
// quotes, backslashes and control characters keeps the file unambiguous.
Result<std::string> toml_string(std::string_view field, const std::string& value) {
  for (char c : value) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return invalid_argument("containerd config: " + std::string(field) + " \"" + value +
                              "\" contains a quote, backslash or control character");
    }
  }
  return "\"" + value + "\"";
}

}  // namespace

Result<std::string> render_containerd_config(const ContainerdConfig& c) {
  for (auto [name, path] : {std::pair{"root", &c.root}, {"state", &c.state}, {"address", &c.address},
                            {"cni_bin_dir", &c.cni_bin_dir}, {"cni_conf_dir", &c.cni_conf_dir}}) {
    if (path->empty() || !path->is_absolute()) {
      return invalid_argument(std::string("containerd config: ") + name + " must be an absolute path");
    }
  }
  if (c.sandbox_image.empty()) return invalid_argument("containerd config: sandbox_image is empty");
  if (c.snapshotter != "overlayfs" && c.snapshotter != "native") {
    return invalid_argument("containerd config: snapshotter \"" + c.snapshotter + "\": want overlayfs or native");
  }
  KEDGE_ASSIGN_OR_RETURN(auto root, toml_string("root", c.root.string()));
  KEDGE_ASSIGN_OR_RETURN(auto state, toml_string("state", c.state.string()));
  KEDGE_ASSIGN_OR_RETURN(auto address, toml_string("address", c.address.string()));
  KEDGE_ASSIGN_OR_RETURN(auto ttrpc, toml_string("address", c.address.string() + ".ttrpc"));
  KEDGE_ASSIGN_OR_RETURN(auto opt, toml_string("root", (c.root / "opt").string()));
  KEDGE_ASSIGN_OR_RETURN(auto image, toml_string("sandbox_image", c.sandbox_image));
  KEDGE_ASSIGN_OR_RETURN(auto bin_dir, toml_string("cni_bin_dir", c.cni_bin_dir.string()));
  KEDGE_ASSIGN_OR_RETURN(auto conf_dir, toml_string("cni_conf_dir", c.cni_conf_dir.string()));
  KEDGE_ASSIGN_OR_RETURN(auto level, toml_string("log_level", c.log_level));
  const std::string cri = "[plugins.\"io.containerd.grpc.v1.cri\"";
  std::string out;
  out += "# Written by kedge at every start; edits are overwritten.\n";
  out += "version = 2\n";
  out += "root = " + root + "\n";
  out += "state = " + state + "\n";
  out += "\n[grpc]\n  address = " + address + "\n";
  out += "\n[ttrpc]\n  address = " + ttrpc + "\n";
  out += "\n[debug]\n  level = " + level + "\n";
  // The opt plugin would otherwise install into /opt/containerd.
  out += "\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = " + opt + "\n";
  out += "\n" + cri + "]\n";
  out += "  sandbox_image = " + image + "\n";
  out += std::string("  restrict_oom_score_adj = ") + (c.restrict_oom_score_adj ? "true" : "false") + "\n";
  // Streaming (exec/attach/port-forward) stays on loopback.
  out += "  stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n";
  out += "  enable_selinux = false\n";
  out += "\n" + cri + ".containerd]\n";
  out += "  snapshotter = \"" + c.snapshotter + "\"\n";
  out += "  default_runtime_name = \"runc\"\n";
  out += "\n" + cri + ".containerd.runtimes.runc]\n";
  out += "  runtime_type = \"io.containerd.runc.v2\"\n";
  out += "\n" + cri + ".containerd.runtimes.runc.options]\n";
  // The agent manages cgroups with cgroupfs paths (/kubepods/...), not systemd slices.
  out += "  SystemdCgroup = false\n";
  out += "\n" + cri + ".cni]\n";
  out += "  bin_dir = " + bin_dir + "\n";
  out += "  conf_dir = " + conf_dir + "\n";
  out += "  max_conf_num = 1\n";
  return out;
}

Result<std::uint32_t> Ipv4Cidr::parse_address(std::string_view text) {
  std::uint32_t value = 0;
  int parts = 0;
  while (parts < 4) {
    unsigned octet = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), octet);
    if (ec != std::errc() || end == text.data() || octet > 255 || end - text.data() > 3) break;
    value = (value << 8) | octet;
    ++parts;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    if (parts < 4) {
      if (text.empty() || text.front() != '.') break;
      text.remove_prefix(1);
    }
  }
  if (parts != 4 || !text.empty()) return invalid_argument("not an IPv4 address");
  return value;
}

Result<Ipv4Cidr> Ipv4Cidr::parse(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("pod CIDR \"" + std::string(text) + "\": " + why);
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("want a.b.c.d/n");
  auto address = parse_address(text.substr(0, slash));
  if (!address.ok()) return bad("want a.b.c.d/n");
  int prefix = -1;
  auto p = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (ec != std::errc() || end != p.data() + p.size() || prefix < 8 || prefix > 30) {
    return bad("prefix length must be 8..30");
  }
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
  if ((*address & ~mask) != 0) return bad("host bits are set; did you mean the network address?");
  return Ipv4Cidr{.network = *address, .prefix = prefix};
}

bool Ipv4Cidr::contains(std::uint32_t address) const {
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
  return (address & mask) == network;
}

Result<std::string> render_cni_conflist(const CniConfig& c) {
  namespace json = boost::json;
  if (c.network_name.empty()) return invalid_argument("CNI config: empty network name");
  if (c.bridge.empty() || c.bridge.size() > 15 || c.bridge.find_first_of("/ \t:") != std::string::npos) {
    return invalid_argument("CNI config: bridge name \"" + c.bridge + "\" must be 1..15 bytes without '/', ':' or spaces");
  }
  KEDGE_RETURN_IF_ERROR(Ipv4Cidr::parse(c.pod_cidr).status());
  if (c.ipam_data_dir.empty() || !c.ipam_data_dir.is_absolute()) {
    return invalid_argument("CNI config: IPAM data dir must be an absolute path");
  }
  json::object bridge{
      {"type", "bridge"},
      {"bridge", c.bridge},
      {"isGateway", true},
      {"ipMasq", true},
      {"hairpinMode", true},
      {"ipam",
       json::object{
           {"type", "host-local"},
           {"ranges", json::array{json::array{json::object{{"subnet", c.pod_cidr}}}}},
           {"routes", json::array{json::object{{"dst", "0.0.0.0/0"}}}},
           {"dataDir", c.ipam_data_dir.string()},
       }},
  };
  if (c.mtu != 0) bridge["mtu"] = c.mtu;
  json::object list{
      {"cniVersion", "1.0.0"},
      {"name", c.network_name},
      {"plugins",
       json::array{std::move(bridge),
                   json::object{{"type", "portmap"}, {"capabilities", json::object{{"portMappings", true}}}}}},
  };
  return json::serialize(list) + "\n";
}

}  // namespace kedge::agent

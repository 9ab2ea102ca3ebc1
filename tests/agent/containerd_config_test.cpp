// containerd's config.toml and the CNI conflist kedge writes.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "kedge/agent/containerd_config.h"

namespace kedge::agent {
namespace {

namespace json = boost::json;

ContainerdConfig sample() {
  return {.root = "/var/lib/kedge/containerd/root",
          .state = "/var/lib/kedge/containerd/state",
          .address = "/var/lib/kedge/containerd/containerd.sock",
          .sandbox_image = "kedge.local/pause:1",
          .restrict_oom_score_adj = true,
          .snapshotter = "overlayfs",
          .cni_bin_dir = "/usr/lib/cni",
          .cni_conf_dir = "/var/lib/kedge/agent/cni/net.d",
          .log_level = "info"};
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(ContainerdConfig, PrivatePathsSandboxImageAndCni) {
  auto toml = render_containerd_config(sample());
  ASSERT_TRUE(toml.ok()) << toml.status().to_string();
  const std::string& t = *toml;
  EXPECT_TRUE(has_line(t, "version = 2")) << t;
  EXPECT_TRUE(has_line(t, "root = \"/var/lib/kedge/containerd/root\""));
  EXPECT_TRUE(has_line(t, "state = \"/var/lib/kedge/containerd/state\""));
  EXPECT_TRUE(has_line(t, "  address = \"/var/lib/kedge/containerd/containerd.sock\""));
  EXPECT_TRUE(has_line(t, "[plugins.\"io.containerd.grpc.v1.cri\"]"));
  EXPECT_TRUE(has_line(t, "  sandbox_image = \"kedge.local/pause:1\""));
  EXPECT_TRUE(has_line(t, "  restrict_oom_score_adj = true"));
  EXPECT_TRUE(has_line(t, "  snapshotter = \"overlayfs\""));
  EXPECT_TRUE(has_line(t, "  SystemdCgroup = false"));
  EXPECT_TRUE(has_line(t, "  bin_dir = \"/usr/lib/cni\""));
  EXPECT_TRUE(has_line(t, "  conf_dir = \"/var/lib/kedge/agent/cni/net.d\""));
  // Nothing may point at the system containerd's directories.
  EXPECT_EQ(t.find("/run/containerd"), std::string::npos);
  EXPECT_EQ(t.find("/opt/containerd"), std::string::npos);
  EXPECT_EQ(t.find("/etc/cni"), std::string::npos);

  auto c = sample();
  c.restrict_oom_score_adj = false;
  c.snapshotter = "native";
  auto t2 = render_containerd_config(c);
  ASSERT_TRUE(t2.ok());
  EXPECT_TRUE(has_line(*t2, "  restrict_oom_score_adj = false"));
  EXPECT_TRUE(has_line(*t2, "  snapshotter = \"native\""));
  EXPECT_EQ(*render_containerd_config(sample()), t) << "rendering is deterministic";
}

TEST(ContainerdConfig, BadValuesAreRefused) {
  auto c = sample();
  c.root = "relative/root";
  EXPECT_EQ(render_containerd_config(c).status().code(), Code::kInvalidArgument);
  c = sample();
  c.sandbox_image = "evil\"\n[plugins]";
  auto r = render_containerd_config(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sandbox_image"), std::string::npos);
  c = sample();
  c.snapshotter = "zfs";
  EXPECT_EQ(render_containerd_config(c).status().code(), Code::kInvalidArgument);
  c = sample();
  c.sandbox_image.clear();
  EXPECT_EQ(render_containerd_config(c).status().code(), Code::kInvalidArgument);
}

TEST(CniConfig, BridgeHostLocalAndPortmap) {
  auto text = render_cni_conflist({.network_name = "kedge",
                                   .bridge = "kedge0",
                                   .pod_cidr = "10.42.3.0/24",
                                   .ipam_data_dir = "/var/lib/kedge/agent/cni/ipam"});
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  auto v = json::parse(*text).as_object();
  EXPECT_EQ(v.at("cniVersion"), "1.0.0");
  EXPECT_EQ(v.at("name"), "kedge");
  const auto& plugins = v.at("plugins").as_array();
  ASSERT_EQ(plugins.size(), 2u);
  const auto& bridge = plugins[0].as_object();
  EXPECT_EQ(bridge.at("type"), "bridge");
  EXPECT_EQ(bridge.at("bridge"), "kedge0");
  EXPECT_EQ(bridge.at("isGateway"), true);
  EXPECT_EQ(bridge.at("ipMasq"), true);
  EXPECT_EQ(bridge.at("hairpinMode"), true);
  EXPECT_FALSE(bridge.contains("mtu"));
  const auto& ipam = bridge.at("ipam").as_object();
  EXPECT_EQ(ipam.at("type"), "host-local");
  EXPECT_EQ(ipam.at("ranges").at(0).at(0).at("subnet"), "10.42.3.0/24");
  EXPECT_EQ(ipam.at("dataDir"), "/var/lib/kedge/agent/cni/ipam");
  EXPECT_EQ(ipam.at("routes").at(0).at("dst"), "0.0.0.0/0");
  EXPECT_EQ(plugins[1].at("type"), "portmap");
  EXPECT_EQ(plugins[1].at("capabilities").at("portMappings"), true);
}

TEST(CniConfig, BadFieldsAreNamed) {
  CniConfig ok{.network_name = "kedge", .bridge = "kedge0", .pod_cidr = "10.42.0.0/24", .ipam_data_dir = "/x"};
  auto c = ok;
  c.bridge = "a-bridge-name-too-long";
  EXPECT_NE(render_cni_conflist(c).status().message().find("bridge name"), std::string::npos);
  c = ok;
  c.pod_cidr = "10.42.0.1/24";
  EXPECT_NE(render_cni_conflist(c).status().message().find("host bits"), std::string::npos);
  c = ok;
  c.ipam_data_dir = "rel";
  EXPECT_FALSE(render_cni_conflist(c).ok());
  c = ok;
  c.mtu = 1400;
  EXPECT_EQ(json::parse(*render_cni_conflist(c)).at("plugins").at(0).at("mtu"), 1400);
}

TEST(Ipv4Cidr, ParsesAndContains) {
  auto c = Ipv4Cidr::parse("10.42.7.0/24");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix, 24);
  EXPECT_TRUE(c->contains(*Ipv4Cidr::parse_address("10.42.7.200")));
  EXPECT_FALSE(c->contains(*Ipv4Cidr::parse_address("10.42.8.1")));
  for (const char* bad : {"10.42.0.0", "10.42.0.0/33", "10.42.0.0/4", "10.42.0/24", "10.42.0.0.0/24", "a.b.c.d/24",
                          "10.42.0.256/24", "10.42.0.0/24x", "1000.1.1.1/8", ""}) {
    EXPECT_FALSE(Ipv4Cidr::parse(bad).ok()) << bad;
  }
  EXPECT_FALSE(Ipv4Cidr::parse_address("1.2.3").ok());
  EXPECT_FALSE(Ipv4Cidr::parse_address("1.2.3.4 ").ok());
}

}  // namespace
}  // namespace kedge::agent

// The fixture of the kubelet end-to-end tests: a real `kedge server` (API
// server, controllers, the kubelet part with its managed containerd + runc +
// CNI) on a temp data dir, driven by /usr/bin/kubectl v1.32. Images are built
// at test time from busybox-static into <data-dir>/images/ and imported at
// start (airgap).
//
// Every run uses its own node name, CNI bridge, pod CIDR, cgroup root and
// ports, so it cannot collide with another run; teardown removes the pods
// through the CRI, then shims, mounts, the bridge and the cgroups, even when
// a test fails.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "e2e_support.h"
#include "kedge/agent/oci_image.h"
#include "kedge/cri/runtime_client.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent::kubelet_e2e {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::seconds;
using testing::CommandResult;

class KubeletE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(testing::is_root(), "root (containerd, mounts, network)");
    for (const char* bin : {"containerd", "runc", "ctr", "containerd-shim-runc-v2", "ip"}) {
      KEDGE_REQUIRE(!testing::find_binary(bin).empty(), std::string(bin) + " on PATH");
    }
    KEDGE_REQUIRE(fs::exists("/usr/bin/kubectl"), "/usr/bin/kubectl");
    KEDGE_REQUIRE(fs::exists("/usr/lib/cni/bridge"), "CNI plugins in /usr/lib/cni");
    KEDGE_REQUIRE(fs::exists("/bin/busybox"), "busybox-static at /bin/busybox");
    std::random_device rd;
    const unsigned r = rd();
    char suffix[9];
    std::snprintf(suffix, sizeof(suffix), "%06x", r & 0xffffff);
    suffix_ = suffix;
    node_ = "kedge-e2e-" + suffix_;
    bridge_ = "kbr" + suffix_;
    const std::string octet = std::to_string(200 + ((r >> 24) % 50));
    cluster_cidr_ = "10." + octet + ".0.0/16";
    pod_cidr_ = "10." + octet + "." + std::to_string((r >> 16) % 250) + ".0/24";
    cgroup_root_ = "/kedge-e2e-" + suffix_;
    ASSERT_TRUE(write_busybox_image({}, dir_ / "images" / "busybox.tar").ok());
    api_port_ = testing::free_port();
    start_server("server.log");
  }

  void TearDown() override {
    const std::string socket = (dir_ / "containerd" / "containerd.sock").string();
    if (auto runtime = cri::connect({.endpoint = socket, .connect_timeout = std::chrono::milliseconds(2000)});
        runtime.ok()) {
      if (auto sandboxes = (*runtime)->list_pod_sandboxes(); sandboxes.ok()) {
        for (const auto& s : *sandboxes) {
          (void)(*runtime)->stop_pod_sandbox(s.id);
          (void)(*runtime)->remove_pod_sandbox(s.id);
        }
      }
    }
    server_.reset();
    // The kubelet may have re-created pods while the loop above removed them.
    e2e::kill_cgroup_processes(cgroup_root_);
    e2e::kill_leftover_shims(socket);
    e2e::unmount_under_and_delete_bridge(dir_.path(), bridge_);
    e2e::remove_cgroups(cgroup_root_);
  }

  void start_server(const std::string& log_name) {
    std::vector<std::string> argv = {
        testing::kedge_binary(), "server", "--config", "/dev/null", "--data-dir", dir_.path().string(),
        "--https-listen-port", std::to_string(api_port_), "--bind-address", "127.0.0.1",
        "--write-kubeconfig", (dir_ / "kedge.yaml").string(),
        "--node-name", node_, "--pod-log-dir", (dir_ / "pod-logs").string(),
        "--cni-bridge", bridge_, "--cni-network", "kedge-" + suffix_,
        "--cluster-cidr", cluster_cidr_, "--pod-cidr", pod_cidr_, "--cgroup-root", cgroup_root_,
        "--agent-api-port", std::to_string(testing::free_port()),
        "--crash-loop-backoff-ms", "2000", "--pod-resync-interval-ms", "2000"};
    if (!with_proxy_) argv.push_back("--disable-proxy");
    argv.insert(argv.end(), extra_server_args_.begin(), extra_server_args_.end());
    server_ = std::make_unique<testing::Process>(argv, dir_ / log_name);
    ASSERT_TRUE(testing::eventually(
        [&] { return server_->log().find("kedge server is ready") != std::string::npos || !server_->running(); },
        seconds(90)))
        << server_->log();
    ASSERT_TRUE(server_->running()) << server_->log();
  }

  CommandResult kubectl(std::vector<std::string> args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", (dir_ / "kedge.yaml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv, {.env = {{"HOME", home_.path().string()}, {"KUBECACHEDIR", (home_ / "cache").string()}},
                               .stdin_data = stdin_data,
                               .timeout = seconds(30)});
  }

  json::value get(const std::string& what, const std::string& ns = "default") {
    auto r = kubectl({"get", what, "-n", ns, "-o", "json"});
    if (r.exit_code != 0) return nullptr;
    boost::system::error_code ec;
    auto v = json::parse(r.out, ec);
    return ec ? json::value(nullptr) : v;
  }

  static std::string at(const json::value& v, std::initializer_list<std::string_view> path) {
    const json::value* cur = &v;
    for (auto key : path) {
      if (cur->is_object()) {
        cur = cur->as_object().if_contains(key);
      } else if (cur->is_array() && !key.empty() && std::isdigit(key[0])) {
        const std::size_t i = std::stoul(std::string(key));
        cur = i < cur->as_array().size() ? &cur->as_array()[i] : nullptr;
      } else {
        cur = nullptr;
      }
      if (cur == nullptr) return "";
    }
    return cur->is_string() ? std::string(cur->as_string()) : json::serialize(*cur);
  }

  static std::string condition(const json::value& obj, const std::string& type) {
    const auto* status = obj.is_object() ? obj.as_object().if_contains("status") : nullptr;
    const auto* conds = status && status->is_object() ? status->as_object().if_contains("conditions") : nullptr;
    if (conds == nullptr || !conds->is_array()) return "";
    for (const auto& c : conds->as_array()) {
      if (at(c, {"type"}) == type) return at(c, {"status"});
    }
    return "";
  }

  CommandResult apply(const std::string& yaml) { return kubectl({"apply", "-f", "-"}, yaml); }

  std::string ctr(std::vector<std::string> args) {
    std::vector<std::string> argv = {"ctr", "--address", (dir_ / "containerd" / "containerd.sock").string(), "-n",
                                     "k8s.io"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv).out;
  }

  // Everything the pod's container wrote to its CRI log, attempt `n`.
  std::string pod_log(const std::string& pod, const std::string& container, int n = 0) {
    const std::string uid = at(get("pod/" + pod), {"metadata", "uid"});
    return e2e::read_all(dir_ / "pod-logs" / ("default_" + pod + "_" + uid) / container / (std::to_string(n) + ".log"));
  }

  // The newest attempt of a container that has a CRI log file (N.log), -1
  // for none; read from the files, so it works while the API is away.
  static int log_attempts(const fs::path& container_logs) {
    int n = -1;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(container_logs, ec)) n = std::max(n, std::atoi(e.path().stem().c_str()));
    return n;
  }
  fs::path container_logs(const std::string& pod, const std::string& uid, const std::string& container) const {
    return dir_ / "pod-logs" / ("default_" + pod + "_" + uid) / container;
  }

  // Refuses TCP `port` on this host with a reset, as a control plane that is
  // down would (clients see "connection refused" at once), through an
  // nftables table of this run's own, until open() or destruction.
  class RefusedPort {
   public:
    RefusedPort(const std::string& suffix, int port) : table_("kedge-e2e-block-" + suffix) {
      ok_ = testing::run({"nft", "add table inet " + table_ + " ; add chain inet " + table_ +
                                     " input { type filter hook input priority -300 ; } ; add rule inet " + table_ +
                                     " input tcp dport " + std::to_string(port) + " reject with tcp reset"})
                .exit_code == 0;
    }
    ~RefusedPort() { open(); }
    RefusedPort(const RefusedPort&) = delete;
    RefusedPort& operator=(const RefusedPort&) = delete;
    bool ok() const { return ok_; }
    bool open() {
      if (!ok_) return true;
      ok_ = false;
      return testing::run({"nft", "delete", "table", "inet", table_}).exit_code == 0;
    }

   private:
    std::string table_;
    bool ok_ = false;
  };

  bool wait_node_ready(std::chrono::seconds timeout) {
    return testing::eventually([&] { return condition(get("node/" + node_), "Ready") == "True"; }, timeout);
  }

  testing::TempDir dir_{"kedge-kubelet-e2e"};
  testing::TempDir home_{"kedge-kubelet-e2e-home"};
  std::string suffix_, node_, bridge_, cluster_cidr_, pod_cidr_, cgroup_root_;
  int api_port_ = 0;
  std::unique_ptr<testing::Process> server_;
  // Set by a derived fixture before SetUp: run the nftables proxy part (off by
  // default: it programs the host's kedge tables) and further server flags.
  bool with_proxy_ = false;
  std::vector<std::string> extra_server_args_;
};

inline std::string pod_yaml(const std::string& name, const std::string& node, const std::string& body,
                     const std::string& restart = "Never") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  nodeName: " + node +
         "\n  restartPolicy: " + restart + "\n  terminationGracePeriodSeconds: 3\n" + body;
}

}  // namespace kedge::agent::kubelet_e2e

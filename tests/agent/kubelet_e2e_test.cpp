// The kubelet end to end: a real `kedge server` (API server, controllers,
// the kubelet part with its managed containerd + runc + CNI) on a temp data
// dir, driven by /usr/bin/kubectl v1.32. Images are built at test time from
// busybox-static into <data-dir>/images/ and imported at start (airgap).
//
// Every run uses its own node name, CNI bridge, pod CIDR, cgroup root and
// ports, so it cannot collide with another run; teardown removes the pods
// through the CRI, then shims, mounts, the bridge and the cgroups, even when
// a test fails.
#include <algorithm>
#include <chrono>
#include <random>
#include <regex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "e2e_support.h"
#include "kedge/agent/containerd_config.h"
#include "kedge/agent/oci_image.h"
#include "kedge/cri/runtime_client.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

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
        "--write-kubeconfig", (dir_ / "kedge.yaml").string(), "--disable-proxy",
        "--node-name", node_, "--pod-log-dir", (dir_ / "pod-logs").string(),
        "--cni-bridge", bridge_, "--cni-network", "kedge-" + suffix_,
        "--cluster-cidr", cluster_cidr_, "--pod-cidr", pod_cidr_, "--cgroup-root", cgroup_root_,
        "--agent-api-port", std::to_string(testing::free_port()),
        "--crash-loop-backoff-ms", "2000", "--pod-resync-interval-ms", "2000"};
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

  bool wait_node_ready(std::chrono::seconds timeout) {
    return testing::eventually([&] { return condition(get("node/" + node_), "Ready") == "True"; }, timeout);
  }

  testing::TempDir dir_{"kedge-kubelet-e2e"};
  testing::TempDir home_{"kedge-kubelet-e2e-home"};
  std::string suffix_, node_, bridge_, cluster_cidr_, pod_cidr_, cgroup_root_;
  int api_port_ = 0;
  std::unique_ptr<testing::Process> server_;
};

std::string pod_yaml(const std::string& name, const std::string& node, const std::string& body,
                     const std::string& restart = "Never") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  nodeName: " + node +
         "\n  restartPolicy: " + restart + "\n  terminationGracePeriodSeconds: 3\n" + body;
}

TEST_F(KubeletE2E, NodeReadyRunOnceAndConfigVolumes) {
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_node_ready(seconds(60))) << json::serialize(get("node/" + node_)) << server_->log();
  std::printf("[figure] node Ready %.1f s after the server was ready\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const json::value node = get("node/" + node_);
  EXPECT_EQ(at(node, {"metadata", "labels", "kubernetes.io/hostname"}), node_);
  EXPECT_EQ(at(node, {"metadata", "labels", "kubernetes.io/os"}), "linux");
  EXPECT_EQ(at(node, {"metadata", "labels", "node-role.kubernetes.io/control-plane"}), "true");
  EXPECT_TRUE(at(node, {"status", "nodeInfo", "containerRuntimeVersion"}).starts_with("containerd://"));
  EXPECT_FALSE(at(node, {"status", "nodeInfo", "kernelVersion"}).empty());
  EXPECT_FALSE(at(node, {"status", "capacity", "memory"}).empty());
  EXPECT_EQ(condition(node, "MemoryPressure"), "False");
  EXPECT_EQ(condition(node, "DiskPressure"), "False");
  EXPECT_EQ(condition(node, "PIDPressure"), "False");
  EXPECT_EQ(at(get("lease/" + node_, "kube-node-lease"), {"spec", "holderIdentity"}), node_);

  // kubectl run ... --restart=Never reaches Succeeded and the log says hello.
  auto run = kubectl({"run", "once", "--restart=Never", "--image=kedge.local/busybox:latest",
                      "--overrides={\"spec\":{\"nodeName\":\"" + node_ + "\"}}", "--", "sh", "-c", "echo hello"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(testing::eventually([&] { return at(get("pod/once"), {"status", "phase"}) == "Succeeded"; }, seconds(60)))
      << json::serialize(get("pod/once")) << server_->log();
  const json::value once = get("pod/once");
  EXPECT_EQ(at(once, {"status", "containerStatuses", "0", "state", "terminated", "exitCode"}), "0")
      << json::serialize(once);
  EXPECT_EQ(at(once, {"status", "containerStatuses", "0", "state", "terminated", "reason"}), "Completed");
  EXPECT_TRUE(at(once, {"status", "containerStatuses", "0", "containerID"}).starts_with("containerd://"));
  EXPECT_EQ(at(once, {"status", "qosClass"}), "BestEffort");
  EXPECT_FALSE(at(once, {"status", "startTime"}).empty());
  EXPECT_FALSE(at(once, {"status", "hostIP"}).empty());
  EXPECT_NE(pod_log("once", "once").find(" stdout F hello"), std::string::npos) << pod_log("once", "once");
  // ... and kubectl prints it through edge-control and the agent API.
  {
    auto logs = kubectl({"logs", "once"});
    EXPECT_EQ(logs.exit_code, 0) << logs.err;
    EXPECT_EQ(logs.out, "hello\n") << logs.err;
  }
  // kubectl exec runs in the container (CRI ExecSync) and propagates the exit code.
  {
    ASSERT_EQ(apply(pod_yaml("sleeper", node_,
                             "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                             "    command: [sleep, '300']\n",
                             "Always"))
                  .exit_code,
              0);
    ASSERT_TRUE(testing::eventually([&] { return at(get("pod/sleeper"), {"status", "phase"}) == "Running"; },
                                    seconds(60)))
        << json::serialize(get("pod/sleeper"));
    auto ex = kubectl({"exec", "sleeper", "--", "cat", "/etc/hostname"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, "sleeper\n") << ex.err;
    ex = kubectl({"exec", "sleeper", "--", "sh", "-c", "echo out; echo err >&2; exit 4"});
    EXPECT_EQ(ex.exit_code, 4) << ex.err;
    EXPECT_EQ(ex.out, "out\n");
    EXPECT_NE(ex.err.find("err\n"), std::string::npos) << ex.err;
  }

  // A Guaranteed pod's memory limit is enforced: dd touching 64 MiB under a
  // 16 MiB limit ends in OOMKilled, reported as such.
  ASSERT_EQ(apply(pod_yaml("hungry", node_,
                           "  containers:\n  - name: eater\n    image: kedge.local/busybox:latest\n"
                           "    command: [dd, if=/dev/zero, of=/dev/null, bs=64M, count=1]\n"
                           "    resources: {limits: {memory: 16Mi, cpu: 100m}}\n"))
                .exit_code,
            0);
  ASSERT_TRUE(testing::eventually([&] { return at(get("pod/hungry"), {"status", "phase"}) == "Failed"; }, seconds(60)))
      << json::serialize(get("pod/hungry"));
  const json::value hungry = get("pod/hungry");
  EXPECT_EQ(at(hungry, {"status", "qosClass"}), "Guaranteed");
  EXPECT_EQ(at(hungry, {"status", "containerStatuses", "0", "state", "terminated", "reason"}), "OOMKilled");
  EXPECT_EQ(at(hungry, {"status", "containerStatuses", "0", "state", "terminated", "exitCode"}), "137");

  // ConfigMap and Secret as env and volumes; the mounted file follows an update.
  ASSERT_EQ(apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  greeting: hi-there\n").exit_code, 0);
  ASSERT_EQ(apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec\nstringData:\n  token: s3cret\n").exit_code, 0);
  const std::string body =
      "  containers:\n"
      "  - name: main\n"
      "    image: kedge.local/busybox:latest\n"
      "    imagePullPolicy: IfNotPresent\n"
      "    command: [sh, -c, 'echo env=$GREETING/$TOKEN/$POD/$LIMIT; while true; do echo file=$(cat /cfg/greeting)/$(cat "
      "/sec/token); sleep 1; done']\n"
      "    env:\n"
      "    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}\n"
      "    - {name: TOKEN, valueFrom: {secretKeyRef: {name: sec, key: token}}}\n"
      "    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
      "    - {name: LIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n"
      "    resources: {limits: {memory: 64Mi}}\n"
      "    volumeMounts:\n"
      "    - {name: cfg, mountPath: /cfg}\n"
      "    - {name: sec, mountPath: /sec}\n"
      "  volumes:\n"
      "  - {name: cfg, configMap: {name: cfg}}\n"
      "  - {name: sec, secret: {secretName: sec}}\n";
  ASSERT_EQ(apply(pod_yaml("cfgpod", node_, body)).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return pod_log("cfgpod", "main").find("file=hi-there/s3cret") != std::string::npos; },
                                  seconds(60)))
      << json::serialize(get("pod/cfgpod")) << server_->log();
  EXPECT_NE(pod_log("cfgpod", "main").find("env=hi-there/s3cret/cfgpod/64"), std::string::npos) << pod_log("cfgpod", "main");
  EXPECT_EQ(at(get("pod/cfgpod"), {"status", "qosClass"}), "Burstable");
  ASSERT_EQ(apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  greeting: updated\n").exit_code, 0);
  EXPECT_TRUE(testing::eventually(
      [&] { return pod_log("cfgpod", "main").find("file=updated/s3cret") != std::string::npos; }, seconds(30)))
      << pod_log("cfgpod", "main");
}

TEST_F(KubeletE2E, ProbesCrashLoopDeletionAndAdoption) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  // A Deployment whose pods turn Ready through an httpGet readiness probe.
  const std::string deploy =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n"
      "  selector: {matchLabels: {app: web}}\n"
      "  template:\n    metadata: {labels: {app: web}}\n    spec:\n      nodeName: " + node_ + "\n"
      "      terminationGracePeriodSeconds: 3\n"
      "      containers:\n      - name: web\n        image: kedge.local/busybox:latest\n"
      "        command: [httpd, -f, -p, '8080', -h, /etc]\n"
      "        readinessProbe: {httpGet: {path: /passwd, port: 8080}, periodSeconds: 1}\n";
  ASSERT_EQ(apply(deploy).exit_code, 0);
  json::value web;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto pods = get("pods");
        for (const auto& p : pods.is_object() ? pods.at("items").as_array() : json::array{}) {
          if (at(p, {"metadata", "labels", "app"}) == "web" && condition(p, "Ready") == "True") {
            web = p;
            return true;
          }
        }
        return false;
      },
      seconds(90)))
      << json::serialize(get("pods")) << server_->log();
  // The pod IP comes from the node's pod network (its podCIDR, or --pod-cidr without the IPAM controller).
  std::string cidr = at(get("node/" + node_), {"spec", "podCIDR"});
  if (cidr.empty()) cidr = pod_cidr_;
  auto range = Ipv4Cidr::parse(cidr);
  auto ip = Ipv4Cidr::parse_address(at(web, {"status", "podIP"}));
  ASSERT_TRUE(range.ok() && ip.ok()) << cidr << " " << at(web, {"status", "podIP"});
  EXPECT_TRUE(range->contains(*ip)) << at(web, {"status", "podIP"}) << " not in " << cidr;
  EXPECT_EQ(at(web, {"status", "containerStatuses", "0", "ready"}), "true");

  // A container exiting 3 restarts with growing backoff (2 s, 4 s, ... here).
  ASSERT_EQ(apply(pod_yaml("crash", node_,
                           "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                           "    command: [sh, -c, 'date +%s; exit 3']\n",
                           "Always"))
                .exit_code,
            0);
  ASSERT_TRUE(testing::eventually(
      [&] { return std::atoi(at(get("pod/crash"), {"status", "containerStatuses", "0", "restartCount"}).c_str()) >= 3; },
      seconds(60)))
      << json::serialize(get("pod/crash"));
  const json::value crash = get("pod/crash");
  EXPECT_EQ(at(crash, {"status", "containerStatuses", "0", "lastState", "terminated", "exitCode"}), "3");
  EXPECT_EQ(at(crash, {"status", "phase"}), "Running");
  // Start times of attempts 1..3 from the logs: the gaps grow.
  std::vector<long> starts;
  for (int n = 0; n <= 3; ++n) {
    const std::string log = pod_log("crash", "c", n);
    const auto f = log.find(" F ");
    starts.push_back(f == std::string::npos ? 0 : std::atol(log.c_str() + f + 3));
  }
  ASSERT_EQ(starts.size(), 4u);
  EXPECT_GE(starts[3] - starts[2], starts[2] - starts[1]) << starts[1] << " " << starts[2] << " " << starts[3];
  EXPECT_GE(starts[3] - starts[2], 3) << "backoff did not grow";
  EXPECT_TRUE(testing::eventually(
      [&] { return at(get("pod/crash"), {"status", "containerStatuses", "0", "state", "waiting", "reason"}) == "CrashLoopBackOff"; },
      seconds(20)));

  // A failing liveness probe restarts the container: healthy for 2 s, then not.
  ASSERT_EQ(apply(pod_yaml("sick", node_,
                           "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                           "    command: [sh, -c, 'touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 3600']\n"
                           "    livenessProbe: {exec: {command: [cat, /tmp/ok]}, periodSeconds: 1, failureThreshold: 2}\n",
                           "Always"))
                .exit_code,
            0);
  EXPECT_TRUE(testing::eventually(
      [&] { return std::atoi(at(get("pod/sick"), {"status", "containerStatuses", "0", "restartCount"}).c_str()) >= 1; },
      seconds(60)))
      << json::serialize(get("pod/sick"));
  EXPECT_EQ(kubectl({"delete", "pod", "sick", "--wait=false"}).exit_code, 0);

  // Deleting a pod stops and removes its containers.
  const std::string crash_uid = at(crash, {"metadata", "uid"});
  auto del = kubectl({"delete", "pod", "crash", "--wait=true", "--timeout=30s"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_TRUE(testing::eventually(
      [&] {
        const std::string listed = ctr({"containers", "ls", "-q", "labels.\"io.kubernetes.pod.uid\"==" + crash_uid});
        return listed.find_first_not_of(" \n") == std::string::npos;
      },
      seconds(30)))
      << ctr({"containers", "ls"});
  EXPECT_TRUE(get("pod/crash").is_null());

  // Restarting the agent leaves running containers alone: same container, no restart.
  const std::string web_name = at(web, {"metadata", "name"});
  const std::string before = at(get("pod/" + web_name), {"status", "containerStatuses", "0", "containerID"});
  const auto stop_started = std::chrono::steady_clock::now();
  EXPECT_EQ(server_->kill_and_wait(SIGTERM, seconds(30)), 0) << server_->log();
  std::printf("[figure] server stop took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_started).count());
  server_.reset();
  api_port_ = testing::free_port();  // the old listener's port may linger in TIME_WAIT
  start_server("server2.log");
  ASSERT_TRUE(wait_node_ready(seconds(60)));
  std::this_thread::sleep_for(seconds(3));  // a few relists and syncs
  const json::value after = get("pod/" + web_name);
  EXPECT_EQ(at(after, {"status", "containerStatuses", "0", "containerID"}), before);
  EXPECT_EQ(at(after, {"status", "containerStatuses", "0", "restartCount"}), "0");
  EXPECT_TRUE(testing::eventually([&] { return condition(get("pod/" + web_name), "Ready") == "True"; }, seconds(20)));
  EXPECT_NE(server_->log().find("adopt"), std::string::npos) << server_->log();
}

}  // namespace
}  // namespace kedge::agent

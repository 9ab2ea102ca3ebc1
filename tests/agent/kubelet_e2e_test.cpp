// The kubelet end to end (fixture in kubelet_fixture.h): pods, probes,
// volumes, crash loops, deletion and adoption on real containerd + runc.
#include <algorithm>
#include <chrono>
#include <regex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "kedge/agent/containerd_config.h"
#include "kubelet_fixture.h"

namespace kedge::agent {
namespace {

using namespace kubelet_e2e;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

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
  // Someone else marks the node Unknown on the server, as the node lifecycle
  // controller does when it missed the heartbeats (a link down longer than
  // its grace period): the kubelet writes Ready=True again at its next status
  // check (10 s), not at the 5-minute report.
  auto unknown = kubectl({"patch", "node", node_, "--subresource=status", "--type=merge", "-p",
                          R"({"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown",)"
                          R"("message":"Kubelet stopped posting node status."}]}})"});
  ASSERT_EQ(unknown.exit_code, 0) << unknown.err;
  EXPECT_EQ(condition(get("node/" + node_), "Ready"), "Unknown");
  EXPECT_TRUE(wait_node_ready(seconds(25))) << json::serialize(get("node/" + node_));

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

// The agent's autonomy while the API is unreachable (its port refused on
// loopback, as when the control plane's box or the uplink is down).
class KubeletAutonomyE2E : public KubeletE2E {
 protected:
  // A pod whose container prints its ConfigMap `cfg` (the file, and $GREETING
  // from it when `env`) and exits 1, so the kubelet keeps restarting it.
  // Returns the container's log dir once it has restarted at least once.
  fs::path crash_looping_pod(const std::string& name, bool env) {
    const std::string env_yaml =
        env ? "    env: [{name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}]\n" : "";
    EXPECT_EQ(apply(pod_yaml(name, node_,
                             "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                             "    command: [sh, -c, 'echo \"env=$GREETING file=$(cat /cfg/greeting)\"; sleep 1; exit 1']\n" +
                                 env_yaml +
                                 "    volumeMounts: [{name: cfg, mountPath: /cfg}]\n"
                                 "  volumes: [{name: cfg, configMap: {name: cfg}}]\n",
                             "Always"))
                  .exit_code,
              0);
    EXPECT_TRUE(testing::eventually([&] { return restart_count(name) >= 1; }, seconds(60)))
        << json::serialize(get("pod/" + name));
    return container_logs(name, at(get("pod/" + name), {"metadata", "uid"}), "c");
  }
  int restart_count(const std::string& pod) {
    return std::atoi(at(get("pod/" + pod), {"status", "containerStatuses", "0", "restartCount"}).c_str());
  }
};

// The agent's autonomy: with the API unreachable (its port refused on
// loopback, as when the control plane's box is down), a crashing container
// keeps being restarted with its ConfigMap volume and env from the last copy
// the agent read, and the restarts show up in the API once it is back.
TEST_F(KubeletAutonomyE2E, CrashingContainerRestartsWhileTheApiIsUnreachable) {
  KEDGE_REQUIRE(fs::exists("/usr/sbin/nft"), "nft (nftables) to refuse the API port");
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  ASSERT_EQ(kubectl({"create", "configmap", "cfg", "--from-literal=greeting=hello-offline"}).exit_code, 0);
  const fs::path logs = crash_looping_pod("offline", true);
  auto attempts = [&] { return log_attempts(logs); };

  RefusedPort refused(suffix_, api_port_);
  ASSERT_TRUE(refused.ok());
  ASSERT_NE(kubectl({"get", "pods", "--request-timeout=3s"}).exit_code, 0) << "the API still answers";
  const int blocked_at = attempts();
  // Two more attempts while the API is away: the ConfigMap cache (5 s) has
  // long expired by then, so they ran from the agent's last copy.
  ASSERT_TRUE(testing::eventually([&] { return attempts() >= blocked_at + 2; }, seconds(90)))
      << "attempts: " << blocked_at << " → " << attempts() << "\n" << server_->log();
  // (From the file: pod_log() asks the API for the pod's uid.)
  const fs::path offline_log = logs / (std::to_string(blocked_at + 2) + ".log");
  EXPECT_TRUE(testing::eventually(
      [&] { return e2e::read_all(offline_log).find("env=hello-offline file=hello-offline") != std::string::npos; },
      seconds(10)))
      << e2e::read_all(offline_log);
  EXPECT_NE(server_->log().find("API unreachable"), std::string::npos) << server_->log();

  // The API back: the restarts made while it was away are reported.
  const int made = attempts();
  ASSERT_TRUE(refused.open());
  EXPECT_TRUE(testing::eventually(
      [&] { return restart_count("offline") >= made; },
      seconds(60)))
      << made << " attempts\n" << json::serialize(get("pod/offline"));
}

// Autonomy across an agent restart: the node's agent (here the whole
// server, whose kubelet reaches the API over loopback) restarts while the API
// is unreachable. It starts offline, runs the pod from its checkpoint with
// the ConfigMap volume it had on disk, keeps restarting the crashing
// container, and registers and reports once the API answers.
TEST_F(KubeletAutonomyE2E, RestartWhileTheApiIsUnreachableRunsPodsFromTheCheckpoint) {
  KEDGE_REQUIRE(fs::exists("/usr/sbin/nft"), "nft (nftables) to refuse the API port");
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  ASSERT_EQ(kubectl({"create", "configmap", "cfg", "--from-literal=greeting=from-disk"}).exit_code, 0);
  // No env from the ConfigMap: after a restart the agent has no copy of it
  // outside the volume (agent/README.md "Autonomy").
  const fs::path logs = crash_looping_pod("autonomous", false);
  auto attempts = [&] { return log_attempts(logs); };

  ASSERT_EQ(server_->kill_and_wait(SIGTERM, seconds(30)), 0) << server_->log();
  server_.reset();
  // The restarted server listens on a new port, refused on loopback before
  // it starts: its kubelet never reaches the API.
  api_port_ = testing::free_port();
  RefusedPort refused(suffix_, api_port_);
  ASSERT_TRUE(refused.ok());
  const int before_restart = attempts();
  start_server("server2.log");
  ASSERT_TRUE(testing::eventually(
      [&] { return server_->log().find("pods from the checkpoint") != std::string::npos; }, seconds(60)))
      << server_->log();
  EXPECT_NE(server_->log().find("starting offline"), std::string::npos) << server_->log();
  ASSERT_TRUE(testing::eventually([&] { return attempts() >= before_restart + 2; }, seconds(90)))
      << "attempts: " << before_restart << " → " << attempts() << "\n" << server_->log();
  const fs::path last = logs / (std::to_string(before_restart + 2) + ".log");
  EXPECT_TRUE(testing::eventually(
      [&] { return e2e::read_all(last).find("env= file=from-disk") != std::string::npos; }, seconds(10)))
      << e2e::read_all(last) << server_->log();

  // The API answers again: the node registers, heartbeats, and the restarts
  // made offline are reported.
  const int made = attempts();
  ASSERT_TRUE(refused.open());
  EXPECT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  EXPECT_TRUE(testing::eventually(
      [&] { return restart_count("autonomous") >= made; },
      seconds(60)))
      << made << " attempts\n" << json::serialize(get("pod/autonomous"));
}

}  // namespace
}  // namespace kedge::agent

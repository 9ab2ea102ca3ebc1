// Lifecycle hooks and gRPC probes end to end (fixture in kubelet_fixture.h):
// a real `kedge server` with its managed containerd, pods driven by kubectl.
// The gRPC health server the probes ask is the grpc++ library's own
// grpc.health.v1 service, run in this test process and reached by
// host-network pods at the node's address.
#include <sys/vfs.h>

#include <chrono>
#include <map>
#include <memory>

#include <boost/json.hpp>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "kubelet_fixture.h"

namespace kedge::agent {
namespace {

using namespace kubelet_e2e;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

class LifecycleE2E : public KubeletE2E {
 protected:
  // The messages of the pod's events with `reason`.
  std::vector<std::string> events(const std::string& pod, const std::string& reason) {
    std::vector<std::string> out;
    auto list = get("events");
    for (const auto& e : list.is_object() ? list.at("items").as_array() : json::array{}) {
      if (at(e, {"involvedObject", "name"}) == pod && at(e, {"reason"}) == reason) out.push_back(at(e, {"message"}));
    }
    return out;
  }

  bool gone(const std::string& pod) {
    return kubectl({"get", "pod/" + pod, "--ignore-not-found", "-o", "name"}).out.empty();
  }
};

TEST_F(LifecycleE2E, PostStartAndPreStopHooks) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  const fs::path out = dir_ / "hook-out";
  fs::create_directories(out);
  const std::string mount = "    volumeMounts: [{name: out, mountPath: /out}]\n"
                            "  volumes: [{name: out, hostPath: {path: " + out.string() + "}}]\n";
  // postStart exec and preStop exec; on SIGTERM the container records what
  // preStop had written, so the file proves preStop ran before SIGTERM.
  ASSERT_EQ(apply(pod_yaml("hooks", node_,
                           "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                           "    command: [sh, -c, 'trap \"cat /out/prestop > /out/term-saw; exit 0\" TERM; "
                           "sleep 3600 & wait']\n"
                           "    lifecycle:\n"
                           "      postStart: {exec: {command: [sh, -c, 'echo started > /out/poststart']}}\n"
                           "      preStop: {exec: {command: [sh, -c, 'echo stopping > /out/prestop']}}\n" +
                               mount,
                           "Always"))
                .exit_code,
            0);
  // A failing postStart kills the container: FailedPostStartHook, then restarts.
  ASSERT_EQ(apply(pod_yaml("badhook", node_,
                           "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                           "    command: [sleep, '3600']\n"
                           "    lifecycle: {postStart: {exec: {command: [sh, -c, 'echo no >&2; exit 7']}}}\n",
                           "Always"))
                .exit_code,
            0);
  // preStop sleep counts inside the 3 s grace period: deletion waits for it
  // but not for the 120 s it asks for.
  ASSERT_EQ(apply(pod_yaml("sleeper", node_,
                           "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                           "    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']\n"
                           "    lifecycle: {preStop: {sleep: {seconds: 120}}}\n",
                           "Always"))
                .exit_code,
            0);
  ASSERT_TRUE(testing::eventually(
      [&] { return at(get("pod/hooks"), {"status", "containerStatuses", "0", "ready"}) == "true"; }, seconds(60)))
      << json::serialize(get("pod/hooks")) << server_->log();
  EXPECT_EQ(e2e::read_all(out / "poststart"), "started\n");
  EXPECT_FALSE(fs::exists(out / "prestop"));

  ASSERT_TRUE(testing::eventually(
      [&] {
        return std::atoi(at(get("pod/badhook"), {"status", "containerStatuses", "0", "restartCount"}).c_str()) >= 1 &&
               !events("badhook", "FailedPostStartHook").empty();
      },
      seconds(60)))
      << json::serialize(get("pod/badhook")) << server_->log();
  const auto failed = events("badhook", "FailedPostStartHook");
  ASSERT_FALSE(failed.empty());
  EXPECT_NE(failed[0].find("exit code 7"), std::string::npos) << failed[0];
  EXPECT_NE(at(get("pod/badhook"), {"status", "containerStatuses", "0", "ready"}), "true");

  ASSERT_EQ(kubectl({"delete", "pod", "hooks", "--wait=false"}).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return gone("hooks"); }, seconds(30))) << server_->log();
  EXPECT_EQ(e2e::read_all(out / "prestop"), "stopping\n");
  EXPECT_EQ(e2e::read_all(out / "term-saw"), "stopping\n") << "SIGTERM came before preStop finished";

  ASSERT_TRUE(testing::eventually(
      [&] { return at(get("pod/sleeper"), {"status", "phase"}) == "Running"; }, seconds(60)));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(kubectl({"delete", "pod", "sleeper", "--wait=false"}).exit_code, 0);
  // Generous: on a loaded 2-core CI box the delete round trip alone can take
  // many seconds; an uncapped sleep would still take over 120 s.
  ASSERT_TRUE(testing::eventually([&] { return gone("sleeper"); }, seconds(100))) << server_->log();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 2.9) << "the preStop sleep did not run";
  EXPECT_LT(took, 90.0) << "the preStop sleep was not bounded by the grace period";
}

TEST_F(LifecycleE2E, GrpcProbesAskTheHealthService) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  grpc::EnableDefaultHealthCheckService(true);
  const int port = testing::free_port();
  // grpc++ refuses a server whose only service is the health service (no
  // polled queue): an empty callback service gives it one.
  grpc::CallbackGenericService generic;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&generic);
  builder.AddListeningPort("0.0.0.0:" + std::to_string(port), grpc::InsecureServerCredentials());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto* health = server->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  health->SetServingStatus("kedge.up", true);
  health->SetServingStatus("kedge.down", false);

  auto grpc_pod = [&](const std::string& name, const std::string& service) {
    return pod_yaml(name, node_,
                    "  hostNetwork: true\n"
                    "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                    "    command: [sleep, '3600']\n"
                    "    readinessProbe: {grpc: {port: " + std::to_string(port) + ", service: " + service +
                        "}, periodSeconds: 1}\n",
                    "Always");
  };
  ASSERT_EQ(apply(grpc_pod("grpc-up", "kedge.up")).exit_code, 0);
  ASSERT_EQ(apply(grpc_pod("grpc-down", "kedge.down")).exit_code, 0);
  ASSERT_EQ(apply(grpc_pod("grpc-unknown", "kedge.nobody")).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return condition(get("pod/grpc-up"), "Ready") == "True"; }, seconds(60)))
      << json::serialize(get("pod/grpc-up")) << server_->log();
  ASSERT_TRUE(testing::eventually(
      [&] { return !events("grpc-down", "Unhealthy").empty() && !events("grpc-unknown", "Unhealthy").empty(); },
      seconds(60)))
      << server_->log();
  EXPECT_EQ(condition(get("pod/grpc-down"), "Ready"), "False");
  EXPECT_NE(events("grpc-down", "Unhealthy")[0].find("NOT_SERVING"), std::string::npos)
      << events("grpc-down", "Unhealthy")[0];
  // An unknown service is NOT_FOUND from the server: a failure too.
  EXPECT_EQ(condition(get("pod/grpc-unknown"), "Ready"), "False");

  // The server turns the service down: the ready pod turns unready.
  health->SetServingStatus("kedge.up", false);
  EXPECT_TRUE(testing::eventually([&] { return condition(get("pod/grpc-up"), "Ready") == "False"; }, seconds(30)))
      << json::serialize(get("pod/grpc-up"));
  server->Shutdown();
}

// The kubepods hierarchy (here the run's --cgroup-root): node allocatable on
// the root, minimal CPU for besteffort, burstable sized from its pods' CPU
// requests, and each QoS class's pods under its level — read from the
// cgroup files the kernel exposes, on cgroup v1 (this CI) or v2.
TEST_F(LifecycleE2E, QosCgroupsHoldPodsAndNodeAllocatable) {
  ASSERT_TRUE(wait_node_ready(seconds(60))) << server_->log();
  struct statfs sfs {};
  const bool v2 = ::statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == 0x63677270;
  const fs::path cg = "/sys/fs/cgroup";
  auto cpu_dir = [&](const std::string& sub) { return (v2 ? cg : cg / "cpu") / (cgroup_root_.substr(1) + sub); };
  auto mem_dir = [&](const std::string& sub) { return (v2 ? cg : cg / "memory") / (cgroup_root_.substr(1) + sub); };
  auto read_num = [](const fs::path& p) { return std::atoll(e2e::read_all(p).c_str()); };
  const std::string cpu_file = v2 ? "cpu.weight" : "cpu.shares";
  // upstream: shares = milli * 1024 / 1000 (min 2); weight = 1 + (shares - 2) * 9999 / 262142.
  auto cpu_value = [&](long long shares) { return v2 ? 1 + (shares - 2) * 9999 / 262142 : shares; };

  const json::value node = get("node/" + node_);
  const long long cpus = std::atoll(at(node, {"status", "allocatable", "cpu"}).c_str());
  const std::string mem = at(node, {"status", "allocatable", "memory"});
  ASSERT_EQ(mem.substr(mem.size() - 2), "Ki") << mem;
  const long long mem_bytes = std::atoll(mem.c_str()) * 1024;
  EXPECT_EQ(read_num(cpu_dir("") / cpu_file), cpu_value(cpus * 1024));
  // The kernel rounds a memory limit down to whole pages.
  EXPECT_NEAR(static_cast<double>(read_num(mem_dir("") / (v2 ? "memory.max" : "memory.limit_in_bytes"))),
              static_cast<double>(mem_bytes), 4096.0);
  EXPECT_EQ(read_num(cpu_dir("/besteffort") / cpu_file), cpu_value(2));
  EXPECT_EQ(read_num(cpu_dir("/burstable") / cpu_file), cpu_value(2));

  auto pod = [&](const std::string& name, const std::string& resources) {
    return pod_yaml(name, node_,
                    "  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
                    "    command: [sleep, '3600']\n" + resources,
                    "Always");
  };
  ASSERT_EQ(apply(pod("guaranteed",
                      "    resources: {requests: {cpu: 200m, memory: 48Mi}, limits: {cpu: 200m, memory: 48Mi}}\n"))
                .exit_code,
            0);
  ASSERT_EQ(apply(pod("burstable", "    resources: {requests: {cpu: 300m, memory: 16Mi}}\n")).exit_code, 0);
  ASSERT_EQ(apply(pod("besteffort", "")).exit_code, 0);
  std::map<std::string, std::string> where = {
      {"guaranteed", ""}, {"burstable", "/burstable"}, {"besteffort", "/besteffort"}};
  for (const auto& [name, level] : where) {
    ASSERT_TRUE(testing::eventually([&] { return at(get("pod/" + name), {"status", "phase"}) == "Running"; },
                                    seconds(60)))
        << json::serialize(get("pod/" + name)) << server_->log();
    const json::value p = get("pod/" + name);
    const std::string qos = at(p, {"status", "qosClass"});
    EXPECT_EQ(qos, name == "guaranteed" ? "Guaranteed" : name == "burstable" ? "Burstable" : "BestEffort");
    const std::string pod_dir = level + "/pod" + at(p, {"metadata", "uid"});
    EXPECT_TRUE(fs::is_directory(mem_dir(pod_dir))) << mem_dir(pod_dir);
    EXPECT_TRUE(fs::is_directory(cpu_dir(pod_dir))) << cpu_dir(pod_dir);
  }
  // The Guaranteed pod's container is limited to its 48Mi inside its pod cgroup.
  const std::string uid = at(get("pod/guaranteed"), {"metadata", "uid"});
  long long limit = 0;
  for (const auto& e : fs::directory_iterator(mem_dir("/pod" + uid))) {
    if (!e.is_directory()) continue;
    const long long l = read_num(e.path() / (v2 ? "memory.max" : "memory.limit_in_bytes"));
    if (l == 48LL << 20) limit = l;
  }
  EXPECT_EQ(limit, 48LL << 20) << "no container cgroup of the Guaranteed pod has its memory limit";
  // burstable is sized from its pod's 300m request; back to the minimum once it is gone.
  EXPECT_TRUE(testing::eventually(
      [&] { return read_num(cpu_dir("/burstable") / cpu_file) == cpu_value(300 * 1024 / 1000); }, seconds(10)))
      << read_num(cpu_dir("/burstable") / cpu_file);
  ASSERT_EQ(kubectl({"delete", "pod", "burstable", "--wait=false"}).exit_code, 0);
  EXPECT_TRUE(testing::eventually([&] { return read_num(cpu_dir("/burstable") / cpu_file) == cpu_value(2); },
                                  seconds(30)))
      << read_num(cpu_dir("/burstable") / cpu_file);
}

}  // namespace
}  // namespace kedge::agent

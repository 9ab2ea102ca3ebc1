// The managed containerd with real pods (containerd 1.6 + runc + CNI).
//
// Each test starts its own containerd under a fresh temp data dir (own
// socket, root, state, CNI bridge, pod CIDR and cgroup parent, all with a
// random suffix so parallel runs cannot collide), imports the pause and
// busybox images built from busybox-static, and drives pods through the CRI
// client. TearDown removes everything the test created even on failure:
// pods, containerd, leftover shims, mounts under the temp dir, the bridge
// and the cgroup parent.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "e2e_support.h"
#include "kedge/agent/containerd_config.h"
#include "kedge/agent/containerd_supervisor.h"
#include "kedge/agent/image_importer.h"
#include "kedge/agent/oci_image.h"
#include "kedge/cri/runtime_client.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

using e2e::read_all;
using e2e::unmount_under_and_delete_bridge;

class ContainerdE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(testing::is_root(), "root (containerd, mounts, network)");
    for (const char* bin : {"containerd", "runc", "ctr", "containerd-shim-runc-v2", "ip"}) {
      KEDGE_REQUIRE(!testing::find_binary(bin).empty(), std::string(bin) + " on PATH");
    }
    KEDGE_REQUIRE(fs::exists("/usr/lib/cni/bridge") && fs::exists("/usr/lib/cni/host-local"),
                  "CNI plugins in /usr/lib/cni");
    KEDGE_REQUIRE(fs::exists("/bin/busybox"), "busybox-static at /bin/busybox");

    std::random_device rd;
    const unsigned r = rd();
    char suffix[9];
    std::snprintf(suffix, sizeof(suffix), "%06x", r & 0xffffff);
    suffix_ = suffix;
    bridge_ = "kbr" + suffix_;
    pod_cidr_ = "10.250." + std::to_string((r >> 24) & 0xff) + ".0/24";
    cgroup_parent_ = "/kedge-e2e-" + suffix_;

    auto busybox = write_busybox_image({}, dir_ / "images" / "busybox.tar");
    ASSERT_TRUE(busybox.ok()) << busybox.status().to_string();
    auto pause = write_pause_image(dir_ / "agent" / "images" / "pause.tar");
    ASSERT_TRUE(pause.ok()) << pause.status().to_string();

    supervisor_ = std::make_unique<ContainerdSupervisor>(ContainerdSupervisorOptions{
        .data_dir = dir_.path(),
        .cni = {.network_name = "kedge-" + suffix_, .bridge = bridge_, .pod_cidr = pod_cidr_},
        .initial_backoff = milliseconds(200),
        .stop_timeout = std::chrono::seconds(5),
    });
    const auto t0 = Clock::now();
    ASSERT_TRUE(supervisor_->start().ok());
    Status ready = supervisor_->wait_ready(std::chrono::seconds(30));
    ASSERT_TRUE(ready.ok()) << ready.to_string() << "\n" << read_all(supervisor_->log_path());
    std::printf("[figure] containerd ready after %.0f ms\n", ms_between(t0, Clock::now()));
    auto client = cri::connect({.endpoint = supervisor_->endpoint()});
    ASSERT_TRUE(client.ok()) << client.status().to_string();
    runtime_ = std::move(client).value();

    const auto t1 = Clock::now();
    auto report = import_images({.containerd_socket = supervisor_->socket_path(),
                                 .snapshotter = supervisor_->snapshotter()},
                                {dir_ / "agent/images/pause.tar", dir_ / "images/busybox.tar"}, *runtime_);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_TRUE(report->failed.empty()) << report->failed[0].second.to_string();
    ASSERT_EQ(report->imported.size(), 2u);
    std::printf("[figure] import of pause+busybox: %.0f ms\n", ms_between(t1, Clock::now()));
  }

  void TearDown() override {
    if (runtime_) {
      if (auto sandboxes = runtime_->list_pod_sandboxes(); sandboxes.ok()) {
        for (const auto& s : *sandboxes) {
          (void)runtime_->stop_pod_sandbox(s.id);
          (void)runtime_->remove_pod_sandbox(s.id);
        }
      }
      runtime_.reset();
    }
    const std::string socket = supervisor_ ? supervisor_->socket_path().string() : "";
    supervisor_.reset();
    if (!socket.empty()) kill_leftover_shims(socket);
    unmount_under_and_delete_bridge(dir_.path(), bridge_);
    remove_cgroups();
  }

  static void kill_leftover_shims(const std::string& socket) { e2e::kill_leftover_shims(socket); }
  void remove_cgroups() { e2e::remove_cgroups(cgroup_parent_); }

  cri::PodSandboxConfig sandbox_config(const std::string& name, bool host_network) {
    const std::string uid = name + "-" + suffix_;
    cri::PodSandboxConfig c{
        .metadata = {.name = name, .uid = uid, .namespace_name = "default", .attempt = 0},
        // runc cannot set a hostname without a private UTS namespace.
        .hostname = host_network ? "" : name,
        .log_directory = (dir_ / "pods" / ("default_" + name + "_" + uid)).string(),
        .labels = {{"io.kubernetes.pod.name", name}, {"io.kubernetes.pod.namespace", "default"},
                   {"io.kubernetes.pod.uid", uid}},
        .cgroup_parent = cgroup_parent_ + "/pod" + uid,
    };
    c.security.namespaces.network = host_network ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
    fs::create_directories(c.log_directory);
    return c;
  }

  cri::ContainerConfig container_config(const std::string& name, std::vector<std::string> command) {
    return {.metadata = {.name = name, .attempt = 0},
            .image = std::string(kBusyboxImageName),
            .command = std::move(command),
            .labels = {{"io.kubernetes.container.name", name}},
            .log_path = name + "/0.log"};
  }

  // Polls the CRI (50 ms) until the container leaves CREATED/RUNNING.
  cri::ContainerStatus wait_exited(const std::string& id, milliseconds timeout = std::chrono::seconds(20)) {
    cri::ContainerStatus last;
    testing::eventually(
        [&] {
          auto s = runtime_->container_status(id);
          if (s.ok()) last = *s;
          return s.ok() && s->state == cri::ContainerState::kExited;
        },
        timeout);
    return last;
  }

  testing::CommandResult ctr(std::vector<std::string> args) {
    std::vector<std::string> argv = {"ctr", "--address", supervisor_->socket_path().string(), "-n", "k8s.io"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv);
  }

  testing::TempDir dir_{"kedge-e2e"};
  std::string suffix_, bridge_, pod_cidr_, cgroup_parent_;
  std::unique_ptr<ContainerdSupervisor> supervisor_;
  std::unique_ptr<cri::RuntimeClient> runtime_;
};

TEST_F(ContainerdE2E, HostNetworkPodRunsToCompletionWithCriLogsAndCleansUp) {
  auto status = runtime_->status();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->runtime_ready());
  EXPECT_TRUE(status->network_ready()) << "our CNI conflist was not loaded";

  auto sandbox = sandbox_config("hello", /*host_network=*/true);
  auto t0 = Clock::now();
  auto sb = runtime_->run_pod_sandbox(sandbox);
  ASSERT_TRUE(sb.ok()) << sb.status().to_string() << "\n" << read_all(supervisor_->log_path());
  auto t1 = Clock::now();
  auto cid = runtime_->create_container(*sb, container_config("app", {"sh", "-c", "echo hello; echo err >&2"}),
                                        sandbox);
  ASSERT_TRUE(cid.ok()) << cid.status().to_string();
  auto t2 = Clock::now();
  ASSERT_TRUE(runtime_->start_container(*cid).ok());
  auto t3 = Clock::now();
  std::printf("[figure] cold host-network pod: RunPodSandbox %.0f ms, CreateContainer %.0f ms, StartContainer %.0f ms\n",
              ms_between(t0, t1), ms_between(t1, t2), ms_between(t2, t3));

  auto exited = wait_exited(*cid);
  ASSERT_EQ(exited.state, cri::ContainerState::kExited);
  EXPECT_EQ(exited.exit_code, 0);
  EXPECT_EQ(exited.reason, "Completed");
  EXPECT_EQ(exited.log_path, sandbox.log_directory + "/app/0.log");

  // CRI log format: <RFC3339Nano> <stream> <P|F> <text>
  const std::string log = read_all(exited.log_path);
  const std::regex line_re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [PF] .*$)");
  std::istringstream lines(log);
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    EXPECT_TRUE(std::regex_match(line, line_re)) << "bad CRI log line: " << line;
  }
  EXPECT_EQ(count, 2) << log;
  EXPECT_NE(log.find(" stdout F hello\n"), std::string::npos) << log;
  EXPECT_NE(log.find(" stderr F err\n"), std::string::npos) << log;

  ASSERT_TRUE(runtime_->remove_container(*cid).ok());
  ASSERT_TRUE(runtime_->stop_pod_sandbox(*sb).ok());
  ASSERT_TRUE(runtime_->remove_pod_sandbox(*sb).ok());
  auto containers = runtime_->list_containers();
  ASSERT_TRUE(containers.ok());
  EXPECT_TRUE(containers->empty());
  // containerd's own view: no container records and no tasks left.
  auto ls = ctr({"containers", "ls", "-q"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "") << "containers left behind";
  auto tasks = ctr({"tasks", "ls", "-q"});
  EXPECT_EQ(tasks.exit_code, 0) << tasks.err;
  EXPECT_EQ(tasks.out, "") << "tasks left behind";
}

TEST_F(ContainerdE2E, BridgePodGetsAddressFromPodCidrAndExecSyncWorks) {
  auto sandbox = sandbox_config("web", /*host_network=*/false);
  auto sb = runtime_->run_pod_sandbox(sandbox);
  ASSERT_TRUE(sb.ok()) << sb.status().to_string() << "\n" << read_all(supervisor_->log_path());
  auto st = runtime_->pod_sandbox_status(*sb);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, cri::SandboxState::kReady);
  auto cidr = Ipv4Cidr::parse(pod_cidr_);
  auto ip = Ipv4Cidr::parse_address(st->ip);
  ASSERT_TRUE(ip.ok()) << "pod IP \"" << st->ip << "\"";
  EXPECT_TRUE(cidr->contains(*ip)) << st->ip << " not in " << pod_cidr_;
  EXPECT_EQ(testing::run({"ip", "link", "show", bridge_}).exit_code, 0) << "bridge " << bridge_ << " missing";

  auto cid = runtime_->create_container(*sb, container_config("sleeper", {"sleep", "3600"}), sandbox);
  ASSERT_TRUE(cid.ok()) << cid.status().to_string();
  ASSERT_TRUE(runtime_->start_container(*cid).ok());

  auto exec = runtime_->exec_sync(*cid, {"sh", "-c", "hostname; ip -4 addr show eth0"}, std::chrono::seconds(10));
  ASSERT_TRUE(exec.ok()) << exec.status().to_string();
  EXPECT_EQ(exec->exit_code, 0) << exec->stderr_data;
  EXPECT_TRUE(exec->stdout_data.starts_with("web\n")) << exec->stdout_data;
  EXPECT_NE(exec->stdout_data.find("inet " + st->ip + "/24"), std::string::npos) << exec->stdout_data;
  auto failing = runtime_->exec_sync(*cid, {"sh", "-c", "echo no >&2; exit 7"}, std::chrono::seconds(10));
  ASSERT_TRUE(failing.ok());
  EXPECT_EQ(failing->exit_code, 7);
  EXPECT_EQ(failing->stderr_data, "no\n");

  // The host reaches the pod through the bridge (the node's gateway role).
  auto ping = testing::run({"ping", "-c", "1", "-W", "2", st->ip});
  if (ping.exit_code != 127) {
    EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;
  }

  ASSERT_TRUE(runtime_->stop_container(*cid, std::chrono::seconds(1)).ok());
  auto stopped = runtime_->container_status(*cid);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->state, cri::ContainerState::kExited);
  ASSERT_TRUE(runtime_->stop_pod_sandbox(*sb).ok());
  ASSERT_TRUE(runtime_->remove_pod_sandbox(*sb).ok());
  EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "");
  EXPECT_EQ(ctr({"tasks", "ls", "-q"}).out, "");
  // host-local released the address.
  const fs::path ipam = dir_ / "agent/cni/ipam" / ("kedge-" + suffix_) / st->ip;
  EXPECT_FALSE(fs::exists(ipam)) << ipam;
}

TEST_F(ContainerdE2E, MemoryLimitEndsInOomKilled) {
  auto sandbox = sandbox_config("hungry", /*host_network=*/true);
  auto sb = runtime_->run_pod_sandbox(sandbox);
  ASSERT_TRUE(sb.ok()) << sb.status().to_string();
  // dd fills a 64 MiB buffer from /dev/zero: every page is touched.
  auto config = container_config("eater", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  config.resources.memory_limit_in_bytes = 16 << 20;
  auto cid = runtime_->create_container(*sb, config, sandbox);
  ASSERT_TRUE(cid.ok()) << cid.status().to_string();
  ASSERT_TRUE(runtime_->start_container(*cid).ok());
  auto exited = wait_exited(*cid);
  ASSERT_EQ(exited.state, cri::ContainerState::kExited);
  EXPECT_EQ(exited.exit_code, 137);
  EXPECT_EQ(exited.reason, "OOMKilled");
}

TEST_F(ContainerdE2E, SupervisorRestartsKilledContainerdAndPodsSurvive) {
  auto sandbox = sandbox_config("survivor", /*host_network=*/true);
  auto sb = runtime_->run_pod_sandbox(sandbox);
  ASSERT_TRUE(sb.ok()) << sb.status().to_string();
  auto cid = runtime_->create_container(*sb, container_config("sleeper", {"sleep", "3600"}), sandbox);
  ASSERT_TRUE(cid.ok());
  ASSERT_TRUE(runtime_->start_container(*cid).ok());

  const pid_t first = supervisor_->pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  const auto t0 = Clock::now();
  ASSERT_TRUE(testing::eventually([&] { return supervisor_->ready() && supervisor_->pid() != first; },
                                  std::chrono::seconds(20)))
      << read_all(supervisor_->log_path());
  std::printf("[figure] containerd back %.0f ms after kill -9 (backoff 200 ms)\n", ms_between(t0, Clock::now()));
  EXPECT_EQ(supervisor_->restarts(), 1);
  // The old channel reconnects by itself; the container kept running.
  auto status = runtime_->container_status(*cid);
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  EXPECT_EQ(status->state, cri::ContainerState::kRunning);
}

TEST_F(ContainerdE2E, WarmLatenciesAndImportSkip) {
  // A second import finds both images by digest and runs no ctr.
  auto again = import_images({.containerd_socket = supervisor_->socket_path(),
                              .snapshotter = supervisor_->snapshotter()},
                             {dir_ / "agent/images/pause.tar", dir_ / "images/busybox.tar"}, *runtime_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->skipped.size(), 2u);
  EXPECT_TRUE(again->imported.empty());
  auto images = ctr({"images", "ls", "-q"});
  EXPECT_NE(images.out.find("kedge.local/busybox:latest"), std::string::npos) << images.out;
  EXPECT_NE(images.out.find(std::string(kPauseImageName)), std::string::npos) << images.out;

  // Warm: the first pod paid for loading the images and CNI; measure the next ones.
  for (bool host : {true, false}) {
    std::vector<double> run, create, start;
    for (int i = 0; i < 3; ++i) {
      auto sandbox = sandbox_config((host ? "warm-host-" : "warm-cni-") + std::to_string(i), host);
      auto t0 = Clock::now();
      auto sb = runtime_->run_pod_sandbox(sandbox);
      ASSERT_TRUE(sb.ok()) << sb.status().to_string();
      auto t1 = Clock::now();
      auto cid = runtime_->create_container(*sb, container_config("c", {"sleep", "3600"}), sandbox);
      ASSERT_TRUE(cid.ok());
      auto t2 = Clock::now();
      ASSERT_TRUE(runtime_->start_container(*cid).ok());
      auto t3 = Clock::now();
      if (i == 0) continue;
      run.push_back(ms_between(t0, t1));
      create.push_back(ms_between(t1, t2));
      start.push_back(ms_between(t2, t3));
    }
    const auto mean = [](const std::vector<double>& v) {
      double sum = 0;
      for (double x : v) sum += x;
      return sum / static_cast<double>(v.size());
    };
    std::printf("[figure] warm %s pod (mean of 2): RunPodSandbox %.0f ms, CreateContainer %.0f ms, "
                "StartContainer %.0f ms\n",
                host ? "host-network" : "bridge-CNI", mean(run), mean(create), mean(start));
  }
  const std::string status = read_all("/proc/self/status");
  std::printf("[figure] test process (supervisor + gRPC client) %s",
              status.substr(status.find("VmRSS:"), status.find('\n', status.find("VmRSS:")) - status.find("VmRSS:") + 1).c_str());
}

// The `kedge agent` role as a user runs it: managed containerd, airgap
// import from <data-dir>/images, readiness in the log, clean stop on SIGTERM.
TEST(KedgeAgentRole, StartsContainerdImportsImagesAndStopsOnSigterm) {
  KEDGE_REQUIRE(testing::is_root(), "root (containerd)");
  KEDGE_REQUIRE(!testing::find_binary("containerd").empty() && !testing::find_binary("ctr").empty(),
                "containerd and ctr");
  KEDGE_REQUIRE(fs::exists("/bin/busybox"), "busybox-static at /bin/busybox");
  testing::TempDir dir("kedge-agent");
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof(suffix), "%06x", rd() & 0xffffff);
  const std::string bridge = std::string("kbr") + suffix;
  struct Cleanup {
    fs::path dir;
    std::string bridge;
    ~Cleanup() { unmount_under_and_delete_bridge(dir, bridge); }
  } cleanup{dir.path(), bridge};
  ASSERT_TRUE(write_busybox_image({.name = "kedge.local/airgap:v1"}, dir / "images" / "airgap.tar").ok());
  std::vector<std::string> argv = {testing::kedge_binary(), "agent", "--data-dir", dir.path().string(),
                                   "--pod-cidr", "10.251." + std::to_string(rd() & 0xff) + ".0/24",
                                   "--cni-bridge", bridge, "--cni-network", std::string("kedge-") + suffix};
  std::string socket = (dir / "containerd" / "containerd.sock").string();
  {
    testing::Process agent(argv, dir / "agent.log");
    ASSERT_TRUE(testing::eventually([&] { return agent.log().find("runtime ready after") != std::string::npos; },
                                    std::chrono::seconds(60)))
        << agent.log();
    const std::string log = agent.log();
    EXPECT_NE(log.find("restrict_oom_score_adj = true"), std::string::npos) << log;
    EXPECT_NE(log.find("imported airgap.tar (kedge.local/airgap:v1)"), std::string::npos) << log;
    EXPECT_NE(log.find("NetworkReady=true"), std::string::npos) << log;
    auto images = testing::run({"ctr", "--address", socket, "-n", "k8s.io", "images", "ls", "-q"});
    EXPECT_NE(images.out.find("kedge.local/airgap:v1"), std::string::npos) << images.out;
    EXPECT_NE(images.out.find(std::string(kPauseImageName)), std::string::npos) << images.out;
    const std::string status = read_all("/proc/" + std::to_string(agent.pid()) + "/status");
    const auto rss = status.find("VmRSS:");
    std::printf("[figure] kedge agent (supervisor, idle after import) %s",
                status.substr(rss, status.find('\n', rss) - rss + 1).c_str());
    EXPECT_EQ(agent.kill_and_wait(SIGTERM), 0) << agent.log();
    EXPECT_NE(agent.log().find("pods keep running"), std::string::npos);
  }
  // containerd went with it: nothing answers on the socket any more.
  auto gone = cri::connect({.endpoint = socket, .connect_timeout = milliseconds(500)});
  EXPECT_FALSE(gone.ok());
  {
    // A second start finds the images by digest and imports nothing.
    testing::Process agent(argv, dir / "agent2.log");
    ASSERT_TRUE(testing::eventually([&] { return agent.log().find("runtime ready after") != std::string::npos; },
                                    std::chrono::seconds(60)))
        << agent.log();
    EXPECT_NE(agent.log().find("images: 0 imported, 2 already present, 0 failed"), std::string::npos) << agent.log();
    EXPECT_EQ(agent.kill_and_wait(SIGTERM), 0);
  }
}

}  // namespace
}  // namespace kedge::agent

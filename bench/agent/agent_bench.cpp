// agent_bench: what `kedge agent` costs on a node, measured against a real
// `kedge server --disable-agent` and the agent's managed containerd.
//
//   agent_bench [--kedge PATH] [--pods 30] [--serial 10]
//
// 1. idle: RSS and CPU ticks of the agent process over 10 s with no pods;
// 2. latency: --serial pods created one at a time, each waited Running; the
//    agent logs per pod "running: T ms after its first sync, C ms in runtime
//    calls, K ms kedge" (TimedRuntime) — printed as median/max — and the bench
//    adds create→Running as kubectl sees it;
// 3. load: the rest of --pods at once, then RSS and CPU over 10 s with all running.
// Everything it starts lives in a temp dir and is removed at the end.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <regex>
#include <thread>

#include <boost/json.hpp>

#include "e2e_support.h"
#include "kedge/agent/oci_image.h"
#include "kedge/cri/runtime_client.h"
#include "kedge/testing/process.h"

namespace fs = std::filesystem;
using namespace kedge;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

namespace {

long status_kb(pid_t pid, const char* key) {
  std::istringstream in(agent::e2e::read_all("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  }
  return -1;
}

long cpu_ticks(pid_t pid) {
  const std::string stat = agent::e2e::read_all("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) utime = std::atol(f.c_str());
    if (i == 15) stime = std::atol(f.c_str());
  }
  return utime + stime;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string kedge = testing::kedge_binary();
  int pods = 30, serial = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--kedge") kedge = argv[i + 1];
    if (a == "--pods") pods = std::atoi(argv[i + 1]);
    if (a == "--serial") serial = std::atoi(argv[i + 1]);
  }
  testing::TempDir dir("kedge-agent-bench");
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof(suffix), "%06x", rd() & 0xffffff);
  const std::string node = std::string("bench-") + suffix, bridge = std::string("kbb") + suffix;
  const std::string cgroup_root = std::string("/kedge-bench-") + suffix;
  const std::string octet = std::to_string(200 + rd() % 50);
  if (!agent::write_busybox_image({}, dir / "agent" / "images" / "busybox.tar").ok()) return 1;
  const int port = testing::free_port();
  auto server = std::make_unique<testing::Process>(
      std::vector<std::string>{kedge, "server", "--config", "/dev/null", "--disable-agent", "--disable-proxy",
                               "--data-dir", (dir / "server").string(), "--https-listen-port", std::to_string(port),
                               "--bind-address", "127.0.0.1", "--write-kubeconfig", (dir / "kedge.yaml").string(),
                               "--cluster-cidr", "10." + octet + ".0.0/16"},
      dir / "server.log");
  if (!testing::eventually([&] { return server->log().find("is ready") != std::string::npos; }, seconds(60))) {
    std::fprintf(stderr, "server did not start:\n%s\n", server->log().c_str());
    return 1;
  }
  auto kubectl = [&](std::vector<std::string> args, const std::string& in = "") {
    std::vector<std::string> a = {"/usr/bin/kubectl", "--kubeconfig", (dir / "kedge.yaml").string()};
    a.insert(a.end(), args.begin(), args.end());
    return testing::run(a, {.env = {{"HOME", dir.path().string()}}, .stdin_data = in, .timeout = seconds(60)});
  };
  auto agent_proc = std::make_unique<testing::Process>(
      std::vector<std::string>{kedge, "agent", "--config", "/dev/null", "--kubeconfig", (dir / "kedge.yaml").string(),
                               "--data-dir", (dir / "agent").string(), "--node-name", node, "--disable-proxy",
                               "--pod-log-dir", (dir / "pod-logs").string(), "--cni-bridge", bridge, "--cni-network",
                               std::string("bench-") + suffix, "--pod-cidr", "10." + octet + ".1.0/24",
                               "--cgroup-root", cgroup_root, "--agent-api-port", std::to_string(testing::free_port())},
      dir / "agent.log");
  const std::string socket = (dir / "agent" / "containerd" / "containerd.sock").string();
  auto cleanup = [&] {
    kubectl({"delete", "pods", "--all", "--grace-period=1", "--wait=false"});
    if (auto rt = cri::connect({.endpoint = socket}); rt.ok()) {
      for (const auto& s : (*rt)->list_pod_sandboxes().value_or({})) {
        (void)(*rt)->stop_pod_sandbox(s.id);
        (void)(*rt)->remove_pod_sandbox(s.id);
      }
    }
    agent_proc.reset();
    server.reset();
    agent::e2e::kill_cgroup_processes(cgroup_root);
    agent::e2e::kill_leftover_shims(socket);
    agent::e2e::unmount_under_and_delete_bridge(dir.path(), bridge);
    agent::e2e::remove_cgroups(cgroup_root);
  };
  const bool ready = testing::eventually(
      [&] { return kubectl({"get", "node", node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"}).out == "True"; },
      seconds(90));
  if (!ready) {
    std::fprintf(stderr, "node not Ready:\n%s\n", agent_proc->log().c_str());
    cleanup();
    return 1;
  }
  const pid_t pid = agent_proc->pid();
  std::this_thread::sleep_for(seconds(5));
  long t0 = cpu_ticks(pid);
  std::this_thread::sleep_for(seconds(10));
  const long idle_ticks = cpu_ticks(pid) - t0;
  const long idle_rss = status_kb(pid, "VmRSS:"), idle_threads = status_kb(pid, "Threads:");
  const long idle_anon = status_kb(pid, "RssAnon:"), idle_file = status_kb(pid, "RssFile:");

  auto pod_yaml = [&](int i) {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p" + std::to_string(i) + "\nspec:\n  nodeName: " + node +
           "\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: kedge.local/busybox:latest\n"
           "    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n";
  };
  auto running = [&](const std::string& name) {
    return kubectl({"get", "pod", name, "-o", "jsonpath={.status.phase}"}).out == "Running";
  };
  std::vector<double> observed;
  for (int i = 0; i < serial && i < pods; ++i) {
    const auto start = Clock::now();
    kubectl({"apply", "-f", "-"}, pod_yaml(i));
    testing::eventually([&] { return running("p" + std::to_string(i)); }, seconds(60));
    observed.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::string all;
  for (int i = serial; i < pods; ++i) all += pod_yaml(i) + "---\n";
  if (!all.empty()) kubectl({"apply", "-f", "-"}, all);
  testing::eventually(
      [&] {
        auto out = kubectl({"get", "pods", "--no-headers"}).out;
        std::istringstream lines(out);
        int n = 0;
        for (std::string l; std::getline(lines, l);) {
          if (l.find(" Running ") == std::string::npos) return false;
          ++n;
        }
        return n == pods;
      },
      seconds(180));
  std::this_thread::sleep_for(seconds(5));
  t0 = cpu_ticks(pid);
  std::this_thread::sleep_for(seconds(10));
  const long load_ticks = cpu_ticks(pid) - t0;
  const long load_rss = status_kb(pid, "VmRSS:"), load_threads = status_kb(pid, "Threads:");
  const long load_anon = status_kb(pid, "RssAnon:"), load_file = status_kb(pid, "RssFile:");

  // Per-pod split from the agent's log.
  std::vector<double> total, cri, own;
  const std::regex line(R"(pod default/p(\d+) running: ([0-9.]+) ms after its first sync, ([0-9.]+) ms in runtime calls, ([0-9.-]+) ms kedge)");
  const std::string log = agent_proc->log();
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    if (std::stoi((*it)[1]) >= serial) continue;
    total.push_back(std::stod((*it)[2]));
    cri.push_back(std::stod((*it)[3]));
    own.push_back(std::stod((*it)[4]));
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  // RSS = anonymous (the agent's own heap, stacks) + file (library and
  // binary pages it has mapped in, shared with the page cache).
  std::printf("agent idle:         RSS %ld KiB (anon %ld, file %ld), %ld threads, CPU %.2f%% over 10 s\n", idle_rss,
              idle_anon, idle_file, idle_threads, 100.0 * idle_ticks / hz / 10);
  std::printf("agent with %d pods: RSS %ld KiB (anon %ld, file %ld), %ld threads, CPU %.2f%% over 10 s\n", pods,
              load_rss, load_anon, load_file, load_threads, 100.0 * load_ticks / hz / 10);
  std::printf("pod start, %zu pods one at a time (median / max):\n", total.size());
  std::printf("  first sync -> Running status: %.1f / %.1f ms\n", median(total),
              total.empty() ? 0 : *std::max_element(total.begin(), total.end()));
  std::printf("  inside containerd (CRI):      %.1f / %.1f ms\n", median(cri),
              cri.empty() ? 0 : *std::max_element(cri.begin(), cri.end()));
  std::printf("  kedge's own:                  %.1f / %.1f ms\n", median(own),
              own.empty() ? 0 : *std::max_element(own.begin(), own.end()));
  std::printf("  kubectl apply -> phase Running seen by kubectl polling: %.0f ms median\n", median(observed));
  cleanup();
  return 0;
}

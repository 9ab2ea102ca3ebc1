// e2e: `kubectl logs` through the real `kedge server` (edge-control's
// pods/log proxy) to the agent API (:10250, HTTPS with client certificates
// from the server's cluster CA), reading CRI log files this test writes for
// pods it created with a node set. The agent API runs in this process, as
// the node's agent-api part would, because the server's agent parts also
// start containerd; the log files are what the runtime would have written.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>

#include "kedge/agent/agent_api.h"
#include "kedge/control/pki.h"
#include "kedge/cri/fake_runtime_client.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::testing {
namespace {

namespace fs = std::filesystem;

bool has_kubectl() { return fs::exists("/usr/bin/kubectl"); }

void append(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::app | std::ios::binary);
  out << text;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() % 1000000000;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(ns));
  return std::string(buf) + frac + "Z";
}

// One server and one agent API serve the whole suite (each test uses its
// own pod names), to keep the suite short.
struct Cluster {
  // A running container of `pod` in the in-memory runtime, labelled as the
  // kubelet labels them; returns its id.
  std::string run_container(const std::string& pod, const std::string& container) {
    runtime_.add_image("kedge.local/busybox:latest", "sha256:1");
    const std::string uid = kubectl({"get", "pod", pod, "-o", "jsonpath={.metadata.uid}"}).out;
    cri::PodSandboxConfig sandbox{.metadata = {.name = pod, .uid = uid, .namespace_name = "default"}};
    auto sb = runtime_.run_pod_sandbox(sandbox);
    EXPECT_TRUE(sb.ok()) << sb.status().message();
    cri::ContainerConfig config{.metadata = {.name = container}, .image = "kedge.local/busybox:latest"};
    config.labels = {{"io.kubernetes.pod.namespace", "default"},
                     {"io.kubernetes.pod.name", pod},
                     {"io.kubernetes.pod.uid", uid},
                     {"io.kubernetes.container.name", container}};
    auto id = runtime_.create_container(*sb, config, sandbox);
    EXPECT_TRUE(id.ok()) << id.status().message();
    EXPECT_TRUE(runtime_.start_container(*id).ok());
    return *id;
  }

  TempDir data_{"kedge-logs-e2e"};
  TempDir home_{"kedge-logs-home"};
  TempDir logs_{"kedge-logs-pods"};
  int port_ = 0;
  fs::path kubeconfig_;
  std::unique_ptr<Process> server_;
  // Exec goes to the CRI; this in-memory runtime stands in for containerd
  // (echo/exit N/false as commands). Declared before agent_, which borrows it.
  cri::FakeRuntimeClient runtime_;
  std::unique_ptr<agent::AgentApi> agent_;

  ~Cluster() {
    if (agent_) agent_->stop();
  }

  void start() {
    port_ = free_port();
    kubeconfig_ = data_.path() / "kedge.yaml";
    server_ = std::make_unique<Process>(
        std::vector<std::string>{kedge_binary(), "server", "--disable-agent", "--disable-proxy",
                                 "--disable-controller-manager", "--data-dir", data_.path().string(),
                                 "--https-listen-port", std::to_string(port_), "--bind-address", "127.0.0.1",
                                 "--write-kubeconfig", kubeconfig_.string(), "--config", "/dev/null"},
        home_.path() / "server.log");
    ASSERT_TRUE(eventually([&] { return server_->log().find("kedge server is ready") != std::string::npos ||
                                        !server_->running(); },
                           std::chrono::seconds(30)) &&
                server_->running())
        << server_->log();
    // The node's agent API, with a serving certificate from the cluster CA.
    const fs::path tls = data_.path() / "server" / "tls";
    control::PkiFiles ca{.ca_cert = tls / "ca.crt", .ca_key = tls / "ca.key"};
    ASSERT_TRUE(control::issue_serving_cert(ca, "n1", {"n1"}, {"127.0.0.1"}, home_.path() / "agent.crt",
                                            home_.path() / "agent.key")
                    .ok());
    agent_ = std::make_unique<agent::AgentApi>(agent::AgentApiOptions{
        .bind_address = "127.0.0.1",
        .port = 0,
        .cert_file = home_.path() / "agent.crt",
        .key_file = home_.path() / "agent.key",
        .client_ca_file = tls / "ca.crt",
        .pod_log_dir = logs_.path(),
        .runtime = &runtime_});
    ASSERT_TRUE(agent_->start().ok());
    add_node("n1", agent_->port());
  }

  CommandResult kubectl(std::vector<std::string> args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", kubeconfig_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, CommandOptions{.env = env(), .stdin_data = stdin_data, .timeout = std::chrono::seconds(30)});
  }
  std::map<std::string, std::string> env() {
    return {{"HOME", home_.path().string()}, {"KUBECACHEDIR", (home_.path() / "cache").string()}};
  }

  void add_node(const std::string& name, int agent_port) {
    auto r = kubectl({"apply", "-f", "-"}, "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name + "\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = kubectl({"patch", "node", name, "--subresource=status", "--type=merge", "-p",
                 R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],)"
                 R"("daemonEndpoints":{"kubeletEndpoint":{"Port":)" +
                     std::to_string(agent_port) + "}}}}"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Creates pod `name` (containers `containers`, on `node` if set) and
  // returns its log directory.
  fs::path add_pod(const std::string& name, const std::string& node, std::vector<std::string> containers = {"app"},
                   const std::string& labels = "") {
    std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: default\n";
    if (!labels.empty()) yaml += "  labels: {" + labels + "}\n";
    yaml += "spec:\n";
    if (!node.empty()) yaml += "  nodeName: " + node + "\n";
    yaml += "  containers:\n";
    for (const auto& c : containers) yaml += "  - name: " + c + "\n    image: kedge.local/busybox:latest\n";
    auto r = kubectl({"apply", "-f", "-"}, yaml);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto uid = kubectl({"get", "pod", name, "-o", "jsonpath={.metadata.uid}"});
    EXPECT_FALSE(uid.out.empty());
    return logs_.path() / ("default_" + name + "_" + uid.out);
  }

};

class LogsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!has_kubectl()) return;
    cluster_ = new Cluster();
    cluster_->start();
    ready_ = !::testing::Test::HasFatalFailure();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
    ASSERT_TRUE(ready_) << cluster_->server_->log();
  }
  CommandResult kubectl(std::vector<std::string> args, const std::string& stdin_data = "") {
    return cluster_->kubectl(std::move(args), stdin_data);
  }
  std::map<std::string, std::string> env() { return cluster_->env(); }
  void add_node(const std::string& name, int agent_port) { cluster_->add_node(name, agent_port); }
  fs::path add_pod(const std::string& name, const std::string& node, std::vector<std::string> containers = {"app"},
                   const std::string& labels = "") {
    return cluster_->add_pod(name, node, std::move(containers), labels);
  }

  static Cluster* cluster_;
  static bool ready_;
};

Cluster* LogsE2E::cluster_ = nullptr;
bool LogsE2E::ready_ = false;

TEST_F(LogsE2E, KubectlLogsFlags) {
  fs::path dir = add_pod("web", "n1");
  const auto now = std::chrono::system_clock::now();
  const std::string old_ts = "2020-01-01T00:00:00.5Z";
  const std::string recent = rfc3339(now - std::chrono::seconds(10));
  append(dir / "app" / "0.log", old_ts + " stdout F previous run\n");
  append(dir / "app" / "1.log", old_ts + " stdout F one\n" + old_ts + " stderr F two\n" + recent +
                                    " stdout P thr\n" + recent + " stdout F ee\n");
  // An earlier pod of the same name left newer files: the pod's UID decides.
  append(cluster_->logs_.path() / "default_web_0ld-uid" / "app" / "5.log", old_ts + " stdout F stale pod\n");

  auto r = kubectl({"logs", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "one\ntwo\nthree\n");
  r = kubectl({"logs", "web", "-c", "app", "--tail=1"});
  EXPECT_EQ(r.out, "three\n") << r.err;
  r = kubectl({"logs", "web", "--timestamps", "--tail=2"});
  EXPECT_EQ(r.out, old_ts + " two\n" + recent + " three\n") << r.err;
  r = kubectl({"logs", "web", "--since=1h"});
  EXPECT_EQ(r.out, "three\n") << r.err;
  r = kubectl({"logs", "web", "--since-time=2020-01-01T00:00:01Z"});
  EXPECT_EQ(r.out, "three\n") << r.err;
  r = kubectl({"logs", "web", "--limit-bytes=6"});
  EXPECT_EQ(r.out, "one\ntw") << r.err;
  r = kubectl({"logs", "web", "--previous"});
  EXPECT_EQ(r.out, "previous run\n") << r.err;
}

TEST_F(LogsE2E, FollowSeesAppendedLinesAndEndsWithTheContainer) {
  fs::path dir = add_pod("tail", "n1");
  append(dir / "app" / "0.log", "2020-01-01T00:00:00Z stdout F start\n");
  const std::string id = cluster_->run_container("tail", "app");
  Process follow({"/usr/bin/kubectl", "--kubeconfig", cluster_->kubeconfig_.string(), "logs", "-f", "tail"},
                 cluster_->home_.path() / "follow.log", env());
  ASSERT_TRUE(eventually([&] { return follow.log() == "start\n"; })) << follow.log();
  append(dir / "app" / "0.log", "2020-01-01T00:00:01Z stdout F appended\n");
  ASSERT_TRUE(eventually([&] { return follow.log() == "start\nappended\n"; })) << follow.log();
  EXPECT_TRUE(follow.running());
  // The container exits (writing nothing more): `kubectl logs -f` ends.
  ASSERT_TRUE(cluster_->runtime_.exit_container(id, 0, "Completed").ok());
  ASSERT_TRUE(eventually([&] { return !follow.running(); })) << follow.log();
  EXPECT_EQ(follow.log(), "start\nappended\n");
  // -f on a stopped container prints the log and returns.
  auto r = kubectl({"logs", "-f", "tail"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "start\nappended\n");
}

TEST_F(LogsE2E, DeploymentPicksItsPod) {
  fs::path dir = add_pod("web-abc", "n1", {"app"}, "app: web");
  append(dir / "app" / "0.log", "2020-01-01T00:00:00Z stdout F from the deployment's pod\n");
  auto r = kubectl({"apply", "-f", "-"},
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n"
                   "spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n"
                   "    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n"
                   "      - name: app\n        image: kedge.local/busybox:latest\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = kubectl({"logs", "deploy/web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from the deployment's pod\n");
}

TEST_F(LogsE2E, Errors) {
  auto r = kubectl({"logs", "nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pods \"nope\" not found"), std::string::npos) << r.err;

  add_pod("pending", "");
  r = kubectl({"logs", "pending"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("pod pending does not have a host assigned"), std::string::npos) << r.err;

  fs::path dir = add_pod("two", "n1", {"a", "b"});
  append(dir / "b" / "0.log", "2020-01-01T00:00:00Z stdout F b says hi\n");
  r = kubectl({"logs", "two", "-c", "nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("container nope is not valid for pod two"), std::string::npos) << r.err;
  r = kubectl({"logs", "two", "-c", "b"});
  EXPECT_EQ(r.out, "b says hi\n") << r.err;
  // Container a never wrote a log: the agent's NotFound comes through.
  r = kubectl({"logs", "two", "-c", "a"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("container \"a\" in pod \"two\" has no logs yet"), std::string::npos) << r.err;
  r = kubectl({"logs", "two", "-c", "b", "--previous"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("previous terminated container \"b\" in pod \"two\" not found"), std::string::npos)
      << r.err;

  // A node whose agent does not answer.
  add_node("n2", free_port());
  add_pod("lost", "n2");
  r = kubectl({"logs", "lost"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot reach the agent on node n2"), std::string::npos) << r.err;
}

TEST_F(LogsE2E, AgentApiNeedsAClusterCertificate) {
  const std::string base = "https://127.0.0.1:" + std::to_string(cluster_->agent_->port());
  const fs::path tls = cluster_->data_.path() / "server" / "tls";
  auto curl = [&](std::vector<std::string> extra, const std::string& path) {
    std::vector<std::string> argv = {"curl", "-sS", "--cacert", (tls / "ca.crt").string(), "-w", "\n%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(base + path);
    return run(argv);
  };
  auto health = curl({}, "/healthz");
  EXPECT_NE(health.out.find("ok\n200"), std::string::npos) << health.out << health.err;
  auto anon = curl({}, "/pods");
  EXPECT_NE(anon.out.find("401"), std::string::npos) << anon.out;
  auto admin = curl({"--cert", (tls / "client-admin.crt").string(), "--key", (tls / "client-admin.key").string()},
                    "/containerLogs/default/x/y?tailLines=-1");
  EXPECT_NE(admin.out.find("\n400"), std::string::npos) << admin.out;
  // A certificate from another CA is no certificate at all.
  TempDir other;
  control::PkiOptions po{.dir = other.path()};
  auto foreign = control::ensure_pki(po);
  ASSERT_TRUE(foreign.ok());
  auto stranger = curl({"--cert", foreign->admin_cert.string(), "--key", foreign->admin_key.string()}, "/pods");
  EXPECT_NE(stranger.out.find("401"), std::string::npos) << stranger.out;
}

// kubectl exec over WebSocket (v5.channel.k8s.io) → edge-control → agent →
// CRI ExecSync (here the in-memory runtime; the kubelet's e2e runs it on
// containerd): output, exit code propagation, and the refusal of -i/-t.
TEST_F(LogsE2E, ExecRunsTheCommandAndPropagatesTheExitCode) {
  add_pod("shell", "n1");
  auto r = kubectl({"patch", "pod", "shell", "--subresource=status", "--type=merge", "-p",
                    R"({"status":{"phase":"Running"}})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto& rt = cluster_->runtime_;
  const std::string id = cluster_->run_container("shell", "app");

  r = kubectl({"exec", "shell", "--", "echo", "hello", "from", "exec"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from exec\n");
  r = kubectl({"exec", "shell", "-c", "app", "--", "exit", "7"});
  EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
  EXPECT_NE(r.err.find("command terminated with exit code 7"), std::string::npos) << r.err;
  r = kubectl({"exec", "-i", "shell", "--", "echo", "x"}, "input");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("without stdin and tty"), std::string::npos) << r.err;
  // The container stopped: a clear error, not a hang.
  ASSERT_TRUE(rt.exit_container(id, 0, "Completed").ok());
  r = kubectl({"exec", "shell", "--", "echo", "late"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("container app in pod shell is not running on this node"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kedge::testing

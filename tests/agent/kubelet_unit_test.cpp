// The kubelet's pure pieces: Pod → CRI configs (DNS, cgroup parent, labels,
// ports, env valueFrom/envFrom, resources, security), the ..data atomic
// writer, probe thresholds, and the pod workers' coalescing and timers.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "../../agent/src/api_util.h"
#include "../../agent/src/pod_checkpoint.h"
#include "../../agent/src/pod_config.h"
#include "../../agent/src/pod_workers.h"
#include "../../agent/src/probes.h"
#include "../../agent/src/volumes.h"
#include "kedge/cri/fake_runtime_client.h"
#include "kedge/testing/process.h"

namespace kedge::agent::detail {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

api::Pod pod_from(const std::string& text) {
  auto pod = api::Pod::from_json(json::parse(text));
  EXPECT_TRUE(pod.ok()) << pod.status().to_string();
  return *pod;
}

class FakeObjects final : public ObjectSource {
 public:
  Result<DataMap> get(ObjectKind kind, const std::string& ns, const std::string& name) override {
    auto it = data.find((kind == ObjectKind::kConfigMap ? "cm/" : "secret/") + ns + "/" + name);
    if (!fail_with.ok()) return fail_with;
    if (it == data.end()) return not_found("configmap \"" + name + "\" not found");
    return it->second;
  }
  std::map<std::string, DataMap> data;
  Status fail_with;  // e.g. unavailable(): the API does not answer
};

constexpr const char* kPod = R"JSON({
  "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"}},
  "spec": {
    "nodeName": "n1",
    "containers": [{
      "name": "c", "image": "kedge.local/busybox:latest",
      "command": ["sh", "-c", "echo $(GREETING)"],
      "ports": [{"containerPort": 80, "hostPort": 8080}],
      "env": [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
        {"name": "MSG", "value": "say $(GREETING)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k", "optional": true}}}
      ],
      "envFrom": [{"prefix": "S_", "secretRef": {"name": "sec"}}],
      "resources": {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
      "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                          "capabilities": {"drop": ["ALL"]}}
    }]
  }
})JSON";

TEST(PodConfig, SandboxCarriesDnsCgroupPortsAndKubeletLabels) {
  const api::Pod pod = pod_from(kPod);
  SandboxSettings s{.pod_log_dir = "/logs", .cluster_dns = "10.43.0.10", .cluster_domain = "cluster.local"};
  auto c = make_sandbox_config(s, pod, 2);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->metadata.attempt, 2u);
  EXPECT_EQ(c->hostname, "web");
  EXPECT_EQ(c->log_directory, "/logs/prod_web_u-1");
  EXPECT_EQ(c->cgroup_parent, "/kubepods/burstable/podu-1");
  ASSERT_TRUE(c->dns);
  EXPECT_EQ(c->dns->servers, std::vector<std::string>{"10.43.0.10"});
  EXPECT_EQ(c->dns->searches,
            (std::vector<std::string>{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"}));
  EXPECT_EQ(c->dns->options, std::vector<std::string>{"ndots:5"});
  ASSERT_EQ(c->port_mappings.size(), 1u);
  EXPECT_EQ(c->port_mappings[0].host_port, 8080);
  EXPECT_EQ(c->labels.at(kPodUidLabel), "u-1");
  EXPECT_EQ(c->labels.at("app"), "web");
  EXPECT_EQ(c->security.namespaces.network, cri::NamespaceMode::kPod);
}

TEST(PodConfig, HostNetworkPodHasNoHostnameAndTheHostsResolver) {
  api::Pod pod = pod_from(kPod);
  pod.spec.host_network = true;
  const testing::TempDir dir;
  {
    std::ofstream(dir / "resolv.conf") << "nameserver 192.0.2.53\nsearch example.org\n";
  }
  auto c = make_sandbox_config({.cluster_dns = "10.43.0.10", .host_resolv_conf = (dir / "resolv.conf").string()}, pod, 0);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hostname, "");  // runc refuses a hostname without a UTS namespace
  EXPECT_EQ(c->dns->servers, std::vector<std::string>{"192.0.2.53"});
  EXPECT_EQ(c->security.namespaces.network, cri::NamespaceMode::kNode);
}

TEST(PodConfig, EnvResolvesValueFromAndEnvFrom) {
  const api::Pod pod = pod_from(kPod);
  FakeObjects objects;
  objects.data["cm/prod/cfg"] = {{"greeting", "hello"}};
  objects.data["secret/prod/sec"] = {{"token", "t0k"}};
  auto env = resolve_env(pod, pod.spec.containers[0], {.pod_ip = "10.42.0.7", .node_memory_bytes = 1 << 30}, objects);
  ASSERT_TRUE(env.ok()) << env.status().to_string();
  std::map<std::string, std::string> m;
  for (const auto& e : *env) m[e.name] = e.value;
  EXPECT_EQ(m["S_token"], "t0k");
  EXPECT_EQ(m["GREETING"], "hello");
  EXPECT_EQ(m["MSG"], "say hello");
  EXPECT_EQ(m["POD"], "web");
  EXPECT_EQ(m["IP"], "10.42.0.7");
  EXPECT_EQ(m["APP"], "web");
  EXPECT_EQ(m["MEM"], "64");
  EXPECT_FALSE(m.contains("OPT"));  // optional and missing: left out

  objects.data.erase("cm/prod/cfg");
  auto missing = resolve_env(pod, pod.spec.containers[0], {}, objects);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("configmap \"cfg\" not found"), std::string::npos);
}

TEST(PodConfig, ContainerConfigHasLogPathResourcesAndSecurity) {
  const api::Pod pod = pod_from(kPod);
  auto c = make_container_config(pod, pod.spec.containers[0], 3, {{"GREETING", "hi"}}, {}, 1LL << 30);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->log_path, "c/3.log");
  EXPECT_EQ(c->metadata.attempt, 3u);
  EXPECT_EQ(c->annotations.at(kRestartCountAnnotation), "3");
  EXPECT_EQ(c->labels.at(kContainerNameLabel), "c");
  EXPECT_EQ(c->command[2], "echo hi");  // $(VAR) expanded
  EXPECT_EQ(c->resources.cpu_shares, 256);
  EXPECT_EQ(c->resources.cpu_quota, 50000);
  EXPECT_EQ(c->resources.cpu_period, 100000);
  EXPECT_EQ(c->resources.memory_limit_in_bytes, 64 << 20);
  EXPECT_GT(c->resources.oom_score_adj, 2);  // Burstable
  EXPECT_TRUE(c->security.readonly_rootfs);
  EXPECT_TRUE(c->security.no_new_privs);
  EXPECT_EQ(c->security.drop_capabilities, std::vector<std::string>{"ALL"});
  EXPECT_EQ(c->security.seccomp.type, cri::SecurityProfile::Type::kRuntimeDefault);

  api::Pod root = pod;
  root.spec.containers[0].security_context->run_as_non_root = true;
  auto refused = make_container_config(root, root.spec.containers[0], 0, {}, {}, 1LL << 30);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("runAsNonRoot"), std::string::npos);

  api::Pod mounts = pod;
  mounts.spec.containers[0].volume_mounts.push_back({.name = "nope", .mount_path = "/x"});
  EXPECT_FALSE(make_container_config(mounts, mounts.spec.containers[0], 0, {}, {}, 1LL << 30).ok());
}

TEST(AtomicWriter, SwapsDataSymlinkOnlyWhenContentChanges) {
  const testing::TempDir dir;
  const fs::path vol = dir / "vol";
  auto first = atomic_write(vol, {{"a", {"1", 0644}}, {"sub/b", {"2", 0600}}});
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_EQ(read_file(vol / "a"), "1");
  EXPECT_EQ(read_file(vol / "sub" / "b"), "2");
  EXPECT_TRUE(fs::is_symlink(vol / "a"));
  EXPECT_TRUE(fs::is_symlink(vol / "..data"));
  const fs::path target = fs::read_symlink(vol / "..data");
  struct stat st{};
  ASSERT_EQ(::stat((vol / "sub" / "b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto same = atomic_write(vol, {{"a", {"1", 0644}}, {"sub/b", {"2", 0600}}});
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(*same);
  EXPECT_EQ(fs::read_symlink(vol / "..data"), target);

  auto changed = atomic_write(vol, {{"a", {"one", 0644}}});
  ASSERT_TRUE(changed.ok() && *changed);
  EXPECT_EQ(read_file(vol / "a"), "one");
  EXPECT_FALSE(fs::exists(vol / "sub"));       // dropped key: its link is gone
  EXPECT_FALSE(fs::exists(vol / target));      // and the old generation
  EXPECT_FALSE(atomic_write(vol, {{"../x", {"", 0644}}}).ok());
}

TEST(Probes, ThresholdsAsUpstream) {
  api::Probe p;
  p.failure_threshold = 3;
  p.success_threshold = 2;
  ProbeState s;
  EXPECT_FALSE(s.record(p, {true, ""}));
  EXPECT_TRUE(s.record(p, {true, ""}));  // two successes: ready
  EXPECT_TRUE(s.result);
  EXPECT_FALSE(s.record(p, {false, "x"}));
  EXPECT_FALSE(s.record(p, {false, "x"}));
  EXPECT_TRUE(s.record(p, {false, "x"}));  // third failure flips it
  EXPECT_FALSE(s.result);
}

TEST(Probes, TcpAndHttpAgainstALocalListener) {
  // tcpSocket fails on a closed port; httpGet fails when nothing answers.
  api::Probe tcp;
  tcp.kind = api::Probe::Kind::kTcpSocket;
  tcp.port = api::IntOrString::of(testing::free_port());
  api::Container c;
  cri::FakeRuntimeClient runtime;
  auto out = run_probe(tcp, c, "", "127.0.0.1", runtime);
  EXPECT_FALSE(out.success);
  api::Probe http = tcp;
  http.kind = api::Probe::Kind::kHttpGet;
  http.path = "/healthz";
  out = run_probe(http, c, "", "127.0.0.1", runtime);
  EXPECT_FALSE(out.success);
  EXPECT_NE(out.message.find("127.0.0.1"), std::string::npos) << out.message;
}

TEST(PodWorkers, CoalescesUpdatesAndFiresTimers) {
  std::mutex mu;
  std::vector<std::string> seen;  // resourceVersions synced
  std::atomic<int> running{0}, max_running{0};
  PodWorkers workers(2, [&](SyncRequest& r) {
    const int now = ++running;
    max_running = std::max(max_running.load(), now);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    {
      std::lock_guard lock(mu);
      seen.push_back(r.pod ? std::string(r.pod->at("rv").as_string()) : "-");
    }
    --running;
    if (r.deleted) return SyncResult{.phase = WorkerPhase::kTerminated, .forget = true};
    return SyncResult{.requeue_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(200)};
  });
  workers.start();
  auto obj = [](const char* rv) { return std::make_shared<const json::value>(json::object{{"rv", rv}}); };
  workers.update("a", obj("1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (const char* rv : {"2", "3", "4"}) workers.update("a", obj(rv));  // while "1" syncs
  ASSERT_TRUE(testing::eventually([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 3;  // 1, then 4 (coalesced), then the timer
  }, std::chrono::seconds(5)));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen[0], "1");
    EXPECT_EQ(seen[1], "4");
    EXPECT_EQ(seen[2], "4");
  }
  EXPECT_EQ(max_running.load(), 1);  // one sync at a time per pod
  workers.remove("a");
  EXPECT_TRUE(testing::eventually([&] { return workers.size() == 0; }, std::chrono::seconds(5)));
  workers.stop();
}

// The checkpoint is rewritten when a pod's metadata or spec changes, not on
// status or resourceVersion changes, and reads back what it holds.
TEST(PodCheckpoint, RewritesOnlyWhenThePodChangesAndReadsBack) {
  testing::TempDir dir;
  const fs::path file = dir.path() / "checkpoint.json";
  PodCheckpoint cp(file);
  json::value pod = json::parse(kPod);
  pod.as_object()["status"] = json::object{{"phase", "Running"}};
  pod.as_object()["metadata"].as_object()["resourceVersion"] = "10";
  ASSERT_TRUE(cp.put("u-1", pod).ok());
  ASSERT_TRUE(fs::exists(file));
  fs::remove(file);
  pod.as_object()["status"] = json::object{{"phase", "Failed"}};
  pod.as_object()["metadata"].as_object()["resourceVersion"] = "11";
  ASSERT_TRUE(cp.put("u-1", pod).ok());
  EXPECT_FALSE(fs::exists(file)) << "a status update rewrote the checkpoint";
  pod.as_object()["metadata"].as_object()["labels"].as_object()["app"] = "web2";
  ASSERT_TRUE(cp.put("u-1", pod).ok());
  ASSERT_TRUE(fs::exists(file));

  PodCheckpoint reread(file);
  auto pods = reread.load();
  ASSERT_TRUE(pods.ok()) << pods.status().to_string();
  ASSERT_EQ(pods->size(), 1u);
  const auto& o = (*pods)[0]->as_object();
  EXPECT_EQ(o.at("metadata").at("labels").at("app").as_string(), "web2");
  EXPECT_FALSE(o.contains("status"));
  EXPECT_FALSE(o.at("metadata").as_object().contains("resourceVersion"));
  // What was loaded is what put() compares with: re-listing writes nothing.
  fs::remove(file);
  ASSERT_TRUE(reread.put("u-1", pod).ok());
  EXPECT_FALSE(fs::exists(file));
  ASSERT_TRUE(reread.erase("u-1").ok());
  auto none = PodCheckpoint(file).load();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(PodCheckpoint, ACorruptFileIsAnErrorNotAnEmptyNode) {
  testing::TempDir dir;
  const fs::path file = dir.path() / "checkpoint.json";
  std::ofstream(file) << "[{\"metadata\": {\"uid\"";
  auto pods = PodCheckpoint(file).load();
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), Code::kDataLoss);
  EXPECT_NE(pods.status().message().find(file.string()), std::string::npos) << pods.status().message();
}

// A ConfigMap volume keeps the content on disk when the API does not answer
// (autonomy), but a ConfigMap the API says is gone is still an error.
TEST(Volumes, ContentOnDiskIsKeptWhileTheApiIsUnreachable) {
  testing::TempDir dir;
  FakeObjects objects;
  objects.data["cm/prod/cfg"] = {{"greeting", "hello"}};
  VolumeManager volumes(dir.path(), objects);
  const api::Pod pod = pod_from(R"JSON({
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1"},
    "spec": {"containers": [{"name": "c", "image": "i"}],
             "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}})JSON");
  auto paths = volumes.prepare(pod, EnvContext{});
  ASSERT_TRUE(paths.ok()) << paths.status().to_string();
  const fs::path file = fs::path(paths->at("cfg")) / "greeting";
  auto read = [&] {
    std::ifstream in(file);
    std::string s;
    std::getline(in, s);
    return s;
  };
  EXPECT_EQ(read(), "hello");

  objects.fail_with = unavailable("connection refused");
  auto offline = volumes.prepare(pod, EnvContext{});
  ASSERT_TRUE(offline.ok()) << offline.status().to_string();
  EXPECT_EQ(read(), "hello");

  // Nothing on disk yet for another pod: the error stays.
  api::Pod fresh = pod;
  fresh.metadata.uid = "u-2";
  EXPECT_FALSE(volumes.prepare(fresh, EnvContext{}).ok());

  objects.fail_with = ok_status();
  objects.data.clear();
  auto gone = volumes.prepare(pod, EnvContext{});
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("not found"), std::string::npos) << gone.status().message();
}

}  // namespace
}  // namespace kedge::agent::detail

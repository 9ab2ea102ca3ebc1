// e2e: the real `kedge server --disable-agent` on a free port with a temp
// data dir, driven by /usr/bin/kubectl (v1.32) with the kubeconfig the server
// wrote, and by curl for the raw HTTP cases kubectl will not send.
//
// One server serves the whole suite (a fresh namespace per test) to keep the
// suite short; the restart test starts its own.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"
#include "servers.h"  // tests/store/etcd: Debian etcd 3.4 on free ports

namespace kedge::testing {
namespace {

namespace fs = std::filesystem;

bool has_kubectl() { return fs::exists("/usr/bin/kubectl"); }

struct Server {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<TempDir> home;
  std::unique_ptr<Process> proc;
  int port = 0;
  fs::path kubeconfig;

  void start(const fs::path& data, const fs::path& home_dir, std::vector<std::string> extra = {}) {
    port = free_port();
    kubeconfig = data / "kedge.yaml";
    std::vector<std::string> argv = {kedge_binary(), "server", "--disable-agent", "--disable-proxy",
                                     "--data-dir", data.string(), "--https-listen-port",
                                     std::to_string(port), "--bind-address", "127.0.0.1",
                                     "--write-kubeconfig", kubeconfig.string(), "--config", "/dev/null"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, home_dir / ("server-" + std::to_string(port) + ".log"));
    (void)home_dir;
  }

  bool wait_ready() {
    return eventually([&] { return proc->log().find("kedge server is ready") != std::string::npos ||
                                   !proc->running(); },
                      std::chrono::seconds(30)) &&
           proc->running();
  }
};

CommandResult kubectl_at(const Server& s, const fs::path& home, std::vector<std::string> args,
                         const std::string& stdin_data = "", std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", s.kubeconfig.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  env["HOME"] = home.string();
  env["KUBECACHEDIR"] = (home / "cache").string();
  return run(argv, CommandOptions{.env = env, .stdin_data = stdin_data, .timeout = std::chrono::seconds(30), .cwd = {}});
}

// The suite runs twice: over the embedded SQLite store and with
// --datastore-endpoint at Debian's etcd 3.4 (same assertions). One server per
// backend serves all tests of that backend, each test in a fresh namespace.
struct Backend {
  std::unique_ptr<store::testing::Server> etcd;
  std::unique_ptr<Server> server;
  bool ready = false;
};

class KubectlE2E : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    for (auto& [name, b] : backends_) {
      b.server.reset();  // the API server first, then its etcd
      b.etcd.reset();
    }
    backends_.clear();
  }
  void SetUp() override {
    KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
    const bool etcd = GetParam() == "etcd";
    if (etcd) KEDGE_REQUIRE(store::testing::etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
    auto [it, fresh] = backends_.try_emplace(GetParam());
    Backend& b = it->second;
    if (fresh) {
      std::vector<std::string> extra;
      if (etcd) {
        b.etcd = std::make_unique<store::testing::Server>(store::testing::start_etcd());
        ASSERT_TRUE(store::testing::wait_serving(b.etcd->endpoint)) << b.etcd->log();
        extra = {"--datastore-endpoint", b.etcd->endpoint};
      }
      b.server = std::make_unique<Server>();
      b.server->dir = std::make_unique<TempDir>("kedge-e2e");
      b.server->home = std::make_unique<TempDir>("kedge-e2e-home");
      b.server->start(b.server->dir->path(), b.server->home->path(), extra);
      b.ready = b.server->wait_ready();
    }
    server_ = b.server.get();
    ASSERT_TRUE(b.ready) << server_->proc->log();
    ns_ = "e2e-" + std::to_string(counter_++);
    // kubectl's typed `create namespace` sends a protobuf body.
    auto r = kubectl({"create", "namespace", ns_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  CommandResult kubectl(std::vector<std::string> args, const std::string& stdin_data = "",
                        std::map<std::string, std::string> env = {}) {
    return kubectl_at(*server_, server_->home->path(), std::move(args), stdin_data, std::move(env));
  }
  // kubectl in this test's namespace.
  CommandResult k(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), {"-n", ns_});
    return kubectl(std::move(args), stdin_data);
  }
  // `kubectl get cm -o name` in this namespace, without the
  // kube-root-ca.crt ConfigMap the controllers publish in every namespace.
  std::string user_configmaps() {
    auto r = k({"get", "cm", "-o", "name", "--field-selector", "metadata.name!=kube-root-ca.crt"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // Raw HTTPS with the admin client certificate (or none).
  CommandResult curl(std::vector<std::string> args, bool authenticated = true) {
    fs::path tls = server_->dir->path() / "server" / "tls";
    std::vector<std::string> argv = {"curl", "-sS", "--cacert", (tls / "ca.crt").string(), "-w",
                                     "\n%{http_code}"};
    if (authenticated) {
      argv.insert(argv.end(), {"--cert", (tls / "client-admin.crt").string(), "--key",
                               (tls / "client-admin.key").string()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  std::string url(const std::string& path) { return "https://127.0.0.1:" + std::to_string(server_->port) + path; }
  static int code_of(const CommandResult& r) {
    auto nl = r.out.rfind('\n');
    return std::atoi(r.out.c_str() + (nl == std::string::npos ? 0 : nl + 1));
  }

  static std::map<std::string, Backend> backends_;
  static int counter_;
  Server* server_ = nullptr;
  std::string ns_;
};

std::map<std::string, Backend> KubectlE2E::backends_;
int KubectlE2E::counter_ = 0;

TEST_P(KubectlE2E, KubeconfigHealthAndAuthentication) {
  struct stat st {};
  ASSERT_EQ(::stat(server_->kubeconfig.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto health = curl({url("/healthz")}, false);
  EXPECT_EQ(code_of(health), 200) << health.out << health.err;
  auto version = curl({url("/version")}, false);
  EXPECT_EQ(code_of(version), 200);
  EXPECT_NE(version.out.find("\"gitVersion\""), std::string::npos);
  auto anon = curl({url("/api/v1/namespaces")}, false);
  EXPECT_EQ(code_of(anon), 401) << anon.out;
  EXPECT_NE(anon.out.find("\"reason\":\"Unauthorized\""), std::string::npos) << anon.out;
  auto metrics = curl({url("/metrics")});
  EXPECT_EQ(code_of(metrics), 200);
  EXPECT_NE(metrics.out.find("apiserver_request_total{"), std::string::npos) << metrics.out;
  auto who = kubectl({"auth", "whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_NE(who.out.find("system:admin"), std::string::npos) << who.out;
  EXPECT_NE(who.out.find("system:masters"), std::string::npos) << who.out;
}

TEST_P(KubectlE2E, DiscoveryApiResourcesAndVersions) {
  auto versions = kubectl({"api-versions"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  for (const char* gv : {"v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
                         "rbac.authorization.k8s.io/v1"}) {
    EXPECT_NE(versions.out.find(std::string(gv) + "\n"), std::string::npos) << gv << "\n" << versions.out;
  }
  auto resources = kubectl({"api-resources", "--no-headers"});
  ASSERT_EQ(resources.exit_code, 0) << resources.err;
  for (const char* r : {"pods ", "deployments ", "services ", "configmaps ", "leases ", "endpointslices "}) {
    EXPECT_NE(resources.out.find(r), std::string::npos) << r;
  }
  auto ns = kubectl({"get", "namespaces"});
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_NE(ns.out.find("NAME"), std::string::npos);
  EXPECT_NE(ns.out.find("STATUS"), std::string::npos);
  for (const char* n : {"default ", "kube-system ", "kube-public ", "kube-node-lease "}) {
    EXPECT_NE(ns.out.find(n), std::string::npos) << n << ns.out;
  }
  auto svc = kubectl({"get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}"});
  EXPECT_EQ(svc.out, "10.43.0.1") << svc.err;
  // `kubectl get` works for every kind the server serves, as a table across
  // namespaces and in -o wide: either rows under a NAME header or kubectl's
  // own "No resources found".
  for (const char* r :
       {"namespaces", "pods", "nodes", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "events",
        "persistentvolumes", "persistentvolumeclaims", "limitranges", "resourcequotas", "deployments.apps",
        "replicasets.apps", "daemonsets.apps", "statefulsets.apps", "controllerrevisions.apps", "jobs.batch",
        "cronjobs.batch", "leases.coordination.k8s.io", "endpointslices.discovery.k8s.io", "events.events.k8s.io",
        "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
        "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io",
        "certificatesigningrequests.certificates.k8s.io"}) {
    for (const char* wide : {"", "wide"}) {
      std::vector<std::string> args = {"get", r, "-A"};
      if (*wide != '\0') args.insert(args.end(), {"-o", wide});
      auto got = kubectl(args);
      EXPECT_EQ(got.exit_code, 0) << r << " " << wide << ": " << got.err;
      EXPECT_TRUE(got.out.rfind("NAME", 0) == 0 || got.out.rfind("NAMESPACE", 0) == 0 ||
                  got.err.find("No resources found") != std::string::npos)
          << r << " " << wide << ": " << got.out << got.err;
    }
  }
  auto roles = kubectl({"get", "clusterroles", "-o", "name"});
  EXPECT_NE(roles.out.find("clusterrole.rbac.authorization.k8s.io/cluster-admin\n"), std::string::npos) << roles.err;
}

TEST_P(KubectlE2E, CreateGetAndOutputFormats) {
  ASSERT_EQ(k({"create", "configmap", "c1", "--from-literal=a=1", "--from-literal=b=2"}).exit_code, 0);
  fs::path f = server_->home->path() / ("file-" + ns_ + ".txt");
  std::ofstream(f) << "hello";
  auto ff = k({"create", "configmap", "c2", "--from-file=greeting=" + f.string()});
  ASSERT_EQ(ff.exit_code, 0) << ff.err;
  EXPECT_EQ(k({"get", "cm", "c2", "-o", "jsonpath={.data.greeting}"}).out, "hello");
  auto sec = k({"create", "secret", "generic", "s1", "--from-literal=password=hunter2"});
  ASSERT_EQ(sec.exit_code, 0) << sec.err;
  EXPECT_EQ(k({"get", "secret", "s1", "-o", "jsonpath={.data.password}"}).out, "aHVudGVyMg==");
  auto dep = k({"create", "deployment", "web", "--image=busybox:1.36", "--replicas=2"});
  ASSERT_EQ(dep.exit_code, 0) << dep.err;
  auto table = k({"get", "deployments"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("READY"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("UP-TO-DATE"), std::string::npos);
  EXPECT_NE(table.out.find("web"), std::string::npos);
  auto wide = k({"get", "deploy", "-o", "wide"});
  EXPECT_NE(wide.out.find("busybox:1.36"), std::string::npos) << wide.out;
  auto name = k({"get", "cm", "-o", "name"});
  EXPECT_NE(name.out.find("configmap/c1\n"), std::string::npos) << name.out;
  auto yaml = k({"get", "deploy", "web", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("replicas: 2"), std::string::npos) << yaml.out;
  EXPECT_NE(yaml.out.find("imagePullPolicy: IfNotPresent"), std::string::npos);
  auto json = k({"get", "cm", "c1", "-o", "json"});
  EXPECT_NE(json.out.find("\"resourceVersion\""), std::string::npos);
  auto svc = k({"create", "service", "nodeport", "np", "--tcp=80:8080"});
  ASSERT_EQ(svc.exit_code, 0) << svc.err;
  auto np = k({"get", "svc", "np", "-o", "jsonpath={.spec.ports[0].nodePort}"});
  int port = std::atoi(np.out.c_str());
  EXPECT_GE(port, 30000);
  EXPECT_LE(port, 32767);
  auto cip = k({"create", "service", "clusterip", "cip", "--tcp=80:8080"});
  ASSERT_EQ(cip.exit_code, 0) << cip.err;
  EXPECT_EQ(k({"get", "svc", "cip", "-o", "jsonpath={.spec.clusterIP}"}).out.rfind("10.43.", 0), 0u);
  // -l, --field-selector, -A, --chunk-size
  ASSERT_EQ(k({"label", "cm", "c1", "tier=front"}).exit_code, 0);
  auto sel = k({"get", "cm", "-l", "tier=front", "-o", "name"});
  EXPECT_EQ(sel.out, "configmap/c1\n") << sel.err;
  auto fsel = k({"get", "cm", "--field-selector", "metadata.name=c2", "-o", "name"});
  EXPECT_EQ(fsel.out, "configmap/c2\n") << fsel.err;
  auto all = kubectl({"get", "cm", "-A", "--chunk-size=1", "-o", "name"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("configmap/c1"), std::string::npos);
  EXPECT_NE(all.out.find("configmap/c2"), std::string::npos);
  auto describe = k({"describe", "deployment", "web"});
  ASSERT_EQ(describe.exit_code, 0) << describe.err;
  EXPECT_NE(describe.out.find("busybox:1.36"), std::string::npos);
}

// Every typed `kubectl create <kind>` sends a protobuf body; each object
// must come back with the fields kubectl put in it.
TEST_P(KubectlE2E, CreateTypedKindsWithProtobufBodies) {
  struct Case {
    std::vector<std::string> create;
    std::vector<std::string> get;  // get args ending in a jsonpath
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"create", "job", "j", "--image=busybox:1.36", "--", "echo", "hi"},
       {"job", "j", "-o", "jsonpath={.spec.template.spec.containers[0].command}"}, "[\"echo\",\"hi\"]"},
      {{"create", "cronjob", "cj", "--image=busybox:1.36", "--schedule=*/5 * * * *"},
       {"cronjob", "cj", "-o", "jsonpath={.spec.schedule}"}, "*/5 * * * *"},
      {{"create", "serviceaccount", "sa"}, {"sa", "sa", "-o", "jsonpath={.metadata.name}"}, "sa"},
      {{"create", "role", "r", "--verb=get,list", "--resource=pods"},
       {"role", "r", "-o", "jsonpath={.rules[0].verbs}"}, "[\"get\",\"list\"]"},
      {{"create", "rolebinding", "rb", "--role=r", "--user=alice"},
       {"rolebinding", "rb", "-o", "jsonpath={.subjects[0].name}"}, "alice"},
      {{"create", "poddisruptionbudget", "pdb", "--selector=app=x", "--min-available=1"},
       {"pdb", "pdb", "-o", "jsonpath={.spec.minAvailable}"}, "1"},
      {{"create", "quota", "q", "--hard=cpu=2,pods=10"},
       {"quota", "q", "-o", "jsonpath={.spec.hard.cpu}"}, "2"},
      {{"create", "ingress", "ing", "--rule=example.com/path=svc:80"},
       {"ingress", "ing", "-o", "jsonpath={.spec.rules[0].http.paths[0].backend.service.port.number}"}, "80"},
      {{"run", "pod1", "--image=busybox:1.36", "--labels=app=p", "--", "sleep", "3600"},
       {"pod", "pod1", "-o", "jsonpath={.spec.containers[0].args}"}, "[\"sleep\",\"3600\"]"},
      {{"expose", "pod", "pod1", "--port=80", "--target-port=8080", "--name=exposed"},
       {"svc", "exposed", "-o", "jsonpath={.spec.ports[0].targetPort}"}, "8080"},
      {{"create", "deployment", "zero", "--image=busybox:1.36", "--replicas=0"},
       {"deploy", "zero", "-o", "jsonpath={.spec.replicas}"}, "0"},
  };
  for (const auto& c : cases) {
    auto made = k(c.create);
    ASSERT_EQ(made.exit_code, 0) << c.create[1] << ": " << made.err;
    std::vector<std::string> get = {"get"};
    get.insert(get.end(), c.get.begin(), c.get.end());
    auto got = k(get);
    EXPECT_EQ(got.out, c.want) << c.create[1] << ": " << got.err;
  }
  const std::string pc = "pc-" + ns_;
  auto made_pc = kubectl({"create", "priorityclass", pc, "--value=1000", "--description=edge"});
  ASSERT_EQ(made_pc.exit_code, 0) << made_pc.err;
  EXPECT_EQ(kubectl({"get", "priorityclass", pc, "-o", "jsonpath={.value}"}).out, "1000");
  ASSERT_EQ(kubectl({"create", "clusterrole", "cr-" + ns_, "--verb=get", "--resource=nodes"}).exit_code, 0);
  auto crb = kubectl({"create", "clusterrolebinding", "crb-" + ns_, "--clusterrole=cr-" + ns_, "--group=ops"});
  ASSERT_EQ(crb.exit_code, 0) << crb.err;
  EXPECT_EQ(kubectl({"get", "clusterrolebinding", "crb-" + ns_, "-o", "jsonpath={.subjects[0].kind}"}).out, "Group");
  kubectl({"delete", "priorityclass", pc});
  kubectl({"delete", "clusterrolebinding", "crb-" + ns_});
  kubectl({"delete", "clusterrole", "cr-" + ns_});
  // Events: an Event created through the API shows up in `kubectl get events`.
  auto ev = k({"create", "-f", "-"}, "apiVersion: v1\nkind: Event\nmetadata:\n  name: e1\ninvolvedObject:\n"
                                       "  kind: Pod\n  name: pod1\nreason: Testing\nmessage: hello from e2e\ntype: Normal\n");
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  auto events = k({"get", "events"});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_NE(events.out.find("hello from e2e"), std::string::npos) << events.out;
  auto fsel = k({"get", "events", "--field-selector", "involvedObject.name=pod1", "-o", "name"});
  EXPECT_NE(fsel.out.find("e1"), std::string::npos) << fsel.out << fsel.err;
}

// A protobuf body with a field kedge does not know: Strict refuses it naming
// the message and field number, nothing is stored; garbage is a 400.
TEST_P(KubectlE2E, ProtobufUnknownFieldsAndGarbage) {
  auto varint = [](std::uint64_t v) {
    std::string out;
    for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    out.push_back(static_cast<char>(v));
    return out;
  };
  auto bytes = [&](int num, const std::string& b) { return varint((static_cast<std::uint64_t>(num) << 3) | 2) + varint(b.size()) + b; };
  std::string cm = bytes(1, bytes(1, "pb")) + bytes(2, bytes(1, "k") + bytes(2, "v")) + bytes(77, "zzz");
  std::string body = std::string("k8s\0", 4) + bytes(1, bytes(1, "v1") + bytes(2, "ConfigMap")) + bytes(2, cm);
  fs::path f = server_->home->path() / ("pb-" + ns_ + ".bin");
  std::ofstream(f, std::ios::binary) << body;
  fs::path g = server_->home->path() / ("garbage-" + ns_ + ".bin");
  std::ofstream(g, std::ios::binary) << body.substr(0, body.size() - 6);
  auto path = url("/api/v1/namespaces/" + ns_ + "/configmaps");
  const std::string ct = "Content-Type: application/vnd.kubernetes.protobuf";
  auto strict = curl({"-X", "POST", "-H", ct, "--data-binary", "@" + f.string(), path + "?fieldValidation=Strict"});
  EXPECT_EQ(code_of(strict), 400) << strict.out;
  EXPECT_NE(strict.out.find("k8s.io.api.core.v1.ConfigMap field 77"), std::string::npos) << strict.out;
  auto garbage = curl({"-X", "POST", "-H", ct, "--data-binary", "@" + g.string(), path});
  EXPECT_EQ(code_of(garbage), 400) << garbage.out;
  EXPECT_EQ(user_configmaps(), "");
  auto warn = curl({"-i", "-X", "POST", "-H", ct, "--data-binary", "@" + f.string(), path + "?fieldValidation=Warn"});
  EXPECT_EQ(code_of(warn), 201) << warn.out;
  EXPECT_NE(warn.out.find("Warning: 299 - \"unknown field"), std::string::npos) << warn.out;
  EXPECT_EQ(k({"get", "cm", "pb", "-o", "jsonpath={.data.k}"}).out, "v");
}

TEST_P(KubectlE2E, ApplyChangeRemoveDiffAndPatch) {
  const std::string v1 = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
  extra: "yes"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {app: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: main
        image: busybox:1.36
      - name: side
        image: busybox:1.36
)";
  auto a1 = k({"apply", "-f", "-"}, v1);
  ASSERT_EQ(a1.exit_code, 0) << a1.err;
  EXPECT_NE(a1.out.find("configmap/settings created"), std::string::npos) << a1.out;
  EXPECT_NE(a1.out.find("deployment.apps/app created"), std::string::npos) << a1.out;
  // Changed and removed fields are both reflected.
  std::string v2 = v1;
  v2.replace(v2.find("mode: fast"), 10, "mode: slow");
  v2.erase(v2.find("  extra: \"yes\"\n"), 15);
  v2.replace(v2.find("replicas: 1"), 11, "replicas: 3");
  auto diff = k({"diff", "-f", "-"}, v2);
  EXPECT_EQ(diff.exit_code, 1) << diff.err;  // 1 = differences found
  EXPECT_NE(diff.out.find("+  mode: slow"), std::string::npos) << diff.out;
  auto a2 = k({"apply", "-f", "-"}, v2);
  ASSERT_EQ(a2.exit_code, 0) << a2.err;
  EXPECT_EQ(k({"get", "cm", "settings", "-o", "jsonpath={.data.mode}"}).out, "slow");
  EXPECT_EQ(k({"get", "cm", "settings", "-o", "jsonpath={.data.extra}"}).out, "");
  EXPECT_EQ(k({"get", "deploy", "app", "-o", "jsonpath={.spec.replicas}"}).out, "3");
  EXPECT_EQ(k({"diff", "-f", "-"}, v2).exit_code, 0);
  // Strategic merge: patch one container by name, keep its sibling.
  auto smp = k({"patch", "deploy", "app", "-p",
                R"({"spec":{"template":{"spec":{"containers":[{"name":"main","image":"busybox:1.37"}]}}}})"});
  ASSERT_EQ(smp.exit_code, 0) << smp.err;
  EXPECT_EQ(k({"get", "deploy", "app", "-o", "jsonpath={.spec.template.spec.containers[*].name}"}).out, "main side");
  EXPECT_EQ(k({"get", "deploy", "app", "-o", "jsonpath={.spec.template.spec.containers[0].image}"}).out, "busybox:1.37");
  auto merge = k({"patch", "cm", "settings", "--type=merge", "-p", R"({"data":{"m":"1"}})"});
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  auto jp = k({"patch", "cm", "settings", "--type=json", "-p", R"([{"op":"replace","path":"/data/m","value":"2"}])"});
  ASSERT_EQ(jp.exit_code, 0) << jp.err;
  EXPECT_EQ(k({"get", "cm", "settings", "-o", "jsonpath={.data.m}"}).out, "2");
  auto badjp = k({"patch", "cm", "settings", "--type=json", "-p", R"([{"op":"test","path":"/data/m","value":"9"}])"});
  EXPECT_NE(badjp.exit_code, 0);
  // Generation follows spec changes.
  EXPECT_EQ(k({"get", "deploy", "app", "-o", "jsonpath={.metadata.generation}"}).out, "3");
}

TEST_P(KubectlE2E, LabelAnnotateScaleReplaceEdit) {
  ASSERT_EQ(k({"create", "deployment", "d", "--image=busybox"}).exit_code, 0);
  ASSERT_EQ(k({"label", "deploy", "d", "team=a"}).exit_code, 0);
  EXPECT_NE(k({"label", "deploy", "d", "team=b"}).exit_code, 0) << "overwrite needs --overwrite";
  ASSERT_EQ(k({"label", "deploy", "d", "team=b", "--overwrite"}).exit_code, 0);
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.metadata.labels.team}"}).out, "b");
  ASSERT_EQ(k({"label", "deploy", "d", "team-"}).exit_code, 0);
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.metadata.labels.team}"}).out, "");
  ASSERT_EQ(k({"annotate", "deploy", "d", "note=hi"}).exit_code, 0);
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.metadata.annotations.note}"}).out, "hi");
  ASSERT_EQ(k({"annotate", "deploy", "d", "note-"}).exit_code, 0);
  auto scale = k({"scale", "deploy", "d", "--replicas=4"});
  ASSERT_EQ(scale.exit_code, 0) << scale.err;
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.spec.replicas}"}).out, "4");
  // replace with a stale resourceVersion is a conflict.
  auto old = k({"get", "deploy", "d", "-o", "yaml"});
  ASSERT_EQ(k({"scale", "deploy", "d", "--replicas=5"}).exit_code, 0);
  auto stale = k({"replace", "-f", "-"}, old.out);
  EXPECT_NE(stale.exit_code, 0);
  EXPECT_NE(stale.err.find("the object has been modified"), std::string::npos) << stale.err;
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.spec.replicas}"}).out, "5");
  // edit with a scripted editor.
  fs::path editor = server_->home->path() / ("editor-" + ns_ + ".sh");
  std::ofstream(editor) << "#!/bin/sh\nsed -i 's/replicas: 5/replicas: 6/' \"$1\"\n";
  fs::permissions(editor, fs::perms::owner_all);
  auto edit = kubectl({"-n", ns_, "edit", "deploy", "d"}, "", {{"KUBE_EDITOR", editor.string()}});
  ASSERT_EQ(edit.exit_code, 0) << edit.err;
  EXPECT_EQ(k({"get", "deploy", "d", "-o", "jsonpath={.spec.replicas}"}).out, "6");
}

TEST_P(KubectlE2E, DeleteByNameLabelAllAndWait) {
  for (const char* n : {"a", "b", "c", "d"}) ASSERT_EQ(k({"create", "cm", n}).exit_code, 0);
  ASSERT_EQ(k({"label", "cm", "b", "c", "group=x"}).exit_code, 0);
  auto byname = k({"delete", "cm", "a"});
  ASSERT_EQ(byname.exit_code, 0) << byname.err;
  EXPECT_NE(byname.out.find("configmap \"a\" deleted"), std::string::npos) << byname.out;
  auto bylabel = k({"delete", "cm", "-l", "group=x"});
  ASSERT_EQ(bylabel.exit_code, 0) << bylabel.err;
  EXPECT_EQ(user_configmaps(), "configmap/d\n");
  // wait --for=delete returns once a finalizer is removed.
  auto fin = k({"patch", "cm", "d", "--type=merge", "-p", R"({"metadata":{"finalizers":["example.com/hold"]}})"});
  ASSERT_EQ(fin.exit_code, 0) << fin.err;
  auto del = k({"delete", "cm", "d", "--wait=false"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_FALSE(k({"get", "cm", "d", "-o", "jsonpath={.metadata.deletionTimestamp}"}).out.empty());
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    k({"patch", "cm", "d", "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});
  });
  auto wait = k({"wait", "--for=delete", "cm/d", "--timeout=20s"});
  release.join();
  EXPECT_EQ(wait.exit_code, 0) << wait.out << wait.err;
  ASSERT_EQ(k({"create", "cm", "e"}).exit_code, 0);
  ASSERT_EQ(k({"delete", "cm", "--all"}).exit_code, 0);
  EXPECT_EQ(user_configmaps(), "");
  // Deleting the namespace deletes its contents, then the namespace.
  ASSERT_EQ(k({"create", "cm", "left"}).exit_code, 0);
  auto nsdel = kubectl({"delete", "namespace", ns_, "--timeout=30s"});
  EXPECT_EQ(nsdel.exit_code, 0) << nsdel.err;
  EXPECT_NE(kubectl({"get", "namespace", ns_}).exit_code, 0);
}

TEST_P(KubectlE2E, WatchPrintsALaterChange) {
  ASSERT_EQ(k({"create", "cm", "first"}).exit_code, 0);
  fs::path log = server_->home->path() / ("watch-" + ns_ + ".log");
  Process watch({"/usr/bin/kubectl", "--kubeconfig", server_->kubeconfig.string(), "-n", ns_, "get", "cm", "-w"},
                log, {{"HOME", server_->home->path().string()}});
  ASSERT_TRUE(eventually([&] { return watch.log().find("first") != std::string::npos; })) << watch.log();
  ASSERT_EQ(k({"create", "cm", "second"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return watch.log().find("second") != std::string::npos; })) << watch.log();
  // Raw watch from a resourceVersion with bookmarks allowed.
  auto list = curl({url("/api/v1/namespaces/" + ns_ + "/configmaps")});
  auto rvpos = list.out.find("\"resourceVersion\":\"");
  ASSERT_NE(rvpos, std::string::npos);
  std::string rv = list.out.substr(rvpos + 19, list.out.find('"', rvpos + 19) - rvpos - 19);
  ASSERT_EQ(k({"create", "cm", "third"}).exit_code, 0);
  auto w = curl({"--max-time", "3",
                 url("/api/v1/namespaces/" + ns_ + "/configmaps?watch=true&timeoutSeconds=2&resourceVersion=" + rv)});
  EXPECT_NE(w.out.find("{\"type\":\"ADDED\""), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("third"), std::string::npos) << w.out;
  EXPECT_EQ(w.out.find("second"), std::string::npos) << "events before the resourceVersion are not replayed";
}

TEST_P(KubectlE2E, BadInputGetsTheRightStatusAndChangesNothing) {
  auto path = url("/api/v1/namespaces/" + ns_ + "/configmaps");
  auto malformed = curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "{not json", path});
  EXPECT_EQ(code_of(malformed), 400) << malformed.out;
  EXPECT_NE(malformed.out.find("\"kind\":\"Status\""), std::string::npos);
  auto wrong_type = curl({"-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "x", path});
  EXPECT_EQ(code_of(wrong_type), 415) << wrong_type.out;
  auto invalid = curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}})", path});
  EXPECT_EQ(code_of(invalid), 422) << invalid.out;
  EXPECT_NE(invalid.out.find("\"field\":\"metadata.name\""), std::string::npos) << invalid.out;
  auto wrong_kind = curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                          R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}})", path});
  EXPECT_EQ(code_of(wrong_kind), 400) << wrong_kind.out;
  auto unknown = curl({url("/apis/example.com/v1/widgets")});
  EXPECT_EQ(code_of(unknown), 404) << unknown.out;
  fs::path big = server_->home->path() / ("big-" + ns_ + ".json");
  {
    std::ofstream out(big);
    out << R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":")"
        << std::string(4 * 1024 * 1024, 'x') << "\"}}";
  }
  auto large = curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + big.string(), path});
  EXPECT_EQ(code_of(large), 413) << large.out.substr(0, 300);
  EXPECT_NE(large.out.find("RequestEntityTooLarge"), std::string::npos);
  // kubectl's own view of bad YAML and unknown kinds.
  auto yaml = k({"apply", "-f", "-"}, "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n");
  EXPECT_NE(yaml.exit_code, 0);
  auto kind = k({"apply", "-f", "-"}, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n");
  EXPECT_NE(kind.exit_code, 0);
  // Upstream prints "no matches for kind"; kedge has no /openapi/v2, so
  // kubectl's validation stops first with "could not find the requested resource".
  EXPECT_TRUE(kind.err.find("no matches for kind \"Widget\"") != std::string::npos ||
              kind.err.find("could not find the requested resource") != std::string::npos)
      << kind.err;
  auto strict = k({"apply", "-f", "-"}, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s\ndatta:\n  a: b\n");
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.err.find("unknown field \"datta\""), std::string::npos) << strict.err;
  // Unknown fields are found at any depth, named by their path as upstream's
  // strict decoding names them; --validate=warn stores the object and warns.
  const std::string deployment =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: NAME\nspec:\n  selector:\n    matchLabels: "
      "{app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      containers:\n      - name: "
      "c\n        image: busybox\n        imagePullPolise: Always\n        resources: {limits: {memory: 64Mi}}\n";
  auto named = [&](const std::string& name) {
    std::string y = deployment;
    y.replace(y.find("NAME"), 4, name);
    return y;
  };
  auto deep = k({"apply", "-f", "-"}, named("deep"));
  EXPECT_NE(deep.exit_code, 0);
  EXPECT_NE(deep.err.find("unknown field \"spec.template.spec.containers[0].imagePullPolise\""), std::string::npos)
      << deep.err;
  EXPECT_EQ(deep.err.find("resources"), std::string::npos) << "known fields are not reported: " << deep.err;
  auto warned = k({"apply", "--validate=warn", "-f", "-"}, named("warned"));
  EXPECT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_NE(warned.err.find("unknown field \"spec.template.spec.containers[0].imagePullPolise\""), std::string::npos)
      << warned.err;
  EXPECT_EQ(k({"get", "deploy", "-o", "name"}).out, "deployment.apps/warned\n");
  ASSERT_EQ(k({"delete", "deploy", "warned"}).exit_code, 0);
  // An unknown version of a known group: 404 from the server, and kubectl
  // names the kind and version it could not map.
  auto v9 = curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                  R"({"apiVersion":"apps/v9","kind":"Deployment","metadata":{"name":"x"}})",
                  url("/apis/apps/v9/namespaces/" + ns_ + "/deployments")});
  EXPECT_EQ(code_of(v9), 404) << v9.out;
  auto version = k({"apply", "-f", "-"}, "apiVersion: apps/v9\nkind: Deployment\nmetadata:\n  name: v\n");
  EXPECT_NE(version.exit_code, 0);
  EXPECT_TRUE(version.err.find("no matches for kind \"Deployment\" in version \"apps/v9\"") != std::string::npos ||
              version.err.find("could not find the requested resource") != std::string::npos)
      << version.err;
  // Nothing was stored, and the server still serves.
  EXPECT_EQ(user_configmaps(), "");
  EXPECT_EQ(k({"get", "deploy", "-o", "name"}).out, "");
}

INSTANTIATE_TEST_SUITE_P(Store, KubectlE2E, ::testing::Values("sqlite", "etcd"),
                         [](const auto& row) { return row.param; });

TEST(KubectlE2ERestart, SecondStartReusesCertificatesAndData) {
  KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
  TempDir data("kedge-e2e-restart");
  TempDir home("kedge-e2e-restart-home");
  Server s;
  s.start(data.path(), home.path());
  ASSERT_TRUE(s.wait_ready()) << s.proc->log();
  ASSERT_EQ(kubectl_at(s, home.path(), {"create", "cm", "keep", "-n", "default"}).exit_code, 0);
  std::string ca = run({"cat", (data.path() / "server" / "tls" / "ca.crt").string()}).out;
  EXPECT_EQ(s.proc->kill_and_wait(SIGTERM), 0) << s.proc->log();
  int old_port = s.port;
  s.start(data.path(), home.path());
  ASSERT_TRUE(s.wait_ready()) << s.proc->log();
  EXPECT_NE(old_port, 0);
  EXPECT_EQ(run({"cat", (data.path() / "server" / "tls" / "ca.crt").string()}).out, ca);
  auto got = kubectl_at(s, home.path(), {"get", "cm", "keep", "-n", "default", "-o", "name"});
  EXPECT_EQ(got.out, "configmap/keep\n") << got.err;
}

// The watch caches survive an etcd outage: etcd is killed under a running
// server and restarted on the same data dir and port. Whether the etcd client
// resumes its watches or the caches relist (WatchCache unit tests cover that
// path), lists and watches are served again afterwards, and a watch that was
// open either sees the later change or ended (clients relist) — it never
// hangs on a dead cache.
TEST(KubectlE2EEtcdOutage, CachesServeAgainAfterEtcdRestarts) {
  KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
  KEDGE_REQUIRE(store::testing::etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  TempDir etcd_dir("kedge-e2e-outage-etcd");
  TempDir data("kedge-e2e-outage");
  TempDir home("kedge-e2e-outage-home");
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(free_port());
  const std::string peer = "http://127.0.0.1:" + std::to_string(free_port());
  const std::vector<std::string> etcd_argv = {
      "etcd", "--data-dir=" + (etcd_dir.path() / "data").string(), "--listen-client-urls=" + endpoint,
      "--advertise-client-urls=" + endpoint, "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer, "--initial-cluster=default=" + peer, "--log-level=warn"};
  auto etcd = std::make_unique<Process>(etcd_argv, etcd_dir.path() / "etcd-1.log");
  ASSERT_TRUE(store::testing::wait_serving(endpoint)) << etcd->log();
  Server s;
  s.start(data.path(), home.path(), {"--datastore-endpoint", endpoint});
  ASSERT_TRUE(s.wait_ready()) << s.proc->log();
  auto kc = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", "default"});
    return kubectl_at(s, home.path(), std::move(args));
  };
  ASSERT_EQ(kc({"create", "cm", "before"}).exit_code, 0);
  Process open_watch({"/usr/bin/kubectl", "--kubeconfig", s.kubeconfig.string(), "-n", "default", "get", "cm", "-w"},
                     home.path() / "watch-1.log", {{"HOME", home.path().string()}});
  ASSERT_TRUE(eventually([&] { return open_watch.log().find("before") != std::string::npos; })) << open_watch.log();

  EXPECT_NE(etcd->kill_and_wait(SIGKILL), 0);
  EXPECT_NE(kc({"get", "cm", "--request-timeout=3s"}).exit_code, 0) << "a consistent list needs etcd";
  EXPECT_TRUE(s.proc->running());

  etcd = std::make_unique<Process>(etcd_argv, etcd_dir.path() / "etcd-2.log");
  ASSERT_TRUE(store::testing::wait_serving(endpoint)) << etcd->log();
  EXPECT_TRUE(eventually([&] { return kc({"create", "cm", "after"}).exit_code == 0; }, std::chrono::seconds(30)))
      << s.proc->log();
  EXPECT_TRUE(eventually([&] {
    auto r = kc({"get", "cm", "-o", "name", "--field-selector", "metadata.name!=kube-root-ca.crt"});
    return r.out == "configmap/after\nconfigmap/before\n";
  }, std::chrono::seconds(30))) << s.proc->log();
  EXPECT_TRUE(eventually([&] { return open_watch.log().find("after") != std::string::npos || !open_watch.running(); }))
      << open_watch.log();
  // A new watch sees a later change.
  Process watch({"/usr/bin/kubectl", "--kubeconfig", s.kubeconfig.string(), "-n", "default", "get", "cm", "-w"},
                home.path() / "watch-2.log", {{"HOME", home.path().string()}});
  ASSERT_TRUE(eventually([&] { return watch.log().find("after") != std::string::npos; })) << watch.log();
  ASSERT_EQ(kc({"create", "cm", "later"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return watch.log().find("later") != std::string::npos; })) << watch.log();
  s.proc->kill_and_wait(SIGTERM);
}

}  // namespace
}  // namespace kedge::testing

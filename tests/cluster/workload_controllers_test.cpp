// The DaemonSet, Job, CronJob and EndpointSlice controllers inside a real
// `kedge server`, with hollow nodes and /usr/bin/kubectl: what a user sees
// with kubectl. Hollow nodes report pods Running and Ready; the tests play
// the kubelet for pod endings and readiness by writing pods/status.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include "cluster.h"
#include "kedge/api/meta.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/testing/prereq.h"

namespace kedge::testing {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

class WorkloadControllersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(has_kubectl(), "/usr/bin/kubectl");
    ASSERT_TRUE(cluster_.start_server());
  }
  void apply(const std::string& yaml) {
    auto r = cluster_.kubectl({"apply", "-f", "-"}, yaml);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // What the kubelet would write when a pod's container exits / turns (un)ready.
  void set_phase(const std::string& pod, const std::string& phase) {
    auto r = cluster_.kubectl({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p",
                               R"({"status":{"phase":")" + phase + R"("}})"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::vector<std::string> running_pods(const std::string& selector) {
    return words(cluster_.out({"get", "pods", "-l", selector, "--field-selector=status.phase=Running", "-o",
                               "jsonpath={.items[*].metadata.name}"}));
  }

  Cluster cluster_;
};

TEST_F(WorkloadControllersTest, DaemonSetRunsOnePodPerEligibleNodeIncludingNodesAddedLater) {
  ASSERT_NE(cluster_.add_hollow("edge-", 2, {"--node-label", "role=edge"}), nullptr);
  ASSERT_NE(cluster_.add_hollow("core-", 1, {"--node-label", "role=core"}), nullptr);
  apply(R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {role: edge}
      containers: [{name: c, image: busybox}]
)");
  auto r = cluster_.kubectl({"rollout", "status", "daemonset/agent", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto nodes = [&] {
    auto list = words(cluster_.out({"get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}"}));
    return std::multiset<std::string>(list.begin(), list.end());
  };
  EXPECT_EQ(nodes(), (std::multiset<std::string>{"edge-0", "edge-1"}));
  EXPECT_EQ(cluster_.out({"get", "ds", "agent", "-o", "jsonpath={.status.numberReady}"}), "2");

  // A node that joins later gets its pod; one that does not match does not.
  ASSERT_NE(cluster_.add_hollow("late-", 1, {"--node-label", "role=edge"}), nullptr);
  EXPECT_TRUE(eventually([&] { return nodes() == std::multiset<std::string>{"edge-0", "edge-1", "late-0"}; }, 15s))
      << cluster_.out({"get", "pods", "-o", "wide"});
  EXPECT_TRUE(eventually(
      [&] { return cluster_.out({"get", "ds", "agent", "-o", "jsonpath={.status.desiredNumberScheduled}"}) == "3"; },
      10s));
}

TEST_F(WorkloadControllersTest, JobCompletesAndAFailingJobStopsAtItsBackoffLimit) {
  ASSERT_NE(cluster_.add_hollow("node-", 2), nullptr);
  apply(R"(apiVersion: batch/v1
kind: Job
metadata: {name: work, namespace: default}
spec:
  completions: 3
  parallelism: 2
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: broken, namespace: default}
spec:
  backoffLimit: 1
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
)");
  // The work Job: never more than 2 at once, 3 successes in all.
  int finished = 0;
  for (int round = 0; round < 10 && finished < 3; ++round) {
    std::vector<std::string> running;
    ASSERT_TRUE(eventually([&] { return !(running = running_pods("job-name=work")).empty(); }, 15s));
    EXPECT_LE(running.size(), 2u);
    set_phase(running[0], "Succeeded");
    ++finished;
  }
  auto done = cluster_.kubectl({"wait", "--for=condition=complete", "job/work", "--timeout=15s"});
  EXPECT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_EQ(cluster_.out({"get", "job", "work", "-o", "jsonpath={.status.succeeded}"}), "3");
  EXPECT_EQ(cluster_.out({"get", "pods", "-l", "batch.kubernetes.io/job-name=work", "-o",
                          "jsonpath={.items[*].status.phase}"}),
            "Succeeded Succeeded Succeeded");

  // The broken Job: two failures (backoffLimit 1; the replacement comes
  // after upstream's 10 s pod-failure backoff), then Failed and no more pods.
  for (int failure = 0; failure < 2; ++failure) {
    std::vector<std::string> running;
    ASSERT_TRUE(eventually([&] { return !(running = running_pods("job-name=broken")).empty(); }, 20s))
        << "failure " << failure;
    set_phase(running[0], "Failed");
  }
  auto failed = cluster_.kubectl({"wait", "--for=condition=failed", "job/broken", "--timeout=15s"});
  EXPECT_EQ(failed.exit_code, 0) << failed.out << failed.err;
  EXPECT_EQ(cluster_.out({"get", "job", "broken", "-o",
                          R"(jsonpath={.status.conditions[?(@.type=="Failed")].reason})"}),
            "BackoffLimitExceeded");
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(cluster_.out({"get", "pods", "-l", "job-name=broken", "-o", "jsonpath={.items[*].status.phase}"}),
            "Failed Failed");
}

TEST_F(WorkloadControllersTest, CronJobStartsTheDueActivationAsAJobNamedByItsMinute) {
  ASSERT_NE(cluster_.add_hollow("node-", 1), nullptr);
  // Suspended, with a last schedule three minutes back (as after downtime):
  // resuming it must start the most recent due minute at once, not wait.
  apply(R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: default}
spec:
  schedule: "*/1 * * * *"
  suspend: true
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}
)");
  auto now = std::chrono::system_clock::now();
  auto three_back = std::chrono::floor<std::chrono::minutes>(now) - 3min;
  auto r = cluster_.kubectl({"patch", "cronjob", "tick", "--subresource=status", "--type=merge", "-p",
                             R"({"status":{"lastScheduleTime":")" + api::format_rfc3339(three_back) + R"("}})"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cluster_.out({"get", "jobs", "-o", "name"}), "");
  ASSERT_EQ(cluster_.kubectl({"patch", "cronjob", "tick", "-p", R"({"spec":{"suspend":false}})"}).exit_code, 0);
  std::string jobs;
  ASSERT_TRUE(eventually([&] { return !(jobs = cluster_.out({"get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"})).empty(); }, 10s));
  // One Job, for the latest minute boundary (the test may straddle one).
  auto minute = std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now());
  auto name_for = [](auto m) { return "tick-" + std::to_string(m.time_since_epoch().count()); };
  EXPECT_TRUE(jobs == name_for(minute) || jobs == name_for(minute - 1min)) << jobs;
  EXPECT_EQ(cluster_.out({"get", "job", jobs, "-o", "jsonpath={.metadata.ownerReferences[0].kind}"}), "CronJob");
  EXPECT_EQ(cluster_.out({"get", "cronjob", "tick", "-o", "jsonpath={.status.active[0].name}"}), jobs);
  EXPECT_FALSE(cluster_.out({"get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"}).empty());
  // The Job's pod runs.
  EXPECT_TRUE(eventually([&] { return running_pods("job-name=" + jobs).size() == 1; }, 15s));
}

TEST_F(WorkloadControllersTest, EndpointSlicesFollowPodReadinessWithinASecond) {
  ASSERT_NE(cluster_.add_hollow("node-", 2), nullptr);
  apply(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
)");
  auto ready_ips = [&] {
    return words(cluster_.out({"get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o",
                               R"(jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]})"}));
  };
  ASSERT_TRUE(eventually([&] { return ready_ips().size() == 2; }, 20s)) << cluster_.out({"get", "pods", "-o", "wide"});
  EXPECT_EQ(cluster_.out({"get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o",
                          "jsonpath={.items[0].ports[0].port}"}),
            "8080");  // the named targetPort, resolved
  auto pod = words(cluster_.out({"get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"})).at(0);
  auto ip = cluster_.out({"get", "pod", pod, "-o", "jsonpath={.status.podIP}"});

  // Watch from the library, not kubectl (whose start-up alone takes ~0.1 s).
  auto config = client::Kubeconfig::load(cluster_.server().kubeconfig.string());
  ASSERT_TRUE(config.ok());
  auto client = client::RestClient::create({.config = *config});
  ASSERT_TRUE(client.ok());
  auto condition_of = [&](const char* field) -> std::string {
    auto list = (*client)->get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb");
    if (!list.ok()) return "error";
    for (const auto& s : list->at("items").as_array()) {
      const auto* eps = s.as_object().if_contains("endpoints");
      if (!eps || !eps->is_array()) continue;
      for (const auto& e : eps->as_array()) {
        if (e.at("addresses").at(0).as_string() == ip) return e.at("conditions").at(field).as_bool() ? "true" : "false";
      }
    }
    return "absent";
  };
  // The kubelet's readiness report: a strategic merge of the Ready condition.
  auto set_ready = [&](bool ready) {
    boost::json::value patch = boost::json::object{
        {"status", boost::json::object{{"conditions", boost::json::array{boost::json::object{
                                                          {"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
    auto r = (*client)->send("PATCH", "/api/v1/namespaces/default/pods/" + pod + "/status", patch,
                             "application/strategic-merge-patch+json");
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  };
  for (bool ready : {false, true}) {
    auto start = std::chrono::steady_clock::now();
    set_ready(ready);
    const char* want = ready ? "true" : "false";
    ASSERT_TRUE(eventually([&] { return condition_of("ready") == want; }, 5s));
    auto took = std::chrono::steady_clock::now() - start;
    std::fprintf(stderr, "endpointslice ready=%s after %lld ms\n", want,
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
    EXPECT_LT(took, 1s) << "ready=" << want << " took "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  }
  // The legacy Endpoints follow too.
  set_ready(false);
  EXPECT_TRUE(eventually(
      [&] { return cluster_.out({"get", "endpoints", "web", "-o", "jsonpath={.subsets[0].notReadyAddresses[0].ip}"}) == ip; },
      5s));
}

TEST_F(WorkloadControllersTest, StatefulSetStartsPodsInOrderWithStableNamesAndClaims) {
  ASSERT_NE(cluster_.add_hollow("node-", 2), nullptr);
  apply(R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: postgres}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
)");
  auto r = cluster_.kubectl({"rollout", "status", "statefulset/db", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(cluster_.out({"get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}"}), "db-0 db-1 db-2");
  EXPECT_EQ(cluster_.out({"get", "pvc", "-o", "jsonpath={.items[*].metadata.name}"}), "data-db-0 data-db-1 data-db-2");
  // Scale down removes the highest ordinal; the claim stays.
  ASSERT_EQ(cluster_.kubectl({"scale", "statefulset", "db", "--replicas=2"}).exit_code, 0);
  EXPECT_TRUE(eventually(
      [&] { return cluster_.out({"get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.name}"}) == "db-0 db-1"; },
      15s));
  EXPECT_EQ(cluster_.out({"get", "pvc", "data-db-2", "-o", "name"}), "persistentvolumeclaim/data-db-2");
}

}  // namespace
}  // namespace kedge::testing

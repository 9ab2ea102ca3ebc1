#include <gtest/gtest.h>

#include "kedge/api/json_util.h"
#include "kedge/api/types/node.h"
#include "kedge/api/types/pod.h"
#include "kedge/api/types/service.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

// A pod as the API server returns it after defaulting (trimmed `kubectl get -o json`).
const char* kPod = R"({
  "apiVersion":"v1","kind":"Pod",
  "metadata":{"name":"web-7c5b","generateName":"web-","namespace":"default","uid":"0f0e","resourceVersion":"812",
    "creationTimestamp":"2024-05-01T10:00:00Z","labels":{"app":"web","pod-template-hash":"7c5b"},
    "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web","uid":"rs1","controller":true,"blockOwnerDeletion":true}]},
  "spec":{
    "initContainers":[{"name":"init","image":"busybox","command":["sh","-c","true"]}],
    "containers":[{"name":"web","image":"nginx:1.25","args":["-g","daemon off;"],
      "ports":[{"name":"http","containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP","hostPort":5353}],
      "env":[{"name":"A","value":"1"},{"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}],
      "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"memory":"128Mi"}},
      "volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true}],
      "livenessProbe":{"httpGet":{"path":"/healthz","port":"http","httpHeaders":[{"name":"X","value":"y"}]},"periodSeconds":5},
      "readinessProbe":{"tcpSocket":{"port":80}},
      "startupProbe":{"exec":{"command":["cat","/ready"]},"failureThreshold":30},
      "securityContext":{"runAsUser":1000,"capabilities":{"drop":["ALL"]}},
      "imagePullPolicy":"IfNotPresent"}],
    "volumes":[{"name":"data","emptyDir":{"sizeLimit":"1Gi"}},{"name":"cfg","configMap":{"name":"web-cfg"}}],
    "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",
    "nodeSelector":{"kubernetes.io/os":"linux"},"nodeName":"edge-1",
    "tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],
    "imagePullSecrets":[{"name":"regcred"}],"priority":0,
    "affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[]}}}},
  "status":{"phase":"Running","hostIP":"10.0.0.5","podIP":"10.42.0.7","podIPs":[{"ip":"10.42.0.7"}],
    "startTime":"2024-05-01T10:00:01Z","qosClass":"Burstable",
    "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2024-05-01T10:00:05Z"}],
    "containerStatuses":[{"name":"web","ready":true,"restartCount":2,"image":"nginx:1.25","imageID":"sha256:ab",
      "containerID":"containerd://c1","started":true,"state":{"running":{"startedAt":"2024-05-01T10:00:04Z"}},
      "lastState":{"terminated":{"exitCode":137,"reason":"OOMKilled","startedAt":"2024-05-01T10:00:02Z","finishedAt":"2024-05-01T10:00:03Z"}}}]}
})";

TEST(Types, PodDecodes) {
  auto pod = Pod::from_json(J(kPod));
  ASSERT_TRUE(pod.ok()) << pod.status().to_string();
  EXPECT_EQ(pod->metadata.name, "web-7c5b");
  EXPECT_EQ(pod->metadata.labels.at("app"), "web");
  ASSERT_EQ(pod->metadata.owner_references.size(), 1u);
  EXPECT_TRUE(pod->metadata.owner_references[0].controller);
  ASSERT_EQ(pod->spec.containers.size(), 1u);
  const Container& c = pod->spec.containers[0];
  EXPECT_EQ(c.image, "nginx:1.25");
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[1].protocol, "UDP");
  EXPECT_EQ(c.ports[1].host_port, 5353);
  EXPECT_EQ(c.env[1].value_from.at("fieldRef").at("fieldPath"), "spec.nodeName");
  EXPECT_EQ(c.resources.requests.at("cpu").milli_value(), 100);
  EXPECT_EQ(c.resources.limits.at("memory").value(), 128 * 1024 * 1024);
  ASSERT_TRUE(c.liveness_probe.has_value());
  EXPECT_EQ(c.liveness_probe->kind, Probe::Kind::kHttpGet);
  EXPECT_EQ(c.liveness_probe->port, IntOrString::of(std::string("http")));
  EXPECT_EQ(c.liveness_probe->period_seconds, 5);
  EXPECT_EQ(c.liveness_probe->timeout_seconds, 1);  // default
  EXPECT_EQ(c.readiness_probe->kind, Probe::Kind::kTcpSocket);
  EXPECT_EQ(c.readiness_probe->port, IntOrString::of(80));
  EXPECT_EQ(c.startup_probe->command, (std::vector<std::string>{"cat", "/ready"}));
  EXPECT_EQ(c.startup_probe->failure_threshold, 30);
  EXPECT_EQ(c.security_context->run_as_user, 1000);
  EXPECT_EQ(c.security_context->capabilities_drop, std::vector<std::string>{"ALL"});
  ASSERT_EQ(pod->spec.volumes.size(), 2u);
  EXPECT_EQ(pod->spec.volumes[0].kind, Volume::Kind::kEmptyDir);
  EXPECT_EQ(pod->spec.volumes[1].kind, Volume::Kind::kConfigMap);
  EXPECT_EQ(pod->spec.volumes[1].source.at("name"), "web-cfg");
  EXPECT_EQ(pod->spec.node_name, "edge-1");
  EXPECT_EQ(pod->spec.image_pull_secrets, std::vector<std::string>{"regcred"});
  EXPECT_TRUE(pod->spec.affinity.is_object());
  EXPECT_EQ(pod->status.phase, "Running");
  EXPECT_EQ(pod->status.pod_ips, std::vector<std::string>{"10.42.0.7"});
  ASSERT_EQ(pod->status.container_statuses.size(), 1u);
  const ContainerStatus& cs = pod->status.container_statuses[0];
  EXPECT_EQ(cs.restart_count, 2);
  EXPECT_EQ(cs.state.kind, ContainerState::Kind::kRunning);
  EXPECT_EQ(cs.last_state.kind, ContainerState::Kind::kTerminated);
  EXPECT_EQ(cs.last_state.exit_code, 137);
  EXPECT_EQ(cs.last_state.reason, "OOMKilled");
  EXPECT_EQ(pod_qos_class(pod->spec), "Burstable");
}

TEST(Types, PodDefaults) {
  auto pod = Pod::from_json(J(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":1}]}]}})"));
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->spec.restart_policy, "Always");
  EXPECT_EQ(pod->spec.termination_grace_period_seconds, 30);
  EXPECT_EQ(pod->spec.dns_policy, "ClusterFirst");
  EXPECT_EQ(pod->spec.scheduler_name, "default-scheduler");
  EXPECT_TRUE(pod->spec.enable_service_links);
  EXPECT_EQ(pod->spec.containers[0].ports[0].protocol, "TCP");
  EXPECT_EQ(pod->spec.containers[0].termination_message_path, "/dev/termination-log");
  EXPECT_TRUE(pod->spec.affinity.is_null());
  EXPECT_EQ(pod_qos_class(pod->spec), "BestEffort");
}

TEST(Types, PodErrorsNameTheField) {
  auto bad_port = Pod::from_json(J(R"({"spec":{"containers":[{"name":"c"},{"name":"d","ports":[{"containerPort":"80"}]}]}})"));
  ASSERT_FALSE(bad_port.ok());
  EXPECT_EQ(bad_port.status().message(), "spec.containers[1].ports[0].containerPort: expected an integer, got a string \"80\"");
  auto bad_qty = Pod::from_json(J(R"({"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"1x"}}}]}})"));
  ASSERT_FALSE(bad_qty.ok());
  EXPECT_EQ(bad_qty.status().message().rfind("spec.containers[0].resources.limits[cpu]: quantities must match", 0), 0u)
      << bad_qty.status().message();
  auto bad_list = Pod::from_json(J(R"({"spec":{"containers":{"name":"c"}}})"));
  ASSERT_FALSE(bad_list.ok());
  EXPECT_EQ(bad_list.status().message(), "spec.containers: expected a list, got an object {\"name\":\"c\"}");
  auto too_big = Pod::from_json(J(R"({"spec":{"containers":[{"ports":[{"containerPort":4294967296}]}]}})"));
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("does not fit in a 32-bit integer"), std::string::npos);
  EXPECT_FALSE(Pod::from_json(J("[]")).ok());
  EXPECT_FALSE(Pod::from_json(J(R"({"metadata":{"labels":{"a":1}}})")).ok());
}

TEST(Types, QosClasses) {
  auto qos = [](const char* resources) {
    std::string text = std::string(R"({"spec":{"containers":[{"name":"c","resources":)") + resources + "}]}}";
    return pod_qos_class(Pod::from_json(J(text))->spec);
  };
  EXPECT_EQ(qos(R"({"limits":{"cpu":"1","memory":"1Gi"}})"), "Guaranteed");
  EXPECT_EQ(qos(R"({"requests":{"cpu":"1","memory":"1Gi"},"limits":{"cpu":"1","memory":"1Gi"}})"), "Guaranteed");
  EXPECT_EQ(qos(R"({"requests":{"cpu":"500m","memory":"1Gi"},"limits":{"cpu":"1","memory":"1Gi"}})"), "Burstable");
  EXPECT_EQ(qos(R"({"limits":{"cpu":"1"}})"), "Burstable");
  EXPECT_EQ(qos(R"({"requests":{"ephemeral-storage":"1Gi"}})"), "BestEffort");
}

TEST(Types, Tolerations) {
  Taint not_ready{"node.kubernetes.io/not-ready", "", "NoExecute", ""};
  Taint gpu{"gpu", "true", "NoSchedule", ""};
  EXPECT_TRUE((Toleration{.key = "node.kubernetes.io/not-ready", .op = "Exists", .effect = "NoExecute"}).tolerates(not_ready));
  EXPECT_FALSE((Toleration{.key = "node.kubernetes.io/not-ready", .op = "Exists", .effect = "NoSchedule"}).tolerates(not_ready));
  EXPECT_TRUE((Toleration{.op = "Exists"}).tolerates(gpu));  // empty key + Exists tolerates everything
  EXPECT_TRUE((Toleration{.key = "gpu", .value = "true"}).tolerates(gpu));
  EXPECT_FALSE((Toleration{.key = "gpu", .value = "false"}).tolerates(gpu));
  EXPECT_TRUE((Toleration{.key = "gpu", .value = "true", .effect = ""}).tolerates(gpu));
}

TEST(Types, PodStatusEncodes) {
  PodStatus st;
  st.phase = "Running";
  st.host_ip = "10.0.0.5";
  st.pod_ip = "10.42.0.7";
  st.pod_ips = {"10.42.0.7"};
  st.conditions.push_back(Condition{.type = "Ready", .status = "True", .last_transition_time = "2024-05-01T10:00:05Z"});
  ContainerStatus cs;
  cs.name = "web";
  cs.state.kind = ContainerState::Kind::kTerminated;
  cs.state.exit_code = 1;
  cs.state.reason = "Error";
  st.container_statuses.push_back(cs);
  auto j = st.to_json();
  EXPECT_EQ(j.at("phase"), "Running");
  EXPECT_EQ(j.at("hostIPs").at(0).at("ip"), "10.0.0.5");
  EXPECT_EQ(j.at("containerStatuses").at(0).at("state").at("terminated").at("exitCode"), 1);
  // Round trip through the decoder.
  auto back = Pod::from_json(boost::json::object{{"status", j}});
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->status.container_statuses[0].state.reason, "Error");
  EXPECT_EQ(back->status.conditions[0].status, "True");
}

TEST(Types, NodeDecodesAndEncodes) {
  auto node = Node::from_json(J(R"({"metadata":{"name":"edge-1","labels":{"kubernetes.io/hostname":"edge-1"}},
    "spec":{"podCIDR":"10.42.1.0/24","podCIDRs":["10.42.1.0/24"],"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},
    "status":{"capacity":{"cpu":"4","memory":"8049596Ki","pods":"110"},"allocatable":{"cpu":"3800m","memory":"7Gi","pods":"110"},
      "conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True","lastHeartbeatTime":"2024-05-01T10:00:00Z"}],
      "addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"Hostname","address":"edge-1"}],
      "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
      "nodeInfo":{"kernelVersion":"6.1.0","containerRuntimeVersion":"containerd://1.6.20","kubeletVersion":"v1.32.0-kedge","architecture":"amd64","operatingSystem":"linux"}}})"));
  ASSERT_TRUE(node.ok()) << node.status().to_string();
  EXPECT_TRUE(node->ready());
  EXPECT_EQ(node->spec.taints[0].effect, "NoSchedule");
  EXPECT_EQ(node->status.allocatable.at("cpu").milli_value(), 3800);
  EXPECT_EQ(node->status.kubelet_port, 10250);
  EXPECT_EQ(node->status.node_info.kernel_version, "6.1.0");
  auto j = node->status.to_json();
  EXPECT_EQ(j.at("capacity").at("memory"), "8049596Ki");
  EXPECT_EQ(j.at("allocatable").at("cpu"), "3800m");
  EXPECT_EQ(j.at("daemonEndpoints").at("kubeletEndpoint").at("Port"), 10250);
  auto again = Node::from_json(boost::json::object{{"status", j}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status.conditions.size(), 2u);
  EXPECT_EQ(again->status.addresses[0].address, "10.0.0.5");
  EXPECT_FALSE(Node::from_json(J(R"({"status":{"conditions":[{"type":"Ready","status":"False"}]}})"))->ready());
}

TEST(Types, ServiceDecodes) {
  auto svc = Service::from_json(J(R"({"metadata":{"name":"web","namespace":"default"},
    "spec":{"type":"NodePort","clusterIP":"10.43.0.10","clusterIPs":["10.43.0.10"],"selector":{"app":"web"},
      "ports":[{"name":"http","port":80,"targetPort":"http","nodePort":30080},{"name":"dns","port":53,"protocol":"UDP"}],
      "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},
      "externalTrafficPolicy":"Local"},
    "status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}}})"));
  ASSERT_TRUE(svc.ok()) << svc.status().to_string();
  EXPECT_EQ(svc->spec.type, "NodePort");
  EXPECT_FALSE(svc->headless());
  EXPECT_EQ(svc->spec.ports[0].target_port, IntOrString::of(std::string("http")));
  EXPECT_EQ(svc->spec.ports[0].node_port, 30080);
  EXPECT_EQ(svc->spec.ports[1].target_port, IntOrString::of(53));  // defaults to port
  EXPECT_EQ(svc->spec.ports[1].protocol, "UDP");
  EXPECT_EQ(svc->spec.session_affinity_timeout_seconds, 10800);
  EXPECT_EQ(svc->spec.selector.at("app"), "web");
  EXPECT_EQ(svc->load_balancer_ingress[0].ip, "192.0.2.1");
  EXPECT_TRUE(Service::from_json(J(R"({"spec":{"clusterIP":"None"}})"))->headless());
  EXPECT_FALSE(Service::from_json(J(R"({"spec":{"ports":[{"port":"80"}]}})")).ok());
}

TEST(Types, EndpointSliceDecodes) {
  auto es = EndpointSlice::from_json(J(R"({"metadata":{"name":"web-abc","labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4",
    "endpoints":[{"addresses":["10.42.0.7"],"conditions":{"ready":true,"serving":true,"terminating":false},
                  "nodeName":"edge-1","targetRef":{"kind":"Pod","namespace":"default","name":"web-7c5b","uid":"0f0e"}},
                 {"addresses":["10.42.0.8"],"conditions":{}}],
    "ports":[{"name":"http","port":80,"protocol":"TCP"},{"name":"any"}]})"));
  ASSERT_TRUE(es.ok()) << es.status().to_string();
  EXPECT_EQ(es->service_name(), "web");
  EXPECT_EQ(es->address_type, "IPv4");
  ASSERT_EQ(es->endpoints.size(), 2u);
  EXPECT_EQ(es->endpoints[0].conditions.ready, true);
  EXPECT_EQ(es->endpoints[0].target_ref->name, "web-7c5b");
  EXPECT_FALSE(es->endpoints[1].conditions.ready.has_value());
  EXPECT_EQ(es->ports[0].port, 80);
  EXPECT_FALSE(es->ports[1].port.has_value());
}

}  // namespace
}  // namespace kedge::api

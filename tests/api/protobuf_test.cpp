// Kubernetes protobuf bodies → JSON. The bytes are built here by a tiny
// encoder that follows the protobuf wire format and Kubernetes' field
// numbers (k8s.io/api v0.32 generated.proto), independently of the decoder.
// The end-to-end proof against the real encoder is kubectl itself
// (tests/edge-control/kubectl_e2e_test.cpp: `kubectl create ...`).
#include "kedge/api/protobuf.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

// --- a minimal protobuf writer ------------------------------------------
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string vfield(int num, std::uint64_t v) { return varint(static_cast<std::uint64_t>(num) << 3) + varint(v); }
std::string bfield(int num, std::string_view bytes) {
  return varint((static_cast<std::uint64_t>(num) << 3) | 2) + varint(bytes.size()) + std::string(bytes);
}
std::string map_entry(int num, std::string_view k, std::string_view v) {
  return bfield(num, bfield(1, k) + bfield(2, v));
}
std::string envelope(std::string_view api_version, std::string_view kind, std::string_view raw) {
  std::string type_meta = bfield(1, api_version) + bfield(2, kind);
  return std::string(kProtobufMagic) + bfield(1, type_meta) + bfield(2, raw) + bfield(4, "application/vnd.kubernetes.protobuf");
}

// ObjectMeta: name=1, generateName=2, namespace=3, resourceVersion=6,
// generation=7, creationTimestamp=8, labels=11, annotations=12.
std::string object_meta(std::string_view name) {
  return bfield(1, name) + bfield(2, "") + bfield(3, "") + bfield(6, "") + vfield(7, 0) + bfield(8, "") +
         map_entry(11, "app", name);
}

// apps/v1 Deployment as kubectl create deployment --replicas=0 sends it.
std::string deployment(int replicas) {
  std::string container = bfield(1, "web") + bfield(2, "nginx:1.27") +
                          bfield(6, vfield(3, 80) + bfield(4, "TCP")) +  // ports: containerPort, protocol
                          bfield(8, map_entry(2, "cpu", bfield(1, "100m")));  // resources.requests
  std::string pod_spec = bfield(2, container) + vfield(4, 30);  // containers, terminationGracePeriodSeconds
  std::string template_spec = bfield(1, object_meta("")) + bfield(2, pod_spec);
  std::string selector = map_entry(1, "app", "web");  // LabelSelector.matchLabels
  std::string spec = vfield(1, static_cast<std::uint64_t>(replicas)) + bfield(2, selector) + bfield(3, template_spec) +
                     bfield(4, "") /* strategy {} */ + vfield(5, 0) /* minReadySeconds 0 (omitempty) */;
  return bfield(1, object_meta("web")) + bfield(2, spec) + bfield(3, "");
}

TEST(Protobuf, DeploymentBecomesTheJsonKubectlWouldSend) {
  auto d = decode_k8s_protobuf(envelope("apps/v1", "Deployment", deployment(0)));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->unknown_fields.empty());
  EXPECT_EQ(S(d->object), S(J(R"({"kind":"Deployment","apiVersion":"apps/v1",
    "metadata":{"name":"web","labels":{"app":"web"}},
    "spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"}},
      "template":{"metadata":{"labels":{"app":""}},
        "spec":{"containers":[{"name":"web","image":"nginx:1.27",
          "ports":[{"containerPort":80,"protocol":"TCP"}],
          "resources":{"requests":{"cpu":"100m"}}}],
          "terminationGracePeriodSeconds":30}},
      "strategy":{}},
    "status":{}})")));
}

TEST(Protobuf, SpecialTypes) {
  // Pod: metadata.creationTimestamp (Time), spec.containers[].ports
  // livenessProbe.httpGet.port (IntOrString, inlined ProbeHandler),
  // spec.activeDeadlineSeconds; Secret data (bytes → base64).
  std::string http_get = bfield(1, "/healthz") + bfield(2, vfield(1, 1) + bfield(3, "http"));
  std::string probe = bfield(1, bfield(2, http_get)) + vfield(2, 5);  // handler (inline) + initialDelaySeconds
  std::string container = bfield(1, "c") + bfield(2, "img") + bfield(10, probe);
  std::string meta = bfield(1, "p") + bfield(8, vfield(1, 1700000000));
  std::string pod = bfield(1, meta) + bfield(2, bfield(2, container));
  auto d = decode_k8s_protobuf(envelope("v1", "Pod", pod));
  ASSERT_TRUE(d.ok()) << d.status().message();
  const auto& o = d->object;
  EXPECT_EQ(o.at("metadata").at("creationTimestamp").as_string(), "2023-11-14T22:13:20Z");
  const auto& lp = o.at("spec").at("containers").at(0).at("livenessProbe");
  EXPECT_EQ(S(lp), S(J(R"({"httpGet":{"path":"/healthz","port":"http"},"initialDelaySeconds":5})")));

  std::string secret = bfield(1, bfield(1, "s")) + map_entry(2, "k", std::string("\x00\xff\x10", 3)) +
                       bfield(3, "Opaque") + map_entry(4, "plain", "text");
  auto s = decode_k8s_protobuf(envelope("v1", "Secret", secret));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(S(s->object.at("data")), R"({"k":"AP8Q"})");
  EXPECT_EQ(S(s->object.at("stringData")), R"({"plain":"text"})");
  EXPECT_EQ(s->object.at("type").as_string(), "Opaque");
}

TEST(Protobuf, ServiceIntTargetPortAndCronJobDurationFree) {
  // ServicePort: name=1 protocol=2 port=3 targetPort=4 nodePort=5.
  std::string port = bfield(1, "http") + bfield(2, "TCP") + vfield(3, 80) + bfield(4, vfield(1, 0) + vfield(2, 8080));
  std::string svc = bfield(1, bfield(1, "svc")) + bfield(2, bfield(1, port) + bfield(4, "NodePort"));
  auto d = decode_k8s_protobuf(envelope("v1", "Service", svc));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(S(d->object.at("spec")), S(J(R"({"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}],"type":"NodePort"})")));
}

TEST(Protobuf, UnknownFieldsAreReportedNotDropped) {
  std::string cm = bfield(1, bfield(1, "cm") + vfield(99, 1)) + map_entry(2, "a", "b") + bfield(42, "x");
  auto d = decode_k8s_protobuf(envelope("v1", "ConfigMap", cm));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(S(d->object), S(J(R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm"},"data":{"a":"b"}})")));
  ASSERT_EQ(d->unknown_fields.size(), 2u);
  EXPECT_EQ(d->unknown_fields[0], "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta field 99");
  EXPECT_EQ(d->unknown_fields[1], "k8s.io.api.core.v1.ConfigMap field 42");
}

TEST(Protobuf, BadInputIsAClearError) {
  std::string cm = bfield(1, bfield(1, "cm")) + map_entry(2, "a", "b");
  auto expect_error = [](std::string_view body, std::string_view needle) {
    auto d = decode_k8s_protobuf(body);
    ASSERT_FALSE(d.ok()) << "decoded: " << S(d->object);
    EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status().message();
  };
  expect_error("{\"kind\":\"ConfigMap\"}", "magic");
  std::string good = envelope("v1", "ConfigMap", cm);
  for (std::size_t cut = 5; cut < good.size(); cut += 3) {
    auto d = decode_k8s_protobuf(std::string_view(good).substr(0, cut));
    EXPECT_FALSE(d.ok() && d->object.contains("data")) << "prefix of " << cut << " bytes decoded fully";
  }
  expect_error(envelope("v1", "ConfigMap", bfield(1, bfield(1, "c") + std::string("\x12\x05" "ab", 4))), "truncated");
  expect_error(envelope("v1", "ConfigMap", bfield(1, bfield(1, "\xff\xfe"))), "UTF-8");
  expect_error(envelope("example.com/v1", "Widget", cm), "no protobuf schema");
  expect_error(envelope("v1", "ConfigMap", vfield(1, 5)), "not length-delimited");  // metadata as a varint
  std::string gz = std::string(kProtobufMagic) + bfield(1, bfield(1, "v1") + bfield(2, "ConfigMap")) + bfield(2, cm) +
                   bfield(3, "gzip");
  expect_error(gz, "contentEncoding");
  // Nesting bomb: JSONSchemaProps is not served; a deep chain of
  // LabelSelector requirements cannot nest, so nest RawExtension envelopes.
  std::string deep = cm;
  for (int i = 0; i < 80; ++i) {
    deep = bfield(1, bfield(1, "cr")) + bfield(2, bfield(1, envelope("v1", "ConfigMap", deep)));
  }
  auto bomb = decode_k8s_protobuf(envelope("apps/v1", "ControllerRevision", deep));
  EXPECT_FALSE(bomb.ok());
}

// Random bytes and random single-byte corruptions of a valid Deployment:
// every outcome is a value or an error, never a crash or a hang (run under
// `make asan` for memory errors).
TEST(Protobuf, CorruptedBodiesNeverCrash) {
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  const std::string good = envelope("apps/v1", "Deployment", deployment(3));
  int errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string body = good;
    for (int flips = 1 + static_cast<int>(next() % 3); flips > 0; --flips) {
      body[4 + next() % (body.size() - 4)] = static_cast<char>(next());
    }
    if (!decode_k8s_protobuf(body).ok()) ++errors;
    std::string noise(std::string(kProtobufMagic) + std::string(next() % 64, '\0'));
    for (std::size_t j = 4; j < noise.size(); ++j) noise[j] = static_cast<char>(next());
    (void)decode_k8s_protobuf(noise);
  }
  EXPECT_GT(errors, 0) << "corruptions were all accepted: the decoder checks nothing";
}

TEST(Protobuf, MessageNames) {
  EXPECT_EQ(protobuf_message_name("apps/v1", "Deployment"), "k8s.io.api.apps.v1.Deployment");
  EXPECT_EQ(protobuf_message_name("v1", "Namespace"), "k8s.io.api.core.v1.Namespace");
  EXPECT_EQ(protobuf_message_name("rbac.authorization.k8s.io/v1", "ClusterRole"),
            "k8s.io.api.rbac.v1.ClusterRole");
  EXPECT_EQ(protobuf_message_name("meta.k8s.io/v1", "DeleteOptions"),
            "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions");
  EXPECT_EQ(protobuf_message_name("apps.example.com/v1", "Deployment"), "");
  EXPECT_EQ(protobuf_message_name("v1", "NoSuchKind"), "");
}

// JSON bodies are checked against the same schema at every depth, with
// upstream's paths; maps' keys, quantities, int-or-strings, times and
// FieldsV1 content are values, not fields.
TEST(UnknownJsonFields, NamesEveryUnknownMemberAtItsPath) {
  const auto deployment = boost::json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labelz": {}, "labels": {"any-key": "v"},
                 "creationTimestamp": "2026-01-01T00:00:00Z",
                 "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:whatever": {}}}}]},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [
                            {"name": "a", "image": "x", "resources": {"limits": {"memory": "64Mi"}}},
                            {"name": "b", "image": "y", "imagePulPolicy": "Always",
                             "ports": [{"containerPort": 80, "protocl": "TCP"}]}],
                            "nodeSelectr": {"k": "v"}}}},
    "status": {"replicas": 1}})").as_object();
  auto unknown = unknown_json_fields("apps/v1", "Deployment", deployment);
  ASSERT_TRUE(unknown.has_value());
  std::sort(unknown->begin(), unknown->end());
  EXPECT_EQ(*unknown, (std::vector<std::string>{"metadata.labelz", "spec.template.spec.containers[1].imagePulPolicy",
                                                "spec.template.spec.containers[1].ports[0].protocl",
                                                "spec.template.spec.nodeSelectr"}));
  // A well-formed Pod has none; a kind without a schema is left to the caller.
  const auto pod = boost::json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "A", "valueFrom":
             {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "readinessProbe": {"httpGet": {"port": "http", "path": "/"}}}],
             "volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}]}})").as_object();
  EXPECT_EQ(unknown_json_fields("v1", "Pod", pod), std::vector<std::string>{});
  EXPECT_FALSE(unknown_json_fields("example.com/v1", "Widget", pod).has_value());
}

}  // namespace
}  // namespace kedge::api

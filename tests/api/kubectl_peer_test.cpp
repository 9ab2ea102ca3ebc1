// Differential tests: every patch here is applied by kedge::api and by
// /usr/bin/kubectl (`kubectl patch --local`, which runs upstream's
// strategicpatch / json-patch / merge-patch code offline). Results must match.
#include <fstream>

#include <gtest/gtest.h>

#include "kedge/api/json_patch.h"
#include "kedge/api/json_util.h"
#include "kedge/api/merge_patch.h"
#include "kedge/api/meta.h"
#include "kedge/api/quantity.h"
#include "kedge/api/strategic_merge.h"
#include "kedge/api/yaml.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

struct PeerCase {
  const char* name;
  const char* type;  // strategic | merge | json
  const char* object;
  const char* patch;
};
void PrintTo(const PeerCase& c, std::ostream* os) { *os << c.name; }

#define POD(spec) R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a","tier":"t"},"finalizers":["x/a","x/b"]},"spec":)" spec "}"
#define DEPLOY(spec) R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":)" spec "}"

// The object of rows that leave `object` null.
const char* kTwoContainerPod = POD(R"({"containers":[{"name":"a","image":"x","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}],
    "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},{"name":"b","image":"y","args":["1","2"]}],
    "volumes":[{"name":"v1","emptyDir":{}},{"name":"v2","configMap":{"name":"c"}}],
    "tolerations":[{"key":"k","operator":"Exists"}]})");

const PeerCase kCases[] = {
    {"smp_one_container", "strategic", POD(R"({"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]})"),
     R"({"spec":{"containers":[{"name":"b","image":"z"}]}})"},
    {"smp_new_container", "strategic", POD(R"({"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]})"),
     R"({"spec":{"containers":[{"name":"c","image":"z"}]}})"},
    {"smp_patch_order", "strategic", POD(R"({"containers":[{"name":"1"},{"name":"2","image":"b"},{"name":"3"}]})"),
     R"({"spec":{"containers":[{"name":"3","image":"c"},{"name":"1","image":"a"}]}})"},
    {"smp_ports_env", "strategic", nullptr,
     R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":8080}],"env":[{"name":"B","value":null,"valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},{"name":"C","value":"3"}]}]}})"},
    {"smp_delete_directives", "strategic", nullptr,
     R"({"spec":{"containers":[{"$patch":"delete","name":"b"},{"name":"a","env":[{"$patch":"delete","name":"A"}]}],"volumes":[{"name":"v1","$patch":"delete"}]}})"},
    {"smp_replace_list", "strategic", nullptr, R"({"spec":{"volumes":[{"$patch":"replace"},{"name":"n","emptyDir":{}}]}})"},
    {"smp_set_element_order", "strategic", nullptr,
     R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],"containers":[{"name":"a","image":"x2"}]}})"},
    {"smp_tolerations_replaced", "strategic", nullptr, R"({"spec":{"tolerations":[{"key":"z","operator":"Exists"}]}})"},
    {"smp_retain_keys_volume", "strategic", nullptr,
     R"({"spec":{"volumes":[{"$retainKeys":["hostPath","name"],"name":"v1","hostPath":{"path":"/x"}}]}})"},
    {"smp_finalizers", "strategic", POD(R"({"containers":[{"name":"a"}]})"),
     R"({"metadata":{"finalizers":["x/c"],"$deleteFromPrimitiveList/finalizers":["x/a"],"labels":{"tier":null}}})"},
    {"smp_finalizer_order", "strategic", POD(R"({"containers":[{"name":"a"}]})"),
     R"({"metadata":{"$setElementOrder/finalizers":["x/b","x/c","x/a"],"finalizers":["x/c"]}})"},
    {"smp_map_replace", "strategic", POD(R"({"containers":[{"name":"a"}],"nodeSelector":{"a":"1","b":"2"}})"),
     R"({"spec":{"nodeSelector":{"$patch":"replace","c":"3"}}})"},
    {"smp_kubectl_apply_3way", "strategic",
     DEPLOY(R"({"replicas":3,"selector":{"matchLabels":{"app":"web"}},
        "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{
          "containers":[{"name":"web","image":"nginx:1.25","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]},
                        {"name":"sidecar","image":"busybox"}]}}})"),
     R"({"spec":{"replicas":null,"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"},
        "template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"new"}],
          "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"C"}],"env":[{"name":"C","value":"3"},{"$patch":"delete","name":"B"}],
                         "image":"nginx:1.26","name":"web"},{"name":"new","image":"alpine"},{"$patch":"delete","name":"sidecar"}]}}}})"},
    {"smp_service_ports", "strategic",
     R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443}]}})",
     R"({"spec":{"ports":[{"port":80,"targetPort":9090,"name":"http"}]}})"},
    {"smp_new_keys_drop_directives_and_nulls", "strategic", nullptr,
     R"({"spec":{"nodeSelector":{"$patch":"frobnicate","a":"b"},"hostname":null,"dnsConfig":{"options":[{"name":"ndots","value":null}]},
        "containers":[{"name":"a","workingDir":{"$patch":"delete"},"envFrom":[{"$patch":"x"},{"prefix":"P_"}],
                       "resources":{"limits":{"cpu":"1","memory":null}}}]}})"},
    {"smp_init_and_ephemeral", "strategic",
     POD(R"({"initContainers":[{"name":"i1","image":"a"},{"name":"i2","image":"b"}],"containers":[{"name":"a"}],
            "ephemeralContainers":[{"name":"debug","image":"busybox"}]})"),
     R"({"spec":{"initContainers":[{"name":"i2","image":"c"},{"name":"i0","image":"z"}],"ephemeralContainers":[{"name":"d2","image":"x"}]}})"},
    {"smp_status_conditions_by_type", "strategic",
     R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]},
        "status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}],
                  "podIPs":[{"ip":"10.0.0.1"}]}})",
     R"({"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"Initialized","status":"True"}],
                   "podIPs":[{"ip":"fd00::1"}]}})"},
    {"smp_owner_references_by_uid", "strategic",
     R"({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"d","uid":"u1"}]}})",
     R"({"metadata":{"ownerReferences":[{"uid":"u1","controller":true},{"uid":"u2","apiVersion":"v1","kind":"X","name":"x"}]}})"},
    {"smp_node_podcidrs_and_taints", "strategic",
     R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"podCIDRs":["10.42.0.0/24"],"taints":[{"key":"a","effect":"NoSchedule"}]},
        "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"Hostname","address":"n"}],
                  "conditions":[{"type":"Ready","status":"False"}]}})",
     R"({"spec":{"podCIDRs":["fd00::/64"],"taints":[{"key":"b","effect":"NoExecute"}]},
        "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.6"}],"conditions":[{"type":"Ready","status":"True"}]}})"},
    {"smp_service_account_secrets", "strategic",
     R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa"},"secrets":[{"name":"a"}],"imagePullSecrets":[{"name":"r1"}]})",
     R"({"secrets":[{"name":"b"}],"imagePullSecrets":[{"name":"r2"}]})"},
    {"smp_cronjob_template", "strategic",
     R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":
        {"template":{"spec":{"containers":[{"name":"a","image":"x","env":[{"name":"E","value":"1"}]},{"name":"b"}],"restartPolicy":"Never"}}}}}})",
     R"({"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","env":[{"name":"F","value":"2"}]}]}}}}}})"},
    {"smp_statefulset_claim_templates_atomic", "strategic",
     R"({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s"},"spec":{"volumeClaimTemplates":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}],
        "template":{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"a","mountPath":"/a"},{"name":"b","mountPath":"/b"}]}]}}}})",
     R"({"spec":{"volumeClaimTemplates":[{"metadata":{"name":"c"}}],"template":{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"c","mountPath":"/b"}]}]}}}})"},
    {"smp_daemonset_update_strategy", "strategic",
     R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d"},"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1}},
        "template":{"spec":{"hostNetwork":true,"containers":[{"name":"c","ports":[{"containerPort":9100,"hostPort":9100}]}]}}}})",
     R"({"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null},"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":9100,"protocol":"TCP"}]}]}}}})"},
    {"smp_job_and_labels", "strategic",
     R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","labels":{"a":"1"},"annotations":{"x":"y"}},"spec":{"backoffLimit":6,
        "template":{"spec":{"containers":[{"name":"c","command":["sh","-c","exit 0"]}],"restartPolicy":"Never"}}}})",
     R"({"metadata":{"labels":{"a":null,"b":"2"},"annotations":{"$patch":"replace","z":"w"}},"spec":{"backoffLimit":2,"template":{"spec":{"containers":[{"name":"c","command":["true"]}]}}}})"},
    {"smp_merge_key_type_mismatch", "strategic",
     R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":8080}]}})",
     R"({"spec":{"ports":[{"port":"80","targetPort":9090}]}})"},
    {"smp_configmap_data", "strategic",
     R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","finalizers":["a/b"]},"data":{"k1":"v1","k2":"v2"},"binaryData":{"b":"AA=="}})",
     R"({"data":{"k1":null,"k3":"v3"},"binaryData":null,"metadata":{"finalizers":["a/c","a/b"]}})"},
    {"merge_lists_replaced", "merge", nullptr,
     R"({"metadata":{"labels":{"app":null,"new":"1"}},"spec":{"containers":[{"name":"a","image":"q"}]}})"},
    {"json_patch_ops", "json", nullptr,
     R"([{"op":"replace","path":"/spec/containers/0/image","value":"q"},{"op":"add","path":"/metadata/labels/x~1y","value":"1"},
        {"op":"remove","path":"/spec/containers/1"},{"op":"copy","from":"/spec/volumes/0","path":"/spec/volumes/-"},
        {"op":"move","from":"/metadata/labels/tier","path":"/metadata/labels/level"},{"op":"test","path":"/metadata/name","value":"p"}])"},
};

Result<boost::json::value> ours(const PeerCase& c, const boost::json::value& obj) {
  auto patch = J(c.patch);
  if (std::string(c.type) == "json") return apply_json_patch(obj, patch);
  if (std::string(c.type) == "merge") return apply_merge_patch(obj, patch);
  auto [group, version] = split_api_version(get_api_version(obj));
  return apply_strategic_merge_patch(obj, patch, group, get_kind(obj));
}

class KubectlPeer : public ::testing::TestWithParam<PeerCase> {};

TEST_P(KubectlPeer, SameResultAsKubectl) {
  const std::string kubectl = kedge::testing::find_binary("kubectl");
  KEDGE_REQUIRE(!kubectl.empty(), "kubectl on PATH");
  const PeerCase& c = GetParam();
  const std::string object_text = c.object != nullptr ? c.object : kTwoContainerPod;
  kedge::testing::TempDir dir("kedge-api-kubectl");
  { std::ofstream(dir / "obj.json") << object_text; }
  auto res = kedge::testing::run({kubectl, "patch", "--local", "-f", (dir / "obj.json").string(), "--type", c.type, "-p",
                                  c.patch, "-o", "json"},
                                 {.env = {{"HOME", dir.path().string()}, {"KUBECONFIG", (dir / "none").string()}}});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto want = parse_json(res.out);
  ASSERT_TRUE(want.ok()) << res.out;
  auto got = ours(c, J(object_text));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(json_equal(*got, *want)) << "kedge:   " << S(*got) << "\nkubectl: " << S(*want);
}

INSTANTIATE_TEST_SUITE_P(Upstream, KubectlPeer, ::testing::ValuesIn(kCases), testing::CaseName());

// YAML manifests read the same way kubectl reads them (YAML 1.1 scalars,
// anchors, merge keys, block scalars): `kubectl patch --local -f x.yaml`
// with an empty merge patch prints kubectl's JSON for the file.
TEST(KubectlPeerYaml, SameJsonAsKubectl) {
  const std::string kubectl = kedge::testing::find_binary("kubectl");
  KEDGE_REQUIRE(!kubectl.empty(), "kubectl on PATH");
  const char* manifest = R"(apiVersion: v1
kind: Pod
metadata:
  name: yaml-corners
  labels: {app: web, "quoted": "yes"}
spec:
  containers:
  - &c {name: a, image: "nginx:1.25", args: [--port, 80, "80", 0x1F, 1_000, 0777, 08, 1.10, 1e3, .5, -7]}
  - <<: *c
    name: b
  bools: [y, Y, yes, On, off, NO, n, true, False, "true", 'no']
  nulls: [~, null, Null, "", '~']
  empty:
  date: 2024-01-01
  stamp: 2001-12-14t21:59:43.10-05:00
  big: 18446744073709551615
  text: |
    line one
    line two
  folded: >-
    a
    b
  yes: key-is-bool
  1: key-is-int
  ? [complex]
  : dropped-by-none
)";
  kedge::testing::TempDir dir("kedge-api-kubectl");
  // kubectl refuses the complex key too; check that separately below.
  std::string simple(manifest);
  simple = simple.substr(0, simple.find("  ? [complex]"));
  { std::ofstream(dir / "obj.yaml") << simple; }
  auto res = kedge::testing::run({kubectl, "patch", "--local", "-f", (dir / "obj.yaml").string(), "--type", "merge",
                                  "-p", "{}", "-o", "json"},
                                 {.env = {{"HOME", dir.path().string()}, {"KUBECONFIG", (dir / "none").string()}}});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto want = parse_json(res.out);
  ASSERT_TRUE(want.ok()) << res.out;
  auto got = yaml_to_json(simple);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(json_equal(*got, *want)) << "kedge:   " << S(*got) << "\nkubectl: " << S(*want);

  { std::ofstream(dir / "complex.yaml") << manifest; }
  auto bad = kedge::testing::run({kubectl, "patch", "--local", "-f", (dir / "complex.yaml").string(), "--type", "merge",
                                  "-p", "{}", "-o", "json"},
                                 {.env = {{"HOME", dir.path().string()}, {"KUBECONFIG", (dir / "none").string()}}});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_FALSE(yaml_to_json(manifest).ok());
}

// Canonical quantity strings: `kubectl set resources --local` parses the
// values with upstream's resource.Quantity and prints them back.
TEST(KubectlPeerQuantity, SameCanonicalForm) {
  const std::string kubectl = kedge::testing::find_binary("kubectl");
  KEDGE_REQUIRE(!kubectl.empty(), "kubectl on PATH");
  const std::vector<std::string> inputs = {
      "0", "100m", "1", "1000", "1500", "0.5", ".5", "1.5", "1Gi", "1024Mi", "1536Mi", "1.5Gi", "0.5Ki", "1.0001Ki",
      "100Ki", "1e3", "1.5e3", "1e-3", "1n", "1u", "0.1n", "1M", "1000k", "0.001k", "5G", "1.G", "-1", "-100m",
      "-0.5Gi", "007", "12345678901234567890", "9223372036854775808", "1e100", "-1e30", "12345678901234567890.5",
      "10000000000000000000000m", "18446744073709551616000", "100Ei", "8Ei", "1Ei", "1e-12", "123456789n", "0.000001",
      "2048Ki", "3000Mi", "1.25", "250m", "64Mi", "0.25Gi", "1Ti", "1P", "1E", "+1", "1E3", "3Ki",
      "8Gi", "0Mi", "-0", "00", "1e21", "+1.5", "-007m"};
  std::string limits;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    limits += (i ? "," : "") + std::string("q.kedge.io/q") + std::to_string(i) + "=" + inputs[i];
  }
  kedge::testing::TempDir dir("kedge-api-kubectl");
  { std::ofstream(dir / "obj.json") << R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"}]}})"; }
  auto res = kedge::testing::run({kubectl, "set", "resources", "--local", "-f", (dir / "obj.json").string(), "-c", "a",
                                  "--limits=" + limits, "-o", "json"},
                                 {.env = {{"HOME", dir.path().string()}, {"KUBECONFIG", (dir / "none").string()}}});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto out = parse_json(res.out);
  ASSERT_TRUE(out.ok()) << res.out;
  const auto& got_limits = out->at("spec").at("containers").at(0).at("resources").at("limits").as_object();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string key = "q.kedge.io/q" + std::to_string(i);
    ASSERT_TRUE(got_limits.contains(key)) << key;
    auto ours = Quantity::parse(inputs[i]);
    ASSERT_TRUE(ours.ok()) << inputs[i];
    EXPECT_EQ(ours->to_string(), got_limits.at(key).as_string()) << "input " << inputs[i];
  }
}

// Patches upstream refuses are refused by kedge too.
TEST(KubectlPeerErrors, BothRefuse) {
  const std::string kubectl = kedge::testing::find_binary("kubectl");
  KEDGE_REQUIRE(!kubectl.empty(), "kubectl on PATH");
  const std::pair<const char*, const char*> bad[] = {
      {"strategic", R"({"spec":{"containers":[{"image":"no-name"}]}})"},
      {"strategic", R"({"metadata":{"labels":{"$patch":"frobnicate"}}})"},
      {"strategic", R"({"spec":{"volumes":[{"$retainKeys":["name"],"name":"v1","hostPath":{"path":"/x"}}]}})"},
      {"strategic", R"({"spec":{"containers":[{"$patch":"merge"}]}})"},
      {"json", R"([{"op":"test","path":"/metadata/name","value":"other"}])"},
      {"json", R"([{"op":"replace","path":"/spec/missing/x","value":1}])"},
  };
  kedge::testing::TempDir dir("kedge-api-kubectl");
  { std::ofstream(dir / "obj.json") << kTwoContainerPod; }
  for (const auto& [type, patch] : bad) {
    auto res = kedge::testing::run({kubectl, "patch", "--local", "-f", (dir / "obj.json").string(), "--type", type, "-p",
                                    patch, "-o", "json"},
                                   {.env = {{"HOME", dir.path().string()}, {"KUBECONFIG", (dir / "none").string()}}});
    EXPECT_NE(res.exit_code, 0) << patch << " accepted by kubectl: " << res.out;
    auto obj = J(kTwoContainerPod);
    Status ours_status = std::string(type) == "json" ? apply_json_patch(obj, J(patch)).status()
                                                     : apply_strategic_merge_patch(obj, J(patch), "", "Pod").status();
    EXPECT_FALSE(ours_status.ok()) << patch << " accepted by kedge";
  }
}

}  // namespace
}  // namespace kedge::api

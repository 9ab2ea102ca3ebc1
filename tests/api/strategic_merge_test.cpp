#include "kedge/api/strategic_merge.h"

#include <gtest/gtest.h>

#include "kedge/api/json_util.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

struct SmpCase {
  const char* name;
  const char* group;
  const char* kind;
  const char* original;
  const char* patch;
  const char* want;   // nullptr when an error is expected
  const char* error;  // substring of the error
};
void PrintTo(const SmpCase& c, std::ostream* os) { *os << c.name; }

// A Deployment as `kubectl create deployment` would store it, trimmed.
#define DEPLOY(containers) \
  R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},)" \
  R"("spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},)" \
  R"("template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":)" containers R"(}}}})"

const SmpCase kCases[] = {
    // ---- merge-key lists (kubectl patch / edit) ----
    {"patch_one_container_keeps_sibling", "apps", "Deployment",
     DEPLOY(R"([{"name":"web","image":"nginx:1.25"},{"name":"log","image":"busybox"}])"),
     R"({"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}})",
     DEPLOY(R"([{"name":"web","image":"nginx:1.26"},{"name":"log","image":"busybox"}])"), nullptr},
    {"new_container_goes_first_as_upstream", "", "Pod",
     R"({"spec":{"containers":[{"name":"a","image":"x"}]}})",
     R"({"spec":{"containers":[{"name":"b","image":"y"}]}})",
     R"({"spec":{"containers":[{"name":"b","image":"y"},{"name":"a","image":"x"}]}})", nullptr},
    {"patch_order_wins_over_live_order", "", "Pod",
     R"({"spec":{"containers":[{"name":"1"},{"name":"2","image":"b"},{"name":"3"}]}})",
     R"({"spec":{"containers":[{"name":"3","image":"c"},{"name":"1","image":"a"}]}})",
     R"({"spec":{"containers":[{"name":"2","image":"b"},{"name":"3","image":"c"},{"name":"1","image":"a"}]}})", nullptr},
    {"container_ports_by_containerPort", "", "Pod",
     R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http"},{"containerPort":443}]}]}})",
     R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"protocol":"TCP"}]}]}})",
     R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":443}]}]}})",
     nullptr},
    {"env_by_name_and_null_field", "", "Pod",
     R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]}]}})",
     R"({"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":null,"valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]}]}})",
     R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"Y","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}}]}]}})",
     nullptr},
    {"volume_mounts_by_mountPath", "", "Pod",
     R"({"spec":{"containers":[{"name":"a","volumeMounts":[{"mountPath":"/data","name":"d"}]}]}})",
     R"({"spec":{"containers":[{"name":"a","volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}})",
     R"({"spec":{"containers":[{"name":"a","volumeMounts":[{"mountPath":"/data","name":"d","readOnly":true}]}]}})", nullptr},
    {"tolerations_replaced_whole", "", "Pod",
     R"({"spec":{"tolerations":[{"key":"a","operator":"Exists"},{"key":"b","operator":"Exists"}]}})",
     R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})",
     R"({"spec":{"tolerations":[{"key":"c","operator":"Exists"}]}})", nullptr},
    {"args_replaced_whole", "", "Pod", R"({"spec":{"containers":[{"name":"a","args":["x","y"]}]}})",
     R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})", R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})",
     nullptr},
    {"service_ports_by_port", "", "Service",
     R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":8443}]}})",
     R"({"spec":{"ports":[{"port":80,"targetPort":9090}]}})",
     R"({"spec":{"ports":[{"port":80,"targetPort":9090},{"port":443,"targetPort":8443}]}})", nullptr},
    {"finalizers_as_set", "", "ConfigMap", R"({"metadata":{"finalizers":["a","b"]}})",
     R"({"metadata":{"finalizers":["b","c"]}})", R"({"metadata":{"finalizers":["a","b","c"]}})", nullptr},
    {"owner_references_by_uid", "apps", "ReplicaSet",
     R"({"metadata":{"ownerReferences":[{"uid":"1","name":"d1","kind":"Deployment"}]}})",
     R"({"metadata":{"ownerReferences":[{"uid":"1","blockOwnerDeletion":true}]}})",
     R"({"metadata":{"ownerReferences":[{"uid":"1","name":"d1","kind":"Deployment","blockOwnerDeletion":true}]}})", nullptr},
    {"pod_conditions_by_type", "", "Pod",
     R"({"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
     R"({"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}})", nullptr},
    {"cronjob_nested_template", "batch", "CronJob",
     R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}}}}}})",
     R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"z"}]}}}}}})",
     R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"z"}]}}}}}})",
     nullptr},
    {"statefulset_template", "apps", "StatefulSet",
     R"({"spec":{"template":{"spec":{"volumes":[{"name":"a","emptyDir":{}},{"name":"b","emptyDir":{}}]}}}})",
     R"({"spec":{"template":{"spec":{"volumes":[{"name":"a","emptyDir":{"medium":"Memory"}}]}}}})",
     R"({"spec":{"template":{"spec":{"volumes":[{"name":"a","emptyDir":{"medium":"Memory"}},{"name":"b","emptyDir":{}}]}}}})",
     nullptr},
    {"unknown_list_field_replaced", "", "Pod", R"({"spec":{"x":[{"name":"a","v":1}]}})",
     R"({"spec":{"x":[{"name":"a","w":2}]}})", R"({"spec":{"x":[{"name":"a","w":2}]}})", nullptr},

    // ---- directives ----
    {"delete_element", "", "Pod", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"containers":[{"$patch":"delete","name":"a"}]}})", R"({"spec":{"containers":[{"name":"b"}]}})", nullptr},
    {"delete_all_duplicates", "", "Pod", R"({"spec":{"volumes":[{"name":"1"},{"name":"1"},{"name":"2","x":1}]}})",
     R"({"spec":{"volumes":[{"name":"1","$patch":"delete"}]}})", R"({"spec":{"volumes":[{"name":"2","x":1}]}})", nullptr},
    {"replace_list", "", "Pod", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"containers":[{"name":"c"},{"$patch":"replace"}]}})", R"({"spec":{"containers":[{"name":"c"}]}})", nullptr},
    {"replace_list_empty", "", "Pod", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"$patch":"replace"}]}})", R"({"spec":{"containers":[]}})", nullptr},
    {"replace_map", "", "ConfigMap", R"({"data":{"a":"1","b":"2"}})", R"({"data":{"$patch":"replace","c":"3"}})",
     R"({"data":{"c":"3"}})", nullptr},
    {"delete_map", "", "ConfigMap", R"({"data":{"a":"1"},"x":1})", R"({"data":{"$patch":"delete"}})",
     R"({"data":{},"x":1})", nullptr},
    {"merge_directive_in_map", "", "ConfigMap", R"({"data":{"a":"1"}})", R"({"data":{"$patch":"merge","b":"2"}})",
     R"({"data":{"a":"1","b":"2"}})", nullptr},
    {"null_deletes", "", "ConfigMap", R"({"metadata":{"labels":{"a":"1","b":"2"}},"data":{"k":"v"}})",
     R"({"metadata":{"labels":{"a":null}},"data":null})", R"({"metadata":{"labels":{"b":"2"}}})", nullptr},
    {"null_for_missing_ignored", "", "ConfigMap", R"({"a":1})", R"({"b":null,"c":{"d":null,"e":1}})",
     R"({"a":1,"c":{"e":1}})", nullptr},
    {"retain_keys", "apps", "Deployment", R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})", R"({"spec":{"strategy":{"type":"Recreate"}}})",
     nullptr},
    {"retain_keys_volume_source_swap", "", "Pod", R"({"spec":{"volumes":[{"name":"d","emptyDir":{}}]}})",
     R"({"spec":{"volumes":[{"$retainKeys":["hostPath","name"],"hostPath":{"path":"/x"},"name":"d"}]}})",
     R"({"spec":{"volumes":[{"name":"d","hostPath":{"path":"/x"}}]}})", nullptr},
    {"retain_keys_violation", "apps", "Deployment", R"({"spec":{"strategy":{"type":"RollingUpdate"}}})",
     R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","other":1}}})", nullptr,
     "invalid patch format of retainKeys"},
    {"set_element_order_reorders", "", "Pod", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}})",
     R"({"spec":{"containers":[{"name":"b"},{"name":"a"}]}})", nullptr},
    {"set_element_order_with_missing_item", "", "Pod", R"({"spec":{"containers":[{"name":"1"},{"name":"3"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"3"},{"name":"2"},{"name":"1"}],"containers":[{"name":"3","image":"c"},{"name":"1","image":"a"}]}})",
     R"({"spec":{"containers":[{"name":"3","image":"c"},{"name":"1","image":"a"}]}})", nullptr},
    {"set_element_order_mismatch", "", "Pod", R"({"spec":{"containers":[{"name":"1"},{"name":"3"},{"name":"2"}]}})",
     R"({"spec":{"$setElementOrder/containers":[{"name":"1"},{"name":"2"},{"name":"3"}],"containers":[{"name":"3"},{"name":"1"}]}})",
     nullptr, "doesn't match $setElementOrder list"},
    {"set_element_order_primitives", "", "Secret", R"({"metadata":{"finalizers":["a","c"]}})",
     R"({"metadata":{"$setElementOrder/finalizers":["c","b","a"]}})", R"({"metadata":{"finalizers":["c","a"]}})", nullptr},
    {"delete_from_primitive_list", "", "Secret", R"({"metadata":{"finalizers":["a","b","c"]}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})", R"({"metadata":{"finalizers":["a","c"]}})", nullptr},
    {"delete_from_missing_primitive_list", "", "Secret", R"({"metadata":{}})",
     R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b"]}})", R"({"metadata":{}})", nullptr},
    {"new_field_with_directives_is_cleaned", "", "Pod", R"({"spec":{}})",
     R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"$patch":"delete","name":"Y"}]},{"$patch":"delete","name":"z"}]}})",
     R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}]}]}})", nullptr},

    // ---- errors ----
    {"missing_merge_key", "", "Pod", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"image":"x"}]}})", nullptr,
     R"(map: {"image":"x"} does not contain declared merge key: name)"},
    {"unknown_directive", "", "ConfigMap", R"({"data":{}})", R"({"data":{"$patch":"frob"}})", nullptr,
     "unknown patch type: \"frob\" in map"},
    {"merge_directive_in_list", "", "Pod", R"({"spec":{"containers":[{"name":"a"}]}})",
     R"({"spec":{"containers":[{"$patch":"merge"}]}})", nullptr, "merging lists cannot yet be specified in the patch"},
    {"mixed_element_types", "", "Secret", R"({"metadata":{"finalizers":["a"]}})", R"({"metadata":{"finalizers":[1]}})",
     nullptr, "list element types are not identical"},
    {"patch_not_object", "", "Pod", R"({})", R"([1])", nullptr, "invalid JSON document"},
};

class SmpTable : public ::testing::TestWithParam<SmpCase> {};

TEST_P(SmpTable, Applies) {
  const SmpCase& c = GetParam();
  auto original = J(c.original);
  auto got = apply_strategic_merge_patch(original, J(c.patch), c.group, c.kind);
  EXPECT_EQ(S(original), S(J(c.original))) << "input must stay untouched";
  if (c.want != nullptr) {
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(json_equal(*got, J(c.want))) << "got  " << S(*got) << "\nwant " << S(J(c.want));
  } else {
    ASSERT_FALSE(got.ok()) << "unexpected success: " << S(*got);
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_NE(got.status().message().find(c.error), std::string::npos) << got.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Strategic, SmpTable, ::testing::ValuesIn(kCases), testing::CaseName());

TEST(StrategicMerge, UnknownKindIsUnsupported) {
  EXPECT_FALSE(supports_strategic_merge_patch("example.com", "Widget"));
  EXPECT_TRUE(supports_strategic_merge_patch("apps", "Deployment"));
  EXPECT_TRUE(supports_strategic_merge_patch("", "Namespace"));
  auto r = apply_strategic_merge_patch(J("{}"), J("{}"), "example.com", "Widget");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnimplemented);
}

// What `kubectl apply` (client-side) sends on the second apply of a manifest,
// shaped after kubectl's three-way patches: image change, container removal,
// env removal, replicas removal, strategy type change, label removal.
TEST(StrategicMerge, KubectlThreeWayApplyPatches) {
  auto live = J(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"default","uid":"u","resourceVersion":"7",
      "labels":{"app":"web","tier":"fe"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}",
      "deployment.kubernetes.io/revision":"1"}},
    "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{
        "containers":[{"name":"web","image":"nginx:1.25","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
                       "ports":[{"containerPort":80,"protocol":"TCP"}]},
                      {"name":"sidecar","image":"busybox","args":["sleep","1d"]}],
        "restartPolicy":"Always","dnsPolicy":"ClusterFirst"}}},
    "status":{"replicas":3}})");
  auto patch = J(R"({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"},
      "labels":{"tier":null}},
    "spec":{"replicas":null,
      "strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"},
      "template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],
        "containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"$patch":"delete","name":"B"}],
                       "image":"nginx:1.26","name":"web"},
                      {"$patch":"delete","name":"sidecar"}]}}}})");
  auto got = apply_strategic_merge_patch(live, patch, "apps", "Deployment");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  auto want = J(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"default","uid":"u","resourceVersion":"7",
      "labels":{"app":"web"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n",
      "deployment.kubernetes.io/revision":"1"}},
    "spec":{"selector":{"matchLabels":{"app":"web"}},
      "strategy":{"type":"Recreate"},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{
        "containers":[{"name":"web","image":"nginx:1.26","env":[{"name":"A","value":"1"}],
                       "ports":[{"containerPort":80,"protocol":"TCP"}]}],
        "restartPolicy":"Always","dnsPolicy":"ClusterFirst"}}},
    "status":{"replicas":3}})");
  EXPECT_TRUE(json_equal(*got, want)) << S(*got);
}

// Adding a container and a port through apply: kubectl lists the full order.
TEST(StrategicMerge, KubectlApplyAddsWithOrder) {
  auto live = J(R"({"spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":80}]}]}})");
  auto patch = J(R"({"spec":{"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
    "containers":[{"$setElementOrder/ports":[{"containerPort":80},{"containerPort":81}],"name":"a",
                   "ports":[{"containerPort":81}]},{"image":"y","name":"b"}]}})");
  auto got = apply_strategic_merge_patch(live, patch, "", "Pod");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(S(*got), S(J(R"({"spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":80},{"containerPort":81}]},
                                                 {"image":"y","name":"b"}]}})")));
}

}  // namespace
}  // namespace kedge::api

#include "kedge/api/validation.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

const std::string kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const std::string kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string kQualifiedNameMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const std::string kLabelValueMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

struct StrCase {
  const char* name;
  std::vector<std::string> (*fn)(std::string_view);
  std::string input;
  std::vector<std::string> want;
};
void PrintTo(const StrCase& c, std::ostream* os) { *os << c.name; }

const StrCase kStrCases[] = {
    {"subdomain_ok", is_dns1123_subdomain, "my-app.example.com", {}},
    {"subdomain_single_char", is_dns1123_subdomain, "a", {}},
    {"subdomain_upper", is_dns1123_subdomain, "Foo", {kSubdomainMsg}},
    {"subdomain_empty", is_dns1123_subdomain, "", {kSubdomainMsg}},
    {"subdomain_trailing_dash", is_dns1123_subdomain, "a-", {kSubdomainMsg}},
    {"subdomain_double_dot", is_dns1123_subdomain, "a..b", {kSubdomainMsg}},
    {"subdomain_too_long", is_dns1123_subdomain, std::string(254, 'a'), {"must be no more than 253 characters"}},
    {"subdomain_253_ok", is_dns1123_subdomain, std::string(253, 'a'), {}},
    {"label_ok", is_dns1123_label, "kube-system", {}},
    {"label_dots", is_dns1123_label, "a.b", {"must not contain dots"}},
    {"label_underscore", is_dns1123_label, "a_b", {kLabelMsg}},
    {"label_too_long", is_dns1123_label, std::string(64, 'a'), {"must be no more than 63 characters"}},
    {"dns1035_digit_start", is_dns1035_label, "1abc",
     {"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
      "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation "
      "is '[a-z]([-a-z0-9]*[a-z0-9])?')"}},
    {"dns1035_ok", is_dns1035_label, "my-svc", {}},
    {"qualified_ok", is_qualified_name, "app.kubernetes.io/name", {}},
    {"qualified_plain_ok", is_qualified_name, "My_Key.1", {}},
    {"qualified_bad_name", is_qualified_name, "a b", {kQualifiedNameMsg}},
    {"qualified_empty_name", is_qualified_name, "example.com/", {"name part must be non-empty", kQualifiedNameMsg}},
    {"qualified_empty_prefix", is_qualified_name, "/a", {"prefix part must be non-empty"}},
    {"qualified_bad_prefix", is_qualified_name, "Example.com/a", {"prefix part " + kSubdomainMsg}},
    {"qualified_two_slashes", is_qualified_name, "a/b/c",
     {"a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. "
      "'example.com/MyName')"}},
    {"qualified_too_long", is_qualified_name, std::string(64, 'a'), {"name part must be no more than 63 characters"}},
    {"label_value_empty_ok", is_valid_label_value, "", {}},
    {"label_value_ok", is_valid_label_value, "v1.2_3-x", {}},
    {"label_value_space", is_valid_label_value, "a b", {kLabelValueMsg}},
    {"label_value_leading_dash", is_valid_label_value, "-a", {kLabelValueMsg}},
    {"label_value_too_long", is_valid_label_value, std::string(64, 'a'), {"must be no more than 63 characters"}},
    {"port_name_ok", is_valid_port_name, "http-alt", {}},
    {"port_name_digits", is_valid_port_name, "8080", {"must contain at least one letter (a-z)"}},
    {"port_name_double_dash", is_valid_port_name, "a--b", {"must not contain consecutive hyphens"}},
};

class StringValidators : public ::testing::TestWithParam<StrCase> {};
TEST_P(StringValidators, Messages) { EXPECT_EQ(GetParam().fn(GetParam().input), GetParam().want); }
INSTANTIATE_TEST_SUITE_P(Upstream, StringValidators, ::testing::ValuesIn(kStrCases), testing::CaseName());

TEST(Validation, PortNumbers) {
  EXPECT_TRUE(is_valid_port_num(1).empty());
  EXPECT_TRUE(is_valid_port_num(65535).empty());
  EXPECT_EQ(is_valid_port_num(0), std::vector<std::string>{"must be between 1 and 65535, inclusive"});
  EXPECT_EQ(is_valid_port_num(70000), std::vector<std::string>{"must be between 1 and 65535, inclusive"});
}

TEST(FieldError, MessagesAsUpstream) {
  EXPECT_EQ(FieldError::invalid("metadata.name", "Foo", kSubdomainMsg).message(),
            "metadata.name: Invalid value: \"Foo\": " + kSubdomainMsg);
  EXPECT_EQ(FieldError::required("spec.containers[0].image").message(), "spec.containers[0].image: Required value");
  EXPECT_EQ(FieldError::required("metadata.name", "name or generateName is required").message(),
            "metadata.name: Required value: name or generateName is required");
  EXPECT_EQ(FieldError::not_supported("spec.restartPolicy", "Sometimes", {"Always", "OnFailure", "Never"}).message(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"");
  EXPECT_EQ(FieldError::invalid_int("spec.replicas", -1, "must be greater than or equal to 0").message(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
  EXPECT_EQ(FieldError::duplicate("spec.containers[1].name", "web").message(),
            "spec.containers[1].name: Duplicate value: \"web\"");
  EXPECT_EQ(FieldError::forbidden("metadata.namespace", "not allowed on this type").message(),
            "metadata.namespace: Forbidden: not allowed on this type");
  EXPECT_EQ(FieldError::too_long("metadata.annotations", 262144).message(),
            "metadata.annotations: Too long: may not be more than 262144 bytes");
  EXPECT_EQ(FieldError::not_found("spec.x", "y").message(), "spec.x: Not found: \"y\"");
  EXPECT_EQ(FieldError::invalid("f", "a\"b\n", "d").message(), "f: Invalid value: \"a\\\"b\\n\": d");
  EXPECT_EQ(FieldError::invalid("f", "", "x").reason(), "FieldValueInvalid");
  EXPECT_EQ(FieldError::required("f").reason(), "FieldValueRequired");
}

TEST(InvalidStatus, ShapeAndMessage) {
  FieldErrors errs = {
      FieldError::invalid_int("spec.replicas", -1, "must be greater than or equal to 0"),
      FieldError::required("spec.template.spec.containers[0].image"),
  };
  auto st = invalid_status("Deployment.apps", "web", errs);
  auto want = J(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers[0].image: Required value]",
    "reason":"Invalid","details":{"name":"web","group":"apps","kind":"Deployment","causes":[
      {"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"},
      {"reason":"FieldValueRequired","message":"Required value","field":"spec.template.spec.containers[0].image"}]},
    "code":422})");
  EXPECT_EQ(S(st), S(want));
  // Core kinds have no group; a single error is not bracketed.
  auto one = invalid_status("Pod", "p", {FieldError::required("spec.containers")});
  EXPECT_EQ(one.at("message").as_string(), "Pod \"p\" is invalid: spec.containers: Required value");
  EXPECT_FALSE(one.at("details").as_object().contains("group"));
  // Duplicate messages collapse in the text but stay in causes.
  auto dup = invalid_status("Pod", "p", {FieldError::required("a"), FieldError::required("a")});
  EXPECT_EQ(dup.at("message").as_string(), "Pod \"p\" is invalid: a: Required value");
  EXPECT_EQ(dup.at("details").at("causes").as_array().size(), 2u);
}

TEST(ObjectMeta, ValidNamespacedObject) {
  auto meta = J(R"({"name":"web","namespace":"default","labels":{"app":"web","app.kubernetes.io/part-of":""},
                    "annotations":{"Example.com/Note":"x"},"finalizers":["kubernetes.io/pv-protection"],
                    "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1","controller":true}]})");
  EXPECT_TRUE(validate_object_meta(meta.as_object(), true, name_is_dns_subdomain).empty());
}

TEST(ObjectMeta, CollectsEveryProblem) {
  auto meta = J(R"({"name":"Web_1","namespace":"Default","generation":-2,"labels":{"a b":"c d"},
                    "finalizers":["orphan","foregroundDeletion"],
                    "ownerReferences":[{"apiVersion":"v1","kind":"A","name":"a","uid":"1","controller":true},
                                       {"apiVersion":"","kind":"","name":"","uid":"","controller":true}]})");
  auto errs = validate_object_meta(meta.as_object(), true, name_is_dns_subdomain);
  std::vector<std::string> msgs;
  for (const auto& e : errs) msgs.push_back(e.message());
  std::vector<std::string> want = {
      "metadata.name: Invalid value: \"Web_1\": " + kSubdomainMsg,
      "metadata.namespace: Invalid value: \"Default\": " + kLabelMsg,
      "metadata.generation: Invalid value: -2: must be greater than or equal to 0",
      "metadata.labels: Invalid value: \"a b\": " + kQualifiedNameMsg,
      "metadata.labels: Invalid value: \"c d\": " + kLabelValueMsg,
      "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
      "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
      "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
      "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
      "metadata.ownerReferences: Invalid value: []v1.OwnerReference: Only one reference can have Controller set to "
      "true. Found \"true\" in references for A/a and /",
      "metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and "
      "foregroundDeletion cannot be both set",
  };
  EXPECT_EQ(msgs, want);
}

TEST(ObjectMeta, NameRules) {
  auto msgs = [](const char* text, bool namespaced) {
    std::vector<std::string> out;
    for (const auto& e : validate_object_meta(J(text).as_object(), namespaced, name_is_dns_subdomain)) {
      out.push_back(e.message());
    }
    return out;
  };
  EXPECT_EQ(msgs(R"({"namespace":"default"})", true),
            std::vector<std::string>{"metadata.name: Required value: name or generateName is required"});
  EXPECT_EQ(msgs(R"({"name":"x"})", true), std::vector<std::string>{"metadata.namespace: Required value"});
  EXPECT_EQ(msgs(R"({"name":"x","namespace":"a"})", false),
            std::vector<std::string>{"metadata.namespace: Forbidden: not allowed on this type"});
  // generateName may end in '-'.
  EXPECT_TRUE(msgs(R"({"generateName":"web-","name":"web-x7k2p","namespace":"d"})", true).empty());
  EXPECT_EQ(msgs(R"({"generateName":"Web-","name":"web-1","namespace":"d"})", true).size(), 1u);
}

TEST(ObjectMeta, AnnotationSizeLimit) {
  boost::json::object meta{{"name", "x"}};
  meta["annotations"] = boost::json::object{{"big", std::string(256 * 1024, 'x')}};
  auto errs = validate_object_meta(meta, false, name_is_dns_subdomain);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].message(), "metadata.annotations: Too long: may not be more than 262144 bytes");
}

TEST(ObjectMeta, PathSegmentNames) {
  EXPECT_EQ(name_is_path_segment("..", false), std::vector<std::string>{"may not be '..'"});
  EXPECT_EQ(name_is_path_segment("a/b%c", false), (std::vector<std::string>{"may not contain '/'", "may not contain '%'"}));
  EXPECT_TRUE(name_is_path_segment("system:admin", false).empty());
}

}  // namespace
}  // namespace kedge::api

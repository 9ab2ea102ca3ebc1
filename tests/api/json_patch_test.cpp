#include "kedge/api/json_patch.h"

#include <gtest/gtest.h>

#include "kedge/api/json_util.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

struct PatchCase {
  const char* name;
  const char* doc;
  const char* patch;
  const char* want;   // expected document, or nullptr when an error is expected
  const char* error;  // substring of the expected error message
};
void PrintTo(const PatchCase& c, std::ostream* os) { *os << c.name; }


// RFC 6902 appendix A (every example that is valid JSON), then edge cases.
const PatchCase kCases[] = {
    {"A1_add_member", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
     R"({"baz":"qux","foo":"bar"})", nullptr},
    {"A2_add_array_element", R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])",
     R"({"foo":["bar","qux","baz"]})", nullptr},
    {"A3_remove_member", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})",
     nullptr},
    {"A4_remove_element", R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
     R"({"foo":["bar","baz"]})", nullptr},
    {"A5_replace", R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])",
     R"({"baz":"boo","foo":"bar"})", nullptr},
    {"A6_move_member", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
     R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
     R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})", nullptr},
    {"A7_move_element", R"({"foo":["all","grass","cows","eat"]})", R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
     R"({"foo":["all","cows","eat","grass"]})", nullptr},
    {"A8_test_success", R"({"baz":"qux","foo":["a",2,"c"]})",
     R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
     R"({"baz":"qux","foo":["a",2,"c"]})", nullptr},
    {"A9_test_error", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])", nullptr,
     "testing value /baz failed: test failed"},
    {"A10_add_nested", R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
     R"({"foo":"bar","child":{"grandchild":{}}})", nullptr},
    {"A11_unrecognized_members_ignored", R"({"foo":"bar"})",
     R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])", R"({"foo":"bar","baz":"qux"})", nullptr},
    {"A12_add_to_missing_target", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr,
     "add operation does not apply: doc is missing path: \"/baz/bat\""},
    {"A14_tilde_escape", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
     R"({"/":9,"~1":10})", nullptr},
    {"A15_string_vs_number", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])", nullptr,
     "testing value /~01 failed"},
    {"A16_add_array_value", R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
     R"({"foo":["bar",["abc","def"]]})", nullptr},
    {"slash_escape", R"({"a/b":1})", R"([{"op":"replace","path":"/a~1b","value":2}])", R"({"a/b":2})", nullptr},
    {"annotation_key_with_slash", R"({"metadata":{"annotations":{"kedge.io/x":"1"}}})",
     R"([{"op":"remove","path":"/metadata/annotations/kedge.io~1x"}])", R"({"metadata":{"annotations":{}}})",
     nullptr},
    {"add_replaces_existing_member", R"({"a":1})", R"([{"op":"add","path":"/a","value":2}])", R"({"a":2})", nullptr},
    {"add_root_replaces_doc", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])", R"([1])", nullptr},
    {"add_at_end_index", R"({"a":[1]})", R"([{"op":"add","path":"/a/1","value":2}])", R"({"a":[1,2]})", nullptr},
    {"add_past_end", R"({"a":[1]})", R"([{"op":"add","path":"/a/2","value":2}])", nullptr,
     "Unable to access invalid index: 2"},
    {"leading_zero_index", R"({"a":[1,2]})", R"([{"op":"replace","path":"/a/01","value":2}])", nullptr,
     "replace operation does not apply: doc is missing key: /a/01"},
    {"remove_missing", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", nullptr,
     "unable to remove nonexistent key: b"},
    {"replace_missing", R"({"spec":{}})", R"([{"op":"replace","path":"/spec/replicas","value":3}])", nullptr,
     "replace operation does not apply: doc is missing key: /spec/replicas: missing value"},
    {"copy", R"({"a":{"b":1}})", R"([{"op":"copy","from":"/a","path":"/c"}])", R"({"a":{"b":1},"c":{"b":1}})",
     nullptr},
    {"copy_missing_from", R"({})", R"([{"op":"copy","from":"/x","path":"/c"}])", nullptr,
     "copy operation does not apply: doc is missing from path: /x"},
    {"move_into_child", R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/b/c"}])", nullptr,
     "proper prefix"},
    {"move_same_path", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])", R"({"a":1})", nullptr},
    {"test_number_kinds", R"({"a":1.0})", R"([{"op":"test","path":"/a","value":1}])", R"({"a":1.0})", nullptr},
    {"test_missing_is_null", R"({"a":{}})", R"([{"op":"test","path":"/a/b","value":null}])", R"({"a":{}})", nullptr},
    {"atomic_on_failure", R"({"a":1})", R"([{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":5}])",
     nullptr, "testing value /a failed"},
    {"unknown_op", R"({})", R"([{"op":"frobnicate","path":"/a"}])", nullptr, "Unexpected kind: frobnicate"},
    {"missing_path", R"({})", R"([{"op":"add","value":1}])", nullptr, "missing path field"},
    {"missing_value", R"({})", R"([{"op":"add","path":"/a"}])", nullptr, "missing value field"},
    {"not_an_array", R"({})", R"({"op":"add","path":"/a","value":1})", nullptr,
     "cannot unmarshal object into Go value of type jsonpatch.Patch"},
    {"bad_pointer", R"({})", R"([{"op":"add","path":"a","value":1}])", nullptr, "must be empty or start with"},
    {"scale_replicas", R"({"spec":{"replicas":1,"template":{}}})",
     R"([{"op":"replace","path":"/spec/replicas","value":3}])", R"({"spec":{"replicas":3,"template":{}}})", nullptr},
};

class JsonPatchTable : public ::testing::TestWithParam<PatchCase> {};

TEST_P(JsonPatchTable, Applies) {
  const PatchCase& c = GetParam();
  auto doc = J(c.doc);
  auto got = apply_json_patch(doc, J(c.patch));
  EXPECT_EQ(S(doc), S(J(c.doc))) << "input must stay untouched";
  if (c.want != nullptr) {
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(json_equal(*got, J(c.want))) << "got " << S(*got) << " want " << c.want;
  } else {
    ASSERT_FALSE(got.ok()) << "unexpected success: " << S(*got);
    EXPECT_EQ(got.status().code(), Code::kInvalidArgument);
    EXPECT_NE(got.status().message().find(c.error), std::string::npos) << got.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc6902, JsonPatchTable, ::testing::ValuesIn(kCases),
                         testing::CaseName());

TEST(JsonPatch, CheckSeparatesMalformedFromFailing) {
  EXPECT_FALSE(check_json_patch(J(R"({"a":1})")).ok());
  EXPECT_FALSE(check_json_patch(J(R"([{"op":"move","path":"/a"}])")).ok());
  // Well formed but failing at apply time: check passes.
  EXPECT_TRUE(check_json_patch(J(R"([{"op":"test","path":"/a","value":1}])")).ok());
  EXPECT_TRUE(check_json_patch(J("[]")).ok());
}

}  // namespace
}  // namespace kedge::api

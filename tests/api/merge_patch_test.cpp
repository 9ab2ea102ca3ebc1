#include "kedge/api/merge_patch.h"

#include <gtest/gtest.h>

#include "kedge/api/json_util.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

struct MergeCase {
  const char* name;
  const char* doc;
  const char* patch;
  const char* want;
};
void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.name; }


// RFC 7386 appendix A, every row, plus cases kubectl users hit.
const MergeCase kMergeCases[] = {
    {"A1_replace_member", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
    {"A2_add_member", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
    {"A3_null_removes", R"({"a":"b"})", R"({"a":null})", R"({})"},
    {"A4_null_removes_one", R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
    {"A5_array_replaced_by_scalar", R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
    {"A6_scalar_replaced_by_array", R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
    {"A7_nested", R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
    {"A8_arrays_not_merged", R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
    {"A9_array_doc", R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
    {"A10_object_to_array", R"({"a":"b"})", R"(["c"])", R"(["c"])"},
    {"A11_null_patch", R"({"a":"foo"})", R"(null)", R"(null)"},
    {"A12_string_patch", R"({"a":"foo"})", R"("bar")", R"("bar")"},
    {"A13_existing_null_kept", R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
    {"A14_array_to_object", R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
    {"A15_nested_nulls_dropped", R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
    {"label_add", R"({"metadata":{"name":"x","labels":{"a":"1"}}})", R"({"metadata":{"labels":{"b":"2"}}})",
     R"({"metadata":{"name":"x","labels":{"a":"1","b":"2"}}})"},
    {"label_remove", R"({"metadata":{"labels":{"a":"1","b":"2"}}})", R"({"metadata":{"labels":{"a":null}}})",
     R"({"metadata":{"labels":{"b":"2"}}})"},
    {"containers_replaced_whole", R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}})",
     R"({"spec":{"containers":[{"name":"a","image":"z"}]}})", R"({"spec":{"containers":[{"name":"a","image":"z"}]}})"},
    {"empty_patch_noop", R"({"a":{"b":1}})", R"({})", R"({"a":{"b":1}})"},
};

class MergePatchTable : public ::testing::TestWithParam<MergeCase> {};

TEST_P(MergePatchTable, Applies) {
  const MergeCase& c = GetParam();
  auto got = apply_merge_patch(J(c.doc), J(c.patch));
  EXPECT_TRUE(json_equal(got, J(c.want))) << "got " << S(got) << " want " << c.want;
}

INSTANTIATE_TEST_SUITE_P(Rfc7386, MergePatchTable, ::testing::ValuesIn(kMergeCases),
                         testing::CaseName());

TEST(MergePatch, InputsUntouched) {
  auto doc = J(R"({"a":{"b":1}})");
  auto patch = J(R"({"a":{"b":null}})");
  auto got = apply_merge_patch(doc, patch);
  EXPECT_EQ(S(doc), R"({"a":{"b":1}})");
  EXPECT_EQ(S(patch), R"({"a":{"b":null}})");
  EXPECT_EQ(S(got), R"({"a":{}})");
}

struct CreateCase {
  const char* name;
  const char* from;
  const char* to;
  const char* want_patch;
};
void PrintTo(const CreateCase& c, std::ostream* os) { *os << c.name; }


const CreateCase kCreateCases[] = {
    {"identical", R"({"a":1,"b":{"c":2}})", R"({"b":{"c":2},"a":1})", R"({})"},
    {"changed_scalar", R"({"a":1})", R"({"a":2})", R"({"a":2})"},
    {"removed_member", R"({"a":1,"b":2})", R"({"a":1})", R"({"b":null})"},
    {"nested", R"({"m":{"l":{"x":"1","y":"2"}}})", R"({"m":{"l":{"x":"1","z":"3"}}})", R"({"m":{"l":{"y":null,"z":"3"}}})"},
    {"array_changed", R"({"a":[1,2]})", R"({"a":[2]})", R"({"a":[2]})"},
    {"number_kinds_equal", R"({"a":1})", R"({"a":1.0})", R"({})"},
    {"non_object", R"([1])", R"({"a":1})", R"({"a":1})"},
};

class CreateMergePatchTable : public ::testing::TestWithParam<CreateCase> {};

TEST_P(CreateMergePatchTable, RoundTrips) {
  const CreateCase& c = GetParam();
  auto patch = create_merge_patch(J(c.from), J(c.to));
  EXPECT_TRUE(json_equal(patch, J(c.want_patch))) << "got " << S(patch);
  EXPECT_TRUE(json_equal(apply_merge_patch(J(c.from), patch), J(c.to)));
}

INSTANTIATE_TEST_SUITE_P(Create, CreateMergePatchTable, ::testing::ValuesIn(kCreateCases),
                         testing::CaseName());

TEST(JsonEqual, NumbersAndOrder) {
  EXPECT_TRUE(json_equal(J("1"), J("1.0")));
  EXPECT_TRUE(json_equal(J("18446744073709551615"), J("18446744073709551615")));
  EXPECT_FALSE(json_equal(J("-1"), J("18446744073709551615")));
  EXPECT_FALSE(json_equal(J("1"), J("\"1\"")));
  EXPECT_TRUE(json_equal(J(R"({"a":1,"b":2})"), J(R"({"b":2,"a":1})")));
  EXPECT_FALSE(json_equal(J("[1,2]"), J("[2,1]")));
  EXPECT_FALSE(json_equal(J(R"({"a":1})"), J(R"({"a":1,"b":null})")));
}

TEST(JsonPointer, ParsesEscapes) {
  auto t = parse_json_pointer("/a~1b/c~0d/");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0], "a/b");
  EXPECT_EQ((*t)[1], "c~d");
  EXPECT_EQ((*t)[2], "");
  EXPECT_TRUE(parse_json_pointer("")->empty());
  EXPECT_FALSE(parse_json_pointer("a").ok());
  EXPECT_FALSE(parse_json_pointer("/a~2").ok());
  EXPECT_FALSE(parse_json_pointer("/a~").ok());
  EXPECT_EQ(escape_json_pointer_token("a/b~c"), "a~1b~0c");
}

}  // namespace
}  // namespace kedge::api

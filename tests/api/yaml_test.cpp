#include "kedge/api/yaml.h"

#include <gtest/gtest.h>

#include "kedge/api/json_util.h"
#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

struct ScalarCase {
  const char* name;
  const char* yaml;
  const char* json;
};
void PrintTo(const ScalarCase& c, std::ostream* os) { *os << c.name; }

// YAML 1.1 scalar resolution as go-yaml v2 / sigs.k8s.io/yaml do it.
const ScalarCase kScalars[] = {
    {"plain_string", "v: nginx:1.25", R"({"v":"nginx:1.25"})"},
    {"int", "v: 10", R"({"v":10})"},
    {"negative", "v: -5", R"({"v":-5})"},
    {"hex", "v: 0x1F", R"({"v":31})"},
    {"octal_leading_zero", "v: 0777", R"({"v":511})"},
    {"binary", "v: 0b101", R"({"v":5})"},
    {"underscores", "v: 1_000", R"({"v":1000})"},
    {"big_unsigned", "v: 18446744073709551615", R"({"v":18446744073709551615})"},
    {"float", "v: 1.5", R"({"v":1.5})"},
    {"version_like_float", "v: 1.10", R"({"v":1.1})"},
    {"exponent", "v: 1e3", R"({"v":1000})"},
    {"bad_octal_is_float", "v: 08", R"({"v":8})"},
    {"dotted_string", "v: 1.2.3", R"({"v":"1.2.3"})"},
    {"leading_dot_float", "v: .5", R"({"v":0.5})"},
    {"true", "v: true", R"({"v":true})"},
    {"yes", "v: yes", R"({"v":true})"},
    {"On", "v: On", R"({"v":true})"},
    {"y", "v: y", R"({"v":true})"},
    {"no", "v: NO", R"({"v":false})"},
    {"off", "v: off", R"({"v":false})"},
    {"quoted_true", "v: \"true\"", R"({"v":"true"})"},
    {"single_quoted_number", "v: '80'", R"({"v":"80"})"},
    {"explicit_str_tag", "v: !!str 80", R"({"v":"80"})"},
    {"explicit_int_tag", "v: !!int \"42\"", R"({"v":42})"},
    {"null_word", "v: null", R"({"v":null})"},
    {"tilde", "v: ~", R"({"v":null})"},
    {"empty", "v:", R"({"v":null})"},
    {"quoted_null", "v: 'null'", R"({"v":"null"})"},
    {"date_stays_string", "v: 2024-01-01", R"({"v":"2024-01-01"})"},
    {"norway_key", "yes: 1\non: 2\n3: x", R"({"true":2,"3":"x"})"},
    {"literal_block", "v: |\n  a\n  b\n", R"({"v":"a\nb\n"})"},
    {"folded_block", "v: >-\n  a\n  b\n", R"({"v":"a b"})"},
    {"flow", "v: {a: [1, 'b', c]}", R"({"v":{"a":[1,"b","c"]}})"},
    {"plus_sign", "v: +12", R"({"v":12})"},
};

class YamlScalars : public ::testing::TestWithParam<ScalarCase> {};

TEST_P(YamlScalars, ResolveAsGoYaml) {
  auto got = yaml_to_json(GetParam().yaml);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(S(*got), S(J(GetParam().json)));
}

INSTANTIATE_TEST_SUITE_P(Yaml11, YamlScalars, ::testing::ValuesIn(kScalars), testing::CaseName());

TEST(Yaml, Manifest) {
  const char* text = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - name: DEBUG
          value: "true"
)";
  auto got = yaml_to_json(text);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(S(*got), S(J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
    "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.25",
    "ports":[{"containerPort":80}],"env":[{"name":"DEBUG","value":"true"}]}]}}}})")));
}

TEST(Yaml, AnchorsAliasesAndMerge) {
  const char* text = R"(base: &b {cpu: 100m, memory: 64Mi}
copy: *b
merged:
  <<: *b
  memory: 128Mi
multi:
  <<: [{a: 1, b: 1}, {b: 2, c: 2}]
quoted_merge_key:
  "<<": x
)";
  auto got = yaml_to_json(text);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(json_equal(*got, J(R"({"base":{"cpu":"100m","memory":"64Mi"},"copy":{"cpu":"100m","memory":"64Mi"},
    "merged":{"cpu":"100m","memory":"128Mi"},"multi":{"a":1,"b":1,"c":2},"quoted_merge_key":{"<<":"x"}})")))
      << S(*got);
}

TEST(Yaml, MultipleDocuments) {
  const char* text = "---\n---\nkind: A\n---\n# only a comment\n---\nkind: B\n...\n";
  auto docs = yaml_documents_to_json(text);
  ASSERT_TRUE(docs.ok()) << docs.status().to_string();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(S((*docs)[0]), R"({"kind":"A"})");
  EXPECT_EQ(S((*docs)[1]), R"({"kind":"B"})");
  // The single-document reader takes the first document.
  auto first = yaml_to_json("a: 1\n---\nb: 2\n");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(S(*first), R"({"a":1})");
  EXPECT_TRUE(yaml_to_json("")->is_null());
  EXPECT_TRUE(yaml_documents_to_json("")->empty());
}

TEST(Yaml, ErrorsNameTheLine) {
  auto e1 = yaml_to_json("a: 1\nb: c: d\n");
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e1.status().message().rfind("yaml: line 2: ", 0), 0u) << e1.status().message();

  auto e2 = yaml_documents_to_json("kind: A\n---\nkind: B\n  bad: indent\n");
  ASSERT_FALSE(e2.ok());
  EXPECT_EQ(e2.status().message().rfind("yaml: line 4: ", 0), 0u) << e2.status().message();

  auto e3 = yaml_to_json("a: [1, 2\n");
  ASSERT_FALSE(e3.ok());
  EXPECT_NE(e3.status().message().find("yaml: line"), std::string::npos);

  auto e4 = yaml_to_json("x:\n  v: .inf\n");
  ASSERT_FALSE(e4.ok());
  EXPECT_EQ(e4.status().message(), "yaml: line 2: json: unsupported value: .inf");

  auto e5 = yaml_to_json("? [a]\n: 1\n");
  ASSERT_FALSE(e5.ok());
  EXPECT_NE(e5.status().message().find("unsupported map key"), std::string::npos);

  auto e6 = yaml_to_json("a: !!int abc\n");
  ASSERT_FALSE(e6.ok());
  EXPECT_EQ(e6.status().message(), "yaml: line 1: cannot decode !!str `abc` as a !!int");
}

TEST(Yaml, DuplicateKeys) {
  auto lax = yaml_to_json("a: 1\nb: 2\na: 3\n");
  ASSERT_TRUE(lax.ok());
  EXPECT_EQ(S(*lax), R"({"a":3,"b":2})");
  auto strict = yaml_to_json("a: 1\nb: 2\na: 3\n", YamlOptions{.strict_duplicate_keys = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().message(), "yaml: unmarshal errors:\n  line 3: key \"a\" already set in map");
}

TEST(Yaml, AliasBombIsBounded) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", " : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  auto got = yaml_to_json(bomb, YamlOptions{.max_values = 100000});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("expands to more than 100000 values"), std::string::npos);
}

}  // namespace
}  // namespace kedge::api

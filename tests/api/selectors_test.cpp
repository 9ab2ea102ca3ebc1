#include "kedge/api/selectors.h"

#include <map>

#include <gtest/gtest.h>

#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;

bool matches_json(const LabelSelector& sel, const char* labels) {
  auto v = J(labels);
  return sel.matches(&v.as_object());
}

const std::string kLabelValueMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

struct MatchCase {
  const char* name;
  const char* selector;
  const char* canonical;
  std::vector<const char*> match;     // label objects (JSON) that must match
  std::vector<const char*> no_match;  // label objects that must not
};
void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name; }

const MatchCase kMatchCases[] = {
    {"empty", "", "", {"{}", R"({"a":"b"})"}, {}},
    {"equals", "app=web", "app=web", {R"({"app":"web","x":"y"})"}, {"{}", R"({"app":"db"})"}},
    {"double_equals", "app==web", "app==web", {R"({"app":"web"})"}, {R"({"app":"webx"})"}},
    {"not_equals_matches_missing", "app!=web", "app!=web", {"{}", R"({"app":"db"})"}, {R"({"app":"web"})"}},
    {"in", "env in (prod, staging)", "env in (prod,staging)", {R"({"env":"prod"})", R"({"env":"staging"})"},
     {"{}", R"({"env":"dev"})"}},
    {"notin_matches_missing", "tier notin (frontend,cache)", "tier notin (cache,frontend)", {"{}", R"({"tier":"db"})"},
     {R"({"tier":"cache"})"}},
    {"exists", "app", "app", {R"({"app":""})"}, {"{}"}},
    {"does_not_exist", "!app", "!app", {R"({"b":"x"})"}, {R"({"app":"x"})"}},
    {"and_sorted_by_key", " tier=db , app = web", "app=web,tier=db", {R"({"app":"web","tier":"db"})"},
     {R"({"app":"web"})", R"({"tier":"db"})"}},
    {"empty_value", "x=", "x=", {R"({"x":""})"}, {"{}", R"({"x":"a"})"}},
    {"empty_set", "x in ()", "x in ()", {R"({"x":""})"}, {R"({"x":"a"})"}},
    {"set_with_empty", "x in (,a)", "x in (,a)", {R"({"x":""})", R"({"x":"a"})"}, {R"({"x":"b"})"}},
    {"prefixed_key", "app.kubernetes.io/name=web", "app.kubernetes.io/name=web",
     {R"({"app.kubernetes.io/name":"web"})"}, {R"({"name":"web"})"}},
    {"in_as_value", "x in (in,notin)", "x in (in,notin)", {R"({"x":"in"})"}, {R"({"x":"a"})"}},
    {"greater_than", "gen>2", "gen>2", {R"({"gen":"3"})"}, {R"({"gen":"2"})", R"({"gen":"x"})", "{}"}},
    {"less_than", "gen<2", "gen<2", {R"({"gen":"-1"})"}, {R"({"gen":"2"})"}},
};

class LabelMatch : public ::testing::TestWithParam<MatchCase> {};

TEST_P(LabelMatch, ParsesMatchesPrints) {
  const MatchCase& c = GetParam();
  auto sel = LabelSelector::parse(c.selector);
  ASSERT_TRUE(sel.ok()) << sel.status().to_string();
  EXPECT_EQ(sel->to_string(), c.canonical);
  for (const char* l : c.match) EXPECT_TRUE(matches_json(*sel, l)) << l;
  for (const char* l : c.no_match) EXPECT_FALSE(matches_json(*sel, l)) << l;
  // The canonical form parses back to the same selector.
  auto again = LabelSelector::parse(sel->to_string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->to_string(), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(Upstream, LabelMatch, ::testing::ValuesIn(kMatchCases), testing::CaseName());

struct ErrorCase {
  const char* name;
  const char* selector;
  std::string error;
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

const ErrorCase kErrorCases[] = {
    {"missing_operator", "a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"},
    {"trailing_identifier", "app=a b", "found 'b', expected: ',' or 'end of string'"},
    {"unclosed_set", "app in (a", "unable to parse requirement: found '', expected: ',' or ')'"},
    {"leading_comma", ",a", "found ',', expected: !, identifier, or 'end of string'"},
    {"trailing_comma", "a,", "found '', expected: identifier after ','"},
    {"in_without_paren", "a in b", "unable to parse requirement: found 'b' expected: '('"},
    {"bad_key", "A_=x",
     "unable to parse requirement: key: Invalid value: \"A_\": name part must consist of alphanumeric characters, "
     "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
     "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"},
    {"bad_value", "app=a%b", "unable to parse requirement: values[0][app]: Invalid value: \"a%b\": " + kLabelValueMsg},
    {"gt_not_integer", "x>a",
     "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an "
     "integer"},
    {"not_exists_with_value", "!a=b", "found '=', expected: ',' or 'end of string'"},
    {"bad_symbol", "a=(b", "unable to parse requirement: found '(', expected: identifier"},
};

class LabelErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LabelErrors, UpstreamMessage) {
  auto sel = LabelSelector::parse(GetParam().selector);
  ASSERT_FALSE(sel.ok());
  EXPECT_EQ(sel.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(sel.status().message(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(Upstream, LabelErrors, ::testing::ValuesIn(kErrorCases), testing::CaseName());

TEST(LabelSelectorJson, MetaV1Forms) {
  auto nothing = LabelSelector::from_json(J("null"));
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->matches_nothing());
  EXPECT_FALSE(matches_json(*nothing, "{}"));

  auto everything = LabelSelector::from_json(J("{}"));
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->empty());
  EXPECT_TRUE(everything->matches(nullptr));

  auto sel = LabelSelector::from_json(J(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["b","a"]},{"key":"canary","operator":"DoesNotExist"}]})"));
  ASSERT_TRUE(sel.ok()) << sel.status().to_string();
  EXPECT_EQ(sel->to_string(), "app=web,!canary,tier in (a,b)");
  EXPECT_TRUE(matches_json(*sel, R"({"app":"web","tier":"a"})"));
  EXPECT_FALSE(matches_json(*sel, R"({"app":"web","tier":"a","canary":"1"})"));
  EXPECT_FALSE(sel->matches(nullptr));
  EXPECT_EQ(sel->requires_exact_match("app"), "web");

  auto bad_op = LabelSelector::from_json(J(R"({"matchExpressions":[{"key":"a","operator":"Foo"}]})"));
  ASSERT_FALSE(bad_op.ok());
  EXPECT_EQ(bad_op.status().message(), "\"Foo\" is not a valid label selector operator");

  auto empty_in = LabelSelector::from_json(J(R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})"));
  ASSERT_FALSE(empty_in.ok());
  EXPECT_EQ(empty_in.status().message(), "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
}

TEST(LabelSelectorJson, FromMapForServices) {
  auto sel = LabelSelector::from_map(J(R"({"app":"web","tier":"fe"})").as_object());
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->to_string(), "app=web,tier=fe");
  EXPECT_TRUE(matches_json(*sel, R"({"app":"web","tier":"fe","pod-template-hash":"x"})"));
}

std::function<std::optional<std::string>(std::string_view)> getter(std::map<std::string, std::string> m) {
  return [m](std::string_view f) -> std::optional<std::string> {
    auto it = m.find(std::string(f));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(FieldSelector, ParseMatchPrint) {
  auto sel = FieldSelector::parse("spec.nodeName=node-1,status.phase!=Succeeded");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->to_string(), "spec.nodeName=node-1,status.phase!=Succeeded");
  EXPECT_EQ(sel->fields(), (std::vector<std::string>{"spec.nodeName", "status.phase"}));
  EXPECT_EQ(sel->requires_exact_match("spec.nodeName"), "node-1");
  EXPECT_FALSE(sel->requires_exact_match("status.phase").has_value());
  EXPECT_TRUE(sel->matches(getter({{"spec.nodeName", "node-1"}, {"status.phase", "Running"}})));
  EXPECT_FALSE(sel->matches(getter({{"spec.nodeName", "node-1"}, {"status.phase", "Succeeded"}})));
  EXPECT_FALSE(sel->matches(getter({{"spec.nodeName", "node-2"}})));
}

TEST(FieldSelector, MissingFieldIsEmpty) {
  auto unscheduled = FieldSelector::parse("spec.nodeName=");
  ASSERT_TRUE(unscheduled.ok());
  EXPECT_TRUE(unscheduled->matches(getter({})));
  EXPECT_FALSE(unscheduled->matches(getter({{"spec.nodeName", "n"}})));
  auto dbl = FieldSelector::parse("metadata.name==x");
  ASSERT_TRUE(dbl.ok());
  EXPECT_TRUE(dbl->matches(getter({{"metadata.name", "x"}})));
  EXPECT_TRUE(FieldSelector::parse("")->empty());
}

TEST(FieldSelector, Escapes) {
  auto sel = FieldSelector::parse(R"(metadata.name=a\,b\=c\\d)");
  ASSERT_TRUE(sel.ok()) << sel.status().to_string();
  ASSERT_EQ(sel->terms().size(), 1u);
  EXPECT_EQ(sel->terms()[0].value, R"(a,b=c\d)");
  EXPECT_EQ(sel->to_string(), R"(metadata.name=a\,b\=c\\d)");
  EXPECT_EQ(escape_field_selector_value("x,y"), R"(x\,y)");
}

TEST(FieldSelector, Errors) {
  auto e1 = FieldSelector::parse("field,");
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.status().message(), "invalid selector: 'field,'; can't understand 'field'");
  auto e2 = FieldSelector::parse("a=b=c");
  ASSERT_FALSE(e2.ok());
  EXPECT_EQ(e2.status().message(), "invalid field selector: unescaped character in value: =");
  auto e3 = FieldSelector::parse(R"(a=b\x)");
  ASSERT_FALSE(e3.ok());
  EXPECT_EQ(e3.status().message(), R"(invalid field selector: invalid escape sequence: \x)");
  auto e4 = FieldSelector::parse(R"(a=b\)");
  ASSERT_FALSE(e4.ok());
  EXPECT_EQ(e4.status().message(), R"(invalid field selector: invalid escape sequence: \)");
}

}  // namespace
}  // namespace kedge::api

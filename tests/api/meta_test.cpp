#include "kedge/api/meta.h"

#include <set>

#include <gtest/gtest.h>

#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;
using testing::S;

TEST(Meta, GettersTolerateMissingAndMistyped) {
  auto empty = J("{}");
  EXPECT_EQ(get_name(empty), "");
  EXPECT_EQ(get_generation(empty), 0);
  EXPECT_EQ(get_labels(empty), nullptr);
  EXPECT_FALSE(get_deletion_timestamp(empty).has_value());
  auto odd = J(R"({"metadata":{"name":5,"labels":"x","generation":"3"}})");
  EXPECT_EQ(get_name(odd), "");
  EXPECT_EQ(get_labels(odd), nullptr);
  EXPECT_EQ(get_generation(odd), 0);
  EXPECT_EQ(get_name(J("[1]")), "");
}

TEST(Meta, SettersCreateStructure) {
  boost::json::value obj = boost::json::object{{"kind", "Pod"}, {"apiVersion", "v1"}};
  set_name(obj, "p");
  set_namespace(obj, "default");
  set_uid(obj, "u-1");
  set_resource_version(obj, "42");
  set_generation(obj, 3);
  set_label(obj, "app", "web");
  set_annotation(obj, "kedge.io/x", "1");
  set_creation_timestamp(obj, "2024-05-01T10:00:00Z");
  EXPECT_EQ(get_name(obj), "p");
  EXPECT_EQ(get_namespace(obj), "default");
  EXPECT_EQ(get_uid(obj), "u-1");
  EXPECT_EQ(get_resource_version(obj), "42");
  EXPECT_EQ(get_generation(obj), 3);
  EXPECT_EQ(get_label(obj, "app"), "web");
  EXPECT_EQ(get_annotation(obj, "kedge.io/x"), "1");
  EXPECT_EQ(get_kind(obj), "Pod");
  EXPECT_EQ(get_api_version(obj), "v1");
  EXPECT_TRUE(remove_label(obj, "app"));
  EXPECT_FALSE(remove_label(obj, "app"));
  EXPECT_TRUE(remove_annotation(obj, "kedge.io/x"));
  EXPECT_FALSE(get_label(obj, "app").has_value());
  set_deletion_timestamp(obj, "2024-05-01T10:00:30Z");
  set_deletion_grace_period_seconds(obj, 30);
  EXPECT_EQ(get_deletion_timestamp(obj), "2024-05-01T10:00:30Z");
  EXPECT_EQ(get_deletion_grace_period_seconds(obj), 30);
}

TEST(Meta, Finalizers) {
  auto obj = J(R"({"metadata":{"finalizers":["a"]}})");
  EXPECT_TRUE(has_finalizer(obj, "a"));
  EXPECT_FALSE(add_finalizer(obj, "a"));
  EXPECT_TRUE(add_finalizer(obj, "foregroundDeletion"));
  EXPECT_EQ(get_finalizers(obj), (std::vector<std::string>{"a", "foregroundDeletion"}));
  EXPECT_TRUE(remove_finalizer(obj, "a"));
  EXPECT_FALSE(remove_finalizer(obj, "a"));
  EXPECT_TRUE(remove_finalizer(obj, "foregroundDeletion"));
  EXPECT_EQ(S(obj), R"({"metadata":{}})");
}

TEST(Meta, OwnerReferences) {
  auto obj = J(R"({"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"1",
      "controller":true,"blockOwnerDeletion":true,"extra":"kept"}]}})");
  auto ctrl = get_controller_ref(obj);
  ASSERT_TRUE(ctrl.has_value());
  EXPECT_EQ(ctrl->kind, "ReplicaSet");
  EXPECT_TRUE(ctrl->block_owner_deletion);
  EXPECT_FALSE(add_owner_reference(obj, OwnerReference{.uid = "1"}));
  EXPECT_TRUE(add_owner_reference(obj, OwnerReference{.api_version = "v1", .kind = "Node", .name = "n", .uid = "2"}));
  EXPECT_EQ(get_owner_references(obj).size(), 2u);
  EXPECT_TRUE(remove_owner_reference(obj, "2"));
  EXPECT_FALSE(remove_owner_reference(obj, "2"));
  EXPECT_EQ(obj.at("metadata").at("ownerReferences").at(0).at("extra"), "kept");
  EXPECT_TRUE(remove_owner_reference(obj, "1"));
  EXPECT_FALSE(get_controller_ref(obj).has_value());
}

TEST(Meta, SplitApiVersion) {
  EXPECT_EQ(split_api_version("apps/v1"), (std::pair<std::string_view, std::string_view>{"apps", "v1"}));
  EXPECT_EQ(split_api_version("v1"), (std::pair<std::string_view, std::string_view>{"", "v1"}));
}

TEST(Meta, Rfc3339) {
  using namespace std::chrono;
  auto t = sys_days(year(2024) / 5 / 1) + hours(10) + minutes(2) + seconds(3) + microseconds(45);
  EXPECT_EQ(format_rfc3339(t), "2024-05-01T10:02:03Z");
  EXPECT_EQ(format_rfc3339_micro(t), "2024-05-01T10:02:03.000045Z");
  auto p = parse_rfc3339("2024-05-01T10:02:03Z");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, time_point_cast<system_clock::duration>(sys_days(year(2024) / 5 / 1) + hours(10) + minutes(2) + seconds(3)));
  auto off = parse_rfc3339("2024-05-01T12:02:03.5+02:00");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off - *p, milliseconds(500));
  auto micro = parse_rfc3339(format_rfc3339_micro(t));
  ASSERT_TRUE(micro.ok());
  EXPECT_EQ(*micro, time_point_cast<system_clock::duration>(t));
  for (const char* bad : {"", "2024-05-01", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T10:02:03",
                          "2024-05-01T10:02:03Zjunk", "2024-05-01 10:02:03Z"}) {
    auto r = parse_rfc3339(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(parse_rfc3339("x").status().message(),
            "parsing time \"x\" as \"2006-01-02T15:04:05Z07:00\": cannot parse");
}

TEST(Meta, NewUidIsV4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string u = new_uid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[8], '-');
    EXPECT_EQ(u[13], '-');
    EXPECT_EQ(u[14], '4');  // version
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);  // variant
    EXPECT_EQ(u.find_first_not_of("0123456789abcdef-"), std::string::npos);
    EXPECT_TRUE(seen.insert(u).second);
  }
}

}  // namespace
}  // namespace kedge::api

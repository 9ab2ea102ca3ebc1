// Which pods a scale-down deletes first, and pod readiness/availability.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "kedge/api/meta.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const SystemTime kNow = std::chrono::sys_days(std::chrono::year(2026) / 1 / 1) + 12h;

struct PodSpec {
  std::string name;
  std::string node;
  std::string phase = "Running";
  bool ready = true;
  std::chrono::seconds ready_for = 3600s;
  int restarts = 0;
  std::chrono::seconds age = 7200s;
  std::optional<int> cost;
};

Object pod(const PodSpec& p) {
  json::value v = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}};
  api::set_name(v, p.name);
  api::set_namespace(v, "ns");
  api::set_creation_timestamp(v, api::format_rfc3339(kNow - p.age));
  if (p.cost) api::set_annotation(v, "controller.kubernetes.io/pod-deletion-cost", std::to_string(*p.cost));
  json::object spec;
  if (!p.node.empty()) spec["nodeName"] = p.node;
  json::array conds;
  conds.push_back(json::object{{"type", "Ready"},
                               {"status", p.ready ? "True" : "False"},
                               {"lastTransitionTime", api::format_rfc3339(kNow - p.ready_for)}});
  json::array cs;
  cs.push_back(json::object{{"name", "c"}, {"restartCount", p.restarts}});
  v.as_object()["spec"] = std::move(spec);
  v.as_object()["status"] = json::object{{"phase", p.phase}, {"conditions", std::move(conds)}, {"containerStatuses", std::move(cs)}};
  return std::make_shared<const json::value>(std::move(v));
}

std::vector<std::string> order(std::vector<Object> pods) {
  auto related = pods;
  rank_pods_for_deletion(pods, related, kNow);
  std::vector<std::string> names;
  for (auto& p : pods) names.emplace_back(api::get_name(*p));
  return names;
}

TEST(RankPodsForDeletion, UpstreamPrecedence) {
  auto names = order({
      pod({.name = "running-ready", .node = "n1"}),
      pod({.name = "unscheduled", .phase = "Pending", .ready = false}),
      pod({.name = "pending", .node = "n2", .phase = "Pending", .ready = false}),
      pod({.name = "unknown", .node = "n3", .phase = "Unknown", .ready = false}),
      pod({.name = "running-not-ready", .node = "n4", .ready = false}),
  });
  EXPECT_EQ(names, (std::vector<std::string>{"unscheduled", "pending", "unknown", "running-not-ready", "running-ready"}));
}

TEST(RankPodsForDeletion, TieBreakers) {
  // Deletion cost beats co-location; co-location beats readiness age.
  EXPECT_EQ(order({pod({.name = "cheap", .node = "a", .cost = -5}), pod({.name = "b1", .node = "b"}),
                   pod({.name = "b2", .node = "b"})})[0],
            "cheap");
  EXPECT_EQ(order({pod({.name = "alone", .node = "a", .ready_for = 10s}), pod({.name = "b1", .node = "b"}),
                   pod({.name = "b2", .node = "b"})})[0],
            "b1");
  // Ready for less time (log2 bucket) goes first.
  EXPECT_EQ(order({pod({.name = "old", .node = "a", .ready_for = 4000s}),
                   pod({.name = "young", .node = "b", .ready_for = 30s})})[0],
            "young");
  // Same bucket: more restarts first; then newer first.
  EXPECT_EQ(order({pod({.name = "stable", .node = "a"}), pod({.name = "flappy", .node = "b", .restarts = 4})})[0],
            "flappy");
  EXPECT_EQ(order({pod({.name = "older", .node = "a", .age = 9000s}), pod({.name = "newer", .node = "b", .age = 8000s})})[0],
            "newer");
}

TEST(PodAvailability, MinReadySeconds) {
  auto p = pod({.name = "p", .node = "a", .ready_for = 20s});
  EXPECT_TRUE(is_pod_ready(*p));
  EXPECT_TRUE(is_pod_available(*p, 0, kNow));
  EXPECT_TRUE(is_pod_available(*p, 20, kNow));
  EXPECT_FALSE(is_pod_available(*p, 21, kNow));
  auto q = pod({.name = "q", .node = "a", .ready = false});
  EXPECT_FALSE(is_pod_available(*q, 0, kNow));
  EXPECT_TRUE(is_pod_active(*q));
  auto done = pod({.name = "d", .node = "a", .phase = "Succeeded"});
  EXPECT_FALSE(is_pod_active(*done));
}

}  // namespace
}  // namespace kedge::controllers

// Rollout arithmetic: IntOrString scaling, fenceposts, and whole rollouts
// simulated step by step with the surge/unavailable limits checked at each.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "kedge/controllers/rollout.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;

int scaled(const json::value& v, int total, bool up) {
  auto r = scaled_value(&v, total, up);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : -1;
}

TEST(ScaledValue, IntsAndPercentsRoundLikeUpstream) {
  EXPECT_EQ(scaled(json::value(3), 10, true), 3);
  EXPECT_EQ(scaled(json::value("25%"), 10, true), 3);
  EXPECT_EQ(scaled(json::value("25%"), 10, false), 2);
  EXPECT_EQ(scaled(json::value("50%"), 1, true), 1);
  EXPECT_EQ(scaled(json::value("50%"), 1, false), 0);
  EXPECT_EQ(scaled(json::value("100%"), 7, false), 7);
  EXPECT_EQ(scaled(json::value("0%"), 7, true), 0);
  EXPECT_EQ(scaled(json::value("30%"), 10, true), 3);  // exact: no float drift to 4
  EXPECT_EQ(scaled(json::value("10%"), 0, true), 0);
}

TEST(ScaledValue, RejectsNonPercentStrings) {
  json::value bad = "25";
  auto r = scaled_value(&bad, 10, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid value for IntOrString: invalid type: string is not a percentage");
  json::value worse = "x%";
  EXPECT_FALSE(scaled_value(&worse, 10, true).ok());
}

TEST(Fenceposts, DefaultsAndTheBothZeroRule) {
  auto f = resolve_fenceposts(nullptr, nullptr, 10);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->max_surge, 3);
  EXPECT_EQ(f->max_unavailable, 2);
  f = resolve_fenceposts(nullptr, nullptr, 1);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->max_surge, 1);
  EXPECT_EQ(f->max_unavailable, 0);
  json::value zero = 0;
  f = resolve_fenceposts(&zero, &zero, 5);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->max_surge, 0);
  EXPECT_EQ(f->max_unavailable, 1);  // otherwise the rollout could never move
}

TEST(RollingNewRsReplicas, BoundedBySurgeAndDesired) {
  EXPECT_EQ(rolling_new_rs_replicas(10, 3, 10, 0), 3);
  EXPECT_EQ(rolling_new_rs_replicas(10, 3, 13, 3), 3);   // at the ceiling
  EXPECT_EQ(rolling_new_rs_replicas(10, 3, 11, 3), 5);
  EXPECT_EQ(rolling_new_rs_replicas(10, 30, 10, 0), 10);  // never past desired
}

TEST(PlanOldRsScaleDown, UnhealthyFirstThenAvailabilityFloor) {
  // 10 desired, maxUnavailable 2; old has 10 replicas of which 3 unavailable.
  auto plan = plan_old_rs_scale_down(10, 2, {{.replicas = 10, .available = 7}}, {.replicas = 3, .available = 0});
  // maxScaledDown = 13 - 8 - 3 = 2 → only unhealthy ones go (availability 7 < floor 8 already).
  EXPECT_EQ(plan, std::vector<int>{8});
  // All healthy: available 10 + 3 new = 13, floor 8 → scale 5 down.
  plan = plan_old_rs_scale_down(10, 2, {{.replicas = 10, .available = 10}}, {.replicas = 3, .available = 3});
  EXPECT_EQ(plan, std::vector<int>{5});
  // Oldest first across several old ReplicaSets.
  plan = plan_old_rs_scale_down(4, 1, {{.replicas = 2, .available = 2}, {.replicas = 2, .available = 2}},
                                {.replicas = 1, .available = 1});
  EXPECT_EQ(plan, (std::vector<int>{0, 2}));
}

TEST(PlanOldRsScaleDown, StaleStatusAfterOwnScaleDownIsNotCountedTwice) {
  // 4 desired, maxUnavailable 1: the old ReplicaSet was just scaled 4 → 3 but
  // its status still says 4 available (the pod is being deleted); the new
  // one has 2 replicas, none ready yet. Available is really 3 = the floor:
  // nothing more may go.
  auto plan = plan_old_rs_scale_down(4, 1, {{.replicas = 3, .available = 4}}, {.replicas = 2, .available = 0});
  EXPECT_EQ(plan, std::vector<int>{3});
}

struct Sim {
  int desired, surge, unavailable;
  std::vector<RsCounts> old;
  RsCounts fresh;
  bool new_pods_become_ready = true;

  int total() const {
    int t = fresh.replicas;
    for (auto& r : old) t += r.replicas;
    return t;
  }
  int available() const {
    int a = fresh.available;
    for (auto& r : old) a += r.available;
    return a;
  }
  void settle() {
    for (auto& r : old) r.available = std::min(r.available, r.replicas);
    if (new_pods_become_ready) fresh.available = fresh.replicas;
    fresh.available = std::min(fresh.available, fresh.replicas);
  }
  // One controller sync: scale up, or else scale down (as upstream returns after scaling up).
  bool step() {
    int target = rolling_new_rs_replicas(desired, surge, total(), fresh.replicas);
    if (target != fresh.replicas) {
      fresh.replicas = target;
      return true;
    }
    auto plan = plan_old_rs_scale_down(desired, unavailable, old, fresh);
    bool changed = false;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      changed = changed || plan[i] != old[i].replicas;
      old[i].replicas = plan[i];
    }
    return changed;
  }
};

void run_rollout(Sim sim, bool expect_done) {
  const int ceiling = sim.desired + sim.surge;
  const int floor = sim.desired - sim.unavailable;
  for (int i = 0; i < 200; ++i) {
    bool changed = sim.step();
    ASSERT_LE(sim.total(), ceiling) << "surge exceeded at step " << i;
    ASSERT_GE(sim.available(), floor) << "too many unavailable at step " << i;
    sim.settle();
    if (!changed) break;
  }
  if (expect_done) {
    EXPECT_EQ(sim.fresh.replicas, sim.desired);
    EXPECT_EQ(sim.fresh.available, sim.desired);
    for (auto& r : sim.old) EXPECT_EQ(r.replicas, 0);
  } else {
    EXPECT_LT(sim.fresh.available, sim.desired);
  }
}

TEST(RolloutSimulation, LimitsHoldAtEveryStep) {
  for (int desired : {1, 2, 3, 5, 10, 17}) {
    for (auto [surge, unavail] : std::vector<std::pair<const char*, const char*>>{
             {"25%", "25%"}, {"0", "1"}, {"1", "0"}, {"100%", "0"}, {"50%", "50%"}, {"3", "2"}}) {
      json::value s = surge[std::string_view(surge).size() - 1] == '%' ? json::value(surge) : json::value(std::atoi(surge));
      json::value u = unavail[std::string_view(unavail).size() - 1] == '%' ? json::value(unavail)
                                                                           : json::value(std::atoi(unavail));
      auto f = resolve_fenceposts(&s, &u, desired);
      ASSERT_TRUE(f.ok());
      SCOPED_TRACE(testing::Message() << desired << " surge=" << surge << " unavailable=" << unavail);
      run_rollout(Sim{desired, f->max_surge, f->max_unavailable, {{desired, desired}}, {0, 0}}, true);
      // Two old generations (a rollout on top of an unfinished one).
      if (desired >= 2) {
        run_rollout(Sim{desired, f->max_surge, f->max_unavailable,
                        {{desired / 2, desired / 2}, {desired - desired / 2, desired - desired / 2}}, {0, 0}},
                    true);
      }
    }
  }
}

TEST(RolloutSimulation, BrokenTemplateStallsWithinLimits) {
  // New pods never become ready: availability never drops below the floor
  // and the rollout stops (Progressing would then time out).
  run_rollout(Sim{10, 3, 2, {{10, 10}}, {0, 0}, /*new_pods_become_ready=*/false}, false);
}

TEST(PodTemplateHash, StableDiffersByTemplateAndCollisionCount) {
  json::value a = json::parse(R"({"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i:1"}]}})");
  json::value a_reordered =
      json::parse(R"({"spec":{"containers":[{"image":"i:1","name":"c"}]},"metadata":{"labels":{"app":"x"}}})");
  json::value b = json::parse(R"({"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i:2"}]}})");
  std::string h = pod_template_hash(a, 0);
  EXPECT_EQ(h, pod_template_hash(a_reordered, 0));
  EXPECT_NE(h, pod_template_hash(b, 0));
  EXPECT_NE(h, pod_template_hash(a, 1));
  EXPECT_EQ(h.find_first_not_of("bcdfghjklmnpqrstvwxz2456789"), std::string::npos);
  EXPECT_GE(h.size(), 1u);
  EXPECT_LE(h.size(), 10u);
  json::value a_hashed = a;
  a_hashed.as_object()["metadata"].as_object()["labels"].as_object()["pod-template-hash"] = h;
  EXPECT_TRUE(templates_equal_ignore_hash(a, a_hashed));
  EXPECT_EQ(pod_template_hash(a_hashed, 0), h);
  EXPECT_FALSE(templates_equal_ignore_hash(a, b));
}

}  // namespace
}  // namespace kedge::controllers

// A small in-memory cluster for table tests: a Cache plus a Scheduler with a
// fixed seed, and a way to read every node's verdict for a pod.
#pragma once

#include <map>
#include <string>

#include "fixtures.h"
#include "kedge/scheduler/scheduler.h"

namespace kedge::scheduler::testing {

class Cluster {
 public:
  explicit Cluster(SchedulerOptions options = {.seed = 42}) : scheduler_(cache_, std::move(options)) {}

  void add_node(const std::string& name, const NodeOpts& o = {}) {
    auto st = cache_.upsert_node(node_json(name, o));
    ASSERT_TRUE(st.ok()) << st.to_string();
  }
  void add_pod(const std::string& name, const std::string& node_name, PodOpts o = {}) { bind(cache_, name, node_name, std::move(o)); }

  // node -> "" when feasible, else the rejecting filter's reasons joined by "; ".
  std::map<std::string, std::string> verdicts(const PodOpts& o) {
    auto p = pod("incoming", o);
    std::map<std::string, std::string> out;
    if (!p) return out;
    for (const auto& ev : scheduler_.evaluate(*p)) {
      std::string r;
      for (const auto& reason : ev.reasons) r += (r.empty() ? "" : "; ") + reason;
      out[ev.node] = r;
    }
    return out;
  }

  // node -> normalized score of one scoring plugin (feasible nodes only).
  std::map<std::string, std::int64_t> scores(const PodOpts& o, std::string_view plugin) {
    auto p = pod("incoming", o);
    std::map<std::string, std::int64_t> out;
    if (!p) return out;
    int idx = -1;
    for (int i = 0; i < kScorePluginCount; ++i) {
      if (kScorePluginNames[i] == plugin) idx = i;
    }
    EXPECT_GE(idx, 0) << plugin;
    if (idx < 0) return out;
    for (const auto& ev : scheduler_.evaluate(*p)) {
      if (ev.feasible) out[ev.node] = ev.scores[static_cast<std::size_t>(idx)];
    }
    return out;
  }

  ScheduleResult schedule(const std::string& name, const PodOpts& o) {
    auto p = pod(name, o);
    if (!p) return {};
    return scheduler_.schedule(*p);
  }

  Cache& cache() { return cache_; }
  Scheduler& scheduler() { return scheduler_; }

 private:
  Cache cache_;
  Scheduler scheduler_;
};

}  // namespace kedge::scheduler::testing

// bench_scheduler [--nodes N] [--pods N] [--percentage P] [--seed S]
//
// Builds N Node objects and N Pod objects as the API server would serve them
// (JSON), parses them, then drives the library exactly as edge-control will:
// SchedulingQueue::pop -> Scheduler::schedule -> Cache::assume_pod -> done.
// The workload mixes plain requests, nodeSelector, taints/tolerations,
// required anti-affinity, topology spread and preferred (anti-)affinity.
// Prints one line per phase and a summary; figures go to bench/README.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "kedge/scheduler/cache.h"
#include "kedge/scheduler/queue.h"
#include "kedge/scheduler/scheduler.h"
#include "workload.h"

namespace json = boost::json;
using namespace kedge::scheduler;
using Clock = std::chrono::steady_clock;
using kedge::bench::node_json;
using kedge::bench::pod_json;

namespace {

long rss_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::strtol(line.c_str() + std::string(field).size(), nullptr, 10);
  }
  return -1;
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// What handing half of a cycle's node range to a second thread would cost:
// median round trip of a condition-variable ping-pong with a worker thread.
double handoff_round_trip_us() {
  std::mutex mu;
  std::condition_variable cv;
  int turn = 0;  // 0: main's turn, 1: worker's
  bool stop = false;
  std::thread worker([&] {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return turn == 1 || stop; });
      if (stop) return;
      turn = 0;
      cv.notify_all();
    }
  });
  std::vector<double> samples;
  for (int i = 0; i < 2000; ++i) {
    auto s = Clock::now();
    std::unique_lock lock(mu);
    turn = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return turn == 0; });
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  worker.join();
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 1000, pods = 10000, percentage = 0, replicas = 100;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (flag == "--nodes") nodes = static_cast<int>(v);
    else if (flag == "--pods") pods = static_cast<int>(v);
    else if (flag == "--percentage") percentage = static_cast<int>(v);
    else if (flag == "--replicas") replicas = static_cast<int>(v);
    else if (flag == "--seed") seed = static_cast<std::uint64_t>(v);
    else {
      std::fprintf(stderr, "usage: bench_scheduler [--nodes N] [--pods N] [--percentage P] [--replicas R] [--seed S]\n");
      return 2;
    }
  }
  long rss_start = rss_kib("VmRSS:");

  std::vector<json::value> node_objs, pod_objs;
  for (int i = 0; i < nodes; ++i) node_objs.push_back(node_json(i));
  for (int i = 0; i < pods; ++i) pod_objs.push_back(pod_json(i, replicas));

  Cache cache;
  auto t0 = Clock::now();
  for (const auto& n : node_objs) {
    auto st = cache.upsert_node(n);
    if (!st.ok()) {
      std::fprintf(stderr, "node: %s\n", st.to_string().c_str());
      return 1;
    }
  }
  std::vector<std::shared_ptr<const PodInfo>> parsed;
  parsed.reserve(pod_objs.size());
  for (const auto& p : pod_objs) {
    auto r = parse_pod(p);
    if (!r.ok()) {
      std::fprintf(stderr, "pod: %s\n", r.status().to_string().c_str());
      return 1;
    }
    parsed.push_back(*r);
  }
  auto t1 = Clock::now();
  node_objs.clear();
  pod_objs.clear();

  Scheduler scheduler(cache, {.percentage_of_nodes_to_score = percentage, .seed = seed});
  SchedulingQueue queue;
  for (auto& p : parsed) queue.add(p);
  std::vector<double> latencies;
  latencies.reserve(parsed.size());
  int scheduled = 0, unschedulable = 0;
  std::map<std::string, int> first_failures;
  std::map<std::string, std::pair<double, int>> per_kind;  // tier label -> (total us, pods)
  long evaluated = 0;
  auto t2 = Clock::now();
  double cpu2 = cpu_seconds();
  while (auto qp = queue.pop()) {
    auto s = Clock::now();
    ScheduleResult r = scheduler.schedule(*qp->pod);
    if (r.scheduled()) {
      (void)cache.assume_pod(qp->pod, r.node);
      queue.done(qp->pod->key());
      ++scheduled;
    } else {
      queue.add_unschedulable(*qp, r);
      ++unschedulable;
      if (first_failures.size() < 3) {
        first_failures[qp->pod->key()] = 0;
        std::fprintf(stderr, "unschedulable %s: %s\n", qp->pod->key().c_str(), r.message.c_str());
      }
    }
    evaluated += r.nodes_evaluated;
    double us = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
    latencies.push_back(us);
    auto tier = qp->pod->labels.find("tier");
    auto& k = per_kind[tier != qp->pod->labels.end() ? std::string(tier->value().as_string()) : "?"];
    k.first += us;
    ++k.second;
  }
  auto t3 = Clock::now();
  double cpu3 = cpu_seconds();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) { return latencies.empty() ? 0.0 : latencies[static_cast<std::size_t>(q * static_cast<double>(latencies.size() - 1))]; };

  std::printf("nodes=%d pods=%d replicas/app=%d percentageOfNodesToScore=%d (adaptive: %d nodes)\n", nodes, pods, replicas,
              percentage, Scheduler::nodes_to_find(nodes, percentage));
  std::printf("parse: %d nodes + %d pods in %.3f s\n", nodes, pods, seconds(t1 - t0));
  std::printf("schedule: %d scheduled, %d unschedulable in %.3f s = %.0f pods/s (queue+schedule+assume)\n", scheduled,
              unschedulable, seconds(t3 - t2), static_cast<double>(scheduled + unschedulable) / seconds(t3 - t2));
  std::printf("cpu: %.3f s of CPU for the schedule phase = %.0f pods per CPU-second\n", cpu3 - cpu2,
              static_cast<double>(scheduled + unschedulable) / (cpu3 - cpu2));
  std::printf("latency per pod: p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us; avg nodes evaluated %.0f\n", pct(0.5),
              pct(0.9), pct(0.99), latencies.empty() ? 0.0 : latencies.back(),
              static_cast<double>(evaluated) / std::max<std::size_t>(1, latencies.size()));
  std::printf("mean latency by constraint kind:");
  for (const auto& [kind, v] : per_kind) std::printf(" %s %.0f us (%d pods);", kind.c_str(), v.first / v.second, v.second);
  std::printf("\n");
  std::printf("thread handoff round trip (median): %.1f us\n", handoff_round_trip_us());
  std::printf("rss: start %ld KiB, now %ld KiB, peak %ld KiB\n", rss_start, rss_kib("VmRSS:"), rss_kib("VmHWM:"));
  return 0;
}

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

namespace json = boost::json;
using namespace kedge::scheduler;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::strtol(line.c_str() + std::string(field).size(), nullptr, 10);
  }
  return -1;
}

json::value node_json(int i) {
  static const char* zones[] = {"zone-a", "zone-b", "zone-c"};
  json::object labels;
  std::string name = "node-" + std::to_string(i);
  labels["kubernetes.io/hostname"] = name;
  labels["topology.kubernetes.io/zone"] = zones[i % 3];
  labels["disk"] = i % 2 == 0 ? "ssd" : "hdd";
  labels["kubernetes.io/arch"] = "arm64";
  json::array taints;
  if (i % 10 == 0) {
    json::object t;
    t["key"] = "dedicated";
    t["value"] = "edge";
    t["effect"] = "NoSchedule";
    taints.push_back(std::move(t));
  }
  if (i % 7 == 0) {
    json::object t;
    t["key"] = "spot";
    t["effect"] = "PreferNoSchedule";
    taints.push_back(std::move(t));
  }
  json::object alloc;
  alloc["cpu"] = "32";
  alloc["memory"] = "128Gi";
  alloc["pods"] = "110";
  alloc["ephemeral-storage"] = "100Gi";
  json::object ready;
  ready["type"] = "Ready";
  ready["status"] = "True";
  json::array conds;
  conds.push_back(std::move(ready));
  json::object image;
  image["names"] = json::array{"registry.local/app-" + std::to_string(i % 20) + ":v1"};
  image["sizeBytes"] = 300 * 1024 * 1024;
  json::array images;
  images.push_back(std::move(image));
  json::object meta, spec, status, node;
  meta["name"] = name;
  meta["labels"] = std::move(labels);
  spec["taints"] = std::move(taints);
  status["allocatable"] = alloc;
  status["capacity"] = alloc;
  status["conditions"] = std::move(conds);
  status["images"] = std::move(images);
  node["apiVersion"] = "v1";
  node["kind"] = "Node";
  node["metadata"] = std::move(meta);
  node["spec"] = std::move(spec);
  node["status"] = std::move(status);
  return node;
}

// Constraint mix, by deployment index modulo 10.
const char* kKinds[] = {"plain", "plain", "plain", "plain", "nodeSelector", "nodeSelector",
                        "toleration", "antiAffinity", "spread", "preferred"};

json::value pod_json(int i, int replicas_per_app) {
  int app = i / replicas_per_app;
  std::string kind = kKinds[app % 10];
  std::string app_name = "app-" + std::to_string(app);
  json::object labels;
  labels["app"] = app_name;
  labels["tier"] = kind;
  json::object requests;
  requests["cpu"] = std::to_string(100 + 50 * (app % 5)) + "m";
  requests["memory"] = std::to_string(128 * (1 + app % 4)) + "Mi";
  json::object resources;
  resources["requests"] = std::move(requests);
  json::object container;
  container["name"] = "main";
  container["image"] = "registry.local/app-" + std::to_string(app % 20) + ":v1";
  container["resources"] = std::move(resources);
  json::array containers;
  containers.push_back(std::move(container));
  json::object spec;
  spec["containers"] = std::move(containers);
  std::string extra;
  const std::string sel = R"({"matchLabels":{"app":")" + app_name + R"("}})";
  if (kind == "nodeSelector") {
    extra = R"({"nodeSelector":{"disk":"ssd"}})";
  } else if (kind == "toleration") {
    extra = R"({"tolerations":[{"key":"dedicated","operator":"Equal","value":"edge","effect":"NoSchedule"}],
               "affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,
               "preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}}]}}})";
  } else if (kind == "antiAffinity") {
    extra = R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":)" + sel +
            R"(,"topologyKey":"kubernetes.io/hostname"}]}}})";
  } else if (kind == "spread") {
    extra = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":)" +
            sel + R"(},{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway","labelSelector":)" + sel + "}]}";
  } else if (kind == "preferred") {
    std::string other = "app-" + std::to_string(app - 1);
    extra = R"({"affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":20,"podAffinityTerm":{
               "labelSelector":{"matchLabels":{"app":")" + other + R"("}},"topologyKey":"topology.kubernetes.io/zone"}}]},
               "podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{
               "labelSelector":)" + sel + R"(,"topologyKey":"kubernetes.io/hostname"}}]}}})";
  }
  if (!extra.empty()) {
    const json::value e = json::parse(extra);
    for (const auto& kv : e.as_object()) spec[kv.key()] = kv.value();
  }
  json::object meta, pod;
  meta["name"] = app_name + "-" + std::to_string(i % replicas_per_app);
  meta["namespace"] = "bench";
  meta["uid"] = "uid-" + std::to_string(i);
  meta["labels"] = std::move(labels);
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  pod["metadata"] = std::move(meta);
  pod["spec"] = std::move(spec);
  return pod;
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

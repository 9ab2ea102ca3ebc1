// bench_scheduler_server: scheduling throughput through a real `kedge server`.
//
//   bench_scheduler_server --kubeconfig K setup [--nodes N] [--pods P] [--replicas R] [--clients C]
//     creates namespace "bench", N Nodes (bench/scheduler/workload.h: zones,
//     disk labels, taints; status Ready) and P pending pods with the mixed
//     constraints, from C client threads. Run it while the server has
//     --disable-scheduler, so the pods wait.
//     Last, it takes the controllers' leader-election Lease
//     (kube-system/kedge-controllers) for an hour, so the next server's
//     scheduler waits for the measurement.
//   bench_scheduler_server --kubeconfig K measure [--pods P] [--timeout S]
//     watches namespace "bench" (list + watch over HTTPS, as kubectl would);
//     once that watch is synced it deletes the Lease, so the server's
//     scheduler takes over (within its 2 s retry period) and starts binding,
//     and the watch sees every binding live. Prints when the first and the
//     last pod were seen bound and the rate in between, then counts the
//     Scheduled events. Run it after starting the server with its scheduler.
//
// bench/scheduler/server_path.sh drives both; figures go to bench/README.md.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "kedge/api/meta.h"
#include "kedge/client/informer.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "workload.h"

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using namespace kedge;

namespace {

struct Flags {
  std::string kubeconfig;
  std::string mode;
  int nodes = 1000;
  int pods = 10000;
  int replicas = 100;
  int clients = 16;
  int timeout = 300;
};

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Status create_or_keep(client::RestClient& c, const std::string& collection, const json::value& obj) {
  auto r = c.send("POST", collection, obj);
  if (r.ok() || r.status().code() == Code::kAlreadyExists) return ok_status();
  return r.status();
}

constexpr const char* kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kedge-controllers";

// Takes the controllers' Lease for an hour under a holder no server has, so
// a server started next waits (as a standby) until measure() deletes it.
Status hold_scheduler_lease(client::RestClient& c) {
  const std::string now = api::format_rfc3339_micro(std::chrono::system_clock::now());
  json::object spec{{"holderIdentity", "bench-hold"}, {"leaseDurationSeconds", 3600},
                    {"acquireTime", now},            {"renewTime", now}};
  auto patched = c.send("PATCH", kLeasePath, json::object{{"spec", spec}}, "application/merge-patch+json");
  if (patched.ok() || patched.status().code() != Code::kNotFound) return patched.status();
  return c.send("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
                json::object{{"apiVersion", "coordination.k8s.io/v1"},
                             {"kind", "Lease"},
                             {"metadata", json::object{{"name", "kedge-controllers"}, {"namespace", "kube-system"}}},
                             {"spec", spec}})
      .status();
}

int setup(client::RestClient& c, const Flags& f) {
  auto t0 = Clock::now();
  Status st = create_or_keep(c, "/api/v1/namespaces",
                             json::object{{"apiVersion", "v1"}, {"kind", "Namespace"},
                                          {"metadata", json::object{{"name", "bench"}}}});
  if (!st.ok()) {
    std::fprintf(stderr, "namespace: %s\n", st.to_string().c_str());
    return 1;
  }
  std::atomic<int> next{0}, failed{0};
  auto run = [&](int total, auto&& one) {
    next = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < f.clients; ++t) {
      threads.emplace_back([&] {
        for (int i = next++; i < total; i = next++) {
          if (Status s = one(i); !s.ok()) {
            if (failed++ < 5) std::fprintf(stderr, "%s\n", s.to_string().c_str());
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  // Status is not taken from a create: write it as a kubelet does.
  run(f.nodes, [&](int i) -> Status {
    json::value node = bench::node_json(i);
    const std::string name(node.at("metadata").at("name").as_string());
    KEDGE_RETURN_IF_ERROR(create_or_keep(c, "/api/v1/nodes", node));
    json::object patch{{"status", node.at("status")}};
    return c.send("PATCH", "/api/v1/nodes/" + name + "/status", patch, "application/merge-patch+json").status();
  });
  std::printf("setup: %d nodes in %.1f s\n", f.nodes, since(t0));
  auto t1 = Clock::now();
  run(f.pods, [&](int i) -> Status {
    json::value pod = bench::pod_json(i, f.replicas);
    pod.at("metadata").as_object().erase("uid");
    return create_or_keep(c, "/api/v1/namespaces/bench/pods", pod);
  });
  std::printf("setup: %d pods in %.1f s (%.0f creates/s from %d clients), %d failed\n", f.pods, since(t1),
              f.pods / since(t1), f.clients, failed.load());
  if (Status s = hold_scheduler_lease(c); !s.ok()) {
    std::fprintf(stderr, "holding the leader-election lease: %s\n", s.to_string().c_str());
    return 1;
  }
  return failed > 0 ? 1 : 0;
}

// Counts pods with spec.nodeName set; remembers when the count moved.
class BoundCounter final : public client::InformerHandler {
 public:
  void on_add(const client::Object& obj) override { see(*obj); }
  void on_update(const client::Object&, const client::Object& obj) override { see(*obj); }
  void on_delete(const client::Object&) override {}

  std::size_t bound() const {
    std::lock_guard lock(mu_);
    return bound_.size();
  }

 private:
  void see(const json::value& pod) {
    const auto* spec = pod.as_object().if_contains("spec");
    const auto* node = spec && spec->is_object() ? spec->as_object().if_contains("nodeName") : nullptr;
    if (!node || !node->is_string() || node->as_string().empty()) return;
    std::lock_guard lock(mu_);
    bound_.insert(std::string(pod.at("metadata").at("name").as_string()));
  }
  mutable std::mutex mu_;
  std::set<std::string> bound_;
};

int measure(client::RestClient& c, const Flags& f) {
  auto t0 = Clock::now();
  BoundCounter counter;
  client::Informer informer(c, {.path = "/api/v1/namespaces/bench/pods"});
  informer.add_handler(&counter);
  std::thread th([&] { (void)informer.run(); });
  double first_t = -1, last_t = -1, released_t = -1;
  std::size_t first_n = 0, last_printed = 0;
  double next_print = 1;
  while (since(t0) < f.timeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!informer.has_synced()) continue;
    if (released_t < 0) {
      // Our watch is live: let the server's scheduler take over.
      auto gone = c.send("DELETE", kLeasePath, json::object{});
      if (!gone.ok() && gone.status().code() != Code::kNotFound) {
        std::fprintf(stderr, "releasing the lease: %s\n", gone.status().to_string().c_str());
        break;
      }
      released_t = since(t0);
      std::printf("+%.2f s: watch synced (%zu bound), lease released\n", released_t, counter.bound());
    }
    const std::size_t n = counter.bound();
    const double t = since(t0);
    if (first_t < 0 && n > 0) {
      first_t = t;
      first_n = n;
    }
    if (t >= next_print || n >= static_cast<std::size_t>(f.pods)) {
      if (n != last_printed) std::printf("+%.2f s: %zu bound\n", t, n);
      last_printed = n;
      next_print = t + 1;
    }
    if (n >= static_cast<std::size_t>(f.pods)) {
      last_t = t;
      break;
    }
  }
  informer.stop();
  th.join();
  if (last_t < 0) {
    std::printf("timeout: %zu of %d bound after %d s\n", counter.bound(), f.pods, f.timeout);
    return 1;
  }
  const double window = last_t - first_t;
  std::printf("bound: first seen at +%.2f s (%zu already bound, %.2f s after the release), all %d at +%.2f s\n",
              first_t, first_n, first_t - released_t, f.pods, last_t);
  std::printf("rate: %.0f pods/s over %.2f s (first to last binding seen)\n",
              window > 0 ? static_cast<double>(f.pods - first_n) / window : 0.0, window);
  auto events = c.get("/api/v1/namespaces/bench/events?fieldSelector=reason%3DScheduled");
  if (events.ok()) {
    std::printf("Scheduled events stored: %zu (after the run; writes may still be in flight)\n",
                events->at("items").as_array().size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next_int = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--kubeconfig" && i + 1 < argc) f.kubeconfig = argv[++i];
    else if (a == "--nodes") f.nodes = next_int();
    else if (a == "--pods") f.pods = next_int();
    else if (a == "--replicas") f.replicas = next_int();
    else if (a == "--clients") f.clients = next_int();
    else if (a == "--timeout") f.timeout = next_int();
    else if (a == "setup" || a == "measure") f.mode = a;
    else f.mode = "?";
  }
  if (f.kubeconfig.empty() || (f.mode != "setup" && f.mode != "measure") || f.clients < 1 || f.replicas < 1) {
    std::fprintf(stderr,
                 "usage: bench_scheduler_server --kubeconfig K setup [--nodes N] [--pods P] [--replicas R] [--clients C]\n"
                 "       bench_scheduler_server --kubeconfig K measure [--pods P] [--timeout S]\n");
    return 2;
  }
  auto config = client::Kubeconfig::load(f.kubeconfig);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().to_string().c_str());
    return 1;
  }
  auto c = client::RestClient::create({.config = *config, .user_agent = "bench-scheduler"});
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().to_string().c_str());
    return 1;
  }
  return f.mode == "setup" ? setup(**c, f) : measure(**c, f);
}

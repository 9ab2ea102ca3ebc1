// proxy_bench: time to program N services (5 endpoints each) from empty and
// to apply a one-service change, with kedge's netlink batches and with
// `nft -f` loading the same ruleset (upstream kube-proxy's approach), in one
// run, inside a private network namespace (needs root).
//
//   proxy_bench [--services 1000,10000] [--repeat 3] [--kedge-only true]
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kedge/netlink/printer.h"
#include "kedge/netlink/reader.h"
#include "kedge/proxy/proxier.h"
#include "kedge/proxy/ruleset.h"
#include "kedge/proxy/syncer.h"

using namespace kedge;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time of this thread, user + kernel (the kernel processes a batch in
// our sendmsg() call): unlike wall time it does not grow when the machine
// is loaded and the scheduler runs others in between.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

constexpr int kNodes = 500;

proxy::ProxyState make_state(int n, int extra_endpoint_for_first = 0) {
  proxy::ProxyState st;
  for (int i = 0; i < n; ++i) {
    proxy::Service s;
    s.namespace_name = "bench";
    s.name = "svc-" + std::to_string(i);
    s.cluster_ips = {"10.43." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)};
    s.ports = {proxy::ServicePort{"http", proxy::Protocol::kTcp, 80, 0}};
    proxy::EndpointSlice sl;
    sl.namespace_name = "bench";
    sl.name = s.name + "-1";
    sl.service_name = s.name;
    sl.ports = {proxy::EndpointPort{"http", proxy::Protocol::kTcp, 8080}};
    int eps = 5 + (i == 0 ? extra_endpoint_for_first : 0);
    for (int e = 0; e < eps; ++e) {
      int k = i * 8 + e;
      proxy::Endpoint ep;
      ep.addresses = {"10." + std::to_string(42 + k / 62500) + "." + std::to_string((k / 250) % 250) + "." +
                      std::to_string(k % 250 + 1)};
      // Spread over 500 nodes, ~100 pods each (a kubelet runs at most 110):
      // the proxy runs on node-0.
      ep.node_name = "node-" + std::to_string(k % kNodes);
      sl.endpoints.push_back(ep);
    }
    st.services[proxy::key_of(s)] = s;
    st.slices[proxy::key_of(sl)] = sl;
  }
  return st;
}

int sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[65536];
  std::string s;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) s.append(buf, n);
  int rc = pclose(p);
  if (out) *out = std::move(s);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

long rss_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return -1;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// nft lists the backends maps (which kedge creates without nft's `typeof`
// annotation) by datatype, with `mark` for the numgen field, and then
// refuses its own listing: `numgen` is an integer. Declaring the maps with
// `typeof`, as someone writing this ruleset for nft would, loads the same
// kernel objects.
std::string nft_loadable(std::string listing) {
  const std::pair<const char*, const char*> kTypes[] = {
      {"type ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service",
       "typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport"},
      {"type inet_proto . inet_service . mark : ipv4_addr . inet_service",
       "typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . th dport"},
  };
  for (const auto& [from, to] : kTypes) {
    for (auto at = listing.find(from); at != std::string::npos; at = listing.find(from, at)) {
      listing.replace(at, std::strlen(from), to);
    }
  }
  return listing;
}

// The element lines of every set in `rs`, as netlink::print shows them
// ("key : value"), by set name.
std::map<std::string, std::set<std::string>> element_lines(const netlink::Ruleset& rs) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& set : rs.sets) {
    netlink::Ruleset one;
    one.table = rs.table;
    one.sets.push_back(set);
    std::istringstream text(netlink::print(one));
    bool in = false;
    for (std::string line; std::getline(text, line);) {
      if (line.find("elements = {") != std::string::npos) in = true;
      else if (in && line.find('}') != std::string::npos && line.find(':') == std::string::npos) in = false;
      else if (in) {
        line.erase(0, line.find_first_not_of('\t'));
        if (!line.empty() && line.back() == ',') line.pop_back();
        out[set.name].insert(line);
      }
    }
  }
  return out;
}

// A one-service change as nft statements (what an nft-based proxy sends):
// the elements of its share that went away, then the new ones.
std::string nft_change(const proxy::BuildResult& before, const proxy::BuildResult& after) {
  std::string out;
  for (std::size_t i = 0; i < after.tables.size(); ++i) {
    const auto& t = after.tables[i].table;
    auto old_lines = element_lines(before.tables[i]);
    auto new_lines = element_lines(after.tables[i]);
    auto emit = [&](const char* verb, const std::string& set, const std::string& line) {
      // delete takes the key only
      const std::string what = std::string(verb) == "delete" ? line.substr(0, line.find(" : ")) : line;
      out += std::string(verb) + " element ip " + t.name + " " + set + " { " + what + " }\n";
    };
    for (const auto& [set, lines] : old_lines) {
      for (const auto& l : lines) {
        if (!new_lines[set].count(l)) emit("delete", set, l);
      }
    }
    for (const auto& [set, lines] : new_lines) {
      for (const auto& l : lines) {
        if (!old_lines[set].count(l)) emit("add", set, l);
      }
    }
  }
  return out;
}

// Times what the kernel spends inside sendmsg() (it processes and commits
// the whole batch there) apart from our own work.
class TimingTransport final : public netlink::Transport {
 public:
  explicit TimingTransport(netlink::Transport& inner) : inner_(inner) {}
  std::uint32_t port_id() const override { return inner_.port_id(); }
  Status reserve(std::size_t b, std::size_t r) override { return inner_.reserve(b, r); }
  Status send(std::span<const std::uint8_t> d) override {
    auto t0 = Clock::now();
    Status st = inner_.send(d);
    send_ms += ms_since(t0);
    return st;
  }
  Result<std::optional<netlink::Bytes>> receive(std::chrono::milliseconds timeout) override {
    auto t0 = Clock::now();
    auto r = inner_.receive(timeout);
    receive_ms += ms_since(t0);
    return r;
  }
  double send_ms = 0, receive_ms = 0;

 private:
  netlink::Transport& inner_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes = {1000, 10000};
  int repeat = 3;
  bool kedge_only = false;
  std::uint32_t shards = proxy::LayoutOptions{}.shards;
  std::string preload;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--services") {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      std::string tok;
      while (std::getline(ss, tok, ',')) sizes.push_back(std::atoi(tok.c_str()));
    } else if (a == "--kedge-only") {  // for profiling: skip the nft -f side
      kedge_only = std::string(argv[i + 1]) == "true";
    } else if (a == "--repeat") {
      repeat = std::atoi(argv[i + 1]);
    } else if (a == "--preload-nft") {  // a ruleset file loaded first (someone else's tables)
      preload = argv[i + 1];
    } else if (a == "--shards") {
      shards = static_cast<std::uint32_t>(std::atoi(argv[i + 1]));
    }
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (run as root)");
    return 1;
  }
  // Other tables in the namespace (e.g. a big firewall) cost every commit
  // too: the kernel walks every chain of every table at each commit.
  if (!preload.empty() && sh("nft -f " + preload) != 0) return 1;
  auto transport = netlink::open_netfilter_socket();
  if (!transport.ok()) {
    std::fprintf(stderr, "%s\n", transport.status().to_string().c_str());
    return 1;
  }
  proxy::LayoutOptions layout;
  layout.cluster_cidr = "10.42.0.0/16";
  layout.node_ips = {"192.168.1.10"};
  layout.node_name = "node-0";
  layout.shards = shards;
  std::fprintf(stderr, "%u shard tables\n", shards);

  std::printf("| services | endpoints | kedge full sync ms (build + netlink) | nft -f full ms | speed-up | kedge 1-service change ms | nft -f change ms | speed-up | full sync msgs |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (int n : sizes) {
    auto base = make_state(n);
    auto changed = make_state(n, 1);
    std::vector<double> kfull, nfull, kchange, nchange;
    std::size_t msgs = 0;
    auto objects_of = [](const proxy::ProxyState& st) {
      proxy::Objects o;
      for (const auto& [k, v] : st.services) o.services.push_back(v);
      for (const auto& [k, v] : st.slices) o.slices.push_back(v);
      return o;
    };
    const auto base_objects = objects_of(base);
    const proxy::EndpointSlice base_slice0 = base.slices.at("bench/svc-0-1");
    const proxy::EndpointSlice changed_slice0 = changed.slices.at("bench/svc-0-1");
    proxy::ProxierOptions po;
    po.layout = layout;
    po.families = {netlink::Family::kIp};
    po.min_sync_interval = std::chrono::milliseconds(0);
    for (int r = 0; r < repeat; ++r) {
      // kedge, from empty, through the Proxier exactly as `kedge proxy` runs
      // it (validation, change tracking, build, one batch, acks).
      TimingTransport timing(**transport);
      (void)proxy::cleanup(timing, layout.table);
      timing.send_ms = timing.receive_ms = 0;
      if (r == 0) {
        // Our side of a full sync, phase by phase (outside the timed run).
        auto p0 = Clock::now();
        auto built = proxy::build_ruleset(base, layout, netlink::Family::kIp);
        const double build_ms = ms_since(p0);
        p0 = Clock::now();
        netlink::Batch batch;
        for (const auto& t : built.tables) proxy::plan_full(std::nullopt, t, batch);
        std::fprintf(stderr, "n=%d our phases: build_ruleset %.1f ms, plan_full+encode %.1f ms (%zu msgs, %.1f MB)\n", n,
                     build_ms, ms_since(p0), batch.size(), batch.bytes() / 1e6);
      }
      proxy::Proxier proxier(po, timing);
      auto t0 = Clock::now();
      const double cpu0 = thread_cpu_ms();
      proxier.replace_all(base_objects);
      proxier.set_synced();
      std::fprintf(stderr, "n=%d replace_all %.1f ms\n", n, ms_since(t0));
      Status st = proxier.sync_now();
      kfull.push_back(ms_since(t0));
      if (!st.ok()) {
        std::fprintf(stderr, "kedge sync failed: %s\n", st.to_string().c_str());
        return 1;
      }
      std::fprintf(stderr, "n=%d full sync: kernel (inside sendmsg) %.1f ms, reading acks %.1f ms, ours %.1f ms; CPU %.1f ms\n",
                   n, timing.send_ms, timing.receive_ms, kfull.back() - timing.send_ms - timing.receive_ms,
                   thread_cpu_ms() - cpu0);
      msgs = proxier.stats().last_batch_messages;
      // kedge, one service gains an endpoint (a watch event → partial sync);
      // five times (reverting in between, untimed), the median is kept: the
      // first change after a full sync also pays for malloc reorganising
      // the memory the full sync freed.
      std::vector<double> changes, change_cpu;
      for (int c = 0; c < 5; ++c) {
        if (c > 0) {
          proxier.update_slice(base_slice0);
          if (!proxier.sync_now().ok()) return 1;
        }
        timing.send_ms = timing.receive_ms = 0;
        t0 = Clock::now();
        const double c0 = thread_cpu_ms();
        proxier.update_slice(changed_slice0);
        st = proxier.sync_now();
        changes.push_back(ms_since(t0));
        change_cpu.push_back(thread_cpu_ms() - c0);
        if (!st.ok() || proxier.stats().full_syncs != 1) {
          std::fprintf(stderr, "kedge partial sync failed: %s\n", st.to_string().c_str());
          return 1;
        }
        std::fprintf(stderr, "n=%d change %d: %.2f ms (kernel %.2f ms, acks %.2f ms; CPU %.2f ms), %zu messages\n", n, c,
                     changes.back(), timing.send_ms, timing.receive_ms, change_cpu.back(),
                     proxier.stats().last_batch_messages);
      }
      kchange.push_back(median(changes));
      std::fprintf(stderr, "n=%d change median: wall %.2f ms, CPU %.2f ms\n", n, median(changes), median(change_cpu));
      if (kedge_only) {
        nfull.push_back(0);
        nchange.push_back(0);
        continue;
      }
      // The same change as nft statements: svc-0's share before and after.
      const auto& svc0 = base.services.at("bench/svc-0");
      auto share_before = proxy::build_service("bench/svc-0", &svc0, {&base_slice0}, layout, netlink::Family::kIp);
      auto share_after = proxy::build_service("bench/svc-0", &svc0, {&changed_slice0}, layout, netlink::Family::kIp);
      std::ofstream("/tmp/kedge-bench-change.nft") << nft_change(share_before, share_after);
      // Back to the base state with kedge, then time nft applying the change.
      proxier.update_slice(base_slice0);
      if (!proxier.sync_now().ok()) return 1;
      t0 = Clock::now();
      int rc = sh("nft -f /tmp/kedge-bench-change.nft 2>&1");
      nchange.push_back(ms_since(t0));
      if (rc != 0) std::fprintf(stderr, "nft -f change failed (rc %d)\n", rc);
      // nft -f, from empty, the full ruleset as nft itself lists it (the
      // bench's private namespace holds only kedge's tables).
      std::string full;
      sh("nft list ruleset", &full);
      std::ofstream("/tmp/kedge-bench-full.nft") << nft_loadable(full);
      sh("nft flush ruleset");
      t0 = Clock::now();
      rc = sh("nft -f /tmp/kedge-bench-full.nft 2>&1");
      nfull.push_back(ms_since(t0));
      if (rc != 0) std::fprintf(stderr, "nft -f full failed (rc %d)\n", rc);
      sh("nft flush ruleset");
    }
    double kf = median(kfull), nf = median(nfull), kc = median(kchange), nc = median(nchange);
    std::printf("| %d | %d | %.1f | %.1f | %.1fx | %.2f | %.1f | %.1fx | %zu |\n", n, n * 5, kf, nf, nf / kf, kc,
                nc, nc / kc, msgs);
    std::fflush(stdout);
  }
  std::printf("\nbench process RSS after the runs: VmRSS %ld KiB, VmHWM (peak) %ld KiB\n", rss_kb("VmRSS:"),
              rss_kb("VmHWM:"));
  return 0;
}

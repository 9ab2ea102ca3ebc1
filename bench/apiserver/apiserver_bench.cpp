// kedge-apiserver-bench: starts edge-control's API server in-process over the
// SQLite store (as `kedge server` does), then measures it over HTTPS with
// libcurl and the admin client certificate:
//
//   kedge-apiserver-bench --pods 10000 [--lists N] [--watchers 1000]
//                         [--updates 100] [--data-dir DIR] [--serve]
//
// Figures: create/s, list-all and list-by-spec.nodeName latency p50/p99,
// RSS idle, with the pods stored and after the lists; then watch fan-out:
// `--watchers` streams (held by a child process, see watch_fanout.h) on one
// pod, `--updates` changes of it, delivery throughput, event latency
// p50/p99, server RSS and CPU with the watchers idle. --serve keeps the
// server running (for poking it with kubectl) after loading.
#include <curl/curl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "kedge/control/api_server.h"
#include "kedge/store/sqlite_store.h"
#include "watch_fanout.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

struct Client {
  CURL* curl = nullptr;
  std::string body;
  explicit Client(const std::filesystem::path& tls) {
    curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_CAINFO, (tls / "ca.crt").c_str());
    curl_easy_setopt(curl, CURLOPT_SSLCERT, (tls / "client-admin.crt").c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, (tls / "client-admin.key").c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* u) {
      static_cast<std::string*>(u)->append(p, s * n);
      return s * n;
    });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  }
  ~Client() { curl_easy_cleanup(curl); }
  long request(const std::string& method, const std::string& url, const std::string& data = "",
               const std::string& content_type = "application/json") {
    body.clear();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    struct curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (!data.empty()) {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(data.size()));
    } else {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
      curl_easy_setopt(curl, CURLOPT_HTTPGET, method == "GET" ? 1L : 0L);
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    long code = 0;
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    return code;
  }
};

std::string pod_json(int i, int nodes) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-)" + std::to_string(i) +
         R"(","labels":{"app":"bench","shard":")" + std::to_string(i % 10) +
         R"("}},"spec":{"nodeName":"node-)" + std::to_string(i % nodes) +
         R"(","containers":[{"name":"main","image":"busybox:1.36","command":["sleep","3600"],)"
         R"("resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}})";
}

void report(const char* what, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("%-34s n=%-5zu p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms\n", what, ms.size(), pct(0.5),
              pct(0.99), ms.back());
}

// CPU seconds this process used so far (user + system).
double cpu_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');
  std::vector<std::string> f;
  std::string cur;
  for (char ch : stat.substr(close + 2)) {
    if (ch == ' ') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the ')'.
  return static_cast<double>(std::atoll(f[11].c_str()) + std::atoll(f[12].c_str())) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// 1,000 watchers on one pod, held by a child process; `updates` changes.
void watch_fanout(const char* self, const std::string& base, const std::filesystem::path& tls, int watchers,
                  int updates) {
  Client c(tls);
  const std::string pods = base + "/api/v1/namespaces/default/pods";
  if (c.request("POST", pods, R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"fanout-target"},)"
                              R"("spec":{"containers":[{"name":"main","image":"busybox:1.36"}]}})") != 201) {
    std::fprintf(stderr, "fanout: create target failed: %s\n", c.body.c_str());
    return;
  }
  auto rvpos = c.body.find("\"resourceVersion\":\"");
  std::string rv = c.body.substr(rvpos + 19, c.body.find('"', rvpos + 19) - rvpos - 19);
  std::string url = pods + "?watch=true&timeoutSeconds=600&fieldSelector=metadata.name%3Dfanout-target&resourceVersion=" + rv;
  int out[2];
  if (::pipe(out) != 0) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  std::string w = std::to_string(watchers), n = std::to_string(updates), t = tls.string();
  std::vector<char*> argv = {const_cast<char*>(self), const_cast<char*>("--fanout-client"), url.data(),
                             t.data(), w.data(), n.data(), nullptr};
  pid_t child = 0;
  if (posix_spawn(&child, "/proc/self/exe", &fa, nullptr, argv.data(), environ) != 0) return;
  ::close(out[1]);
  FILE* from_child = ::fdopen(out[0], "r");
  char line[512];
  auto t0 = Clock::now();
  if (std::fgets(line, sizeof line, from_child) == nullptr || std::string(line) != "ready\n") {
    std::fprintf(stderr, "fanout: the client did not get ready\n");
    return;
  }
  std::printf("%d watch streams open in %.1f s; RSS %.1f MiB\n", watchers,
              std::chrono::duration<double>(Clock::now() - t0).count(), rss_kib() / 1024.0);
  double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  std::printf("CPU with %d idle watchers: %.2f%% of one core (5 s)\n", watchers, (cpu_seconds() - cpu0) / 5 * 100);
  t0 = Clock::now();
  for (int u = 0; u < updates; ++u) {
    auto stamp = std::to_string(Clock::now().time_since_epoch().count());
    long code = c.request("PATCH", pods + "/fanout-target",
                          R"({"metadata":{"annotations":{"bench-t":")" + stamp + R"("}}})",
                          "application/merge-patch+json");
    if (code != 200) std::fprintf(stderr, "fanout: update %d: %ld\n", u, code);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%d updates in %.2f s (%.0f/s)\n", updates, secs, updates / secs);
  if (std::fgets(line, sizeof line, from_child) != nullptr) std::printf("fanout: %s", line);
  std::printf("RSS after fan-out: %.1f MiB\n", rss_kib() / 1024.0);
  std::fclose(from_child);
  int status = 0;
  ::waitpid(child, &status, 0);
  posix_spawn_file_actions_destroy(&fa);
}

}  // namespace

int main(int argc, char** argv) {
  kedge::signals::block_termination_signals();
  if (argc == 6 && std::string(argv[1]) == "--fanout-client") {
    return kedge::bench::run_fanout_client({.url = argv[2], .tls = argv[3], .watchers = std::atoi(argv[4]),
                                            .expected_events = std::atol(argv[5])});
  }
  int pods = 10000;
  int nodes = 100;
  int lists = 50;
  int watchers = 1000;
  int updates = 100;
  bool serve = false;
  std::string data_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc) pods = std::atoi(argv[++i]);
    else if (a == "--lists" && i + 1 < argc) lists = std::atoi(argv[++i]);
    else if (a == "--data-dir" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--watchers" && i + 1 < argc) watchers = std::atoi(argv[++i]);
    else if (a == "--updates" && i + 1 < argc) updates = std::atoi(argv[++i]);
    else if (a == "--serve") serve = true;
    else {
      std::fprintf(stderr, "usage: %s [--pods N] [--lists N] [--watchers N] [--updates N] [--data-dir DIR] [--serve]\n", argv[0]);
      return 2;
    }
  }
  kedge::log::init({.level = "warn"});
  if (data_dir.empty()) {
    char tmpl[] = "/tmp/kedge-apiserver-bench-XXXXXX";
    data_dir = ::mkdtemp(tmpl);
  }
  kedge::store::SqliteStoreOptions so;
  so.data_dir = std::filesystem::path(data_dir) / "server" / "db";
  so.durability = kedge::store::Durability::kRelaxed;
  auto store = kedge::store::SqliteStore::open(so);
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().to_string().c_str());
    return 1;
  }
  kedge::control::ApiServerOptions ao;
  ao.data_dir = data_dir;
  ao.kubeconfig_path = std::filesystem::path(data_dir) / "kedge.yaml";
  ao.store = store->get();
  ao.http.bind_address = "127.0.0.1";
  ao.http.port = 0;
  kedge::control::ApiServer server(std::move(ao));
  if (auto st = server.start(); !st.ok()) {
    std::fprintf(stderr, "server: %s\n", st.to_string().c_str());
    return 1;
  }
  std::string base = "https://127.0.0.1:" + std::to_string(server.port());
  std::printf("server %s, kubeconfig %s/kedge.yaml\n", base.c_str(), data_dir.c_str());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::printf("RSS idle: %.1f MiB\n", rss_kib() / 1024.0);
  curl_global_init(CURL_GLOBAL_ALL);
  auto tls = std::filesystem::path(data_dir) / "server" / "tls";

  // Create pods from 8 client threads.
  std::atomic<int> next{0}, failed{0};
  auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      Client c(tls);
      for (int i = next++; i < pods; i = next++) {
        if (c.request("POST", base + "/api/v1/namespaces/default/pods", pod_json(i, nodes)) != 201) ++failed;
      }
    });
  }
  for (auto& t : workers) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("create %d pods: %.1f s, %.0f creates/s, %d failed\n", pods, secs, pods / secs, failed.load());
  std::printf("RSS with %d pods: %.1f MiB\n", pods, rss_kib() / 1024.0);

  Client c(tls);
  std::vector<double> all, by_node, get;
  double list_cpu = 0;  // CPU of server + client: what a list costs when the box is busy
  for (int i = 0; i < lists; ++i) {
    auto s = Clock::now();
    double cpu0 = cpu_seconds();
    long code = c.request("GET", base + "/api/v1/pods");
    list_cpu += cpu_seconds() - cpu0;
    all.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    if (code != 200) std::fprintf(stderr, "list: %ld\n", code);
    s = Clock::now();
    c.request("GET", base + "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-" + std::to_string(i % nodes));
    by_node.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
  }
  for (int i = 0; i < 500; ++i) {
    auto s = Clock::now();
    c.request("GET", base + "/api/v1/namespaces/default/pods/pod-" + std::to_string(i * 7 % pods));
    get.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
  }
  report("list all pods", all);
  if (lists > 0) std::printf("list all pods: %.1f ms CPU each (server + in-process client)\n", list_cpu * 1000 / lists);
  report("list pods by spec.nodeName", by_node);
  report("get one pod", get);
  std::printf("RSS after lists: %.1f MiB\n", rss_kib() / 1024.0);
  if (watchers > 0) watch_fanout(argv[0], base, tls, watchers, updates);
  if (serve) {
    std::printf("serving; SIGTERM to stop\n");
    std::fflush(stdout);
    kedge::signals::wait_for_termination();
  }
  server.stop();
  curl_global_cleanup();
  return 0;
}

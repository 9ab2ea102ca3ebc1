// kedge-apiserver-bench: starts edge-control's API server in-process over the
// SQLite store (as `kedge server` does), then measures it over HTTPS with
// libcurl and the admin client certificate:
//
//   kedge-apiserver-bench --pods 10000 [--data-dir DIR] [--serve]
//
// Figures: create/s, list-all and list-by-spec.nodeName latency p50/p99,
// RSS idle and with the pods stored. --serve keeps the server running (for
// poking it with kubectl) after loading.
#include <curl/curl.h>
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
  long request(const std::string& method, const std::string& url, const std::string& data = "") {
    body.clear();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
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

}  // namespace

int main(int argc, char** argv) {
  kedge::signals::block_termination_signals();
  int pods = 10000;
  int nodes = 100;
  int lists = 50;
  bool serve = false;
  std::string data_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--pods" && i + 1 < argc) pods = std::atoi(argv[++i]);
    else if (a == "--lists" && i + 1 < argc) lists = std::atoi(argv[++i]);
    else if (a == "--data-dir" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--serve") serve = true;
    else {
      std::fprintf(stderr, "usage: %s [--pods N] [--lists N] [--data-dir DIR] [--serve]\n", argv[0]);
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
  for (int i = 0; i < lists; ++i) {
    auto s = Clock::now();
    long code = c.request("GET", base + "/api/v1/pods");
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
  report("list pods by spec.nodeName", by_node);
  report("get one pod", get);
  std::printf("RSS after lists: %.1f MiB\n", rss_kib() / 1024.0);
  if (serve) {
    std::printf("serving; SIGTERM to stop\n");
    std::fflush(stdout);
    kedge::signals::wait_for_termination();
  }
  server.stop();
  curl_global_cleanup();
  return 0;
}

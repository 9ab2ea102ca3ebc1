#include "watch_fanout.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace kedge::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Stream {
  std::string partial;  // bytes of an incomplete line
  bool open = false;
  long events = 0;
  std::vector<double>* latencies = nullptr;
  long* delivered = nullptr;
  Clock::time_point* first = nullptr;
  Clock::time_point* last = nullptr;
};

void on_line(Stream& s, std::string_view line) {
  static constexpr std::string_view kTag = "\"bench-t\":\"";
  auto at = line.find(kTag);
  if (at == std::string_view::npos) return;  // the initial state, a bookmark
  long long sent = std::atoll(line.data() + at + kTag.size());
  auto now = Clock::now();
  double ms = static_cast<double>(now.time_since_epoch().count() - sent) / 1e6;
  s.latencies->push_back(ms);
  ++s.events;
  ++*s.delivered;
  if (*s.delivered == 1) *s.first = now;
  *s.last = now;
}

size_t on_data(char* p, size_t size, size_t n, void* user) {
  auto& s = *static_cast<Stream*>(user);
  s.open = true;
  s.partial.append(p, size * n);
  std::size_t start = 0;
  for (auto nl = s.partial.find('\n'); nl != std::string::npos; nl = s.partial.find('\n', start)) {
    on_line(s, std::string_view(s.partial).substr(start, nl - start));
    start = nl + 1;
  }
  s.partial.erase(0, start);
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  std::string_view h(p, size * n);
  if (h.rfind("HTTP/1.1 200", 0) == 0) static_cast<Stream*>(user)->open = true;
  return size * n;
}

}  // namespace

int run_fanout_client(const FanoutClientOptions& o) {
  curl_global_init(CURL_GLOBAL_ALL);
  CURLM* multi = curl_multi_init();
  std::vector<Stream> streams(static_cast<std::size_t>(o.watchers));
  std::vector<CURL*> handles;
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(o.watchers * o.expected_events));
  long delivered = 0;
  Clock::time_point first, last;
  for (auto& s : streams) {
    s.latencies = &latencies;
    s.delivered = &delivered;
    s.first = &first;
    s.last = &last;
    CURL* c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, o.url.c_str());
    curl_easy_setopt(c, CURLOPT_CAINFO, (o.tls / "ca.crt").c_str());
    curl_easy_setopt(c, CURLOPT_SSLCERT, (o.tls / "client-admin.crt").c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, (o.tls / "client-admin.key").c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_multi_add_handle(multi, c);
    handles.push_back(c);
  }
  const long want = o.expected_events * o.watchers;
  bool announced = false;
  auto deadline = Clock::now() + std::chrono::seconds(300);
  int running = 1;
  while (running > 0 && Clock::now() < deadline && delivered < want) {
    curl_multi_perform(multi, &running);
    if (!announced && std::all_of(streams.begin(), streams.end(), [](const Stream& s) { return s.open; })) {
      announced = true;
      std::printf("ready\n");
      std::fflush(stdout);
    }
    curl_multi_poll(multi, nullptr, 0, 200, nullptr);
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
  };
  long open = std::count_if(streams.begin(), streams.end(), [](const Stream& s) { return s.open; });
  std::printf("delivered %ld of %ld to %ld open streams in %.3f s; latency p50 %.2f ms p99 %.2f ms max %.2f ms\n",
              delivered, want, open, std::chrono::duration<double>(last - first).count(), pct(0.5), pct(0.99),
              latencies.empty() ? 0.0 : latencies.back());
  std::fflush(stdout);
  for (CURL* c : handles) {
    curl_multi_remove_handle(multi, c);
    curl_easy_cleanup(c);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return delivered == want ? 0 : 1;
}

}  // namespace kedge::bench

// store_bench: load generator speaking etcd v3 gRPC, for comparing
// `kedge store` with etcd on the same machine (bench/store/run.sh).
//
//   store_bench --endpoint http://127.0.0.1:2379 [--pid PID] [--clients 1,16,256]
//               [--seconds 10] [--value-size 256] [--range-keys 10000]
//               [--watch-samples 200] [--idle-seconds 5] [--put-client h2|grpc]
//
// Puts come from `clients` closed-loop clients spread over 4 connections,
// like a fleet of clients would be: each keeps one put in flight. By default
// (--put-client h2) they run on our own HTTP/2 client (h2_put_load.h: one
// epoll thread on libnghttp2, requests serialized once), because the client
// shares the cores with the server under test and grpc++'s callback API
// costs it more CPU per put than the server spends; --put-client grpc keeps
// the grpc++ path for comparison. Range and watch use grpc++. Prints one
// "metric value" line per figure; with --pid it also reports the server's
// disk writes per 1,000 puts (/proc/PID/io write_bytes) and RSS
// (/proc/PID/status): right after the runs, the peak, and again after
// --idle-seconds without requests (what a quiet server keeps: kedge's pool
// trims the heap after a quiet second, Go's scavenger returns memory in the
// background).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "h2_put_load.h"

namespace {

using Clock = std::chrono::steady_clock;
using kedge::bench::PutPhaseResult;

constexpr int kConnections = 4;
// How long a put phase waits for the puts in flight after its deadline.
constexpr std::chrono::seconds kGrace{5};

struct Args {
  std::string endpoint = "http://127.0.0.1:2379";
  long pid = 0;
  std::vector<int> clients{1, 16, 256};
  int seconds = 10;
  int value_size = 256;
  int range_keys = 10000;
  int watch_samples = 200;
  int idle_seconds = 5;
  std::string put_client = "h2";  // h2 | grpc
};

long proc_field(long pid, const char* file, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

struct Channels {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv;
  explicit Channels(const std::string& target, int n) {
    for (int i = 0; i < n; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", i);  // distinct connections, not one shared subchannel
      args.SetMaxReceiveMessageSize(-1);
      channels.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      kv.push_back(etcdserverpb::KV::NewStub(channels.back()));
    }
  }
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// One closed-loop grpc++ put client (--put-client grpc): issues the next put
// when the last one returns. Its callbacks run on grpc++'s threads.
struct PutLoop {
  etcdserverpb::KV::Stub* stub;
  std::string key;
  const std::string* value;
  Clock::time_point deadline;
  std::chrono::system_clock::time_point call_deadline;  // deadline + kGrace, for grpc++
  PutPhaseResult* result;  // guarded by *mu
  std::mutex* mu;
  std::atomic<int>* running;
  std::condition_variable* done_cv;

  etcdserverpb::PutRequest req;
  etcdserverpb::PutResponse resp;
  std::unique_ptr<grpc::ClientContext> ctx;
  Clock::time_point started;

  void issue() {
    if (Clock::now() >= deadline) {
      if (--*running == 0) {
        std::lock_guard lock(*mu);
        done_cv->notify_all();
      }
      return;
    }
    req.set_key(key);
    req.set_value(*value);
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(call_deadline);  // bounds the phase if the server stops answering
    started = Clock::now();
    stub->async()->Put(ctx.get(), &req, &resp, [this](grpc::Status st) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      {
        std::lock_guard lock(*mu);
        if (st.ok()) {
          result->latencies_ms.push_back(ms);
        } else if (result->errors++ == 0) {
          result->first_error = "grpc-status " + std::to_string(st.error_code()) + ": " + st.error_message();
        }
      }
      issue();
    });
  }
};

PutPhaseResult grpc_puts(const Args& a, Channels& ch, int clients) {
  const std::string value(static_cast<std::size_t>(a.value_size), 'v');
  PutPhaseResult result;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<int> running{clients};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(a.seconds);
  const auto call_deadline = std::chrono::system_clock::now() + std::chrono::seconds(a.seconds) + kGrace;
  std::vector<std::unique_ptr<PutLoop>> loops;
  for (int i = 0; i < clients; ++i) {
    auto* stub = ch.kv[static_cast<std::size_t>(i) % ch.kv.size()].get();
    loops.push_back(std::make_unique<PutLoop>(
        PutLoop{stub, "", &value, deadline, call_deadline, &result, &mu, &running, &cv, {}, {}, {}, {}}));
  }
  for (int i = 0; i < clients; ++i) {
    loops[static_cast<std::size_t>(i)]->key = "/bench/put/" + std::to_string(clients) + "/" + std::to_string(i);
    loops[static_cast<std::size_t>(i)]->issue();
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return running.load() == 0; });
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

PutPhaseResult h2_puts(const Args& a, int clients) {
  const std::string authority = a.endpoint.substr(7);  // main() checked the http:// prefix
  const auto colon = authority.rfind(':');
  std::string host = authority.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return kedge::bench::run_h2_puts({
      .host = host,
      .port = colon == std::string::npos ? "80" : authority.substr(colon + 1),
      .authority = authority,
      .connections = kConnections,
      .clients = clients,
      .key_prefix = "/bench/put/" + std::to_string(clients) + "/",
      .value = std::string(static_cast<std::size_t>(a.value_size), 'v'),
      .duration = std::chrono::seconds(a.seconds),
      .grace = kGrace,
  });
}

// Each client rewrites its own key, as a control plane updates objects.
void bench_puts(const Args& a, Channels& ch, int clients) {
  const long io_before = a.pid ? proc_field(a.pid, "io", "write_bytes: ") : -1;
  PutPhaseResult r = a.put_client == "grpc" ? grpc_puts(a, ch, clients) : h2_puts(a, clients);
  const long io_after = a.pid ? proc_field(a.pid, "io", "write_bytes: ") : -1;
  for (const auto& e : r.connection_errors) std::fprintf(stderr, "store_bench: put_c%d: %s\n", clients, e.c_str());
  if (r.errors > 0) {
    std::fprintf(stderr, "store_bench: put_c%d: %ld failed puts, the first: %s\n", clients, r.errors,
                 r.first_error.c_str());
  }
  const auto n = static_cast<double>(r.latencies_ms.size());
  std::printf("put_c%d_ops_per_s %.0f\n", clients, r.seconds > 0 ? n / r.seconds : 0.0);
  std::printf("put_c%d_p50_ms %.3f\n", clients, percentile(r.latencies_ms, 0.50));
  std::printf("put_c%d_p99_ms %.3f\n", clients, percentile(r.latencies_ms, 0.99));
  std::printf("put_c%d_errors %ld\n", clients, r.errors);
  if (io_before >= 0 && io_after >= 0 && n > 0) {
    std::printf("put_c%d_disk_bytes_per_1000_puts %.0f\n", clients,
                static_cast<double>(io_after - io_before) / n * 1000.0);
  }
  std::fflush(stdout);
}

void bench_range(const Args& a, Channels& ch) {
  auto& kv = *ch.kv[0];
  const std::string value(static_cast<std::size_t>(a.value_size), 'r');
  // Load with a txn of 100 puts at a time (etcd's --max-txn-ops is 128).
  for (int i = 0; i < a.range_keys; i += 100) {
    etcdserverpb::TxnRequest txn;
    for (int j = i; j < std::min(a.range_keys, i + 100); ++j) {
      auto* put = txn.add_success()->mutable_request_put();
      char key[64];
      std::snprintf(key, sizeof key, "/bench/range/%08d", j);
      put->set_key(key);
      put->set_value(value);
    }
    etcdserverpb::TxnResponse resp;
    grpc::ClientContext ctx;
    if (auto st = kv.Txn(&ctx, txn, &resp); !st.ok()) {
      std::fprintf(stderr, "range load: %s\n", st.error_message().c_str());
      return;
    }
  }
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    etcdserverpb::RangeRequest req;
    req.set_key("/bench/range/");
    req.set_range_end("/bench/range0");
    etcdserverpb::RangeResponse resp;
    grpc::ClientContext ctx;
    const auto t0 = Clock::now();
    auto st = kv.Range(&ctx, req, &resp);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!st.ok() || resp.kvs_size() != a.range_keys) {
      std::fprintf(stderr, "range: %s, %d keys\n", st.error_message().c_str(), resp.kvs_size());
      return;
    }
  }
  std::printf("range_%d_keys_p50_ms %.2f\n", a.range_keys, percentile(ms, 0.5));
  std::fflush(stdout);
}

void bench_watch(const Args& a, Channels& ch) {
  auto stub = etcdserverpb::Watch::NewStub(ch.channels[0]);
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  etcdserverpb::WatchRequest create;
  create.mutable_create_request()->set_key("/bench/watch/");
  create.mutable_create_request()->set_range_end("/bench/watch0");
  etcdserverpb::WatchResponse resp;
  if (!stream->Write(create) || !stream->Read(&resp) || !resp.created()) {
    std::fprintf(stderr, "watch: create failed\n");
    return;
  }
  std::vector<double> ms;
  auto& kv = *ch.kv[1 % ch.kv.size()];
  const std::string value(static_cast<std::size_t>(a.value_size), 'w');
  for (int i = 0; i < a.watch_samples; ++i) {
    etcdserverpb::PutRequest put;
    put.set_key("/bench/watch/" + std::to_string(i % 10));
    put.set_value(value);
    etcdserverpb::PutResponse pr;
    grpc::ClientContext pctx;
    const auto t0 = Clock::now();
    if (!kv.Put(&pctx, put, &pr).ok()) break;
    // The event may have arrived before the put's answer; either way the
    // latency is put sent → event received.
    if (!stream->Read(&resp) || resp.events_size() == 0) break;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  ctx.TryCancel();
  std::printf("watch_event_p50_ms %.3f\n", percentile(ms, 0.5));
  std::printf("watch_event_p99_ms %.3f\n", percentile(ms, 0.99));
  std::fflush(stdout);
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint") a.endpoint = v;
    else if (k == "--pid") a.pid = std::stol(v);
    else if (k == "--clients") a.clients = parse_list(v);
    else if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--value-size") a.value_size = std::stoi(v);
    else if (k == "--range-keys") a.range_keys = std::stoi(v);
    else if (k == "--watch-samples") a.watch_samples = std::stoi(v);
    else if (k == "--idle-seconds") a.idle_seconds = std::stoi(v);
    else if (k == "--put-client") a.put_client = v;
    else {
      std::fprintf(stderr, "store_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (a.endpoint.rfind("http://", 0) != 0) {
    std::fprintf(stderr, "store_bench: --endpoint must be http://host:port\n");
    return 2;
  }
  if (a.put_client != "h2" && a.put_client != "grpc") {
    std::fprintf(stderr, "store_bench: --put-client must be h2 or grpc\n");
    return 2;
  }
  Channels ch(a.endpoint.substr(7), kConnections);
  for (int c : a.clients) bench_puts(a, ch, c);
  bench_range(a, ch);
  bench_watch(a, ch);
  if (a.pid) {
    std::printf("rss_kib %ld\n", proc_field(a.pid, "status", "VmRSS:"));
    std::printf("peak_rss_kib %ld\n", proc_field(a.pid, "status", "VmHWM:"));
    std::this_thread::sleep_for(std::chrono::seconds(a.idle_seconds));
    std::printf("idle_rss_kib %ld\n", proc_field(a.pid, "status", "VmRSS:"));
  }
  return 0;
}

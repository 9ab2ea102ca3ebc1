// The watch fan-out half of kedge-apiserver-bench: a child process (the same
// binary, --fanout-client) holds N watch streams on one libcurl multi handle,
// so the server's RSS is measured without the clients' TLS state.
#pragma once

#include <filesystem>
#include <string>

namespace kedge::bench {

struct FanoutClientOptions {
  std::string url;  // the watch URL every stream opens
  std::filesystem::path tls;
  int watchers = 1000;
  long expected_events = 0;  // per watcher; the client stops after them (or 300 s)
};

// Child side: prints "ready" once every stream is open, then, when done,
// "delivered <n> <seconds> p50 <ms> p99 <ms> max <ms>". Event latency is the
// steady clock now minus the "bench-t" annotation of the object (nanoseconds
// of the same system-wide CLOCK_MONOTONIC the parent stamped it with).
int run_fanout_client(const FanoutClientOptions& options);

}  // namespace kedge::bench

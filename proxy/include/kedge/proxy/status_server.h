// StatusServer: the proxy's /healthz and /metrics over plain HTTP on one
// local port (default 127.0.0.1:10249, kube-proxy's metrics port; kedge
// serves healthz there too instead of opening 10256 as well).
//
//   GET /healthz  200 "ok" once a sync has succeeded and the last one did;
//                 503 with the last error otherwise.
//   GET /metrics  Prometheus text: syncs, failures, a sync duration
//                 histogram, chains/rules/elements installed, invalid
//                 objects, last error (as a labelled gauge).
//
// Threads: one, which sleeps in poll() on the listening socket and a wake
// pipe (no polling loop); requests are tiny and answered inline.
// Ownership: borrows the Proxier (must outlive the server).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "kedge/base/status.h"
#include "kedge/proxy/proxier.h"

namespace kedge::proxy {

// Prometheus text exposition of `stats`.
std::string render_metrics(const ProxierStats& stats);

class StatusServer {
 public:
  // `address`: "host:port" (IPv4 or [IPv6]); port 0 picks a free one.
  static Result<std::unique_ptr<StatusServer>> start(const std::string& address, const Proxier& proxier);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  std::uint16_t port() const { return port_; }
  void stop();

 private:
  StatusServer(int listen_fd, int wake_read, int wake_write, std::uint16_t port, const Proxier& proxier);
  void serve();
  void answer(int fd);

  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  const std::uint16_t port_;
  const Proxier& proxier_;
  std::thread thread_;
};

}  // namespace kedge::proxy

#include "probes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kedge/client/http_get.h"
#include "kedge/cri/grpc_health.h"

namespace kedge::agent::detail {

namespace {

// A named port resolves through the container's ports, as upstream.
int resolve_port(const api::IntOrString& port, const api::Container& c) {
  if (port.is_int) return static_cast<int>(port.int_value);
  for (const auto& p : c.ports) {
    if (p.name == port.str_value) return p.container_port;
  }
  return std::atoi(port.str_value.c_str());
}

ProbeOutcome tcp_probe(const std::string& host, int port, int timeout_seconds) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
    return {false, "cannot resolve " + host};
  }
  const int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ProbeOutcome out{false, ""};
  if (fd >= 0) {
    int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_seconds * 1000) == 1 ? 0 : -1;
      int err = 0;
      socklen_t len = sizeof(err);
      if (rc == 0 && (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) rc = -1;
    }
    out.success = rc == 0;
    if (!out.success) out.message = "dial tcp " + host + ":" + std::to_string(port) + ": connect failed";
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return out;
}

// As upstream's prober: GET with kube-probe's User-Agent, the probe's
// headers, no certificate verification, redirects followed on the same host
// only (a redirect elsewhere ends the probe with its 3xx: success, as
// upstream, which only warns about it); 200–399 passes.
ProbeOutcome http_probe(const api::Probe& probe, const std::string& host, int port) {
  std::string scheme = probe.scheme == "HTTPS" ? "https" : "http";
  std::string path = probe.path.empty() ? "/" : probe.path;
  if (path[0] != '/') path = "/" + path;
  const bool v6 = host.find(':') != std::string::npos;
  const std::string url = scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
  client::GetOptions get{.url = url,
                         .user_agent = "kube-probe/1.32",
                         .timeout = std::chrono::seconds(std::max(1, probe.timeout_seconds))};
  for (const auto& [k, v] : probe.http_headers) get.headers.emplace_back(k, v);
  auto answer = client::get_status(get);
  if (!answer.ok()) return {false, "Get \"" + url + "\": " + answer.status().message()};
  if (answer->status >= 200 && answer->status < 400) return {true, ""};
  return {false, "HTTP probe failed with statuscode: " + std::to_string(answer->status)};
}

// grpc.health.v1 Check to the pod IP (a grpc probe has no host field);
// only SERVING passes, as upstream.
ProbeOutcome grpc_probe(const api::Probe& probe, const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  const std::string target = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  auto status = cri::check_grpc_health(target, probe.grpc_service,
                                       std::chrono::seconds(std::max(1, probe.timeout_seconds)));
  if (!status.ok()) return {false, status.status().message()};
  if (*status == cri::HealthStatus::kServing) return {true, ""};
  return {false, "service unhealthy (responded with \"" + cri::to_string(*status) + "\")"};
}

}  // namespace

ProbeOutcome run_probe(const api::Probe& probe, const api::Container& container, const std::string& container_id,
                       const std::string& pod_ip, cri::RuntimeClient& runtime) {
  const std::string host = !probe.host.empty() ? probe.host : (pod_ip.empty() ? "127.0.0.1" : pod_ip);
  switch (probe.kind) {
    case api::Probe::Kind::kExec: {
      auto r = runtime.exec_sync(container_id, probe.command, std::chrono::seconds(probe.timeout_seconds));
      if (!r.ok()) return {false, r.status().message()};
      if (r->exit_code == 0) return {true, ""};
      std::string out = r->stdout_data + r->stderr_data;
      return {false, "command failed with exit code " + std::to_string(r->exit_code) + (out.empty() ? "" : ": " + out)};
    }
    case api::Probe::Kind::kHttpGet:
      return http_probe(probe, host, resolve_port(probe.port, container));
    case api::Probe::Kind::kTcpSocket:
      return tcp_probe(host, resolve_port(probe.port, container), probe.timeout_seconds);
    case api::Probe::Kind::kGrpc:
      return grpc_probe(probe, pod_ip.empty() ? "127.0.0.1" : pod_ip, resolve_port(probe.port, container));
    case api::Probe::Kind::kNone:
      break;
  }
  return {true, ""};
}

bool ProbeState::record(const api::Probe& probe, const ProbeOutcome& outcome) {
  last_message = outcome.message;
  if (outcome.success) {
    failures = 0;
    ++successes;
  } else {
    successes = 0;
    ++failures;
  }
  const bool before = result;
  const bool had = have_result;
  if (outcome.success && successes >= std::max(1, probe.success_threshold)) {
    result = true;
    have_result = true;
  } else if (!outcome.success && failures >= std::max(1, probe.failure_threshold)) {
    result = false;
    have_result = true;
  }
  return have_result && (!had || before != result);
}

}  // namespace kedge::agent::detail

// AgentApi: the node agent's HTTPS API on :10250 (upstream's kubelet port),
// which edge-control calls to reach a node: `/healthz`, `/pods` and
// `/containerLogs/<namespace>/<pod>/<container>` (query: follow, tailLines,
// sinceSeconds, sinceTime, timestamps, previous, limitBytes — upstream's
// names and meanings), and `POST /exec/<namespace>/<pod>/<container>
// ?command=…&command=…[&timeoutSeconds=N]`. There is no read-only port.
//
// Exec is kedge's own agent-side protocol (upstream's kubelet speaks SPDY
// here): the command runs through CRI ExecSync — no stdin, no tty — and the
// answer is one JSON object {"exitCode":N,"stdout":"<base64>","stderr":
// "<base64>"} once it ends (default limit 600 s). It occupies one of the
// server's worker threads while it runs. edge-control turns it into
// kubectl's WebSocket channels.
//
// Authentication: TLS client certificates signed by the cluster CA
// (client_ca_file); every path but /healthz needs one whose groups include
// system:masters (edge-control's kubelet-client certificate, or an admin's).
// Errors are meta/v1 Status objects with upstream's codes, so edge-control can
// relay them as they are.
//
// Transport: edge-control's HttpServer (Beast + OpenSSL), reused rather than
// copied. A log response streams from its own thread (a follow can last for
// hours and must not hold one of the server's few worker threads); it waits
// for the client to take at most stream_window_bytes before reading more, so
// a slow reader costs a bounded buffer, not the whole log.
//
// Thread-safety: start()/stop() from one thread; handle() from any thread.
// stop() ends every stream and joins its thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "kedge/base/status.h"
#include "kedge/control/http.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::agent {

struct AgentApiOptions {
  std::string bind_address = "0.0.0.0";
  int port = 10250;  // 0 = any free port (tests)
  std::filesystem::path cert_file;       // serving certificate (SANs: node name, node IPs, 127.0.0.1)
  std::filesystem::path key_file;
  std::filesystem::path client_ca_file;  // the cluster CA
  std::filesystem::path pod_log_dir = "/var/log/pods";
  // The pods this node runs, as a JSON PodList. Called on a worker thread.
  // Unset: /pods answers 503.
  std::function<Result<std::string>()> list_pods;
  // The container runtime for exec (borrowed; must outlive the AgentApi).
  // Null: /exec answers 503.
  cri::RuntimeClient* runtime = nullptr;
  std::size_t stream_window_bytes = 256 * 1024;
  int io_threads = 1;
  int worker_threads = 2;
};

class AgentApi {
 public:
  explicit AgentApi(AgentApiOptions options);
  ~AgentApi();
  AgentApi(const AgentApi&) = delete;
  AgentApi& operator=(const AgentApi&) = delete;

  // Loads the TLS material and listens. Errors name the file or address.
  Status start();
  int port() const;
  void stop();

  // The routing, without a socket (tests, and the server's workers).
  control::HttpResponse handle(const control::HttpRequest& request);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::agent

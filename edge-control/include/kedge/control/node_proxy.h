// NodeProxy: the API requests edge-control answers by calling the agent
// (kubelet API, :10250) on the pod's node — today `pods/log`.
//
// GET /api/v1/namespaces/<ns>/pods/<name>/log?container=&follow=&tailLines=
//     &sinceSeconds=&sinceTime=&timestamps=&previous=&limitBytes=
// looks up the pod (as the requesting user, through the normal API path, so
// authentication and NotFound behave as for any GET), checks the container
// name against the pod spec as upstream does, finds the node's InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port, and streams the agent's
// text/plain answer back chunk by chunk. Flow control: the transfer from the
// agent pauses while more than stream_window_bytes wait for the client, so a
// slow `kubectl logs -f` holds a bounded buffer and TCP pushes back on the
// agent. Errors are meta/v1 Status objects: pod not found 404, no node yet
// 400 "pod … does not have a host assigned", unknown container 400
// "container X is not valid for pod Y", agent errors relayed with their code,
// agent unreachable 500 naming the node and address.
//
// TLS to agents: edge-control's client certificate (CN
// kube-apiserver-kubelet-client, O system:masters) signed by the cluster CA;
// the agent's serving certificate is verified against the cluster CA and
// the node address.
//
// Threads: handle() runs on an API worker thread and blocks until the agent
// answered its response head; each stream then runs on its own thread (libcurl
// multi handle sleeping in curl_multi_poll; woken by cancel).
// Thread-safety: handle() from any thread; stop() once, from the owner,
// after the HTTP server stopped (it cancels and joins every stream thread).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "kedge/control/http.h"

namespace kedge::control {

struct NodeProxyOptions {
  std::filesystem::path ca_file;           // the cluster CA: verifies agents' serving certs
  std::filesystem::path client_cert_file;  // edge-control's identity towards agents
  std::filesystem::path client_key_file;
  // Serves the internal GETs (pod, node), as the requesting user.
  std::function<HttpResponse(const HttpRequest&)> api;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds head_timeout{30000};  // agent's response head after connect
  std::size_t stream_window_bytes = 256 * 1024;
};

class NodeProxy {
 public:
  explicit NodeProxy(NodeProxyOptions options);
  ~NodeProxy();
  NodeProxy(const NodeProxy&) = delete;
  NodeProxy& operator=(const NodeProxy&) = delete;

  // True for the requests handle() answers (authenticated GET of pods/log).
  static bool handles(const HttpRequest& request);
  HttpResponse handle(const HttpRequest& request);
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

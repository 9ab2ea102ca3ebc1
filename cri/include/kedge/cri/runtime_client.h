// RuntimeClient: kedge's view of a CRI v1 container runtime (containerd,
// CRI-O) — both the RuntimeService and the ImageService behind one socket.
//
// The interface is pure virtual so the agent can be tested against an
// in-memory fake; connect() returns the real one, a gRPC client over a unix
// socket (HTTP/2 on libnghttp2, protobuf-lite messages; see cri/README.md). Every call carries a deadline (ClientOptions); a call that runs
// past it returns DEADLINE_EXCEEDED. Errors carry the runtime's gRPC code
// (kedge::Code uses the same numbering) and name the method and the socket.
//
// Thread-safety: every method may be called from any thread concurrently
// (the implementation keeps a small pool of connections; concurrent calls
// use separate ones, and no thread of its own). Calls block the calling
// thread until the runtime answers or the deadline passes, so never call
// them from an event loop thread; the agent runs them on its CRI threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/cri/types.h"

namespace kedge::cri {

class RuntimeClient {
 public:
  virtual ~RuntimeClient() = default;

  // The socket this client talks to ("unix:///run/containerd/containerd.sock").
  virtual const std::string& endpoint() const = 0;

  // For shutdown: cancels every call in flight (they return CANCELLED) and
  // fails every later call at once, so threads blocked in a long call (a
  // StopContainer waiting out a grace period) can be joined. Any thread.
  virtual void cancel_all() {}

  // ---- runtime
  virtual Result<VersionInfo> version() = 0;
  virtual Result<RuntimeStatus> status(bool verbose = false) = 0;

  // ---- pod sandboxes
  // Creates and starts the sandbox (pause container, network namespace via
  // CNI unless host network). Returns the sandbox id.
  virtual Result<std::string> run_pod_sandbox(const PodSandboxConfig& config,
                                              const std::string& runtime_handler = {}) = 0;
  // Stops every container of the sandbox and tears its network down.
  // Idempotent: stopping a stopped sandbox succeeds.
  virtual Status stop_pod_sandbox(const std::string& sandbox_id) = 0;
  // Removes a stopped sandbox and its containers. Removing an unknown id succeeds.
  virtual Status remove_pod_sandbox(const std::string& sandbox_id) = 0;
  virtual Result<PodSandboxStatus> pod_sandbox_status(const std::string& sandbox_id,
                                                      bool verbose = false) = 0;
  virtual Result<std::vector<PodSandbox>> list_pod_sandboxes(const PodSandboxFilter& filter = {}) = 0;

  // ---- containers
  // REQUIRES: `sandbox_config` is the config the sandbox was run with.
  virtual Result<std::string> create_container(const std::string& sandbox_id,
                                               const ContainerConfig& config,
                                               const PodSandboxConfig& sandbox_config) = 0;
  virtual Status start_container(const std::string& container_id) = 0;
  // Sends the stop signal, waits `grace` (whole seconds), then SIGKILL. The
  // call's deadline is extended by `grace`.
  virtual Status stop_container(const std::string& container_id, std::chrono::seconds grace) = 0;
  virtual Status remove_container(const std::string& container_id) = 0;
  virtual Result<std::vector<Container>> list_containers(const ContainerFilter& filter = {}) = 0;
  virtual Result<ContainerStatus> container_status(const std::string& container_id,
                                                   bool verbose = false) = 0;
  virtual Status update_container_resources(const std::string& container_id,
                                            const LinuxResources& resources) = 0;
  // Asks the runtime to reopen the container's log file (after rotation).
  virtual Status reopen_container_log(const std::string& container_id) = 0;

  // ---- exec and streaming
  // Runs `cmd` in the container and returns its output and exit code. A
  // timeout of zero means none; the call's deadline is extended by it.
  virtual Result<ExecSyncResult> exec_sync(const std::string& container_id,
                                           const std::vector<std::string>& cmd,
                                           std::chrono::seconds timeout) = 0;
  // The streaming calls return the URL of the runtime's streaming server.
  virtual Result<std::string> exec(const std::string& container_id, const ExecOptions& options) = 0;
  virtual Result<std::string> attach(const std::string& container_id, const AttachOptions& options) = 0;
  virtual Result<std::string> port_forward(const std::string& sandbox_id,
                                           const std::vector<std::int32_t>& ports) = 0;

  // ---- stats
  virtual Result<ContainerStats> container_stats(const std::string& container_id) = 0;
  virtual Result<std::vector<ContainerStats>> list_container_stats(
      const ContainerStatsFilter& filter = {}) = 0;

  // ---- images
  virtual Result<std::vector<Image>> list_images() = 0;
  // The image, or std::nullopt when the runtime does not have it.
  virtual Result<std::optional<Image>> image_status(const std::string& image) = 0;
  // Pulls from a registry; returns the image reference (id). Deadline:
  // ClientOptions::pull_timeout.
  virtual Result<std::string> pull_image(const std::string& image, const AuthConfig& auth = {},
                                         const PodSandboxConfig* sandbox_config = nullptr) = 0;
  virtual Status remove_image(const std::string& image) = 0;
  virtual Result<ImageFsInfo> image_fs_info() = 0;
};

struct ClientOptions {
  // "unix:///path/to.sock" or a plain absolute path.
  std::string endpoint = "unix:///run/containerd/containerd.sock";
  // How long connect() waits for the socket to accept and answer Version.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Deadline of every call (kubelet's --runtime-request-timeout default).
  std::chrono::milliseconds request_timeout{std::chrono::minutes(2)};
  // Deadline of PullImage, which may download for a long time.
  std::chrono::milliseconds pull_timeout{std::chrono::minutes(10)};
};

// Normalizes an endpoint to "unix:///abs/path". Errors on anything else
// (kedge speaks CRI over unix sockets only).
Result<std::string> normalize_endpoint(std::string_view endpoint);

// Connects and checks the runtime: the socket must exist and answer
// runtime.v1 Version within connect_timeout. Errors name the socket path and
// say what to check (runtime not running, CRI plugin disabled, a runtime that
// only speaks v1alpha2).
Result<std::unique_ptr<RuntimeClient>> connect(const ClientOptions& options);

}  // namespace kedge::cri

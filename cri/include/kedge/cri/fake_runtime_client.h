// FakeRuntimeClient: an in-memory CRI runtime for testing agent logic
// (pod workers, relist, adoption) without containerd.
//
// It keeps sandboxes, containers and images in maps and follows the CRI's
// state rules where the agent depends on them: containers need a READY
// sandbox and a present image; StartContainer needs CREATED; stopping and
// removing are idempotent; removing a sandbox removes its containers;
// listing honours the filters. Time comes from a counter, so `created_at`
// orders objects deterministically. Tests drive what a real runtime would do
// on its own with the mutators (exit_container, add_image) and inject
// failures with fail_next().
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kedge/cri/runtime_client.h"

namespace kedge::cri {

class FakeRuntimeClient final : public RuntimeClient {
 public:
  FakeRuntimeClient();

  // ---- test controls
  void add_image(const std::string& name, const std::string& id);
  // Moves a RUNNING container to EXITED with `exit_code` and `reason`.
  Status exit_container(const std::string& container_id, int exit_code, const std::string& reason);
  // The next call of `method` ("RunPodSandbox", "StartContainer"...) fails with `status`.
  void fail_next(const std::string& method, Status status);
  // How many times `method` was called (successful or not).
  int calls(const std::string& method) const;

  // ---- RuntimeClient
  const std::string& endpoint() const override { return endpoint_; }
  Result<VersionInfo> version() override;
  Result<RuntimeStatus> status(bool verbose = false) override;
  Result<std::string> run_pod_sandbox(const PodSandboxConfig& config, const std::string& runtime_handler = {}) override;
  Status stop_pod_sandbox(const std::string& sandbox_id) override;
  Status remove_pod_sandbox(const std::string& sandbox_id) override;
  Result<PodSandboxStatus> pod_sandbox_status(const std::string& sandbox_id, bool verbose = false) override;
  Result<std::vector<PodSandbox>> list_pod_sandboxes(const PodSandboxFilter& filter = {}) override;
  Result<std::string> create_container(const std::string& sandbox_id, const ContainerConfig& config,
                                       const PodSandboxConfig& sandbox_config) override;
  Status start_container(const std::string& container_id) override;
  Status stop_container(const std::string& container_id, std::chrono::seconds grace) override;
  Status remove_container(const std::string& container_id) override;
  Result<std::vector<Container>> list_containers(const ContainerFilter& filter = {}) override;
  Result<ContainerStatus> container_status(const std::string& container_id, bool verbose = false) override;
  Status update_container_resources(const std::string& container_id, const LinuxResources& resources) override;
  Status reopen_container_log(const std::string& container_id) override;
  Result<ExecSyncResult> exec_sync(const std::string& container_id, const std::vector<std::string>& cmd,
                                   std::chrono::seconds timeout) override;
  Result<std::string> exec(const std::string& container_id, const ExecOptions& options) override;
  Result<std::string> attach(const std::string& container_id, const AttachOptions& options) override;
  Result<std::string> port_forward(const std::string& sandbox_id, const std::vector<std::int32_t>& ports) override;
  Result<ContainerStats> container_stats(const std::string& container_id) override;
  Result<std::vector<ContainerStats>> list_container_stats(const ContainerStatsFilter& filter = {}) override;
  Result<std::vector<Image>> list_images() override;
  Result<std::optional<Image>> image_status(const std::string& image) override;
  Result<std::string> pull_image(const std::string& image, const AuthConfig& auth = {},
                                 const PodSandboxConfig* sandbox_config = nullptr) override;
  Status remove_image(const std::string& image) override;
  Result<ImageFsInfo> image_fs_info() override;

 private:
  struct SandboxRecord {
    PodSandboxConfig config;
    PodSandboxStatus status;
  };
  struct ContainerRecord {
    std::string sandbox_id;
    ContainerConfig config;
    ContainerStatus status;
  };

  // REQUIRES: mu_ held. Counts the call and returns an injected failure, if any.
  Status enter(const std::string& method);
  std::int64_t tick();  // REQUIRES: mu_ held
  const Image* find_image(const std::string& ref) const;  // REQUIRES: mu_ held

  const std::string endpoint_ = "fake://cri";
  mutable std::mutex mu_;
  std::map<std::string, SandboxRecord> sandboxes_;      // guarded by mu_
  std::map<std::string, ContainerRecord> containers_;   // guarded by mu_
  std::vector<Image> images_;                           // guarded by mu_
  std::map<std::string, Status> failures_;              // guarded by mu_
  std::map<std::string, int> calls_;                    // guarded by mu_
  std::int64_t clock_ = 0;                              // guarded by mu_
  int next_id_ = 0;                                     // guarded by mu_
};

}  // namespace kedge::cri

#include "kedge/cri/fake_runtime_client.h"

#include <algorithm>

namespace kedge::cri {
namespace {

bool labels_match(const StringMap& selector, const StringMap& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

FakeRuntimeClient::FakeRuntimeClient() = default;

Status FakeRuntimeClient::enter(const std::string& method) {
  ++calls_[method];
  auto it = failures_.find(method);
  if (it == failures_.end()) return ok_status();
  Status s = it->second;
  failures_.erase(it);
  return s;
}

std::int64_t FakeRuntimeClient::tick() { return ++clock_ * 1'000'000; }

const Image* FakeRuntimeClient::find_image(const std::string& ref) const {
  for (const auto& i : images_) {
    if (i.id == ref || std::find(i.repo_tags.begin(), i.repo_tags.end(), ref) != i.repo_tags.end()) return &i;
  }
  return nullptr;
}

void FakeRuntimeClient::add_image(const std::string& name, const std::string& id) {
  std::lock_guard lock(mu_);
  images_.push_back({.id = id, .repo_tags = {name}, .size = 1 << 20});
}

Status FakeRuntimeClient::exit_container(const std::string& id, int exit_code, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  if (it->second.status.state != ContainerState::kRunning) return failed_precondition("container " + id + " is not running");
  it->second.status.state = ContainerState::kExited;
  it->second.status.exit_code = exit_code;
  it->second.status.reason = reason;
  it->second.status.finished_at = tick();
  return ok_status();
}

void FakeRuntimeClient::fail_next(const std::string& method, Status status) {
  std::lock_guard lock(mu_);
  failures_[method] = std::move(status);
}

int FakeRuntimeClient::calls(const std::string& method) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

Result<VersionInfo> FakeRuntimeClient::version() {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("Version"));
  return VersionInfo{.version = "0.1.0", .runtime_name = "fake", .runtime_version = "0.0.0",
                     .runtime_api_version = "v1"};
}

Result<RuntimeStatus> FakeRuntimeClient::status(bool) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("Status"));
  return RuntimeStatus{.conditions = {{.type = "RuntimeReady", .status = true},
                                      {.type = "NetworkReady", .status = true}}};
}

Result<std::string> FakeRuntimeClient::run_pod_sandbox(const PodSandboxConfig& config, const std::string& handler) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("RunPodSandbox"));
  const std::string id = "sandbox-" + std::to_string(++next_id_);
  const bool host_network = config.security.namespaces.network == NamespaceMode::kNode;
  sandboxes_[id] = {.config = config,
                    .status = {.id = id,
                               .metadata = config.metadata,
                               .state = SandboxState::kReady,
                               .created_at = tick(),
                               .ip = host_network ? "" : "10.42.0." + std::to_string(next_id_ % 250 + 2),
                               .labels = config.labels,
                               .annotations = config.annotations,
                               .runtime_handler = handler}};
  return id;
}

Status FakeRuntimeClient::stop_pod_sandbox(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("StopPodSandbox"));
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return not_found("sandbox " + id + " not found");
  for (auto& [cid, c] : containers_) {
    if (c.sandbox_id == id && c.status.state == ContainerState::kRunning) {
      c.status.state = ContainerState::kExited;
      c.status.exit_code = 137;
      c.status.reason = "Error";
      c.status.finished_at = tick();
    }
  }
  it->second.status.state = SandboxState::kNotReady;
  return ok_status();
}

Status FakeRuntimeClient::remove_pod_sandbox(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("RemovePodSandbox"));
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return ok_status();
  if (it->second.status.state == SandboxState::kReady) {
    return failed_precondition("sandbox " + id + " must be stopped before removal");
  }
  std::erase_if(containers_, [&](const auto& kv) { return kv.second.sandbox_id == id; });
  sandboxes_.erase(it);
  return ok_status();
}

Result<PodSandboxStatus> FakeRuntimeClient::pod_sandbox_status(const std::string& id, bool) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("PodSandboxStatus"));
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return not_found("sandbox " + id + " not found");
  return it->second.status;
}

Result<std::vector<PodSandbox>> FakeRuntimeClient::list_pod_sandboxes(const PodSandboxFilter& filter) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ListPodSandbox"));
  std::vector<PodSandbox> out;
  for (const auto& [id, s] : sandboxes_) {
    if (!filter.id.empty() && filter.id != id) continue;
    if (filter.state && *filter.state != s.status.state) continue;
    if (!labels_match(filter.label_selector, s.status.labels)) continue;
    out.push_back({.id = id, .metadata = s.status.metadata, .state = s.status.state,
                   .created_at = s.status.created_at, .labels = s.status.labels,
                   .annotations = s.status.annotations, .runtime_handler = s.status.runtime_handler});
  }
  return out;
}

Result<std::string> FakeRuntimeClient::create_container(const std::string& sandbox_id, const ContainerConfig& config,
                                                        const PodSandboxConfig& sandbox_config) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("CreateContainer"));
  auto sb = sandboxes_.find(sandbox_id);
  if (sb == sandboxes_.end()) return not_found("sandbox " + sandbox_id + " not found");
  if (sb->second.status.state != SandboxState::kReady) return failed_precondition("sandbox " + sandbox_id + " is not ready");
  const Image* image = find_image(config.image);
  if (image == nullptr) return not_found("image \"" + config.image + "\" not present");
  const std::string id = "container-" + std::to_string(++next_id_);
  containers_[id] = {.sandbox_id = sandbox_id,
                     .config = config,
                     .status = {.id = id,
                                .metadata = config.metadata,
                                .state = ContainerState::kCreated,
                                .created_at = tick(),
                                .image = config.image,
                                .image_ref = image->id,
                                .labels = config.labels,
                                .annotations = config.annotations,
                                .mounts = config.mounts,
                                .log_path = sandbox_config.log_directory + "/" + config.log_path}};
  return id;
}

Status FakeRuntimeClient::start_container(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("StartContainer"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  if (it->second.status.state != ContainerState::kCreated) {
    return failed_precondition("container " + id + " is not in created state");
  }
  it->second.status.state = ContainerState::kRunning;
  it->second.status.started_at = tick();
  return ok_status();
}

Status FakeRuntimeClient::stop_container(const std::string& id, std::chrono::seconds) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("StopContainer"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  if (it->second.status.state == ContainerState::kRunning) {
    it->second.status.state = ContainerState::kExited;
    it->second.status.exit_code = 143;  // SIGTERM honoured
    it->second.status.reason = "Error";
    it->second.status.finished_at = tick();
  }
  return ok_status();
}

Status FakeRuntimeClient::remove_container(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("RemoveContainer"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return ok_status();
  if (it->second.status.state == ContainerState::kRunning) {
    return failed_precondition("container " + id + " is running; stop it first");
  }
  containers_.erase(it);
  return ok_status();
}

Result<std::vector<Container>> FakeRuntimeClient::list_containers(const ContainerFilter& filter) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ListContainers"));
  std::vector<Container> out;
  for (const auto& [id, c] : containers_) {
    if (!filter.id.empty() && filter.id != id) continue;
    if (filter.state && *filter.state != c.status.state) continue;
    if (!filter.pod_sandbox_id.empty() && filter.pod_sandbox_id != c.sandbox_id) continue;
    if (!labels_match(filter.label_selector, c.status.labels)) continue;
    out.push_back({.id = id, .pod_sandbox_id = c.sandbox_id, .metadata = c.status.metadata,
                   .image = c.status.image, .image_ref = c.status.image_ref, .state = c.status.state,
                   .created_at = c.status.created_at, .labels = c.status.labels,
                   .annotations = c.status.annotations});
  }
  return out;
}

Result<ContainerStatus> FakeRuntimeClient::container_status(const std::string& id, bool) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ContainerStatus"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  return it->second.status;
}

Status FakeRuntimeClient::update_container_resources(const std::string& id, const LinuxResources& resources) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("UpdateContainerResources"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  it->second.config.resources = resources;
  return ok_status();
}

Status FakeRuntimeClient::reopen_container_log(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ReopenContainerLog"));
  if (!containers_.contains(id)) return not_found("container " + id + " not found");
  return ok_status();
}

Result<ExecSyncResult> FakeRuntimeClient::exec_sync(const std::string& id, const std::vector<std::string>& cmd,
                                                    std::chrono::seconds) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ExecSync"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  if (it->second.status.state != ContainerState::kRunning) return failed_precondition("container " + id + " is not running");
  // A tiny command language for probes: `true`, `false`, `exit N`, `echo ...`.
  ExecSyncResult r;
  if (!cmd.empty() && cmd[0] == "false") r.exit_code = 1;
  if (cmd.size() == 2 && cmd[0] == "exit") r.exit_code = std::stoi(cmd[1]);
  if (!cmd.empty() && cmd[0] == "echo") {
    for (std::size_t i = 1; i < cmd.size(); ++i) r.stdout_data += (i > 1 ? " " : "") + cmd[i];
    r.stdout_data += "\n";
  }
  return r;
}

Result<std::string> FakeRuntimeClient::exec(const std::string& id, const ExecOptions&) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("Exec"));
  if (!containers_.contains(id)) return not_found("container " + id + " not found");
  return "http://127.0.0.1:0/exec/" + id;
}

Result<std::string> FakeRuntimeClient::attach(const std::string& id, const AttachOptions&) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("Attach"));
  if (!containers_.contains(id)) return not_found("container " + id + " not found");
  return "http://127.0.0.1:0/attach/" + id;
}

Result<std::string> FakeRuntimeClient::port_forward(const std::string& id, const std::vector<std::int32_t>&) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("PortForward"));
  if (!sandboxes_.contains(id)) return not_found("sandbox " + id + " not found");
  return "http://127.0.0.1:0/portforward/" + id;
}

Result<ContainerStats> FakeRuntimeClient::container_stats(const std::string& id) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ContainerStats"));
  auto it = containers_.find(id);
  if (it == containers_.end()) return not_found("container " + id + " not found");
  return ContainerStats{.id = id, .metadata = it->second.status.metadata, .labels = it->second.status.labels};
}

Result<std::vector<ContainerStats>> FakeRuntimeClient::list_container_stats(const ContainerStatsFilter& filter) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ListContainerStats"));
  std::vector<ContainerStats> out;
  for (const auto& [id, c] : containers_) {
    if (!filter.id.empty() && filter.id != id) continue;
    if (!filter.pod_sandbox_id.empty() && filter.pod_sandbox_id != c.sandbox_id) continue;
    if (!labels_match(filter.label_selector, c.status.labels)) continue;
    out.push_back({.id = id, .metadata = c.status.metadata, .labels = c.status.labels});
  }
  return out;
}

Result<std::vector<Image>> FakeRuntimeClient::list_images() {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ListImages"));
  return images_;
}

Result<std::optional<Image>> FakeRuntimeClient::image_status(const std::string& image) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ImageStatus"));
  const Image* found = find_image(image);
  if (found == nullptr) return std::optional<Image>();
  return std::optional<Image>(*found);
}

Result<std::string> FakeRuntimeClient::pull_image(const std::string& image, const AuthConfig&,
                                                  const PodSandboxConfig*) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("PullImage"));
  // Like kedge's airgap nodes: nothing can be pulled that was not imported.
  const Image* found = find_image(image);
  if (found == nullptr) return unavailable("pull \"" + image + "\": no registry reachable (fake runtime)");
  return found->id;
}

Status FakeRuntimeClient::remove_image(const std::string& image) {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("RemoveImage"));
  std::erase_if(images_, [&](const Image& i) {
    return i.id == image || std::find(i.repo_tags.begin(), i.repo_tags.end(), image) != i.repo_tags.end();
  });
  return ok_status();
}

Result<ImageFsInfo> FakeRuntimeClient::image_fs_info() {
  std::lock_guard lock(mu_);
  KEDGE_RETURN_IF_ERROR(enter("ImageFsInfo"));
  return ImageFsInfo{};
}

}  // namespace kedge::cri

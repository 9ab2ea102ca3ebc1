// The CRI implementation of RuntimeClient: runtime.v1 messages
// (protobuf-lite) over GrpcChannel's HTTP/2 transport on the runtime's unix
// socket. The channel is thread-safe, so this class holds no lock.
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "convert.h"
#include "grpc_channel.h"
#include "kedge/base/log.h"
#include "kedge/cri/api.pb.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::cri {
namespace {

namespace pb = ::runtime::v1;
using std::chrono::milliseconds;

// kubelet's limit for CRI responses (ListContainers on a busy node).
constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;
constexpr std::string_view kUnixScheme = "unix://";
constexpr std::string_view kRuntimeService = "/runtime.v1.RuntimeService/";
constexpr std::string_view kImageService = "/runtime.v1.ImageService/";
constexpr char kUnreachableHint[] =
    "is the container runtime running? (point --container-runtime-endpoint at its socket)";

class H2RuntimeClient final : public RuntimeClient {
 public:
  H2RuntimeClient(std::unique_ptr<GrpcChannel> channel, std::string endpoint, ClientOptions options)
      : channel_(std::move(channel)), endpoint_(std::move(endpoint)), options_(std::move(options)) {}

  // Sends `req` to `service` + `method` with a deadline `timeout` from now
  // and parses the answer into `resp`. Errors keep the runtime's code and
  // read "CRI <Method> on <endpoint>: <message>".
  Status invoke(std::string_view service, std::string_view method, milliseconds timeout,
                const google::protobuf::MessageLite& req, google::protobuf::MessageLite* resp) {
    auto error = [&](Code code, const std::string& message) {
      return Status(code, "CRI " + std::string(method) + " on " + endpoint_ + ": " + message);
    };
    std::string bytes;
    if (!req.SerializeToString(&bytes)) return error(Code::kInternal, "cannot serialize the request");
    std::string path;
    path.reserve(service.size() + method.size());
    path.append(service).append(method);
    auto answer = channel_->call(path, bytes, timeout);
    if (!answer.ok()) return error(answer.status().code(), answer.status().message());
    if (!resp->ParseFromString(*answer)) return error(Code::kInternal, "cannot parse the runtime's response");
    return ok_status();
  }

  Status invoke(std::string_view service, std::string_view method, const google::protobuf::MessageLite& req,
                google::protobuf::MessageLite* resp) {
    return invoke(service, method, options_.request_timeout, req, resp);
  }

  void cancel_all() override { channel_->cancel_all(); }

  const std::string& endpoint() const override { return endpoint_; }

  Result<VersionInfo> version() override { return version_with(options_.request_timeout); }

  Result<VersionInfo> version_with(milliseconds timeout) {
    pb::VersionRequest req;
    req.set_version("v1");
    pb::VersionResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "Version", timeout, req, &resp));
    return convert::from_proto(resp);
  }

  Result<RuntimeStatus> status(bool verbose) override {
    pb::StatusRequest req;
    req.set_verbose(verbose);
    pb::StatusResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "Status", req, &resp));
    return convert::from_proto(resp);
  }

  Result<std::string> run_pod_sandbox(const PodSandboxConfig& config, const std::string& handler) override {
    pb::RunPodSandboxRequest req;
    convert::to_proto(config, req.mutable_config());
    req.set_runtime_handler(handler);
    pb::RunPodSandboxResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "RunPodSandbox", req, &resp));
    return resp.pod_sandbox_id();
  }

  Status stop_pod_sandbox(const std::string& id) override {
    pb::StopPodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    pb::StopPodSandboxResponse resp;
    return invoke(kRuntimeService, "StopPodSandbox", req, &resp);
  }

  Status remove_pod_sandbox(const std::string& id) override {
    pb::RemovePodSandboxRequest req;
    req.set_pod_sandbox_id(id);
    pb::RemovePodSandboxResponse resp;
    return invoke(kRuntimeService, "RemovePodSandbox", req, &resp);
  }

  Result<PodSandboxStatus> pod_sandbox_status(const std::string& id, bool verbose) override {
    pb::PodSandboxStatusRequest req;
    req.set_pod_sandbox_id(id);
    req.set_verbose(verbose);
    pb::PodSandboxStatusResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "PodSandboxStatus", req, &resp));
    return convert::from_proto(resp);
  }

  Result<std::vector<PodSandbox>> list_pod_sandboxes(const PodSandboxFilter& filter) override {
    pb::ListPodSandboxRequest req;
    convert::to_proto(filter, req.mutable_filter());
    pb::ListPodSandboxResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ListPodSandbox", req, &resp));
    std::vector<PodSandbox> out;
    out.reserve(resp.items_size());
    for (const auto& item : resp.items()) out.push_back(convert::from_proto(item));
    return out;
  }

  Result<std::string> create_container(const std::string& sandbox_id, const ContainerConfig& config,
                                       const PodSandboxConfig& sandbox_config) override {
    pb::CreateContainerRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    convert::to_proto(config, req.mutable_config());
    convert::to_proto(sandbox_config, req.mutable_sandbox_config());
    pb::CreateContainerResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "CreateContainer", req, &resp));
    return resp.container_id();
  }

  Status start_container(const std::string& id) override {
    pb::StartContainerRequest req;
    req.set_container_id(id);
    pb::StartContainerResponse resp;
    return invoke(kRuntimeService, "StartContainer", req, &resp);
  }

  Status stop_container(const std::string& id, std::chrono::seconds grace) override {
    pb::StopContainerRequest req;
    req.set_container_id(id);
    req.set_timeout(grace.count());
    pb::StopContainerResponse resp;
    // The runtime may legitimately take the whole grace period.
    return invoke(kRuntimeService, "StopContainer", options_.request_timeout + grace, req, &resp);
  }

  Status remove_container(const std::string& id) override {
    pb::RemoveContainerRequest req;
    req.set_container_id(id);
    pb::RemoveContainerResponse resp;
    return invoke(kRuntimeService, "RemoveContainer", req, &resp);
  }

  Result<std::vector<Container>> list_containers(const ContainerFilter& filter) override {
    pb::ListContainersRequest req;
    convert::to_proto(filter, req.mutable_filter());
    pb::ListContainersResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ListContainers", req, &resp));
    std::vector<Container> out;
    out.reserve(resp.containers_size());
    for (const auto& item : resp.containers()) out.push_back(convert::from_proto(item));
    return out;
  }

  Result<ContainerStatus> container_status(const std::string& id, bool verbose) override {
    pb::ContainerStatusRequest req;
    req.set_container_id(id);
    req.set_verbose(verbose);
    pb::ContainerStatusResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ContainerStatus", req, &resp));
    return convert::from_proto(resp);
  }

  Status update_container_resources(const std::string& id, const LinuxResources& resources) override {
    pb::UpdateContainerResourcesRequest req;
    req.set_container_id(id);
    convert::to_proto(resources, req.mutable_linux());
    pb::UpdateContainerResourcesResponse resp;
    return invoke(kRuntimeService, "UpdateContainerResources", req, &resp);
  }

  Status reopen_container_log(const std::string& id) override {
    pb::ReopenContainerLogRequest req;
    req.set_container_id(id);
    pb::ReopenContainerLogResponse resp;
    return invoke(kRuntimeService, "ReopenContainerLog", req, &resp);
  }

  Result<ExecSyncResult> exec_sync(const std::string& id, const std::vector<std::string>& cmd,
                                   std::chrono::seconds timeout) override {
    pb::ExecSyncRequest req;
    req.set_container_id(id);
    for (const auto& a : cmd) req.add_cmd(a);
    req.set_timeout(timeout.count());
    pb::ExecSyncResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ExecSync", options_.request_timeout + timeout, req, &resp));
    return ExecSyncResult{.stdout_data = resp.stdout(), .stderr_data = resp.stderr(), .exit_code = resp.exit_code()};
  }

  Result<std::string> exec(const std::string& id, const ExecOptions& options) override {
    pb::ExecRequest req;
    req.set_container_id(id);
    for (const auto& a : options.cmd) req.add_cmd(a);
    req.set_tty(options.tty);
    req.set_stdin(options.with_stdin);
    req.set_stdout(options.with_stdout);
    req.set_stderr(options.with_stderr);
    pb::ExecResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "Exec", req, &resp));
    return resp.url();
  }

  Result<std::string> attach(const std::string& id, const AttachOptions& options) override {
    pb::AttachRequest req;
    req.set_container_id(id);
    req.set_stdin(options.with_stdin);
    req.set_tty(options.tty);
    req.set_stdout(options.with_stdout);
    req.set_stderr(options.with_stderr);
    pb::AttachResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "Attach", req, &resp));
    return resp.url();
  }

  Result<std::string> port_forward(const std::string& sandbox_id, const std::vector<std::int32_t>& ports) override {
    pb::PortForwardRequest req;
    req.set_pod_sandbox_id(sandbox_id);
    for (auto p : ports) req.add_port(p);
    pb::PortForwardResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "PortForward", req, &resp));
    return resp.url();
  }

  Result<ContainerStats> container_stats(const std::string& id) override {
    pb::ContainerStatsRequest req;
    req.set_container_id(id);
    pb::ContainerStatsResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ContainerStats", req, &resp));
    return convert::from_proto(resp.stats());
  }

  Result<std::vector<ContainerStats>> list_container_stats(const ContainerStatsFilter& filter) override {
    pb::ListContainerStatsRequest req;
    convert::to_proto(filter, req.mutable_filter());
    pb::ListContainerStatsResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kRuntimeService, "ListContainerStats", req, &resp));
    std::vector<ContainerStats> out;
    for (const auto& s : resp.stats()) out.push_back(convert::from_proto(s));
    return out;
  }

  Result<std::vector<Image>> list_images() override {
    pb::ListImagesRequest req;
    pb::ListImagesResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kImageService, "ListImages", req, &resp));
    std::vector<Image> out;
    for (const auto& i : resp.images()) out.push_back(convert::from_proto(i));
    return out;
  }

  Result<std::optional<Image>> image_status(const std::string& image) override {
    pb::ImageStatusRequest req;
    req.mutable_image()->set_image(image);
    pb::ImageStatusResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kImageService, "ImageStatus", req, &resp));
    // The CRI answers a missing image with an empty response, not NotFound.
    if (!resp.has_image() || resp.image().id().empty()) return std::optional<Image>();
    return std::optional<Image>(convert::from_proto(resp.image()));
  }

  Result<std::string> pull_image(const std::string& image, const AuthConfig& auth,
                                 const PodSandboxConfig* sandbox_config) override {
    pb::PullImageRequest req;
    req.mutable_image()->set_image(image);
    convert::to_proto(auth, req.mutable_auth());
    if (sandbox_config) convert::to_proto(*sandbox_config, req.mutable_sandbox_config());
    pb::PullImageResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kImageService, "PullImage", options_.pull_timeout, req, &resp));
    return resp.image_ref();
  }

  Status remove_image(const std::string& image) override {
    pb::RemoveImageRequest req;
    req.mutable_image()->set_image(image);
    pb::RemoveImageResponse resp;
    return invoke(kImageService, "RemoveImage", req, &resp);
  }

  Result<ImageFsInfo> image_fs_info() override {
    pb::ImageFsInfoRequest req;
    pb::ImageFsInfoResponse resp;
    KEDGE_RETURN_IF_ERROR(invoke(kImageService, "ImageFsInfo", req, &resp));
    ImageFsInfo out;
    for (const auto& f : resp.image_filesystems()) out.image_filesystems.push_back(convert::from_proto(f));
    for (const auto& f : resp.container_filesystems()) out.container_filesystems.push_back(convert::from_proto(f));
    return out;
  }

 private:
  // Constant after construction.
  const std::unique_ptr<GrpcChannel> channel_;
  const std::string endpoint_;
  const ClientOptions options_;
};

}  // namespace

Result<std::string> normalize_endpoint(std::string_view endpoint) {
  std::string_view path = endpoint;
  if (path.starts_with(kUnixScheme)) path.remove_prefix(kUnixScheme.size());
  if (path.empty() || path.front() != '/') {
    return invalid_argument("CRI endpoint \"" + std::string(endpoint) +
                            "\": want unix:///absolute/path.sock or /absolute/path.sock");
  }
  return std::string(kUnixScheme) + std::string(path);
}

Result<std::unique_ptr<RuntimeClient>> connect(const ClientOptions& options) {
  KEDGE_ASSIGN_OR_RETURN(std::string endpoint, normalize_endpoint(options.endpoint));
  const std::string path = endpoint.substr(kUnixScheme.size());
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return unavailable("CRI runtime socket " + path +
                         " does not exist: is the container runtime running? (point "
                         "--container-runtime-endpoint at its socket)");
    }
    return unavailable("CRI runtime socket " + path + ": " + std::strerror(err));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return failed_precondition("CRI runtime endpoint " + path + " exists but is not a unix socket");
  }

  KEDGE_ASSIGN_OR_RETURN(auto channel, GrpcChannel::create({.target = endpoint,
                                                             .max_receive_bytes = kMaxMessageBytes,
                                                             .unreachable_hint = kUnreachableHint}));
  // Dial first so a stale socket (ECONNREFUSED) reads as such, not as a
  // failed Version call. The message names the socket and what to check.
  if (Status dialed = channel->dial(options.connect_timeout); !dialed.ok()) {
    return Status(dialed.code(), "CRI runtime: " + dialed.message());
  }
  auto client = std::make_unique<H2RuntimeClient>(std::move(channel), endpoint, options);
  auto version = client->version_with(options.connect_timeout);
  if (!version.ok()) {
    if (version.status().code() == Code::kUnimplemented) {
      return failed_precondition(
          "the runtime at " + path +
          " does not serve CRI runtime.v1 (" + version.status().message() +
          "): for containerd, make sure the \"io.containerd.grpc.v1.cri\" plugin is not disabled in "
          "its config.toml; runtimes older than containerd 1.6 / CRI-O 1.23 speak only v1alpha2");
    }
    return version.status();
  }
  if (!version->runtime_api_version.starts_with("v1") || version->runtime_api_version.starts_with("v1alpha")) {
    return failed_precondition("the runtime at " + path + " (" + version->runtime_name + " " +
                               version->runtime_version + ") reports CRI API \"" +
                               version->runtime_api_version + "\"; kedge needs v1");
  }
  log::logger("cri")->info("connected to {} {} (CRI {}) at {}", version->runtime_name,
                           version->runtime_version, version->runtime_api_version, path);
  return std::unique_ptr<RuntimeClient>(std::move(client));
}

// ---- types.h helpers

const RuntimeCondition* RuntimeStatus::condition(const std::string& type) const {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

bool RuntimeStatus::runtime_ready() const {
  const auto* c = condition("RuntimeReady");
  return c != nullptr && c->status;
}

bool RuntimeStatus::network_ready() const {
  const auto* c = condition("NetworkReady");
  return c != nullptr && c->status;
}

}  // namespace kedge::cri

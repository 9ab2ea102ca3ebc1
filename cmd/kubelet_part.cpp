// The "kubelet" part: the node's container-runtime side. It starts and
// supervises a private containerd (or connects to the runtime given by
// --container-runtime-endpoint), imports the pause image and the airgap
// images, and keeps containerd alive until stopped. The API-facing kubelet
// (node registration, pod workers) is not built yet, and the part says so.
#include <chrono>
#include <filesystem>
#include <memory>

#include "kedge/agent/containerd_supervisor.h"
#include "kedge/agent/image_importer.h"
#include "kedge/agent/oci_image.h"
#include "kedge/base/log.h"
#include "kedge/cri/runtime_client.h"
#include "part.h"

namespace kedge::cmd {
namespace {

struct KubeletOptions {
  std::string container_runtime_endpoint;
  std::string images_dir;
  std::string pod_cidr = "10.42.0.0/24";
  std::string cni_bridge = "kedge0";
  std::string cni_network = "kedge";
  std::string containerd_log_level = "info";
  std::string busybox = "/bin/busybox";
  bool drain_on_stop = false;
  std::int64_t runtime_ready_timeout_seconds = 60;
};

// Imports the pause image and the airgap images into the runtime.
Status import_all(const KubeletOptions& o, const std::filesystem::path& data, const std::filesystem::path& socket,
                  const std::string& snapshotter, cri::RuntimeClient& runtime) {
  auto pause = agent::write_pause_image(data / "agent" / "images" / "pause.tar", o.busybox);
  if (!pause.ok()) return pause.status().with_context("building the pause image");
  std::vector<std::filesystem::path> tarballs = {data / "agent" / "images" / "pause.tar"};
  const std::filesystem::path images_dir = o.images_dir.empty() ? data / "images" : std::filesystem::path(o.images_dir);
  for (auto& t : agent::find_image_tarballs(images_dir)) tarballs.push_back(std::move(t));
  KEDGE_ASSIGN_OR_RETURN(auto report, agent::import_images({.containerd_socket = socket, .snapshotter = snapshotter},
                                                           tarballs, runtime));
  log::logger("agent")->info("images: {} imported, {} already present, {} failed (from {})", report.imported.size(),
                             report.skipped.size(), report.failed.size(), images_dir.string());
  if (!report.failed.empty() && report.failed.front().first == tarballs.front()) {
    return report.failed.front().second.with_context("importing the pause image");
  }
  return ok_status();
}

class KubeletPart final : public Part {
 public:
  const char* name() const override { return "kubelet"; }

  void add_flags(flags::FlagSet& set) override {
    set.add("container-runtime-endpoint", &o_.container_runtime_endpoint,
            "CRI socket of an existing runtime (unix:///...); empty = start a managed containerd");
    set.add("images-dir", &o_.images_dir, "airgap image tarballs imported at start; empty = <data-dir>/images");
    set.add("pod-cidr", &o_.pod_cidr, "this node's pod network (IPv4 CIDR) for the CNI bridge");
    set.add("cni-bridge", &o_.cni_bridge, "name of the Linux bridge pods attach to");
    set.add("cni-network", &o_.cni_network, "CNI network name");
    set.add("containerd-log-level", &o_.containerd_log_level, "log level of the managed containerd");
    set.add("busybox", &o_.busybox, "statically linked busybox the pause image is built from");
    set.add("drain-on-stop", &o_.drain_on_stop, "stop and remove every pod when the agent stops");
    set.add("runtime-ready-timeout", &o_.runtime_ready_timeout_seconds,
            "seconds to wait for the container runtime to answer");
  }

  Status start(const NodeEnvironment& env) override {
    auto logger = log::logger("agent");
    const auto started = std::chrono::steady_clock::now();
    std::string endpoint = o_.container_runtime_endpoint;
    std::string snapshotter = "overlayfs";
    if (endpoint.empty()) {
      supervisor_ = std::make_unique<agent::ContainerdSupervisor>(agent::ContainerdSupervisorOptions{
          .data_dir = env.data_dir,
          .cni = {.network_name = o_.cni_network, .bridge = o_.cni_bridge, .pod_cidr = o_.pod_cidr},
          .log_level = o_.containerd_log_level,
          .drain_on_stop = o_.drain_on_stop,
      });
      KEDGE_RETURN_IF_ERROR(supervisor_->start());
      KEDGE_RETURN_IF_ERROR(supervisor_->wait_ready(std::chrono::seconds(o_.runtime_ready_timeout_seconds)));
      endpoint = supervisor_->endpoint();
      snapshotter = supervisor_->snapshotter();
    }
    KEDGE_ASSIGN_OR_RETURN(auto runtime, cri::connect({.endpoint = endpoint}));
    auto version = runtime->version();
    if (version.ok() && version->runtime_name == "containerd") {
      auto socket = cri::normalize_endpoint(endpoint);
      KEDGE_RETURN_IF_ERROR(import_all(o_, env.data_dir, socket->substr(7), snapshotter, *runtime));
    } else {
      logger->warn("airgap image import needs containerd (ctr); the runtime at {} is {}: skipped", endpoint,
                   version.ok() ? version->runtime_name : version.status().message());
    }
    if (auto status = runtime->status(); status.ok()) {
      logger->info("runtime ready after {} ms: RuntimeReady={} NetworkReady={}",
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                       .count(),
                   status->runtime_ready(), status->network_ready());
    }
    logger->warn("the kubelet (node registration, pods from the API) is not part of this build yet");
    runtime_ = std::move(runtime);
    return ok_status();
  }

  void stop() override {
    log::logger("agent")->info("stopping ({})", o_.drain_on_stop ? "draining pods" : "pods keep running");
    runtime_.reset();
    if (supervisor_) supervisor_->stop();
  }

 private:
  KubeletOptions o_;
  std::unique_ptr<agent::ContainerdSupervisor> supervisor_;
  std::unique_ptr<cri::RuntimeClient> runtime_;
};

}  // namespace

std::unique_ptr<Part> make_kubelet_part() { return std::make_unique<KubeletPart>(); }

}  // namespace kedge::cmd

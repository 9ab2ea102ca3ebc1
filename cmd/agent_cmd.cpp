// `kedge agent`: for now, the node's container-runtime side only. It starts
// and supervises a private containerd (or connects to the runtime given by
// --container-runtime-endpoint), imports the pause image and the airgap
// images, reports readiness and keeps containerd alive until SIGTERM. The
// API-server-facing kubelet (node registration, pod workers, the :10250 API)
// is not built yet, and the role says so instead of pretending.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "kedge/agent/containerd_supervisor.h"
#include "kedge/agent/image_importer.h"
#include "kedge/agent/oci_image.h"
#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "kedge/cri/runtime_client.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

struct AgentOptions {
  std::string data_dir = "/var/lib/kedge";
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

constexpr const char* kSummary =
    "Run the node's container runtime side: start and supervise a private containerd (config, socket and "
    "state under --data-dir; CNI bridge network for --pod-cidr), import kedge's pause image and every "
    "*.tar in the images directory (airgap), and keep containerd running until SIGTERM.\n"
    "NOT YET BUILT: the kubelet part (joining a server with --server/--token, node registration, running "
    "pods from the API, the :10250 API). Today this role prepares the runtime only.";

// Imports the pause image and the airgap images into the runtime.
Status import_all(const AgentOptions& o, const std::filesystem::path& socket, const std::string& snapshotter,
                  cri::RuntimeClient& runtime) {
  const std::filesystem::path data(o.data_dir);
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

int run(const AgentOptions& o) {
  auto logger = log::logger("agent");
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<agent::ContainerdSupervisor> supervisor;
  std::string endpoint = o.container_runtime_endpoint;
  std::string snapshotter = "overlayfs";
  if (endpoint.empty()) {
    supervisor = std::make_unique<agent::ContainerdSupervisor>(agent::ContainerdSupervisorOptions{
        .data_dir = o.data_dir,
        .cni = {.network_name = o.cni_network, .bridge = o.cni_bridge, .pod_cidr = o.pod_cidr},
        .log_level = o.containerd_log_level,
        .drain_on_stop = o.drain_on_stop,
    });
    if (Status s = supervisor->start(); !s.ok()) {
      logger->error("{}", s.message());
      return 1;
    }
    if (Status s = supervisor->wait_ready(std::chrono::seconds(o.runtime_ready_timeout_seconds)); !s.ok()) {
      logger->error("{}", s.message());
      return 1;
    }
    endpoint = supervisor->endpoint();
    snapshotter = supervisor->snapshotter();
  }
  auto runtime = cri::connect({.endpoint = endpoint});
  if (!runtime.ok()) {
    logger->error("{}", runtime.status().message());
    return 1;
  }
  auto version = (*runtime)->version();
  if (version.ok() && version->runtime_name == "containerd") {
    auto socket = cri::normalize_endpoint(endpoint);
    Status s = import_all(o, socket->substr(7), snapshotter, **runtime);
    if (!s.ok()) {
      logger->error("{}", s.message());
      return 1;
    }
  } else {
    logger->warn("airgap image import needs containerd (ctr); the runtime at {} is {}: skipped", endpoint,
                 version.ok() ? version->runtime_name : version.status().message());
  }
  auto status = (*runtime)->status();
  if (status.ok()) {
    logger->info("runtime ready after {} ms: RuntimeReady={} NetworkReady={}",
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                     .count(),
                 status->runtime_ready(), status->network_ready());
  }
  int sig = signals::wait_for_termination(std::chrono::seconds(20));
  logger->info("signal {}: stopping ({})", sig, o.drain_on_stop ? "draining pods" : "pods keep running");
  if (supervisor) supervisor->stop();
  return 0;
}

}  // namespace

int run_agent(std::span<const std::string> args) {
  CommonOptions common;
  AgentOptions o;
  flags::FlagSet set("agent", kSummary);
  add_common_flags(set, common);
  set.add("data-dir", &o.data_dir, "kedge state directory (containerd, CNI, images)");
  set.add("container-runtime-endpoint", &o.container_runtime_endpoint,
          "CRI socket of an existing runtime (unix:///...); empty = start a managed containerd");
  set.add("images-dir", &o.images_dir, "airgap image tarballs imported at start; empty = <data-dir>/images");
  set.add("pod-cidr", &o.pod_cidr, "this node's pod network (IPv4 CIDR) for the CNI bridge");
  set.add("cni-bridge", &o.cni_bridge, "name of the Linux bridge pods attach to");
  set.add("cni-network", &o.cni_network, "CNI network name");
  set.add("containerd-log-level", &o.containerd_log_level, "log level of the managed containerd");
  set.add("busybox", &o.busybox, "statically linked busybox the pause image is built from");
  set.add("drain-on-stop", &o.drain_on_stop, "stop and remove every pod when the agent stops");
  set.add("runtime-ready-timeout", &o.runtime_ready_timeout_seconds,
          "seconds to wait for the container runtime to answer");
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  return run(o);
}

}  // namespace kedge::cmd

// The "kubelet" part: the node's container runtime and kubelet. It registers
// the Node (and waits briefly for the node IPAM controller's podCIDR, so the
// CNI network is the node's own share of the cluster CIDR), starts and
// supervises a private containerd (or connects to --container-runtime-endpoint),
// imports the pause image and the airgap images, then runs the kubelet: pods
// bound to this node from the API, the node's Lease and status.
// Without a kubeconfig (a bare `kedge agent` for runtime checks) only the
// runtime runs, and the part says so.
#include <sys/utsname.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "kedge/agent/containerd_config.h"
#include "kedge/agent/containerd_supervisor.h"
#include "kedge/agent/image_importer.h"
#include "kedge/agent/kubelet.h"
#include "kedge/agent/node_status.h"
#include "kedge/agent/oci_image.h"
#include "kedge/agent/qos_cgroups.h"
#include "kedge/base/log.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/cri/runtime_client.h"
#include "part.h"

namespace kedge::cmd {
namespace {

struct KubeletOptions {
  std::string container_runtime_endpoint;
  std::string images_dir;
  std::string pod_cidr = "10.42.0.0/24";
  std::int64_t pod_cidr_wait_ms = 3000;
  std::string cni_bridge = "kedge0";
  std::string cni_network = "kedge";
  std::string containerd_log_level = "info";
  std::string busybox = "/bin/busybox";
  bool drain_on_stop = false;
  std::int64_t runtime_ready_timeout_seconds = 60;
  std::string system_reserved_cpu = "0";
  std::string system_reserved_memory = "0";
  std::string eviction_hard_memory = "100Mi";
  std::int64_t max_pods = 110;
  std::int64_t pod_workers = 4;
  std::int64_t crash_loop_backoff_ms = 10000;
  std::int64_t resync_interval_ms = 10000;
  std::int64_t relist_period_ms = 1000;
  std::string cgroup_root = "/kubepods";
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
    set.add("pod-cidr", &o_.pod_cidr,
            "pod network (IPv4 CIDR) when the Node has no spec.podCIDR (no node IPAM controller)");
    set.add("pod-cidr-wait-ms", &o_.pod_cidr_wait_ms,
            "at start, how long to wait for the node IPAM controller to set spec.podCIDR");
    set.add("cni-bridge", &o_.cni_bridge, "name of the Linux bridge pods attach to");
    set.add("cni-network", &o_.cni_network, "CNI network name");
    set.add("containerd-log-level", &o_.containerd_log_level, "log level of the managed containerd");
    set.add("busybox", &o_.busybox, "statically linked busybox the pause image is built from");
    set.add("drain-on-stop", &o_.drain_on_stop, "stop and remove every pod when the agent stops");
    set.add("runtime-ready-timeout", &o_.runtime_ready_timeout_seconds,
            "seconds to wait for the container runtime to answer");
    set.add("system-reserved-cpu", &o_.system_reserved_cpu, "CPU kept from pods (allocatable = capacity - this)");
    set.add("system-reserved-memory", &o_.system_reserved_memory, "memory kept from pods");
    set.add("eviction-hard-memory", &o_.eviction_hard_memory,
            "memory.available threshold: MemoryPressure below it, and subtracted from allocatable");
    set.add("max-pods", &o_.max_pods, "pods this node accepts (capacity.pods)");
    set.add("pod-workers", &o_.pod_workers, "threads that sync pods with the runtime");
    set.add("crash-loop-backoff-ms", &o_.crash_loop_backoff_ms,
            "first CrashLoopBackOff delay (doubles up to 5 min, as upstream's 10 s)");
    set.add("pod-resync-interval-ms", &o_.resync_interval_ms,
            "how often each pod is re-synced without events (ConfigMap/Secret volume refresh)");
    set.add("relist-period-ms", &o_.relist_period_ms, "how often the runtime is relisted for container changes");
    set.add("cgroup-root", &o_.cgroup_root, "cgroup parent of all pods (<root>/<qos>/pod<uid>)");
  }

  Status start(const NodeEnvironment& env) override {
    auto logger = log::logger("agent");
    const auto started = std::chrono::steady_clock::now();
    std::string pod_cidr = o_.pod_cidr;
    if (!env.kubeconfig.empty()) {
      KEDGE_ASSIGN_OR_RETURN(auto config, client::Kubeconfig::load(env.kubeconfig));
      KEDGE_ASSIGN_OR_RETURN(api_, client::RestClient::create({.config = std::move(config),
                                                               .user_agent = "kedge-kubelet/" + env.node_name}));
      node_ = std::make_unique<agent::NodeStatusManager>(*api_, node_options(env));
      pod_cidr_file_ = std::filesystem::path(env.data_dir) / "kubelet" / "pod-cidr";
      if (Status st = node_->register_node(); st.ok()) {
        pod_cidr = wait_for_pod_cidr();
        save_pod_cidr(pod_cidr);
      } else if (st.code() == Code::kUnavailable || st.code() == Code::kDeadlineExceeded) {
        // The API is unreachable (a restart while the uplink is down): run
        // the node's pods from the kubelet's checkpoint on the pod network
        // they had; the node registers when the API answers.
        logger->warn("API unreachable ({}): starting offline", st.message());
        pod_cidr = saved_pod_cidr();
      } else {
        return st;
      }
    }
    std::string endpoint = o_.container_runtime_endpoint;
    std::string snapshotter = "overlayfs";
    if (endpoint.empty()) {
      supervisor_ = std::make_unique<agent::ContainerdSupervisor>(agent::ContainerdSupervisorOptions{
          .data_dir = env.data_dir,
          .cni = {.network_name = o_.cni_network, .bridge = o_.cni_bridge, .pod_cidr = pod_cidr},
          .log_level = o_.containerd_log_level,
          .drain_on_stop = o_.drain_on_stop,
      });
      KEDGE_RETURN_IF_ERROR(supervisor_->start());
      KEDGE_RETURN_IF_ERROR(supervisor_->wait_ready(std::chrono::seconds(o_.runtime_ready_timeout_seconds)));
      endpoint = supervisor_->endpoint();
      snapshotter = supervisor_->snapshotter();
      cni_pod_cidr_ = pod_cidr;
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
    if (version.ok()) {
      std::lock_guard lock(mu_);
      runtime_version_ = version->runtime_name + "://" + version->runtime_version;
      runtime_name_ = version->runtime_name;
    }
    if (auto status = runtime->status(); status.ok()) {
      logger->info("runtime ready after {} ms: RuntimeReady={} NetworkReady={}",
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                       .count(),
                   status->runtime_ready(), status->network_ready());
    }
    runtime_ = std::move(runtime);
    runtime_up_ = true;
    if (!api_) {
      logger->warn("no --kubeconfig: running the container runtime only (no node registration, no pods)");
      return ok_status();
    }
    start_qos_cgroups();
    kubelet_ = std::make_unique<agent::Kubelet>(
        *api_, *runtime_,
        agent::KubeletOptions{
            .node_name = env.node_name,
            .node_ips = env.node_ips,
            .root_dir = std::filesystem::path(env.data_dir) / "kubelet",
            .pod_log_dir = env.pod_log_dir,
            .cluster_dns = env.cluster_dns,
            .cluster_domain = env.cluster_domain,
            .cgroup_root = o_.cgroup_root,
            .runtime_name = runtime_name_.empty() ? "containerd" : runtime_name_,
            .workers = static_cast<int>(std::max<std::int64_t>(1, o_.pod_workers)),
            .relist_period = std::chrono::milliseconds(std::max<std::int64_t>(100, o_.relist_period_ms)),
            .resync_interval = std::chrono::milliseconds(std::max<std::int64_t>(1000, o_.resync_interval_ms)),
            .backoff_initial = std::chrono::milliseconds(std::max<std::int64_t>(100, o_.crash_loop_backoff_ms)),
            .qos = qos_.get(),
        });
    KEDGE_RETURN_IF_ERROR(kubelet_->start());
    node_->start();
    node_->sync_now();  // the runtime is up: report Ready now, not at the next beat
    return ok_status();
  }

  void stop() override {
    log::logger("agent")->info("stopping ({})", o_.drain_on_stop ? "draining pods" : "pods keep running");
    // Pod workers may be inside a StopContainer that waits out a grace
    // period: cancel those calls so stop() returns now. A termination cut
    // short resumes at the next start (the pod is still being deleted).
    if (runtime_) runtime_->cancel_all();
    if (kubelet_) kubelet_->stop();
    if (node_) node_->stop();
    kubelet_.reset();
    qos_.reset();
    node_.reset();
    runtime_up_ = false;
    runtime_.reset();
    if (supervisor_) supervisor_->stop();
    api_.reset();
  }

 private:
  // The kubepods hierarchy with node allocatable enforced on its root. A
  // host where kedge may not write cgroups still runs pods (runc creates
  // their cgroups), without the QoS levels' limits: said in the log.
  void start_qos_cgroups() {
    if (o_.cgroup_root.empty() || o_.cgroup_root == "/") return;
    const auto allocatable = node_->resources().allocatable;
    auto get = [&](const char* name, bool milli) -> std::int64_t {
      auto it = allocatable.find(name);
      if (it == allocatable.end()) return 0;
      return milli ? it->second.milli_value() : it->second.value();
    };
    qos_ = std::make_unique<agent::QosCgroups>(agent::QosCgroupsOptions{
        .root = o_.cgroup_root,
        .allocatable_cpu_milli = get("cpu", true),
        .allocatable_memory_bytes = get("memory", false),
    });
    if (Status st = qos_->start(); !st.ok()) {
      log::logger("agent")->warn("QoS cgroups under {} not managed: {}", o_.cgroup_root, st.to_string());
      qos_.reset();
    }
  }

  agent::NodeStatusOptions node_options(const NodeEnvironment& env) {
    return {
        .node_name = env.node_name,
        .node_ips = env.node_ips,
        .control_plane = env.control_plane,
        // The agent-api part serves the kubelet API here (daemonEndpoints.kubeletEndpoint).
        .kubelet_port = static_cast<std::int32_t>(env.agent_api_port),
        .data_dir = env.data_dir,
        .reserved_cpu = o_.system_reserved_cpu,
        .reserved_memory = o_.system_reserved_memory,
        .eviction_memory_available = o_.eviction_hard_memory,
        .max_pods = o_.max_pods,
        .runtime_health = [this] { return runtime_health(); },
        .on_pod_cidr = [this](const std::string& cidr) { pod_cidr_changed(cidr); },
    };
  }

  agent::RuntimeHealth runtime_health() {
    agent::RuntimeHealth h;
    {
      std::lock_guard lock(mu_);
      h.version = runtime_version_;
    }
    if (!runtime_up_) {
      h.message = "container runtime is starting";
      return h;
    }
    auto status = runtime_->status();
    if (!status.ok()) {
      h.message = status.status().message();
      return h;
    }
    h.runtime_ready = status->runtime_ready();
    h.network_ready = status->network_ready();
    if (!h.runtime_ready || !h.network_ready) {
      for (const auto& c : status->conditions) {
        if (!c.status) h.message += c.type + "=false reason:" + c.reason + " message:" + c.message + "; ";
      }
    }
    return h;
  }

  // The IPAM controller sets spec.podCIDR right after registration when it
  // runs; waiting a moment avoids starting the CNI on the fallback range.
  std::string wait_for_pod_cidr() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.pod_cidr_wait_ms);
    for (auto delay = std::chrono::milliseconds(50);; delay = std::min(delay * 2, std::chrono::milliseconds(500))) {
      if (auto cidr = node_->pod_cidr(); !cidr.empty()) return cidr;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(delay);  // start-up only, bounded by --pod-cidr-wait-ms
      (void)node_->refresh_pod_cidr();
    }
    log::logger("agent")->info("node has no spec.podCIDR after {} ms; using --pod-cidr {}", o_.pod_cidr_wait_ms,
                               o_.pod_cidr);
    return o_.pod_cidr;
  }

  // A podCIDR assigned (or changed) after containerd started: rewrite the
  // CNI conflist; containerd's CRI reloads it for the next sandbox.
  void pod_cidr_changed(const std::string& cidr) {
    if (!supervisor_ || cidr == cni_pod_cidr_) return;
    auto conflist = agent::render_cni_conflist({.network_name = o_.cni_network, .bridge = o_.cni_bridge,
                                                .pod_cidr = cidr,
                                                .ipam_data_dir = supervisor_->cni_conf_dir().parent_path() / "ipam"});
    auto logger = log::logger("agent");
    if (!conflist.ok()) {
      logger->error("podCIDR {}: {}", cidr, conflist.status().to_string());
      return;
    }
    const auto path = supervisor_->cni_conf_dir() / ("10-" + o_.cni_network + ".conflist");
    const auto tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << *conflist;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      logger->error("writing {}: {}", path.string(), ec.message());
      return;
    }
    logger->info("pod network is now {} (CNI config rewritten)", cidr);
    cni_pod_cidr_ = cidr;
    save_pod_cidr(cidr);
  }

  // The pod network of the last start or change, kept for a start without
  // the API (the CNI network must not change under running pods).
  void save_pod_cidr(const std::string& cidr) {
    std::error_code ec;
    std::filesystem::create_directories(pod_cidr_file_.parent_path(), ec);
    std::ofstream(pod_cidr_file_, std::ios::trunc) << cidr << "\n";
  }
  std::string saved_pod_cidr() const {
    std::string cidr;
    std::ifstream(pod_cidr_file_) >> cidr;
    return cidr.empty() ? o_.pod_cidr : cidr;
  }

  KubeletOptions o_;
  std::unique_ptr<agent::ContainerdSupervisor> supervisor_;
  std::unique_ptr<cri::RuntimeClient> runtime_;
  std::unique_ptr<client::RestClient> api_;
  std::unique_ptr<agent::NodeStatusManager> node_;
  std::unique_ptr<agent::QosCgroups> qos_;  // declared before kubelet_, which borrows it
  std::unique_ptr<agent::Kubelet> kubelet_;
  std::atomic<bool> runtime_up_{false};
  std::mutex mu_;
  std::string runtime_version_;  // guarded by mu_
  std::string runtime_name_;
  std::string cni_pod_cidr_;  // what the CNI conflist was written with
  std::filesystem::path pod_cidr_file_;  // <data-dir>/kubelet/pod-cidr
};

}  // namespace

std::unique_ptr<Part> make_kubelet_part() { return std::make_unique<KubeletPart>(); }

}  // namespace kedge::cmd

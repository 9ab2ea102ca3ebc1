#include "kedge/agent/node_status.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include <boost/json.hpp>

#include "api_util.h"
#include "kedge/base/log.h"
#include "kedge/base/version.h"

namespace kedge::agent {

namespace json = boost::json;
using detail::rfc3339_now;

namespace {

constexpr std::string_view kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

std::string go_arch() {
  struct utsname u{};
  ::uname(&u);
  const std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.starts_with("armv")) return "arm";
  if (m == "i686" || m == "i386") return "386";
  return m;
}

std::string kernel_release() {
  struct utsname u{};
  ::uname(&u);
  return u.release;
}

std::string os_image() {
  std::istringstream in(detail::read_file("/etc/os-release"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("PRETTY_NAME=")) continue;
    std::string v = line.substr(12);
    if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return "Linux";
}

// /proc/meminfo value in bytes ("MemTotal", "MemAvailable"), or -1.
std::int64_t meminfo_bytes(std::string_view key) {
  std::istringstream in(detail::read_file("/proc/meminfo"));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ':') continue;
    return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

api::Quantity quantity_or_zero(const std::string& text) {
  auto q = api::Quantity::parse(text);
  return q.ok() ? *q : api::Quantity();
}

json::object condition(std::string_view type, bool status, std::string_view reason, std::string_view message) {
  return json::object{{"type", type}, {"status", status ? "True" : "False"}, {"reason", reason}, {"message", message}};
}

}  // namespace

NodeStatusManager::NodeStatusManager(client::RestClient& api, NodeStatusOptions options)
    : api_(api), o_(std::move(options)) {}

NodeStatusManager::~NodeStatusManager() { stop(); }

json::value NodeStatusManager::node_object() const {
  json::object labels{{"kubernetes.io/hostname", o_.node_name},
                      {"kubernetes.io/os", "linux"},
                      {"kubernetes.io/arch", go_arch()},
                      {"beta.kubernetes.io/os", "linux"},
                      {"beta.kubernetes.io/arch", go_arch()}};
  if (o_.control_plane) labels["node-role.kubernetes.io/control-plane"] = "true";
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Node"},
                      {"metadata", json::object{{"name", o_.node_name}, {"labels", labels}}},
                      {"spec", json::object{}}};
}

void NodeStatusManager::note_pod_cidr(const json::value& node) {
  std::string cidr;
  if (const auto* spec = node.as_object().if_contains("spec"); spec && spec->is_object()) {
    if (const auto* c = spec->as_object().if_contains("podCIDR"); c && c->is_string()) cidr = c->as_string().c_str();
  }
  {
    std::lock_guard lock(mu_);
    if (cidr == pod_cidr_) return;
    pod_cidr_ = cidr;
  }
  if (!cidr.empty()) {
    log::logger("kubelet")->info("node {}: spec.podCIDR is {}", o_.node_name, cidr);
    if (o_.on_pod_cidr) o_.on_pod_cidr(cidr);
  }
}

Status NodeStatusManager::register_node() {
  auto logger = log::logger("kubelet");
  // The namespace for node Leases; upstream's API server creates it itself.
  (void)api_.send("POST", "/api/v1/namespaces",
                  json::object{{"apiVersion", "v1"},
                               {"kind", "Namespace"},
                               {"metadata", json::object{{"name", "kube-node-lease"}}}});
  const json::value node = node_object();
  auto created = api_.send("POST", "/api/v1/nodes", node);
  json::value current;
  if (created.ok()) {
    logger->info("registered node {}", o_.node_name);
    current = std::move(created).value();
  } else if (created.status().code() == Code::kAlreadyExists) {
    // Adopt: keep what others set (podCIDR, taints), refresh our labels.
    KEDGE_ASSIGN_OR_RETURN(current, detail::merge_patch(api_, "/api/v1/nodes/" + o_.node_name,
                                                        json::object{{"metadata", node.at("metadata")}}));
    logger->info("node {} already registered; adopted it", o_.node_name);
  } else {
    return created.status().with_context("registering node " + o_.node_name);
  }
  note_pod_cidr(current);
  KEDGE_RETURN_IF_ERROR(sync_status(true));
  KEDGE_RETURN_IF_ERROR(renew_lease());
  registered_ = true;
  return ok_status();
}

void NodeStatusManager::start() {
  thread_ = std::thread([this] { run(); });
}

void NodeStatusManager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status NodeStatusManager::refresh_pod_cidr() {
  KEDGE_ASSIGN_OR_RETURN(auto node, api_.get("/api/v1/nodes/" + o_.node_name));
  note_pod_cidr(node);
  return ok_status();
}

void NodeStatusManager::sync_now() {
  {
    std::lock_guard lock(mu_);
    sync_now_ = true;
  }
  wake_.notify_all();
}

std::string NodeStatusManager::pod_cidr() const {
  std::lock_guard lock(mu_);
  return pod_cidr_;
}

NodeStatusManager::Resources NodeStatusManager::resources() const {
  std::lock_guard lock(mu_);
  return resources_;
}

void NodeStatusManager::run() {
  auto logger = log::logger("kubelet");
  using Clock = std::chrono::steady_clock;
  auto next_lease = Clock::now() + o_.lease_renew_interval;
  auto next_status = Clock::now() + o_.status_check_interval;
  auto lease_retry = std::chrono::milliseconds(200);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_until(lock, std::min(next_lease, next_status), [&] { return stopping_ || sync_now_; });
    if (stopping_) break;
    bool force = false;
    std::swap(force, sync_now_);
    lock.unlock();
    const auto now = Clock::now();
    if (force) next_status = now;
    if (!registered_) {
      // Started offline: register first (with the lease's backoff); no
      // lease or status before that.
      if (now >= next_lease) {
        if (Status st = register_node(); st.ok()) {
          logger->info("the API answers again: node {} registered", o_.node_name);
          lease_retry = std::chrono::milliseconds(200);
          next_lease = now + o_.lease_renew_interval;
          next_status = now + o_.status_check_interval;
        } else {
          next_lease = now + lease_retry;
          lease_retry = std::min<std::chrono::milliseconds>(lease_retry * 2, std::chrono::seconds(7));
        }
      }
      lock.lock();
      continue;
    }
    if (now >= next_lease) {
      if (Status st = renew_lease(); st.ok()) {
        lease_retry = std::chrono::milliseconds(200);
        next_lease = now + o_.lease_renew_interval;
      } else {
        // Upstream retries a failed renewal quickly, backing off to 7 s.
        logger->warn("renewing lease of node {}: {}", o_.node_name, st.to_string());
        next_lease = now + lease_retry;
        lease_retry = std::min<std::chrono::milliseconds>(lease_retry * 2, std::chrono::seconds(7));
      }
    }
    if (now >= next_status) {
      if (Status st = sync_status(force); !st.ok()) logger->warn("node status: {}", st.to_string());
      next_status = now + o_.status_check_interval;
    }
    lock.lock();
  }
}

Status NodeStatusManager::renew_lease() {
  const std::string path = std::string(kLeasePath) + "/" + o_.node_name;
  json::object spec{{"holderIdentity", o_.node_name},
                    {"leaseDurationSeconds", o_.lease_duration.count()},
                    {"renewTime", detail::rfc3339_micro(std::chrono::system_clock::now())}};
  auto patched = detail::merge_patch(api_, path, json::object{{"spec", spec}});
  if (patched.ok()) return ok_status();
  if (patched.status().code() != Code::kNotFound) return patched.status();
  json::object metadata{{"name", o_.node_name}, {"namespace", "kube-node-lease"}};
  if (auto node = api_.get("/api/v1/nodes/" + o_.node_name); node.ok()) {
    // Owned by the Node, so deleting the Node deletes its Lease.
    const auto& m = node->at("metadata").as_object();
    if (const auto* uid = m.if_contains("uid"); uid && uid->is_string()) {
      metadata["ownerReferences"] = json::array{json::object{
          {"apiVersion", "v1"}, {"kind", "Node"}, {"name", o_.node_name}, {"uid", *uid}}};
    }
  }
  spec["acquireTime"] = spec["renewTime"];
  auto created = api_.send("POST", kLeasePath,
                           json::object{{"apiVersion", "coordination.k8s.io/v1"},
                                        {"kind", "Lease"},
                                        {"metadata", metadata},
                                        {"spec", spec}});
  return created.ok() || created.status().code() == Code::kAlreadyExists ? ok_status() : created.status();
}

json::value NodeStatusManager::build_status(bool& changed) {
  const auto nproc = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::int64_t mem_total = meminfo_bytes("MemTotal");
  const std::int64_t mem_available = meminfo_bytes("MemAvailable");
  struct statvfs fs{};
  const bool have_fs = ::statvfs(o_.data_dir.empty() ? "/" : o_.data_dir.c_str(), &fs) == 0;
  const std::int64_t disk_total = have_fs ? static_cast<std::int64_t>(fs.f_blocks) * fs.f_frsize : 0;
  const std::int64_t disk_avail = have_fs ? static_cast<std::int64_t>(fs.f_bavail) * fs.f_frsize : 0;

  Resources r;
  r.capacity["cpu"] = api::Quantity::from_int(nproc);
  r.capacity["memory"] = api::Quantity::from_int(mem_total, api::Quantity::Format::kBinarySI);
  r.capacity["pods"] = api::Quantity::from_int(o_.max_pods);
  r.capacity["ephemeral-storage"] = api::Quantity::from_int(disk_total, api::Quantity::Format::kBinarySI);
  const api::Quantity eviction = quantity_or_zero(o_.eviction_memory_available);
  r.allocatable = r.capacity;
  r.allocatable["cpu"] = r.capacity["cpu"].sub(quantity_or_zero(o_.reserved_cpu));
  r.allocatable["memory"] = r.capacity["memory"].sub(quantity_or_zero(o_.reserved_memory)).sub(eviction);
  r.allocatable["ephemeral-storage"] = api::Quantity::from_int(
      static_cast<std::int64_t>(static_cast<double>(disk_total) * (1.0 - o_.eviction_disk_available_fraction)),
      api::Quantity::Format::kBinarySI);
  for (auto& [name, q] : r.allocatable) {
    if (q.sign() < 0) q = api::Quantity();
  }

  const bool memory_pressure = mem_available >= 0 && mem_available < eviction.value();
  const bool disk_pressure =
      have_fs && static_cast<double>(disk_avail) < static_cast<double>(disk_total) * o_.eviction_disk_available_fraction;
  // Threads in use (/proc/loadavg's "running/total") against the kernel's pid limit.
  const std::string loadavg = detail::read_file("/proc/loadavg");
  const auto slash = loadavg.find('/');
  const std::int64_t threads = slash == std::string::npos ? 0 : std::atoll(loadavg.c_str() + slash + 1);
  const std::int64_t pid_max = std::atoll(detail::read_first_line("/proc/sys/kernel/pid_max").c_str());
  const bool pid_pressure = pid_max > 0 && threads > pid_max * 9 / 10;
  const RuntimeHealth health = o_.runtime_health ? o_.runtime_health() : RuntimeHealth{true, true, ""};
  const bool ready = health.runtime_ready && health.network_ready;

  json::array conditions{
      condition("MemoryPressure", memory_pressure,
                memory_pressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                memory_pressure ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available"),
      condition("DiskPressure", disk_pressure, disk_pressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                disk_pressure ? "kubelet has disk pressure" : "kubelet has no disk pressure"),
      condition("PIDPressure", pid_pressure, pid_pressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                pid_pressure ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available"),
      condition("Ready", ready, ready ? "KubeletReady" : "KubeletNotReady",
                ready ? "kubelet is posting ready status" : "container runtime not ready: " + health.message),
  };
  // Transition times move only when a condition's status flips.
  const std::string now = rfc3339_now();
  std::string fingerprint;
  for (auto& c : conditions) {
    auto& obj = c.as_object();
    std::string transition = now;
    if (last_conditions_.is_object()) {
      if (const auto* prev = last_conditions_.as_object().if_contains(obj.at("type").as_string());
          prev && prev->at("status") == obj.at("status")) {
        transition = prev->at("lastTransitionTime").as_string().c_str();
      }
    }
    obj["lastTransitionTime"] = transition;
    obj["lastHeartbeatTime"] = now;
    fingerprint += json::serialize(obj.at("status")) + json::serialize(obj.at("reason")) + json::serialize(obj.at("message"));
  }
  json::object by_type;
  for (const auto& c : conditions) by_type[c.at("type").as_string()] = c;
  last_conditions_ = std::move(by_type);

  json::array addresses;
  for (const auto& ip : o_.node_ips) addresses.push_back(json::object{{"type", "InternalIP"}, {"address", ip}});
  addresses.push_back(json::object{{"type", "Hostname"}, {"address", o_.node_name}});
  json::object capacity, allocatable;
  for (const auto& [k, v] : r.capacity) capacity[k] = v.to_json();
  for (const auto& [k, v] : r.allocatable) allocatable[k] = v.to_json();
  fingerprint += json::serialize(capacity) + json::serialize(allocatable) + json::serialize(addresses);
  {
    std::lock_guard lock(mu_);
    resources_ = std::move(r);
  }
  changed = fingerprint != last_fingerprint_;
  last_fingerprint_ = fingerprint;

  const auto& version = version_info();
  json::object node_info{
      {"machineID", detail::read_first_line("/etc/machine-id")},
      {"systemUUID", detail::read_first_line("/sys/class/dmi/id/product_uuid")},
      {"bootID", detail::read_first_line("/proc/sys/kernel/random/boot_id")},
      {"kernelVersion", kernel_release()},
      {"osImage", os_image()},
      {"containerRuntimeVersion", health.version},
      {"kubeletVersion", "v1.32.0+kedge-" + std::string(version.version)},
      {"kubeProxyVersion", ""},
      {"operatingSystem", "linux"},
      {"architecture", go_arch()},
  };
  return json::object{{"capacity", capacity},
                      {"allocatable", allocatable},
                      {"conditions", std::move(conditions)},
                      {"addresses", std::move(addresses)},
                      {"daemonEndpoints", json::object{{"kubeletEndpoint", json::object{{"Port", o_.kubelet_port}}}}},
                      {"nodeInfo", std::move(node_info)}};
}

namespace {

// Each condition the kubelet reports has the same status on the server.
bool conditions_match(const json::value& node, const json::value& status) {
  const json::value* server = node.is_object() ? node.as_object().if_contains("status") : nullptr;
  const json::value* theirs = server != nullptr && server->is_object() ? server->as_object().if_contains("conditions")
                                                                         : nullptr;
  if (theirs == nullptr || !theirs->is_array()) return false;
  const auto& server_conditions = theirs->as_array();
  for (const auto& mine : status.at("conditions").as_array()) {
    const auto it = std::find_if(server_conditions.begin(), server_conditions.end(), [&](const json::value& c) {
      return detail::str(c, "type") == detail::str(mine, "type");
    });
    if (it == server_conditions.end() || detail::str(*it, "status") != detail::str(mine, "status")) return false;
  }
  return true;
}

}  // namespace

Status NodeStatusManager::sync_status(bool force) {
  bool changed = false;
  json::value status = build_status(changed);
  const auto now = std::chrono::steady_clock::now();
  const bool report_due = now - last_report_ >= o_.status_report_interval;
  const std::string path = "/api/v1/nodes/" + o_.node_name;
  if (!force && !changed && !report_due) {
    // Nothing changed here, but the server's copy may have: the node
    // lifecycle controller marks a node it did not hear from Unknown (a link
    // down for longer than its grace period, or a watch that stalled). As
    // upstream's kubelet, compare with the server's node at every check (a
    // cached read) and write again when a condition differs, rather than
    // leaving the node unreachable until the 5-minute report; the same read
    // notices a podCIDR assigned since.
    auto node = api_.get(path + "?resourceVersion=0");
    if (!node.ok()) return node.status().with_context("reading node " + o_.node_name);
    note_pod_cidr(*node);
    if (conditions_match(*node, status)) return ok_status();
    log::logger("kubelet")->info("node {}: the server's conditions differ from the node's own; writing them again",
                                 o_.node_name);
  }
  auto written = detail::merge_patch(api_, path + "/status", json::object{{"status", std::move(status)}});
  if (!written.ok()) {
    last_fingerprint_.clear();  // write again next time
    return written.status().with_context("updating status of node " + o_.node_name);
  }
  last_report_ = now;
  note_pod_cidr(*written);
  return ok_status();
}

}  // namespace kedge::agent

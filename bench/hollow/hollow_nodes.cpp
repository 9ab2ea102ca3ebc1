#include "hollow_nodes.h"

#include <thread>


#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::hollow {
namespace {

namespace json = boost::json;

constexpr const char* kLeasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

std::string now_rfc3339() { return api::format_rfc3339(std::chrono::system_clock::now()); }

json::value ready_condition(const std::string& now) {
  return json::object{{"type", "Ready"},
                      {"status", "True"},
                      {"reason", "KubeletReady"},
                      {"message", "hollow node is posting ready status"},
                      {"lastHeartbeatTime", now},
                      {"lastTransitionTime", now}};
}

json::value pressure_condition(const char* type, const char* reason, const std::string& now) {
  return json::object{{"type", type},     {"status", "False"},        {"reason", reason},
                      {"message", "none"}, {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
}

// POST, and on AlreadyExists fall back to a merge patch of the same object,
// so a restarted hollow process takes its nodes back.
Status create_or_patch(client::RestClient& c, const std::string& collection, const std::string& name,
                       const json::value& obj) {
  auto created = c.send("POST", collection, obj);
  if (created.ok()) return {};
  if (created.status().code() != Code::kAlreadyExists) return created.status();
  auto patched = c.send("PATCH", collection + "/" + name, obj, "application/merge-patch+json");
  return patched.status();
}

}  // namespace

HollowNodes::HollowNodes(client::RestClient& client, HollowOptions options)
    : client_(client), options_(std::move(options)), pods_(client, {.path = "/api/v1/pods"}) {
  pods_.add_handler(this);
  for (int i = 0; i < options_.nodes; ++i) names_.insert(options_.name_prefix + std::to_string(i));
}

HollowNodes::~HollowNodes() { stop(); }

std::vector<std::string> HollowNodes::node_names() const { return {names_.begin(), names_.end()}; }

json::value HollowNodes::node_object(int index) const {
  const std::string name = options_.name_prefix + std::to_string(index);
  const std::string now = now_rfc3339();
  json::object labels{{"kubernetes.io/hostname", name},
                      {"kubernetes.io/os", "linux"},
                      {"kubernetes.io/arch", "amd64"},
                      {"kedge.io/hollow", "true"}};
  for (const auto& [k, v] : options_.labels) labels[k] = v;
  json::object resources{{"cpu", options_.cpu},
                         {"memory", options_.memory},
                         {"pods", std::to_string(options_.max_pods)},
                         {"ephemeral-storage", "20Gi"}};
  const std::string ip = "10.200." + std::to_string(index / 250) + "." + std::to_string(index % 250 + 1);
  return json::object{
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", json::object{{"name", name}, {"labels", labels}}},
      // No spec.podCIDR: node IPAM in edge-control assigns it, as for a real kubelet.
      {"spec", json::object{}},
      {"status",
       json::object{{"capacity", resources},
                    {"allocatable", resources},
                    {"conditions", json::array{ready_condition(now),
                                               pressure_condition("MemoryPressure", "KubeletHasSufficientMemory", now),
                                               pressure_condition("DiskPressure", "KubeletHasNoDiskPressure", now),
                                               pressure_condition("PIDPressure", "KubeletHasSufficientPID", now)}},
                    {"addresses", json::array{json::object{{"type", "InternalIP"}, {"address", ip}},
                                              json::object{{"type", "Hostname"}, {"address", name}}}},
                    {"nodeInfo", json::object{{"operatingSystem", "linux"},
                                              {"architecture", "amd64"},
                                              {"kubeletVersion", "v1.32.0-kedge-hollow"},
                                              {"containerRuntimeVersion", "hollow://0"},
                                              {"kernelVersion", "hollow"},
                                              {"osImage", "hollow"}}}}}};
}

Status HollowNodes::register_nodes() {
  for (int i = 0; i < options_.nodes; ++i) {
    const std::string name = options_.name_prefix + std::to_string(i);
    json::value node = node_object(i);
    json::value status = node.as_object()["status"];
    KEDGE_RETURN_IF_ERROR(create_or_patch(client_, "/api/v1/nodes", name, node)
                              .with_context("register node " + name));
    // Status is a subresource: a create may drop it, so set it explicitly.
    auto st = client_.send("PATCH", "/api/v1/nodes/" + name + "/status",
                           json::object{{"status", status}}, "application/merge-patch+json");
    KEDGE_RETURN_IF_ERROR(st.status().with_context("node status " + name));
    json::value lease = json::object{
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", json::object{{"name", name}, {"namespace", "kube-node-lease"}}},
        {"spec", json::object{{"holderIdentity", name},
                              {"leaseDurationSeconds", options_.lease_duration.count()},
                              {"renewTime", api::format_rfc3339_micro(std::chrono::system_clock::now())}}}};
    KEDGE_RETURN_IF_ERROR(create_or_patch(client_, kLeasePath, name, lease).with_context("lease " + name));
  }
  return {};
}

Status HollowNodes::renew_leases() {
  const std::string renew = api::format_rfc3339_micro(std::chrono::system_clock::now());
  for (const auto& name : names_) {
    auto r = client_.send("PATCH", std::string(kLeasePath) + "/" + name,
                          json::object{{"spec", json::object{{"renewTime", renew}}}},
                          "application/merge-patch+json");
    if (!r.ok()) return r.status().with_context("renew lease " + name);
  }
  return {};
}

void HollowNodes::heartbeat_loop() {
  auto log = log::logger("hollow");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Sleeps until the next round or stop(): no polling.
    if (wake_.wait_for(lock, options_.renew_interval, [this] { return stopping_; })) break;
    lock.unlock();
    if (Status s = renew_leases(); !s.ok()) log->warn("{}", s.to_string());
    lock.lock();
  }
}

void HollowNodes::handle_pod(const json::value& pod) {
  const auto* spec = pod.as_object().if_contains("spec");
  if (spec == nullptr || !spec->is_object()) return;
  const auto* node = spec->as_object().if_contains("nodeName");
  if (node == nullptr || !node->is_string() || !names_.contains(std::string(node->get_string()))) return;
  const std::string ns(api::get_namespace(pod));
  const std::string name(api::get_name(pod));
  const std::string path = "/api/v1/namespaces/" + ns + "/pods/" + name;
  auto log = log::logger("hollow");

  if (api::get_deletion_timestamp(pod)) {
    // A kubelet confirms a graceful deletion once its containers are gone;
    // a hollow node has none, so it confirms at once.
    json::value opts = json::object{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0},
                                    {"preconditions", json::object{{"uid", api::get_uid(pod)}}}};
    auto r = client_.send("DELETE", path, opts);
    if (!r.ok() && r.status().code() != Code::kNotFound) log->warn("delete {}/{}: {}", ns, name, r.status().to_string());
    return;
  }
  const auto* status = pod.as_object().if_contains("status");
  if (status != nullptr && status->is_object()) {
    const auto* phase = status->as_object().if_contains("phase");
    // Reported already, or terminal (a kubelet never revives a finished pod;
    // tests finish hollow pods by writing their status).
    if (phase != nullptr && phase->is_string() &&
        (phase->get_string() == "Running" || phase->get_string() == "Succeeded" || phase->get_string() == "Failed")) {
      return;
    }
  }
  const std::string node_name(node->get_string());
  const int host = (++next_ip_[node_name]) % 254 + 1;
  const int index = std::stoi(node_name.substr(options_.name_prefix.size()));
  const std::string ip = "10.42." + std::to_string(index % 256) + "." + std::to_string(host);
  const std::string now = now_rfc3339();
  json::array container_statuses;
  json::array conditions;
  for (const char* type : {"PodScheduled", "Initialized", "ContainersReady", "Ready"}) {
    conditions.push_back(json::object{{"type", type}, {"status", "True"}, {"lastTransitionTime", now}});
  }
  if (const auto* containers = spec->as_object().if_contains("containers"); containers && containers->is_array()) {
    for (const auto& c : containers->get_array()) {
      const auto& co = c.as_object();
      container_statuses.push_back(json::object{
          {"name", co.contains("name") ? co.at("name") : json::value("")},
          {"image", co.contains("image") ? co.at("image") : json::value("")},
          {"imageID", "hollow://image"},
          {"containerID", "hollow://" + api::new_uid()},
          {"ready", true},
          {"started", true},
          {"restartCount", 0},
          {"state", json::object{{"running", json::object{{"startedAt", now}}}}}});
    }
  }
  json::value patch = json::object{
      {"status", json::object{{"phase", "Running"},
                              {"conditions", conditions},
                              {"containerStatuses", container_statuses},
                              {"podIP", ip},
                              {"podIPs", json::array{json::object{{"ip", ip}}}},
                              {"hostIP", "10.200.0.1"},
                              {"startTime", now}}}};
  auto r = client_.send("PATCH", path + "/status", patch, "application/merge-patch+json");
  if (r.ok()) {
    ++pods_started_;
  } else if (r.status().code() != Code::kNotFound) {
    log->warn("report {}/{}: {}", ns, name, r.status().to_string());
  }
}

Status HollowNodes::run() {
  std::thread heartbeat([this] { heartbeat_loop(); });
  Status s;
  if (options_.report_pods) {
    s = pods_.run();
  } else {
    std::unique_lock lock(mu_);
    wake_.wait(lock, [this] { return stopping_; });
  }
  stop();
  heartbeat.join();
  return s;
}

void HollowNodes::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  pods_.stop();
}

}  // namespace kedge::hollow

#include "kedge/controllers/node_lifecycle.h"

#include <algorithm>

#include <boost/json.hpp>

#include "json_path.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

constexpr char kUnknownReason[] = "NodeStatusUnknown";
constexpr char kUnknownMessage[] = "Kubelet stopped posting node status.";
constexpr std::string_view kHealthConditions[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};

std::string now_rfc3339() { return api::format_rfc3339(std::chrono::system_clock::now()); }

const json::object* condition(const json::value& node, std::string_view type) {
  const auto* conds = path::array_at(node, {"status", "conditions"});
  if (!conds) return nullptr;
  for (const auto& c : *conds) {
    const auto* o = c.if_object();
    if (o && path::str_at(c, {"type"}) == type) return o;
  }
  return nullptr;
}

std::string_view ready_status(const json::value& node) {
  const auto* ready = condition(node, "Ready");
  if (!ready) return "Unknown";
  return path::str_at(json::value(*ready), {"status"});
}

bool is_lifecycle_taint(const json::value& taint) {
  auto key = path::str_at(taint, {"key"});
  auto effect = path::str_at(taint, {"effect"});
  return (key == kTaintNotReady || key == kTaintUnreachable) && (effect == "NoSchedule" || effect == "NoExecute");
}

// Upstream's Toleration.ToleratesTaint.
bool tolerates(const json::value& toleration, const json::value& taint) {
  auto effect = path::str_at(toleration, {"effect"});
  if (!effect.empty() && effect != path::str_at(taint, {"effect"})) return false;
  auto key = path::str_at(toleration, {"key"});
  if (!key.empty() && key != path::str_at(taint, {"key"})) return false;
  auto op = path::str_at(toleration, {"operator"});
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return path::str_at(toleration, {"value"}) == path::str_at(taint, {"value"});
  return false;
}

}  // namespace

const Resource& leases_resource() {
  static const Resource r{.group_version = "coordination.k8s.io/v1", .plural = "leases", .kind = "Lease"};
  return r;
}

class NodeLifecycleController::Handler final : public client::InformerHandler {
 public:
  explicit Handler(NodeLifecycleController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_delete(const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }

 private:
  NodeLifecycleController& c_;
};

NodeLifecycleController::NodeLifecycleController(Transport& transport, NodeLifecycleOptions options)
    : Controller("node-lifecycle", transport, options.queue), options_(options) {}

NodeLifecycleController::~NodeLifecycleController() { stop(); }

void NodeLifecycleController::register_watches() {
  node_handler_ = std::make_unique<Handler>(*this);
  transport_.watch(nodes_resource(), node_handler_.get());
  // Leases and pods are read from their caches on each periodic sync.
  transport_.watch(leases_resource(), nullptr);
  transport_.watch(pods_resource(), nullptr);
}

void NodeLifecycleController::resync_all() {
  for (const auto& node : transport_.list(nodes_resource(), "")) queue().add(std::string(api::get_name(*node)));
}

Status NodeLifecycleController::sync(const std::string& key) {
  Object cached = transport_.get(nodes_resource(), "", key);
  if (!cached) {
    std::lock_guard lock(mu_);
    health_.erase(key);
    return ok_status();
  }
  KEDGE_ASSIGN_OR_RETURN(json::value node, update_health(key, *cached));
  KEDGE_ASSIGN_OR_RETURN(node, update_taints(std::move(node)));
  auto next = std::min(options_.monitor_period, evict(node));
  queue().add_after(key, next);
  return ok_status();
}

Result<json::value> NodeLifecycleController::update_health(const std::string& name, json::value node) {
  const auto* ready = condition(node, "Ready");
  std::string heartbeat = ready ? std::string(path::str_at(json::value(*ready), {"lastHeartbeatTime"})) : "";
  std::string renew;
  if (Object lease = transport_.get(leases_resource(), kNodeLeaseNamespace, name)) {
    renew = path::str_at(*lease, {"spec", "renewTime"});
  }
  const auto now = Steady::now();
  bool expired;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = health_.try_emplace(name, Health{heartbeat, renew, now});
    Health& h = it->second;
    if (!inserted && (h.heartbeat != heartbeat || h.renew != renew)) h = Health{heartbeat, renew, now};
    expired = now - h.probe > options_.grace_period;
  }
  if (!expired || ready_status(node) == "Unknown") return node;
  // The kubelet went quiet: every health condition becomes Unknown.
  const std::string ts = now_rfc3339();
  json::object& status = node.as_object()["status"].is_object() ? node.as_object()["status"].as_object()
                                                                 : node.as_object()["status"].emplace_object();
  if (!status["conditions"].is_array()) status["conditions"] = json::array{};
  json::array& conds = status["conditions"].as_array();
  for (auto type : kHealthConditions) {
    json::object* found = nullptr;
    for (auto& c : conds) {
      if (c.is_object() && path::str_at(c, {"type"}) == type) found = &c.as_object();
    }
    if (!found) {
      if (type != "Ready") continue;  // upstream adds only a missing Ready
      conds.push_back(json::object{{"type", "Ready"}, {"lastHeartbeatTime", nullptr}});
      found = &conds.back().as_object();
    }
    if (path::str_at(json::value(*found), {"status"}) == "Unknown") continue;
    (*found)["status"] = "Unknown";
    (*found)["reason"] = kUnknownReason;
    (*found)["message"] = kUnknownMessage;
    (*found)["lastTransitionTime"] = ts;
  }
  log::logger("controllers")->info("node {}: no status for {} ms, Ready=Unknown", name, options_.grace_period.count());
  return transport_.update_status(nodes_resource(), node);
}

Result<json::value> NodeLifecycleController::update_taints(json::value node) {
  const auto ready = ready_status(node);
  std::string want_key;
  if (ready == "False") want_key = kTaintNotReady;
  if (ready == "Unknown") want_key = kTaintUnreachable;
  json::array kept;
  json::array existing;  // our taints already there
  if (const auto* taints = path::array_at(node, {"spec", "taints"})) {
    for (const auto& t : *taints) (is_lifecycle_taint(t) ? existing : kept).push_back(t);
  }
  json::array wanted;
  for (const char* effect : {"NoSchedule", "NoExecute"}) {
    if (want_key.empty()) break;
    auto same = std::find_if(existing.begin(), existing.end(), [&](const json::value& t) {
      return path::str_at(t, {"key"}) == want_key && path::str_at(t, {"effect"}) == effect;
    });
    if (same != existing.end()) {
      wanted.push_back(*same);
      continue;
    }
    json::object t{{"key", want_key}, {"effect", effect}};
    if (std::string_view(effect) == "NoExecute") t["timeAdded"] = now_rfc3339();
    wanted.push_back(std::move(t));
  }
  if (wanted == existing) return node;
  for (auto& t : wanted) kept.push_back(t);
  json::object& spec = node.as_object()["spec"].is_object() ? node.as_object()["spec"].as_object()
                                                             : node.as_object()["spec"].emplace_object();
  if (kept.empty()) {
    spec.erase("taints");
  } else {
    spec["taints"] = std::move(kept);
  }
  log::logger("controllers")->info("node {}: Ready={}, taints now {}", api::get_name(node), ready,
                                   want_key.empty() ? "without not-ready/unreachable" : want_key);
  return transport_.update(nodes_resource(), node);
}

std::chrono::milliseconds NodeLifecycleController::evict(const json::value& node) {
  using std::chrono::milliseconds;
  auto never = milliseconds::max();
  std::vector<const json::value*> no_execute;
  const auto* taints = path::array_at(node, {"spec", "taints"});
  if (taints) {
    for (const auto& t : *taints) {
      if (path::str_at(t, {"effect"}) == "NoExecute") no_execute.push_back(&t);
    }
  }
  if (no_execute.empty()) return never;
  const std::string_view name = api::get_name(node);
  const auto wall_now = std::chrono::system_clock::now();
  milliseconds next = never;
  for (const auto& pod : transport_.list(pods_resource(), "")) {
    if (path::str_at(*pod, {"spec", "nodeName"}) != name || api::get_deletion_timestamp(*pod)) continue;
    auto phase = path::str_at(*pod, {"status", "phase"});
    if (phase == "Succeeded" || phase == "Failed") continue;
    const auto* tolerations = path::array_at(*pod, {"spec", "tolerations"});
    // The earliest time any NoExecute taint runs out of toleration.
    std::optional<std::chrono::system_clock::time_point> due;
    for (const auto* taint : no_execute) {
      const json::value* match = nullptr;
      if (tolerations) {
        for (const auto& tol : *tolerations) {
          if (tolerates(tol, *taint)) {
            match = &tol;
            break;
          }
        }
      }
      auto added = api::parse_rfc3339(path::str_at(*taint, {"timeAdded"}));
      auto start = added.ok() ? *added : wall_now;
      std::optional<std::chrono::system_clock::time_point> until;
      if (!match) {
        until = wall_now;
      } else if (auto secs = path::opt_int_at(*match, {"tolerationSeconds"})) {
        until = start + std::chrono::seconds(std::max<std::int64_t>(*secs, 0));
      }
      if (until && (!due || *until < *due)) due = until;
    }
    if (!due) continue;
    if (*due > wall_now) {
      next = std::min(next, std::chrono::duration_cast<milliseconds>(*due - wall_now) + milliseconds(1));
      continue;
    }
    std::string ns(api::get_namespace(*pod));
    std::string pod_name(api::get_name(*pod));
    Status s = transport_.remove(pods_resource(), ns, pod_name, {.precondition_uid = std::string(api::get_uid(*pod))});
    if (s.ok() || s.code() == Code::kNotFound) {
      log::logger("controllers")->info("node {}: evicting pod {}/{} (NoExecute taint)", name, ns, pod_name);
    } else {
      log::logger("controllers")->warn("node {}: evicting pod {}/{}: {}", name, ns, pod_name, s.to_string());
      next = std::min(next, milliseconds(1000));
    }
  }
  return next;
}

}  // namespace kedge::controllers

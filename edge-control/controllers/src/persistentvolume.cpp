#include "kedge/controllers/persistentvolume.h"

#include <chrono>
#include <cstdio>

#include "json_path.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"
#include "kedge/controllers/volume_binding.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using namespace volumes;  // NOLINT: the binding vocabulary

const Resource& persistentvolumes_resource() {
  static const Resource r{.group_version = "v1", .plural = "persistentvolumes", .kind = "PersistentVolume",
                          .namespaced = false};
  return r;
}
const Resource& storageclasses_resource() {
  static const Resource r{.group_version = "storage.k8s.io/v1", .plural = "storageclasses", .kind = "StorageClass",
                          .namespaced = false};
  return r;
}
const Resource& events_resource() {
  static const Resource r{.group_version = "v1", .plural = "events", .kind = "Event"};
  return r;
}

namespace {

constexpr char kClaimPrefix[] = "claim/";
constexpr char kVolumePrefix[] = "volume/";
constexpr char kDefaultClassKey[] = "default-class";

std::string claim_key(std::string_view ns, std::string_view name) {
  return kClaimPrefix + std::string(ns) + "/" + std::string(name);
}

std::string phase_of(const json::value& obj) { return std::string(path::str_at(obj, {"status", "phase"})); }

bool pod_finished(const json::value& pod) {
  const std::string phase = phase_of(pod);
  return phase == "Succeeded" || phase == "Failed";
}

std::string now_rfc3339() { return api::format_rfc3339(std::chrono::system_clock::now()); }

}  // namespace

// One handler type for the four watches: each maps an object to the keys it affects.
class PersistentVolumeController::Handler final : public client::InformerHandler {
 public:
  enum class Kind { kClaim, kVolume, kClass, kPod };
  Handler(PersistentVolumeController& c, Kind kind) : c_(c), kind_(kind) {}
  void on_add(const Object& obj) override { enqueue(*obj); }
  void on_update(const Object&, const Object& obj) override { enqueue(*obj); }
  void on_delete(const Object& obj) override { enqueue(*obj); }

 private:
  void enqueue(const json::value& obj) {
    switch (kind_) {
      case Kind::kClaim:
        c_.queue().add(claim_key(api::get_namespace(obj), api::get_name(obj)));
        if (auto v = path::str_at(obj, {"spec", "volumeName"}); !v.empty()) c_.queue().add(kVolumePrefix + std::string(v));
        return;
      case Kind::kVolume:
        c_.queue().add(kVolumePrefix + std::string(api::get_name(obj)));
        if (path::object_at(obj, {"spec", "claimRef"}) != nullptr) {
          c_.queue().add(claim_key(path::str_at(obj, {"spec", "claimRef", "namespace"}),
                                   path::str_at(obj, {"spec", "claimRef", "name"})));
          return;
        }
        [[fallthrough]];  // a free volume may serve any pending claim
      case Kind::kClass:  // a new class may let pending claims bind or provision
        for (const auto& claim : c_.transport_.list(persistentvolumeclaims_resource(), "")) {
          if (path::str_at(*claim, {"spec", "volumeName"}).empty()) {
            c_.queue().add(claim_key(api::get_namespace(*claim), api::get_name(*claim)));
          }
        }
        return;
      case Kind::kPod:  // only deleting claims wait for pods
        for (const auto& name : pod_claim_names(obj)) {
          auto claim = c_.transport_.get(persistentvolumeclaims_resource(), api::get_namespace(obj), name);
          if (claim && api::get_deletion_timestamp(*claim)) c_.queue().add(claim_key(api::get_namespace(obj), name));
        }
        return;
    }
  }
  PersistentVolumeController& c_;
  const Kind kind_;
};

PersistentVolumeController::PersistentVolumeController(Transport& transport, PersistentVolumeControllerOptions options)
    : Controller("persistentvolume", transport, options.queue),
      options_(std::move(options)),
      claims_(std::make_unique<Handler>(*this, Handler::Kind::kClaim)),
      volumes_(std::make_unique<Handler>(*this, Handler::Kind::kVolume)),
      classes_(std::make_unique<Handler>(*this, Handler::Kind::kClass)),
      pods_(std::make_unique<Handler>(*this, Handler::Kind::kPod)) {}

PersistentVolumeController::~PersistentVolumeController() { stop(); }

void PersistentVolumeController::register_watches() {
  transport_.watch(persistentvolumeclaims_resource(), claims_.get());
  transport_.watch(persistentvolumes_resource(), volumes_.get());
  transport_.watch(storageclasses_resource(), classes_.get());
  transport_.watch(pods_resource(), pods_.get());
}

void PersistentVolumeController::resync_all() {
  {
    std::lock_guard lock(mu_);
    if (options_.create_default_class && !class_checked_) queue().add(kDefaultClassKey);
  }
  for (const auto& c : transport_.list(persistentvolumeclaims_resource(), "")) {
    queue().add(claim_key(api::get_namespace(*c), api::get_name(*c)));
  }
  for (const auto& v : transport_.list(persistentvolumes_resource(), "")) {
    queue().add(kVolumePrefix + std::string(api::get_name(*v)));
  }
}

Status PersistentVolumeController::sync(const std::string& key) {
  if (key == kDefaultClassKey) return ensure_default_class();
  if (key.starts_with(kVolumePrefix)) return sync_volume(key.substr(sizeof(kVolumePrefix) - 1));
  if (key.starts_with(kClaimPrefix)) {
    auto [ns, name] = split_key(std::string_view(key).substr(sizeof(kClaimPrefix) - 1));
    return sync_claim(ns, name);
  }
  return ok_status();
}

Status PersistentVolumeController::ensure_default_class() {
  if (!transport_.get(storageclasses_resource(), "", kLocalPathClass)) {
    json::value sc = json::object{
        {"apiVersion", "storage.k8s.io/v1"},
        {"kind", "StorageClass"},
        {"metadata", json::object{{"name", kLocalPathClass},
                                  {"annotations", json::object{{kAnnDefaultClass, "true"}}}}},
        {"provisioner", kLocalPathProvisioner},
        {"reclaimPolicy", "Delete"},
        {"volumeBindingMode", "WaitForFirstConsumer"}};
    auto created = transport_.create(storageclasses_resource(), "", sc);
    if (!created.ok() && created.status().code() != Code::kAlreadyExists) return created.status();
  }
  std::lock_guard lock(mu_);
  class_checked_ = true;
  return ok_status();
}

Status PersistentVolumeController::sync_claim(const std::string& ns, const std::string& name) {
  Object claim = transport_.get(persistentvolumeclaims_resource(), ns, name);
  if (!claim) return ok_status();
  if (api::get_deletion_timestamp(*claim)) {
    if (!api::has_finalizer(*claim, kPvcProtectionFinalizer) || claim_in_use(*claim)) return ok_status();
    return remove_protection(persistentvolumeclaims_resource(), *claim, kPvcProtectionFinalizer);
  }
  if (!api::has_finalizer(*claim, kPvcProtectionFinalizer)) {
    json::value c = *claim;
    api::add_finalizer(c, kPvcProtectionFinalizer);
    auto updated = transport_.update(persistentvolumeclaims_resource(), c);
    return updated.ok() ? ok_status() : updated.status();  // the update event syncs again
  }
  const std::string volume_name(path::str_at(*claim, {"spec", "volumeName"}));
  const auto volumes = transport_.list(persistentvolumes_resource(), "");
  if (!volume_name.empty()) {  // bound, or pre-bound by the user
    Object pv = transport_.get(persistentvolumes_resource(), "", volume_name);
    if (!pv) {
      if (phase_of(*claim) == "Bound") {
        json::value c = *claim;
        c.as_object()["status"] = json::object{{"phase", "Lost"}};
        event(*claim, "Warning", "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!");
        return transport_.update_status(persistentvolumeclaims_resource(), c).status();
      }
      event(*claim, "Normal", "FailedBinding", "volume \"" + volume_name + "\" not found");
      return ok_status();
    }
    if (path::object_at(*pv, {"spec", "claimRef"}) != nullptr && !volume_bound_to_claim(*pv, *claim)) {
      event(*claim, "Warning", "FailedBinding", "volume \"" + volume_name + "\" already bound to a different claim.");
      return ok_status();
    }
    return bind(*pv, *claim, !api::get_annotation(*claim, kAnnBoundByController).has_value());
  }
  const std::string cls = claim_class(*claim);
  Object sc = cls.empty() ? nullptr : transport_.get(storageclasses_resource(), "", cls);
  const bool delay = sc && path::str_at(*sc, {"volumeBindingMode"}) == "WaitForFirstConsumer";
  std::optional<NodeRef> node;
  Object node_obj;
  if (auto selected = api::get_annotation(*claim, kAnnSelectedNode); selected && delay) {
    node_obj = transport_.get(nodes_resource(), "", *selected);
    node = NodeRef{.name = *selected, .labels = node_obj ? api::get_labels(*node_obj) : nullptr};
  }
  if (const json::value* pv = find_matching_volume(*claim, volumes, node, delay)) return bind(*pv, *claim, false);
  if (sc && path::str_at(*sc, {"provisioner"}) == kLocalPathProvisioner) {
    if (delay && !node) {
      event(*claim, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
      return ok_status();
    }
    return provision(*claim, *sc);
  }
  if (cls.empty()) {
    event(*claim, "Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set");
  } else if (!sc) {
    event(*claim, "Warning", "ProvisioningFailed", "storageclass.storage.k8s.io \"" + cls + "\" not found");
  } else if (delay && !node) {
    event(*claim, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
  } else {
    event(*claim, "Normal", "ExternalProvisioning",
          "Waiting for a volume to be created either by the external provisioner '" +
              std::string(path::str_at(*sc, {"provisioner"})) + "' or manually by the system administrator.");
  }
  return ok_status();
}

Status PersistentVolumeController::bind(const json::value& pv_in, const json::value& claim_in, bool pre_bound_claim) {
  const std::string pv_name(api::get_name(pv_in));
  // 1. The volume points at the claim (uid included).
  json::value pv = pv_in;
  const bool ref_complete = path::str_at(pv, {"spec", "claimRef", "uid"}) == api::get_uid(claim_in);
  if (!ref_complete) {
    const bool user_prebound = path::object_at(pv, {"spec", "claimRef"}) != nullptr;
    pv.as_object()["spec"].as_object()["claimRef"] = json::object{
        {"kind", "PersistentVolumeClaim"},   {"namespace", api::get_namespace(claim_in)},
        {"name", api::get_name(claim_in)},   {"uid", api::get_uid(claim_in)},
        {"apiVersion", "v1"},                {"resourceVersion", api::get_resource_version(claim_in)}};
    if (!user_prebound) api::set_annotation(pv, kAnnBoundByController, "yes");
    KEDGE_ASSIGN_OR_RETURN(pv, transport_.update(persistentvolumes_resource(), pv));
  }
  if (phase_of(pv) != "Bound") {
    pv.as_object()["status"] = json::object{{"phase", "Bound"}};
    KEDGE_ASSIGN_OR_RETURN(pv, transport_.update_status(persistentvolumes_resource(), pv));
  }
  // 2. The claim points at the volume.
  json::value claim = claim_in;
  if (path::str_at(claim, {"spec", "volumeName"}) != pv_name || !api::get_annotation(claim, kAnnBindCompleted)) {
    claim.as_object()["spec"].as_object()["volumeName"] = pv_name;
    api::set_annotation(claim, kAnnBindCompleted, "yes");
    if (!pre_bound_claim || path::str_at(claim_in, {"spec", "volumeName"}).empty()) {
      api::set_annotation(claim, kAnnBoundByController, "yes");
    }
    KEDGE_ASSIGN_OR_RETURN(claim, transport_.update(persistentvolumeclaims_resource(), claim));
  }
  // 3. The claim's status.
  json::object status{{"phase", "Bound"}};
  if (const json::value* modes = path::at(pv, {"spec", "accessModes"})) status["accessModes"] = *modes;
  if (const json::value* cap = path::at(pv, {"spec", "capacity"})) status["capacity"] = *cap;
  const json::value* old_status = path::at(claim, {"status"});
  if (old_status == nullptr || !old_status->is_object() || phase_of(claim) != "Bound" ||
      old_status->as_object().if_contains("capacity") == nullptr) {
    claim.as_object()["status"] = std::move(status);
    auto written = transport_.update_status(persistentvolumeclaims_resource(), claim);
    if (!written.ok()) return written.status();
    log::logger("controllers")->info("persistentvolumeclaim {}/{} bound to {}", api::get_namespace(claim),
                                     api::get_name(claim), pv_name);
  }
  return ok_status();
}

Status PersistentVolumeController::provision(const json::value& claim, const json::value& sc) {
  const std::string pv_name = "pvc-" + std::string(api::get_uid(claim));
  if (transport_.get(persistentvolumes_resource(), "", pv_name)) return ok_status();  // bound on its event
  std::string node = api::get_annotation(claim, kAnnSelectedNode).value_or(options_.default_node);
  if (node.empty()) {
    event(claim, "Warning", "ProvisioningFailed", "no node to provision local-path volume on");
    return ok_status();
  }
  const json::value* request = path::at(claim, {"spec", "resources", "requests", "storage"});
  const json::value* modes = path::at(claim, {"spec", "accessModes"});
  const std::string reclaim(path::str_at(sc, {"reclaimPolicy"}));
  const std::string dir = options_.storage_dir + "/" + pv_name;
  const json::object requirement{{"key", "kubernetes.io/hostname"}, {"operator", "In"}, {"values", json::array{node}}};
  const json::object term{{"matchExpressions", json::array{requirement}}};
  json::value pv = json::object{
      {"apiVersion", "v1"},
      {"kind", "PersistentVolume"},
      {"metadata", json::object{{"name", pv_name},
                                {"annotations", json::object{{kAnnProvisionedBy, kLocalPathProvisioner},
                                                             {kAnnSelectedNode, node}}},
                                {"finalizers", json::array{kPvProtectionFinalizer, kLocalPathCleanupFinalizer}}}},
      {"spec",
       json::object{
           {"capacity", json::object{{"storage", request != nullptr ? *request : json::value("0")}}},
           {"accessModes", modes != nullptr ? *modes : json::array{"ReadWriteOnce"}},
           {"persistentVolumeReclaimPolicy", reclaim.empty() ? "Delete" : reclaim},
           {"storageClassName", api::get_name(sc)},
           {"volumeMode", "Filesystem"},
           {"hostPath", json::object{{"path", dir}, {"type", "DirectoryOrCreate"}}},
           {"claimRef", json::object{{"kind", "PersistentVolumeClaim"},
                                     {"namespace", api::get_namespace(claim)},
                                     {"name", api::get_name(claim)},
                                     {"uid", api::get_uid(claim)},
                                     {"apiVersion", "v1"}}},
           {"nodeAffinity", json::object{{"required", json::object{{"nodeSelectorTerms", json::array{term}}}}}}}}};
  json::value annotated = claim;
  api::set_annotation(annotated, kAnnStorageProvisioner, kLocalPathProvisioner);
  api::set_annotation(annotated, kAnnBetaStorageProvisioner, kLocalPathProvisioner);
  if (annotated != claim) KEDGE_RETURN_IF_ERROR(transport_.update(persistentvolumeclaims_resource(), annotated).status());
  auto created = transport_.create(persistentvolumes_resource(), "", pv);
  if (!created.ok() && created.status().code() != Code::kAlreadyExists) {
    event(claim, "Warning", "ProvisioningFailed", created.status().message());
    return created.status();
  }
  event(claim, "Normal", "ProvisioningSucceeded", "Successfully provisioned volume " + pv_name);
  return ok_status();
}

Status PersistentVolumeController::sync_volume(const std::string& name) {
  Object pv = transport_.get(persistentvolumes_resource(), "", name);
  if (!pv) return ok_status();
  if (api::get_deletion_timestamp(*pv)) {
    if (api::has_finalizer(*pv, kLocalPathCleanupFinalizer)) {
      // Only the node's kubelet can remove the directory; a node that no
      // longer exists never will, so the PV must not wait for it forever.
      const std::string node = api::get_annotation(*pv, kAnnSelectedNode).value_or("");
      if (!node.empty() && !transport_.get(nodes_resource(), "", node)) {
        auto live = transport_.get_live(nodes_resource(), "", node);
        if (!live.ok() && live.status().code() == Code::kNotFound) {
          log::logger("controllers")->warn("persistentvolume {}: node \"{}\" is gone; its directory is left there",
                                           name, node);
          KEDGE_RETURN_IF_ERROR(remove_protection(persistentvolumes_resource(), *pv, kLocalPathCleanupFinalizer));
          return ok_status();  // the update event syncs again
        }
      }
    }
    if (!api::has_finalizer(*pv, kPvProtectionFinalizer) || phase_of(*pv) == "Bound") return ok_status();
    return remove_protection(persistentvolumes_resource(), *pv, kPvProtectionFinalizer);
  }
  if (!api::has_finalizer(*pv, kPvProtectionFinalizer)) {
    json::value v = *pv;
    api::add_finalizer(v, kPvProtectionFinalizer);
    return transport_.update(persistentvolumes_resource(), v).status();
  }
  std::string want;
  const json::object* ref = path::object_at(*pv, {"spec", "claimRef"});
  if (ref == nullptr || path::str_at(*pv, {"spec", "claimRef", "uid"}).empty()) {
    want = "Available";
  } else {
    const std::string ns(path::str_at(*pv, {"spec", "claimRef", "namespace"}));
    const std::string claim_name(path::str_at(*pv, {"spec", "claimRef", "name"}));
    Object claim = transport_.get(persistentvolumeclaims_resource(), ns, claim_name);
    if (!claim) {  // the cache may lag: ask the API before releasing
      auto live = transport_.get_live(persistentvolumeclaims_resource(), ns, claim_name);
      if (live.ok()) claim = std::make_shared<const json::value>(std::move(*live));
      else if (live.status().code() != Code::kNotFound) return live.status();
    }
    const bool same = claim && api::get_uid(*claim) == path::str_at(*pv, {"spec", "claimRef", "uid"});
    if (!same) {
      if (phase_of(*pv) == "Released" || phase_of(*pv) == "Failed") return release(*pv);
      json::value v = *pv;
      v.as_object()["status"] = json::object{{"phase", "Released"}};
      KEDGE_ASSIGN_OR_RETURN(auto written, transport_.update_status(persistentvolumes_resource(), v));
      return release(written);
    }
    const std::string_view claim_volume = path::str_at(*claim, {"spec", "volumeName"});
    if (claim_volume.empty()) {  // binding in progress: the claim's sync finishes it
      queue().add(claim_key(ns, claim_name));
      return ok_status();
    }
    want = claim_volume == name ? "Bound" : "Released";
  }
  if (phase_of(*pv) == want) return ok_status();
  json::value v = *pv;
  v.as_object()["status"] = json::object{{"phase", want}};
  return transport_.update_status(persistentvolumes_resource(), v).status();
}

Status PersistentVolumeController::release(const json::value& pv) {
  const std::string_view policy = path::str_at(pv, {"spec", "persistentVolumeReclaimPolicy"});
  if (policy == "Delete") {
    if (api::get_annotation(pv, kAnnProvisionedBy) == std::string(kLocalPathProvisioner)) {
      log::logger("controllers")->info("persistentvolume {} released: deleting it (reclaim policy Delete)",
                                       api::get_name(pv));
      Status s = transport_.remove(persistentvolumes_resource(), "", api::get_name(pv), {});
      return s.ok() || s.code() == Code::kNotFound ? ok_status() : s;
    }
    if (phase_of(pv) == "Failed") return ok_status();
    json::value v = pv;
    v.as_object()["status"] = json::object{
        {"phase", "Failed"}, {"message", "kedge deletes only volumes of its local-path provisioner (kedge.io/local-path)"}};
    event(pv, "Warning", "VolumeFailedDelete", "no deleter for this volume type");
    return transport_.update_status(persistentvolumes_resource(), v).status();
  }
  if (policy == "Recycle" && phase_of(pv) != "Failed") {
    json::value v = pv;
    v.as_object()["status"] = json::object{{"phase", "Failed"}, {"message", "Recycle is deprecated and not supported"}};
    event(pv, "Warning", "VolumeFailedRecycle", "Recycle is deprecated and not supported");
    return transport_.update_status(persistentvolumes_resource(), v).status();
  }
  return ok_status();  // Retain: stays Released until an administrator acts
}

Status PersistentVolumeController::remove_protection(const Resource& r, const json::value& obj,
                                                     std::string_view finalizer) {
  json::value v = obj;
  api::remove_finalizer(v, finalizer);
  auto updated = transport_.update(r, v);
  if (!updated.ok() && updated.status().code() != Code::kNotFound) return updated.status();
  return ok_status();
}

bool PersistentVolumeController::claim_in_use(const json::value& claim) const {
  const std::string_view name = api::get_name(claim);
  for (const auto& pod : transport_.list(pods_resource(), api::get_namespace(claim))) {
    if (pod_finished(*pod)) continue;
    for (const auto& c : pod_claim_names(*pod)) {
      if (c == name) return true;
    }
  }
  return false;
}

void PersistentVolumeController::event(const json::value& obj, std::string_view type, std::string_view reason,
                                       const std::string& message) {
  const std::string uid(api::get_uid(obj));
  const std::string what = std::string(reason) + "\n" + message;
  {
    std::lock_guard lock(mu_);
    if (last_event_.size() >= 4096 && !last_event_.contains(uid)) last_event_.clear();  // bounded memory
    auto& last = last_event_[uid];
    if (last == what) return;
    last = what;
  }
  const std::string ns = api::get_namespace(obj).empty() ? "default" : std::string(api::get_namespace(obj));
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%llx",
                static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count()));
  const std::string now = now_rfc3339();
  json::value ev = json::object{
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", json::object{{"name", std::string(api::get_name(obj)) + suffix}, {"namespace", ns}}},
      {"involvedObject", json::object{{"kind", api::get_namespace(obj).empty() ? "PersistentVolume" : "PersistentVolumeClaim"}, {"namespace", api::get_namespace(obj)},
                                      {"name", api::get_name(obj)}, {"uid", uid},
                                      {"apiVersion", "v1"}, {"resourceVersion", api::get_resource_version(obj)}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", json::object{{"component", "persistentvolume-controller"}}},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1},
      {"reportingComponent", "persistentvolume-controller"}};
  if (auto s = transport_.create(events_resource(), ns, ev); !s.ok()) {
    log::logger("controllers")->debug("event {} for {}: {}", reason, api::get_name(obj), s.status().to_string());
  }
}

}  // namespace kedge::controllers

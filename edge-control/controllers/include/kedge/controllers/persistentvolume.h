// PersistentVolume controller (upstream's persistentvolume-binder,
// pvc-protection and pv-protection controllers) with kedge's local-path
// provisioner (k3s ships rancher.io/local-path; kedge's is kedge.io/local-path).
//
// Claims (key "claim/<ns>/<name>"):
//   - unbound: bind to the matching volume (volume_binding.h: pre-bound
//     first, else the smallest fit). None: a class whose provisioner is
//     kedge.io/local-path gets a volume provisioned — at once for
//     Immediate, after the scheduler set volume.kubernetes.io/selected-node
//     for WaitForFirstConsumer — at <storage_dir>/<pv-name> as a hostPath
//     volume with required node affinity to that node (Immediate claims:
//     the node this server runs on). Otherwise Pending with a FailedBinding
//     or ProvisioningFailed event.
//   - binding writes the PV's claimRef (+ bound-by-controller), the PV phase
//     Bound, the claim's volumeName + bind-completed (+ bound-by-controller)
//     and the claim's status (Bound, capacity, accessModes), in that order,
//     so a crash in between is finished by the next sync.
//   - deleting: the pvc-protection finalizer is removed once no pod that is
//     not Succeeded/Failed uses the claim.
// Volumes (key "volume/<name>"): phase Available / Bound / Released; a
// Released volume is kept (Retain) or deleted (Delete: local-path volumes
// only; others turn Failed, as upstream without a deleter). The
// pv-protection finalizer is removed once the volume is not Bound.
// The local-path directory belongs to the node: its kubelet creates it when
// a pod first mounts the volume and removes it when the PV is being deleted,
// then drops the kedge.io/local-path-cleanup finalizer (agent/src/volumes.h);
// for a node that no longer exists the controller drops it (logged).
// At start the default StorageClass `local-path` is created if absent.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kedge/controllers/controller.h"

namespace kedge::controllers {

const Resource& persistentvolumes_resource();
const Resource& storageclasses_resource();
const Resource& events_resource();

struct PersistentVolumeControllerOptions {
  WorkQueueOptions queue;
  // Where local-path volumes live on nodes: <storage_dir>/<pv-name>.
  std::string storage_dir = "/var/lib/kedge/storage";
  // The node an Immediate local-path claim is provisioned on (this server's).
  std::string default_node;
  // Create the `local-path` default StorageClass at start if absent.
  bool create_default_class = true;
};

class PersistentVolumeController final : public Controller {
 public:
  PersistentVolumeController(Transport& transport, PersistentVolumeControllerOptions options = {});
  ~PersistentVolumeController() override;

  // Watches claims, volumes, classes and pods. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class Handler;

  Status sync_claim(const std::string& ns, const std::string& name);
  Status sync_volume(const std::string& name);
  Status bind(const boost::json::value& pv, const boost::json::value& claim, bool pre_bound_claim);
  Status provision(const boost::json::value& claim, const boost::json::value& sc);
  Status release(const boost::json::value& pv);
  Status remove_protection(const Resource& r, const boost::json::value& obj, std::string_view finalizer);
  Status ensure_default_class();
  bool claim_in_use(const boost::json::value& claim) const;
  // An event on `obj`, written once per distinct (reason, message) per object.
  void event(const boost::json::value& obj, std::string_view type, std::string_view reason,
             const std::string& message);

  PersistentVolumeControllerOptions options_;
  std::unique_ptr<Handler> claims_, volumes_, classes_, pods_;
  std::mutex mu_;
  std::map<std::string, std::string> last_event_;  // uid → reason+message; guarded by mu_
  bool class_checked_ = false;                     // guarded by mu_
};

}  // namespace kedge::controllers

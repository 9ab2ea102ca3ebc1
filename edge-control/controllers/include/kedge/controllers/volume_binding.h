// Volume binding rules shared by the PersistentVolume controller and the
// scheduler's volume filter: which PersistentVolume may serve which claim
// (upstream's pkg/controller/volume/persistentvolume findMatchingVolume) and
// whether a volume's node affinity admits a node.
//
// Pure functions over API objects as served (Boost.JSON values); a missing
// or mistyped field reads as the API server would default it.
// Thread-safety: free functions; results borrow from the arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/client/informer.h"

namespace kedge::controllers::volumes {

// Well-known names, spelled as upstream.
inline constexpr char kAnnBindCompleted[] = "pv.kubernetes.io/bind-completed";
inline constexpr char kAnnBoundByController[] = "pv.kubernetes.io/bound-by-controller";
inline constexpr char kAnnProvisionedBy[] = "pv.kubernetes.io/provisioned-by";
inline constexpr char kAnnSelectedNode[] = "volume.kubernetes.io/selected-node";
inline constexpr char kAnnStorageProvisioner[] = "volume.kubernetes.io/storage-provisioner";
inline constexpr char kAnnBetaStorageProvisioner[] = "volume.beta.kubernetes.io/storage-provisioner";
inline constexpr char kAnnDefaultClass[] = "storageclass.kubernetes.io/is-default-class";
inline constexpr char kPvcProtectionFinalizer[] = "kubernetes.io/pvc-protection";
inline constexpr char kPvProtectionFinalizer[] = "kubernetes.io/pv-protection";
// kedge's local-path provisioner (k3s ships rancher.io/local-path).
inline constexpr char kLocalPathProvisioner[] = "kedge.io/local-path";
inline constexpr char kLocalPathClass[] = "local-path";
// On local-path PVs: the node's kubelet removes the directory, then this.
inline constexpr char kLocalPathCleanupFinalizer[] = "kedge.io/local-path-cleanup";

// The node a scheduler or the selected-node annotation proposes: its name and labels.
struct NodeRef {
  std::string name;
  const boost::json::object* labels = nullptr;
};

// Whether `pv`'s spec.nodeAffinity.required admits `node` (true when the
// volume has no node affinity). Terms are ORed, expressions ANDed; operators
// In/NotIn/Exists/DoesNotExist/Gt/Lt on labels, matchFields on metadata.name.
// A node whose labels are unknown (null) is taken to carry only
// kubernetes.io/hostname=<name>, the label kubelets always set.
bool node_affinity_matches(const boost::json::value& pv, const NodeRef& node);

// spec.storageClassName (or the beta annotation), "" when none.
std::string claim_class(const boost::json::value& claim);
std::string volume_class(const boost::json::value& pv);

// spec.claimRef names this claim (namespace, name, and uid when set).
bool volume_bound_to_claim(const boost::json::value& pv, const boost::json::value& claim);

// The volume to bind `claim` to, or null. A volume pre-bound to the claim
// (claimRef) wins; otherwise the smallest Available, unclaimed volume with
// the claim's class, volumeMode, all its accessModes, capacity ≥ its request,
// matching its selector and, when `node` is given, admitting that node.
// With `delay_binding` (WaitForFirstConsumer) and no node, only pre-bound
// volumes are returned, as upstream.
const boost::json::value* find_matching_volume(const boost::json::value& claim,
                                               const std::vector<client::Object>& volumes,
                                               const std::optional<NodeRef>& node, bool delay_binding);

// The claim names of a pod's persistentVolumeClaim volumes (ephemeral
// volumes are named <pod>-<volume>, as upstream).
std::vector<std::string> pod_claim_names(const boost::json::value& pod);

}  // namespace kedge::controllers::volumes

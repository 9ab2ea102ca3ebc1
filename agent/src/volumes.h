// VolumeManager: makes a pod's volumes exist on the host before its
// containers start, and removes them after the pod is gone.
//
// Layout, as upstream: <root>/pods/<uid>/volumes/<plugin>/<name>, with
// plugin kubernetes.io~empty-dir, ~configmap, ~secret, ~projected,
// ~downward-api. hostPath volumes are the host path itself.
//
// ConfigMap/Secret/projected/downwardAPI contents are written by an atomic
// writer as upstream's AtomicWriter: files go into a fresh hidden directory
// "..<timestamp>", the symlink "..data" is swapped to it with one rename(2),
// and each visible name is a symlink through "..data". A reader inside the
// container therefore sees the old set or the new set, never a mix; the
// swap happens only when the content changed.
//
// persistentVolumeClaim volumes resolve claim → bound PersistentVolume →
// its hostPath or local path, which is bind-mounted at
// <pod>/volumes/kubernetes.io~local-volume/<name> (read-only when the pod's
// volume says readOnly). An unbound or missing claim fails the pod's volume
// setup (FailedMount naming the claim) and the pod worker retries.
// Local-path volumes (kedge.io/local-path provisioner): the kubelet of the
// node a volume was provisioned for creates its directory at first mount
// (0777, as k3s's provisioner) and removes it when the PV is deleted, then
// drops the PV's kedge.io/local-path-cleanup finalizer so the PV goes away.
// Only <...>/storage/<pv-name> paths are ever removed.
//
// Thread-safety: calls for different pods may run concurrently; calls for
// one pod are serialized by its pod worker. start()/stop() from the owner.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "kedge/api/types/pod.h"
#include "kedge/base/status.h"
#include "kedge/client/informer.h"
#include "object_source.h"
#include "pod_config.h"

namespace kedge::agent::detail {

struct FileContent {
  std::string data;
  mode_t mode = 0644;
};
using FileSet = std::map<std::string, FileContent>;  // relative path → content

// Writes `files` under `dir` with the ..data symlink swap; a no-op when the
// current content is identical. Returns whether anything changed.
Result<bool> atomic_write(const std::filesystem::path& dir, const FileSet& files);

// Removes the directories of deleted local-path PVs provisioned for this
// node (PV informer handler; runs on the informer's thread).
class LocalPathReaper final : public client::InformerHandler {
 public:
  LocalPathReaper(client::RestClient& api, std::string node_name) : api_(api), node_name_(std::move(node_name)) {}
  void on_add(const client::Object& pv) override { reap(*pv); }
  void on_update(const client::Object&, const client::Object& pv) override { reap(*pv); }
  void on_delete(const client::Object&) override {}

 private:
  void reap(const boost::json::value& pv);
  client::RestClient& api_;
  const std::string node_name_;
};

class VolumeManager {
 public:
  // Without `api`, persistentVolumeClaim volumes are refused (tests).
  VolumeManager(std::filesystem::path root, ObjectSource& objects, client::RestClient* api = nullptr,
                std::string node_name = "");
  ~VolumeManager();
  // Starts/stops the local-path reaper's PV informer (with `api` only).
  void start();
  void stop();

  // Sets up (or refreshes) every volume; returns volume name → host path.
  // Errors name the volume and why (missing ConfigMap, bad hostPath type...).
  Result<std::map<std::string, std::string>> prepare(const api::Pod& pod, const EnvContext& ctx);
  // Unmounts tmpfs volumes and removes <root>/pods/<uid>.
  void cleanup(const std::string& uid);
  std::filesystem::path pod_dir(const std::string& uid) const { return root_ / "pods" / uid; }

 private:
  Result<std::string> prepare_one(const api::Pod& pod, const api::Volume& v, const EnvContext& ctx);
  Result<FileSet> object_files(const api::Pod& pod, const boost::json::value& source, ObjectKind kind,
                               const std::string& name_field, std::int32_t default_mode);
  Result<FileSet> downward_files(const api::Pod& pod, const boost::json::value& source, const EnvContext& ctx,
                                 std::int32_t default_mode);

  Result<std::string> prepare_claim(const api::Pod& pod, const api::Volume& v);

  const std::filesystem::path root_;
  ObjectSource& objects_;
  client::RestClient* const api_;
  std::unique_ptr<LocalPathReaper> reaper_;
  std::unique_ptr<client::Informer> pv_informer_;
  std::thread pv_thread_;
};

}  // namespace kedge::agent::detail

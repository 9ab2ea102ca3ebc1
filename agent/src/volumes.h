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
// Thread-safety: calls for different pods may run concurrently; calls for
// one pod are serialized by its pod worker.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "kedge/api/types/pod.h"
#include "kedge/base/status.h"
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

class VolumeManager {
 public:
  VolumeManager(std::filesystem::path root, ObjectSource& objects) : root_(std::move(root)), objects_(objects) {}

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

  const std::filesystem::path root_;
  ObjectSource& objects_;
};

}  // namespace kedge::agent::detail

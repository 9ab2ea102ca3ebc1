// Airgap image import: loads image tarballs into the runtime so pods run
// without a registry (as k3s does with its agent/images directory).
//
// Every `*.tar` in the images directory (OCI image layouts, or `docker save`
// archives) is imported into containerd's `k8s.io` namespace, the one its
// CRI plugin serves. A tarball whose images are all present already — same
// config digest (the CRI image id) under the same name — is skipped, so a
// restart costs one ListImages call, not a re-import.
//
// The import itself runs `ctr images import` as a child process. Importing
// means ingesting blobs into containerd's content store under a lease,
// creating image records and unpacking layers into the snapshotter: that is
// containerd's native API (content, images, leases, snapshots services),
// which the CRI does not expose. ctr ships with every containerd, speaks
// that API exactly as its own version expects, and keeps kedge free of a
// second set of containerd protos.
//
// Thread-safety: reentrant; runs blocking commands, so call it from a
// worker thread, never from an event loop.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::agent {

struct ImageRef {
  std::string name;           // normalized: "docker.io/library/busybox:latest"
  std::string config_digest;  // "sha256:..." (the CRI image id)
};

// The images an archive declares, read from its index.json (OCI layout) or
// manifest.json (docker save). Nested indexes are followed one level.
Result<std::vector<ImageRef>> read_image_refs(const std::filesystem::path& tarball);

// Normalizes an image name the way containerd's CRI reports repo tags:
// "busybox" -> "docker.io/library/busybox:latest".
std::string normalize_image_name(const std::string& name);

// The `*.tar` files directly in `dir`, sorted by name; empty when `dir` is absent.
std::vector<std::filesystem::path> find_image_tarballs(const std::filesystem::path& dir);

struct ImageImportOptions {
  std::filesystem::path containerd_socket;  // containerd's gRPC socket (not a URL)
  std::string ctr_binary = "ctr";
  std::string containerd_namespace = "k8s.io";
  std::string snapshotter = "overlayfs";  // must match the CRI plugin's
  std::chrono::milliseconds timeout_per_tarball{std::chrono::minutes(5)};
};

struct ImportReport {
  std::vector<std::filesystem::path> imported;
  std::vector<std::filesystem::path> skipped;  // already present by digest
  std::vector<std::pair<std::filesystem::path, Status>> failed;
};

// Imports each tarball not already present. One bad tarball does not stop
// the others: its error is in the report. Errors only when the runtime
// cannot be asked what it has.
Result<ImportReport> import_images(const ImageImportOptions& options,
                                   const std::vector<std::filesystem::path>& tarballs,
                                   cri::RuntimeClient& runtime);

}  // namespace kedge::agent

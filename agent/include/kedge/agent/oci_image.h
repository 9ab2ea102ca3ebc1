// Builds OCI image-layout tarballs, the format `ctr images import` loads.
//
// kedge runs without a registry: its pause image and the images tests use
// are built on the machine from the busybox-static binary. A tarball holds
//   oci-layout                 {"imageLayoutVersion":"1.0.0"}
//   index.json                 one manifest descriptor, annotated with
//                              io.containerd.image.name (the full name ctr
//                              registers) and org.opencontainers.image.ref.name
//   blobs/sha256/<hex>         the uncompressed tar layer, the image config
//                              and the manifest, each named by its sha256
// Output is deterministic: the same inputs give the same digests, so an
// importer can tell an image is already present by digest.
//
// Thread-safety: free functions without shared state; reentrant.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/agent/tar.h"
#include "kedge/base/status.h"

namespace kedge::agent {

// The sandbox ("pause") image kedge builds itself and names in containerd's
// CRI config. Bump the tag when its content changes.
inline constexpr std::string_view kPauseImageName = "kedge.local/pause:1";
// The general-purpose test image (busybox with its applets).
inline constexpr std::string_view kBusyboxImageName = "kedge.local/busybox:latest";

struct OciImageConfig {
  std::string name;  // "registry/repo:tag", registered as-is by containerd
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string working_dir = "/";
  std::string architecture;  // empty: the architecture kedge was built for
  std::string os = "linux";
};

struct BuiltImage {
  std::string name;
  std::string manifest_digest;  // "sha256:<hex>"
  std::string config_digest;    // the image id the CRI reports
  std::string layer_digest;     // uncompressed, so also the layer's diff id
  std::uint64_t tarball_bytes = 0;
};

// Writes an image with one layer made of `layer` to `out` (atomically: a
// temporary file renamed into place).
Result<BuiltImage> write_oci_image(const OciImageConfig& config, const std::vector<TarEntry>& layer,
                                   const std::filesystem::path& out);

struct BusyboxImageOptions {
  std::string name = std::string(kBusyboxImageName);
  std::filesystem::path busybox = "/bin/busybox";  // must be statically linked
  // Symlinks made in bin/ to busybox; default: kDefaultApplets.
  std::vector<std::string> applets;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd = {"sh"};
};

// The applets linked by default: a shell, coreutils, and the network tools
// tests need (httpd, nc, wget, ip).
const std::vector<std::string>& default_busybox_applets();

// The layer of a busybox image: bin/busybox, one symlink per applet, and a
// minimal /etc (passwd, group), /tmp (1777), /root, /var, /proc, /sys, /dev.
Result<std::vector<TarEntry>> busybox_layer(const BusyboxImageOptions& options);

Result<BuiltImage> write_busybox_image(const BusyboxImageOptions& options, const std::filesystem::path& out);

// kedge's pause image: busybox whose entrypoint sleeps forever and exits 0
// on SIGTERM or SIGINT.
Result<BuiltImage> write_pause_image(const std::filesystem::path& out,
                                     const std::filesystem::path& busybox = "/bin/busybox",
                                     std::string_view name = kPauseImageName);

// "sha256:<hex>" of `data` (OpenSSL).
std::string sha256_digest(std::string_view data);

// This build's OCI architecture name ("amd64", "arm64", "arm", "riscv64"),
// "unknown" elsewhere: what images are built for and imports are matched on.
std::string oci_architecture();

}  // namespace kedge::agent

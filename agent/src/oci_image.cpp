#include "kedge/agent/oci_image.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <system_error>

#include <boost/json.hpp>

namespace kedge::agent {
namespace {

namespace json = boost::json;

constexpr std::string_view kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kLayerType = "application/vnd.oci.image.layer.v1.tar";
constexpr std::string_view kIndexType = "application/vnd.oci.image.index.v1+json";
// Fixed, so rebuilding an image yields the same config digest.
constexpr std::string_view kEpoch = "1970-01-01T00:00:00Z";

json::array to_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::string hex_of(std::string_view digest) { return std::string(digest.substr(digest.find(':') + 1)); }

json::object descriptor(std::string_view media_type, const std::string& digest, std::size_t size) {
  return json::object{{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

// The tag of "repo:tag" (after the last ':' that follows the last '/').
std::string tag_of(std::string_view name) {
  auto slash = name.rfind('/');
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash)) return "latest";
  return std::string(name.substr(colon + 1));
}

// True when the ELF file has a PT_INTERP program header, i.e. needs a
// dynamic loader. Little-endian ELF32 and ELF64 (every target kedge builds for).
bool has_interpreter(std::string_view elf) {
  const auto u16 = [&](std::size_t off) -> std::uint64_t {
    if (off + 2 > elf.size()) return 0;
    return static_cast<unsigned char>(elf[off]) | static_cast<unsigned>(static_cast<unsigned char>(elf[off + 1])) << 8;
  };
  const auto uword = [&](std::size_t off, std::size_t width) -> std::uint64_t {
    std::uint64_t v = 0;
    for (std::size_t i = width; i-- > 0;) {
      if (off + i >= elf.size()) return 0;
      v = (v << 8) | static_cast<unsigned char>(elf[off + i]);
    }
    return v;
  };
  const bool is64 = elf[4] == 2;
  const std::uint64_t phoff = is64 ? uword(32, 8) : uword(28, 4);
  const std::uint64_t phentsize = is64 ? u16(54) : u16(42);
  const std::uint64_t phnum = is64 ? u16(56) : u16(44);
  constexpr std::uint64_t kPtInterp = 3;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    if (uword(phoff + i * phentsize, 4) == kPtInterp) return true;
  }
  return false;
}

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return not_found("read " + path.string() + ": cannot open");
  const auto size = static_cast<std::size_t>(in.tellg());
  std::string data(size, '\0');
  in.seekg(0);
  if (!in.read(data.data(), static_cast<std::streamsize>(size))) {
    return internal_error("read " + path.string() + ": I/O error");
  }
  return data;
}

Status write_atomically(const std::filesystem::path& out, std::string_view data) {
  std::error_code ec;
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path(), ec);
  if (ec) return internal_error("create " + out.parent_path().string() + ": " + ec.message());
  auto tmp = out;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return internal_error("create " + tmp.string() + ": cannot open for writing");
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    f.flush();
    if (!f) return internal_error("write " + tmp.string() + ": I/O error (disk full?)");
  }
  std::filesystem::rename(tmp, out, ec);
  if (ec) return internal_error("rename " + tmp.string() + " to " + out.string() + ": " + ec.message());
  return ok_status();
}

}  // namespace

std::string sha256_digest(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<BuiltImage> write_oci_image(const OciImageConfig& config, const std::vector<TarEntry>& layer_entries,
                                   const std::filesystem::path& out) {
  if (config.name.empty()) return invalid_argument("OCI image: empty name");
  std::string layer;
  TarWriter layer_tar(&layer);
  for (const auto& e : layer_entries) KEDGE_RETURN_IF_ERROR(layer_tar.add(e));
  layer_tar.finish();
  const std::string layer_digest = sha256_digest(layer);

  json::object image_config{
      {"created", kEpoch},
      {"architecture", config.architecture.empty() ? oci_architecture() : config.architecture},
      {"os", config.os},
      {"config", json::object{{"Env", to_json(config.env)}, {"WorkingDir", config.working_dir}}},
      {"rootfs", json::object{{"type", "layers"}, {"diff_ids", json::array{json::string(layer_digest)}}}},
      {"history", json::array{json::object{{"created", kEpoch}, {"created_by", "kedge image builder"}}}},
  };
  auto& cfg = image_config["config"].as_object();
  if (!config.entrypoint.empty()) cfg["Entrypoint"] = to_json(config.entrypoint);
  if (!config.cmd.empty()) cfg["Cmd"] = to_json(config.cmd);
  const std::string config_json = json::serialize(image_config);
  const std::string config_digest = sha256_digest(config_json);

  json::object manifest{
      {"schemaVersion", 2},
      {"mediaType", kManifestType},
      {"config", descriptor(kConfigType, config_digest, config_json.size())},
      {"layers", json::array{descriptor(kLayerType, layer_digest, layer.size())}},
  };
  const std::string manifest_json = json::serialize(manifest);
  const std::string manifest_digest = sha256_digest(manifest_json);

  auto manifest_desc = descriptor(kManifestType, manifest_digest, manifest_json.size());
  manifest_desc["annotations"] = json::object{{"io.containerd.image.name", config.name},
                                              {"org.opencontainers.image.ref.name", tag_of(config.name)}};
  json::object index{
      {"schemaVersion", 2},
      {"mediaType", kIndexType},
      {"manifests", json::array{std::move(manifest_desc)}},
  };

  std::string tarball;
  tarball.reserve(layer.size() + 16 * 1024);
  TarWriter tar(&tarball);
  KEDGE_RETURN_IF_ERROR(tar.add_file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  KEDGE_RETURN_IF_ERROR(tar.add_file("index.json", json::serialize(index)));
  KEDGE_RETURN_IF_ERROR(tar.add_directory("blobs"));
  KEDGE_RETURN_IF_ERROR(tar.add_directory("blobs/sha256"));
  KEDGE_RETURN_IF_ERROR(tar.add_file("blobs/sha256/" + hex_of(layer_digest), layer));
  KEDGE_RETURN_IF_ERROR(tar.add_file("blobs/sha256/" + hex_of(config_digest), config_json));
  KEDGE_RETURN_IF_ERROR(tar.add_file("blobs/sha256/" + hex_of(manifest_digest), manifest_json));
  tar.finish();
  KEDGE_RETURN_IF_ERROR(write_atomically(out, tarball));
  return BuiltImage{.name = config.name,
                    .manifest_digest = manifest_digest,
                    .config_digest = config_digest,
                    .layer_digest = layer_digest,
                    .tarball_bytes = tarball.size()};
}

const std::vector<std::string>& default_busybox_applets() {
  static const std::vector<std::string> kApplets = {
      "[",     "ash",   "awk",    "basename", "cat",     "chmod",  "cp",     "cut",    "date",   "dd",
      "df",    "dirname", "du",   "echo",     "env",     "expr",   "false",  "find",   "free",   "grep",
      "head",  "hostname", "httpd", "id",     "ifconfig", "ip",    "kill",   "ln",     "ls",     "mkdir",
      "mount", "mv",    "nc",     "netstat",  "nslookup", "ping",  "printf", "ps",     "pwd",    "readlink",
      "rm",    "rmdir", "sed",    "seq",      "sh",      "sleep",  "sort",   "stat",   "tail",   "tee",
      "test",  "timeout", "top",  "touch",    "tr",      "true",   "uname",  "uniq",   "usleep", "wc",
      "wget",  "whoami", "xargs", "yes",
  };
  return kApplets;
}

Result<std::vector<TarEntry>> busybox_layer(const BusyboxImageOptions& options) {
  KEDGE_ASSIGN_OR_RETURN(std::string busybox, read_file(options.busybox));
  // A dynamically linked busybox would start in the image and die at once
  // for want of libc: refuse it here, with the reason.
  if (busybox.size() < 64 || busybox.compare(0, 4, "\x7f" "ELF") != 0) {
    return invalid_argument(options.busybox.string() + " is not an ELF executable");
  }
  if (has_interpreter(busybox)) {
    return failed_precondition(options.busybox.string() +
                               " is dynamically linked; install busybox-static for image building");
  }
  using K = TarEntry::Kind;
  std::vector<TarEntry> layer = {
      {.kind = K::kDirectory, .path = "bin", .mode = 0755},
      {.kind = K::kFile, .path = "bin/busybox", .mode = 0755, .content = std::move(busybox)},
      {.kind = K::kDirectory, .path = "dev", .mode = 0755},
      {.kind = K::kDirectory, .path = "etc", .mode = 0755},
      {.kind = K::kFile,
       .path = "etc/passwd",
       .mode = 0644,
       .content = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
      {.kind = K::kFile, .path = "etc/group", .mode = 0644, .content = "root:x:0:\nnogroup:x:65534:\n"},
      {.kind = K::kDirectory, .path = "proc", .mode = 0555},
      {.kind = K::kDirectory, .path = "root", .mode = 0700},
      {.kind = K::kDirectory, .path = "sys", .mode = 0555},
      {.kind = K::kDirectory, .path = "tmp", .mode = 01777},
      {.kind = K::kDirectory, .path = "var", .mode = 0755},
  };
  const auto& applets = options.applets.empty() ? default_busybox_applets() : options.applets;
  for (const auto& a : applets) {
    if (a.empty() || a.find('/') != std::string::npos || a == "busybox") {
      return invalid_argument("busybox applet name \"" + a + "\" is not a plain file name");
    }
    layer.push_back({.kind = K::kSymlink, .path = "bin/" + a, .mode = 0777, .target = "busybox"});
  }
  return layer;
}

Result<BuiltImage> write_busybox_image(const BusyboxImageOptions& options, const std::filesystem::path& out) {
  KEDGE_ASSIGN_OR_RETURN(auto layer, busybox_layer(options));
  OciImageConfig config{.name = options.name, .entrypoint = options.entrypoint, .cmd = options.cmd};
  return write_oci_image(config, layer, out);
}

Result<BuiltImage> write_pause_image(const std::filesystem::path& out, const std::filesystem::path& busybox,
                                     std::string_view name) {
  // PID 1 ignores signals it has no handler for, so a bare `sleep` would
  // only ever die by SIGKILL. The shell traps TERM/INT and exits 0; the
  // backgrounded sleep dies with the pid namespace.
  BusyboxImageOptions options{
      .name = std::string(name),
      .busybox = busybox,
      .applets = {"sh", "sleep"},
      .entrypoint = {"/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"},
      .cmd = {},
  };
  return write_busybox_image(options, out);
}

std::string oci_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv)
  return "riscv64";
#else
  return "unknown";
#endif
}

}  // namespace kedge::agent

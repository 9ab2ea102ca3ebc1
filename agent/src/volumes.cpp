#include "volumes.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/json.hpp>

#include "api_util.h"
#include "kedge/base/log.h"

namespace kedge::agent::detail {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Whether `p` is a mount point in this mount namespace. Bind mounts stay on
// their filesystem, so st_dev cannot tell; /proc/self/mountinfo can.
bool in_mountinfo(const fs::path& p) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  const std::string want = p.lexically_normal().string();
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (mount_point == want) return true;
  }
  return false;
}

// Directories of kedge's local-path provisioner: <...>/storage/<pv-name>.
bool is_local_path_dir(const fs::path& p, std::string_view pv_name) {
  return p.is_absolute() && p == p.lexically_normal() && !pv_name.empty() && p.filename() == pv_name &&
         p.parent_path().filename() == "storage";
}

constexpr std::string_view kLocalPathProvisioner = "kedge.io/local-path";
constexpr std::string_view kLocalPathCleanupFinalizer = "kedge.io/local-path-cleanup";

std::string annotation(const json::value& obj, std::string_view key) {
  const auto* md = obj.is_object() ? obj.as_object().if_contains("metadata") : nullptr;
  const auto* ann = md != nullptr && md->is_object() ? md->as_object().if_contains("annotations") : nullptr;
  return ann != nullptr ? str(*ann, key) : "";
}

const json::value& child(const json::value& v, std::string_view key) {
  static const json::value kNull;
  const auto* f = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return f != nullptr ? *f : kNull;
}

bool is_mountpoint(const fs::path& p) {
  struct stat self{}, parent{};
  if (::stat(p.c_str(), &self) != 0 || ::stat(p.parent_path().c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

Status write_file(const fs::path& p, const FileContent& f) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(f.data.data(), static_cast<std::streamsize>(f.data.size()));
  out.close();
  if (!out) return internal_error("writing " + p.string());
  if (::chmod(p.c_str(), f.mode) != 0) return errno_status("chmod " + p.string(), errno);
  return ok_status();
}

// Does `dir`/..data hold exactly `files`?
bool same_content(const fs::path& dir, const FileSet& files) {
  const fs::path data = dir / "..data";
  std::error_code ec;
  if (!fs::is_symlink(data, ec)) return false;
  std::size_t count = 0;
  for (auto it = fs::recursive_directory_iterator(data, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    ++count;
    const std::string rel = fs::relative(it->path(), data, ec).string();
    auto f = files.find(rel);
    if (f == files.end() || read_file(it->path()) != f->second.data) return false;
    struct stat st{};
    if (::stat(it->path().c_str(), &st) != 0 || (st.st_mode & 07777) != f->second.mode) return false;
  }
  return count == files.size();
}

}  // namespace

Result<bool> atomic_write(const fs::path& dir, const FileSet& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return internal_error("creating " + dir.string() + ": " + ec.message());
  if (same_content(dir, files)) return false;
  for (const auto& [rel, f] : files) {
    if (rel.empty() || rel.starts_with("/") || rel.starts_with("..") || rel.find("/../") != std::string::npos) {
      return invalid_argument("invalid file path \"" + rel + "\" (must be relative, without ..)");
    }
  }
  const auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
  const std::string ts_name = "..kedge_" + std::to_string(stamp);
  const fs::path ts_dir = dir / ts_name;
  fs::create_directory(ts_dir, ec);
  if (ec) return internal_error("creating " + ts_dir.string() + ": " + ec.message());
  ::chmod(ts_dir.c_str(), 0755);
  for (const auto& [rel, f] : files) KEDGE_RETURN_IF_ERROR(write_file(ts_dir / rel, f));
  std::string old_target;
  if (fs::is_symlink(dir / "..data", ec)) old_target = fs::read_symlink(dir / "..data", ec).string();
  // The swap: a new symlink under a temporary name renamed over ..data.
  const fs::path tmp_link = dir / "..data_tmp";
  fs::remove(tmp_link, ec);
  fs::create_symlink(ts_name, tmp_link, ec);
  if (ec) return internal_error("symlink " + tmp_link.string() + ": " + ec.message());
  if (::rename(tmp_link.c_str(), (dir / "..data").c_str()) != 0) return errno_status("rename ..data", errno);
  // Visible names: one symlink per top-level path component.
  std::set<std::string> top;
  for (const auto& [rel, f] : files) top.insert(rel.substr(0, rel.find('/')));
  for (const auto& name : top) {
    const fs::path link = dir / name;
    if (fs::is_symlink(link, ec)) continue;
    fs::create_symlink(fs::path("..data") / name, link, ec);
    if (ec) return internal_error("symlink " + link.string() + ": " + ec.message());
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("..")) continue;
    if (entry.is_symlink(ec) && !top.contains(name)) fs::remove(entry.path(), ec);
  }
  if (!old_target.empty() && old_target != ts_name) fs::remove_all(dir / old_target, ec);
  return true;
}

Result<FileSet> VolumeManager::object_files(const api::Pod& pod, const json::value& source, ObjectKind kind,
                                            const std::string& name_field, std::int32_t default_mode) {
  const std::string name = str(source, name_field);
  auto data = objects_.get(kind, pod.metadata.namespace_, name);
  FileSet files;
  if (!data.ok()) {
    if (flag(source, "optional") && data.status().code() == Code::kNotFound) return files;
    return data.status();
  }
  const auto mode_of = [&](const json::value& v) {
    auto m = int_field(v, "mode");
    return static_cast<mode_t>(m ? *m : default_mode);
  };
  const json::value* items = source.is_object() ? source.as_object().if_contains("items") : nullptr;
  if (items != nullptr && items->is_array() && !items->as_array().empty()) {
    for (const auto& item : items->as_array()) {
      const std::string key = str(item, "key");
      auto it = data->find(key);
      if (it == data->end()) {
        if (flag(source, "optional")) continue;
        return not_found("configmap/secret " + name + " has no key " + key);
      }
      files[str(item, "path")] = {it->second, mode_of(item)};
    }
  } else {
    for (const auto& [k, v] : *data) files[k] = {v, static_cast<mode_t>(default_mode)};
  }
  return files;
}

Result<FileSet> VolumeManager::downward_files(const api::Pod& pod, const json::value& source, const EnvContext& ctx,
                                              std::int32_t default_mode) {
  FileSet files;
  const json::value* items = source.is_object() ? source.as_object().if_contains("items") : nullptr;
  if (items == nullptr || !items->is_array()) return files;
  for (const auto& item : items->as_array()) {
    std::string value;
    if (const auto* f = item.as_object().if_contains("fieldRef")) {
      KEDGE_ASSIGN_OR_RETURN(value, field_ref_value(pod, str(*f, "fieldPath"), ctx));
    } else if (const auto* r = item.as_object().if_contains("resourceFieldRef")) {
      KEDGE_ASSIGN_OR_RETURN(value, resource_field_value(pod, str(*r, "containerName"), str(*r, "resource"),
                                                         str(*r, "divisor"), ctx));
    }
    auto m = int_field(item, "mode");
    files[str(item, "path")] = {value, static_cast<mode_t>(m ? *m : default_mode)};
  }
  return files;
}

namespace {

// A volume whose content comes from the API, which does not answer: the
// content already on disk (from before an agent restart) is kept and used,
// so the pod's containers can still be (re)started while the control plane
// is away. Anything else, or nothing on disk yet, is the error it was.
Result<std::string> keep_offline(const fs::path& dir, const Status& why) {
  std::error_code ec;
  if ((why.code() != Code::kUnavailable && why.code() != Code::kDeadlineExceeded) || !fs::is_symlink(dir / "..data", ec)) {
    return why;
  }
  log::logger("kubelet")->warn("volume {}: API unreachable ({}); keeping the content on disk", dir.string(), why.message());
  return dir.string();
}

}  // namespace

Result<std::string> VolumeManager::prepare_one(const api::Pod& pod, const api::Volume& v, const EnvContext& ctx) {
  const fs::path volumes = pod_dir(pod.metadata.uid) / "volumes";
  const json::value& src = v.source;
  std::error_code ec;
  const auto default_mode = static_cast<std::int32_t>(int_field(src, "defaultMode").value_or(0644));
  switch (v.kind) {
    case api::Volume::Kind::kEmptyDir: {
      const fs::path dir = volumes / "kubernetes.io~empty-dir" / v.name;
      fs::create_directories(dir, ec);
      if (ec) return internal_error("creating " + dir.string() + ": " + ec.message());
      if (str(src, "medium") == "Memory" && !is_mountpoint(dir)) {
        std::string opts = "mode=0777";
        if (auto limit = api::Quantity::parse(str(src, "sizeLimit")); limit.ok() && limit->value() > 0) {
          opts += ",size=" + std::to_string(limit->value());
        }
        if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
          return errno_status("mounting tmpfs for emptyDir " + v.name, errno);
        }
      }
      ::chmod(dir.c_str(), 0777);
      return dir.string();
    }
    case api::Volume::Kind::kHostPath: {
      const std::string path = str(src, "path");
      const std::string type = str(src, "type");
      if (path.empty() || path[0] != '/') return invalid_argument("hostPath " + v.name + ": path must be absolute");
      if (type == "DirectoryOrCreate") {
        fs::create_directories(path, ec);
        if (!ec) ::chmod(path.c_str(), 0755);
      } else if (type == "FileOrCreate" && !fs::exists(path, ec)) {
        fs::create_directories(fs::path(path).parent_path(), ec);
        std::ofstream(path).close();
        ::chmod(path.c_str(), 0644);
      }
      const auto st = fs::status(path, ec);
      if ((type == "Directory" || type == "DirectoryOrCreate") && !fs::is_directory(st)) {
        return not_found("hostPath type check failed: " + path + " is not a directory");
      }
      if ((type == "File" || type == "FileOrCreate") && !fs::is_regular_file(st)) {
        return not_found("hostPath type check failed: " + path + " is not a file");
      }
      if (type == "Socket" && !fs::is_socket(st)) return not_found("hostPath type check failed: " + path + " is not a socket");
      if (type == "CharDevice" && !fs::is_character_file(st)) {
        return not_found("hostPath type check failed: " + path + " is not a character device");
      }
      if (type == "BlockDevice" && !fs::is_block_file(st)) {
        return not_found("hostPath type check failed: " + path + " is not a block device");
      }
      return path;
    }
    case api::Volume::Kind::kConfigMap:
    case api::Volume::Kind::kSecret: {
      const bool cm = v.kind == api::Volume::Kind::kConfigMap;
      const fs::path dir = volumes / (cm ? "kubernetes.io~configmap" : "kubernetes.io~secret") / v.name;
      auto files = object_files(pod, src, cm ? ObjectKind::kConfigMap : ObjectKind::kSecret,
                                cm ? "name" : "secretName", default_mode);
      if (!files.ok()) return keep_offline(dir, files.status());
      KEDGE_RETURN_IF_ERROR(atomic_write(dir, *files).status());
      return dir.string();
    }
    case api::Volume::Kind::kDownwardApi: {
      KEDGE_ASSIGN_OR_RETURN(auto files, downward_files(pod, src, ctx, default_mode));
      const fs::path dir = volumes / "kubernetes.io~downward-api" / v.name;
      KEDGE_RETURN_IF_ERROR(atomic_write(dir, files).status());
      return dir.string();
    }
    case api::Volume::Kind::kProjected: {
      const fs::path dir = volumes / "kubernetes.io~projected" / v.name;
      auto all = [&]() -> Result<FileSet> {
        FileSet out;
        const json::value* sources = src.is_object() ? src.as_object().if_contains("sources") : nullptr;
        for (const auto& s : sources && sources->is_array() ? sources->as_array() : json::array{}) {
          const auto& o = s.as_object();
          FileSet part;
          if (const auto* c = o.if_contains("configMap")) {
            KEDGE_ASSIGN_OR_RETURN(part, object_files(pod, *c, ObjectKind::kConfigMap, "name", default_mode));
          } else if (const auto* sec = o.if_contains("secret")) {
            KEDGE_ASSIGN_OR_RETURN(part, object_files(pod, *sec, ObjectKind::kSecret, "name", default_mode));
          } else if (const auto* d = o.if_contains("downwardAPI")) {
            KEDGE_ASSIGN_OR_RETURN(part, downward_files(pod, *d, ctx, default_mode));
          } else if (const auto* t = o.if_contains("serviceAccountToken")) {
            KEDGE_ASSIGN_OR_RETURN(std::string token, objects_.service_account_token(TokenKey{
                .ns = pod.metadata.namespace_, .service_account = pod.spec.service_account_name,
                .pod_name = pod.metadata.name, .pod_uid = pod.metadata.uid, .audience = str(*t, "audience"),
                .seconds = int_field(*t, "expirationSeconds").value_or(3600)}));
            part[str(*t, "path")] = FileContent{std::move(token), static_cast<mode_t>(default_mode)};
          }
          for (auto& [k, f] : part) out[k] = std::move(f);
        }
        return out;
      }();
      if (!all.ok()) return keep_offline(dir, all.status());
      KEDGE_RETURN_IF_ERROR(atomic_write(dir, *all).status());
      return dir.string();
    }
    case api::Volume::Kind::kPersistentVolumeClaim:
      return prepare_claim(pod, v);
    case api::Volume::Kind::kOther:
      break;
  }
  return unimplemented("volume " + v.name + ": type " + v.source_field + " is not supported by kedge's agent");
}

Result<std::map<std::string, std::string>> VolumeManager::prepare(const api::Pod& pod, const EnvContext& ctx) {
  std::map<std::string, std::string> paths;
  for (const auto& v : pod.spec.volumes) {
    auto path = prepare_one(pod, v, ctx);
    if (!path.ok()) return path.status().with_context("MountVolume.SetUp failed for volume \"" + v.name + "\"");
    paths[v.name] = *path;
  }
  return paths;
}

void VolumeManager::cleanup(const std::string& uid) {
  const fs::path dir = pod_dir(uid);
  std::error_code ec;
  const fs::path empty_dirs = dir / "volumes" / "kubernetes.io~empty-dir";
  for (const auto& entry : fs::directory_iterator(empty_dirs, ec)) {
    if (is_mountpoint(entry.path())) ::umount2(entry.path().c_str(), MNT_DETACH);
  }
  // PVC bind mounts: the data behind them must survive the pod, so the pod
  // directory is removed only once every one is unmounted and empty.
  const fs::path local = dir / "volumes" / "kubernetes.io~local-volume";
  for (const auto& entry : fs::directory_iterator(local, ec)) {
    while (in_mountinfo(entry.path()) && ::umount2(entry.path().c_str(), MNT_DETACH) == 0) {
    }
    std::error_code rm;
    if (in_mountinfo(entry.path()) || !fs::remove(entry.path(), rm)) {
      log::logger("kubelet")->error("pod uid {}: {} is still mounted or not empty; keeping the pod directory", uid,
                                    entry.path().string());
      return;
    }
  }
  fs::remove_all(dir, ec);
}

VolumeManager::VolumeManager(fs::path root, ObjectSource& objects, client::RestClient* api, std::string node_name)
    : root_(std::move(root)), objects_(objects), api_(api) {
  if (api_ != nullptr) {
    reaper_ = std::make_unique<LocalPathReaper>(*api_, std::move(node_name));
    pv_informer_ = std::make_unique<client::Informer>(*api_, client::InformerOptions{.path = "/api/v1/persistentvolumes"});
    pv_informer_->add_handler(reaper_.get());
  }
}

VolumeManager::~VolumeManager() { stop(); }

void VolumeManager::start() {
  if (pv_informer_ && !pv_thread_.joinable()) pv_thread_ = std::thread([this] { (void)pv_informer_->run(); });
}

void VolumeManager::stop() {
  if (!pv_thread_.joinable()) return;
  pv_informer_->stop();
  pv_thread_.join();
}

Result<std::string> VolumeManager::prepare_claim(const api::Pod& pod, const api::Volume& v) {
  const std::string claim_name = str(v.source, "claimName");
  if (api_ == nullptr) return unimplemented("persistentVolumeClaim volumes need the API");
  auto claim = api_->get("/api/v1/namespaces/" + pod.metadata.namespace_ + "/persistentvolumeclaims/" + claim_name);
  if (!claim.ok()) {
    if (claim.status().code() == Code::kNotFound) return not_found("persistentvolumeclaim \"" + claim_name + "\" not found");
    return claim.status();
  }
  const std::string pv_name = str(child(*claim, "spec"), "volumeName");
  if (str(child(*claim, "status"), "phase") != "Bound" || pv_name.empty()) {
    return unavailable("persistentvolumeclaim \"" + claim_name + "\" is not bound");
  }
  KEDGE_ASSIGN_OR_RETURN(auto pv, api_->get("/api/v1/persistentvolumes/" + pv_name));
  const json::value& spec = child(pv, "spec");
  const json::value& host_path = child(spec, "hostPath");
  const fs::path source = host_path.is_object() ? str(host_path, "path") : str(child(spec, "local"), "path");
  if (source.empty() || !source.is_absolute()) {
    return unimplemented("persistentvolume " + pv_name + ": only hostPath and local volumes are supported");
  }
  std::error_code ec;
  const bool ours = annotation(pv, "pv.kubernetes.io/provisioned-by") == kLocalPathProvisioner;
  if ((ours || str(host_path, "type") == "DirectoryOrCreate") && !fs::exists(source, ec)) {
    fs::create_directories(source, ec);
    if (ec) return internal_error("creating " + source.string() + ": " + ec.message());
    if (ours) ::chmod(source.c_str(), 0777);
  }
  if (!fs::exists(source, ec)) return not_found("persistentvolume " + pv_name + ": " + source.string() + " does not exist");
  const fs::path target = pod_dir(pod.metadata.uid) / "volumes" / "kubernetes.io~local-volume" / v.name;
  if (in_mountinfo(target)) return target.string();
  fs::create_directories(target, ec);
  if (ec) return internal_error("creating " + target.string() + ": " + ec.message());
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    return errno_status("bind-mounting " + source.string() + " for claim " + claim_name, errno);
  }
  if (flag(v.source, "readOnly") &&
      ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    const int err = errno;
    ::umount2(target.c_str(), MNT_DETACH);
    return errno_status("remounting claim " + claim_name + " read-only", err);
  }
  return target.string();
}

void LocalPathReaper::reap(const json::value& pv) {
  const json::value& md = child(pv, "metadata");
  if (!md.is_object() || !md.as_object().contains("deletionTimestamp")) return;
  if (annotation(pv, "volume.kubernetes.io/selected-node") != node_name_) return;
  const json::value& finalizers = child(md, "finalizers");
  if (!finalizers.is_array()) return;
  json::array rest;
  bool has = false;
  for (const auto& f : finalizers.as_array()) {
    if (f.is_string() && f.as_string() == kLocalPathCleanupFinalizer) has = true;
    else rest.push_back(f);
  }
  if (!has) return;
  auto logger = log::logger("kubelet");
  const std::string name = str(md, "name");
  const fs::path dir = str(child(child(pv, "spec"), "hostPath"), "path");
  if (is_local_path_dir(dir, name)) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) {
      logger->warn("persistentvolume {}: removing {}: {}", name, dir.string(), ec.message());
      return;  // retried on the next update or relist
    }
    logger->info("persistentvolume {} deleted: removed {}", name, dir.string());
  } else {
    logger->warn("persistentvolume {}: {} is not a local-path directory; not removing it", name, dir.string());
  }
  json::value patch = json::object{
      {"metadata", json::object{{"finalizers", std::move(rest)}, {"resourceVersion", str(md, "resourceVersion")}}}};
  if (auto r = merge_patch(api_, "/api/v1/persistentvolumes/" + name, patch); !r.ok()) {
    logger->warn("persistentvolume {}: dropping finalizer {}: {}", name, kLocalPathCleanupFinalizer, r.status().to_string());
  }
}

}  // namespace kedge::agent::detail

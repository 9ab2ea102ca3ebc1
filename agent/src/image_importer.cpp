#include "kedge/agent/image_importer.h"

#include <algorithm>
#include <set>
#include <system_error>

#include <boost/json.hpp>

#include "kedge/agent/child_process.h"
#include "kedge/agent/oci_image.h"
#include "kedge/agent/tar.h"
#include "kedge/base/log.h"

namespace kedge::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kIndexType = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerListType = "application/vnd.docker.distribution.manifest.list.v2+json";

std::shared_ptr<spdlog::logger> logger() { return log::logger("images"); }

std::string blob_path(std::string_view digest) {
  auto colon = digest.find(':');
  return "blobs/" + std::string(digest.substr(0, colon)) + "/" + std::string(digest.substr(colon + 1));
}

Result<std::map<std::string, std::string>> read_members(const fs::path& tarball, const std::set<std::string>& names) {
  return read_tar_members(tarball, [&](const std::string& n) { return names.contains(n); });
}

Result<json::value> parse_json(const fs::path& tarball, const std::string& member, const std::string& text) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return data_loss(tarball.string() + ": " + member + " is not valid JSON: " + ec.message());
  return v;
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Whether an index entry is for this machine (or says nothing about platforms).
bool platform_matches(const json::object& descriptor) {
  const auto* p = descriptor.if_contains("platform");
  if (p == nullptr || !p->is_object()) return true;
  return string_at(p->as_object(), "os") == "linux" &&
         string_at(p->as_object(), "architecture") == oci_architecture();
}

// OCI layout: index.json -> manifests (one nested index level) -> config digests.
Result<std::vector<ImageRef>> read_oci_refs(const fs::path& tarball, const std::string& index_text) {
  KEDGE_ASSIGN_OR_RETURN(auto index, parse_json(tarball, "index.json", index_text));
  const json::value* top = index.is_object() ? index.as_object().if_contains("manifests") : nullptr;
  if (top == nullptr || !top->is_array()) return data_loss(tarball.string() + ": index.json has no manifests");
  struct Pending {
    std::string name;
    std::string digest;
    bool is_index;
  };
  std::vector<Pending> pending;
  for (const auto& m : top->as_array()) {
    if (!m.is_object()) continue;
    const auto& d = m.as_object();
    std::string name;
    if (const auto* a = d.if_contains("annotations"); a && a->is_object()) {
      name = string_at(a->as_object(), "io.containerd.image.name");
    }
    const std::string type = string_at(d, "mediaType");
    pending.push_back({name, string_at(d, "digest"), type == kIndexType || type == kDockerListType});
  }
  std::vector<ImageRef> refs;
  for (int level = 0; level < 3 && !pending.empty(); ++level) {
    std::set<std::string> want;
    for (const auto& p : pending) want.insert(blob_path(p.digest));
    KEDGE_ASSIGN_OR_RETURN(auto blobs, read_members(tarball, want));
    std::vector<Pending> next;
    for (const auto& p : pending) {
      auto it = blobs.find(blob_path(p.digest));
      if (it == blobs.end()) return data_loss(tarball.string() + ": blob " + p.digest + " is missing");
      KEDGE_ASSIGN_OR_RETURN(auto doc, parse_json(tarball, it->first, it->second));
      if (!doc.is_object()) return data_loss(tarball.string() + ": blob " + p.digest + " is not a JSON object");
      const auto& o = doc.as_object();
      if (p.is_index) {
        const auto* nested = o.if_contains("manifests");
        if (nested == nullptr || !nested->is_array()) {
          return data_loss(tarball.string() + ": index " + p.digest + " has no manifests");
        }
        for (const auto& m : nested->as_array()) {
          if (!m.is_object() || !platform_matches(m.as_object())) continue;
          const std::string type = string_at(m.as_object(), "mediaType");
          next.push_back({p.name, string_at(m.as_object(), "digest"), type == kIndexType || type == kDockerListType});
        }
        continue;
      }
      const auto* config = o.if_contains("config");
      if (config == nullptr || !config->is_object()) {
        return data_loss(tarball.string() + ": manifest " + p.digest + " has no config");
      }
      refs.push_back({p.name.empty() ? std::string() : normalize_image_name(p.name),
                      string_at(config->as_object(), "digest")});
    }
    pending = std::move(next);
  }
  return refs;
}

// docker save: manifest.json lists each image's config file and tags.
Result<std::vector<ImageRef>> read_docker_refs(const fs::path& tarball, const std::string& manifest_text) {
  KEDGE_ASSIGN_OR_RETURN(auto manifest, parse_json(tarball, "manifest.json", manifest_text));
  if (!manifest.is_array()) return data_loss(tarball.string() + ": manifest.json is not a list");
  std::set<std::string> configs;
  for (const auto& e : manifest.as_array()) {
    if (e.is_object()) configs.insert(string_at(e.as_object(), "Config"));
  }
  KEDGE_ASSIGN_OR_RETURN(auto files, read_members(tarball, configs));
  std::vector<ImageRef> refs;
  for (const auto& e : manifest.as_array()) {
    if (!e.is_object()) continue;
    auto it = files.find(string_at(e.as_object(), "Config"));
    if (it == files.end()) return data_loss(tarball.string() + ": an image's config file is missing");
    const std::string digest = sha256_digest(it->second);
    const auto* tags = e.as_object().if_contains("RepoTags");
    bool named = false;
    if (tags && tags->is_array()) {
      for (const auto& t : tags->as_array()) {
        if (!t.is_string()) continue;
        refs.push_back({normalize_image_name(std::string(t.as_string())), digest});
        named = true;
      }
    }
    if (!named) refs.push_back({"", digest});
  }
  return refs;
}

}  // namespace

std::string normalize_image_name(const std::string& name) {
  std::string out = name;
  const auto slash = out.find('/');
  if (slash == std::string::npos) {
    out = "docker.io/library/" + out;
  } else {
    const std::string first = out.substr(0, slash);
    if (first.find_first_of(".:") == std::string::npos && first != "localhost") out = "docker.io/" + out;
  }
  const auto last_slash = out.rfind('/');
  if (out.find('@') == std::string::npos && out.find(':', last_slash) == std::string::npos) out += ":latest";
  return out;
}

Result<std::vector<ImageRef>> read_image_refs(const fs::path& tarball) {
  KEDGE_ASSIGN_OR_RETURN(auto top, read_members(tarball, {"index.json", "manifest.json"}));
  if (auto it = top.find("index.json"); it != top.end()) return read_oci_refs(tarball, it->second);
  if (auto it = top.find("manifest.json"); it != top.end()) return read_docker_refs(tarball, it->second);
  return invalid_argument(tarball.string() + ": neither an OCI image layout (index.json) nor a docker save "
                                             "archive (manifest.json)");
}

std::vector<fs::path> find_image_tarballs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".tar") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<ImportReport> import_images(const ImageImportOptions& options, const std::vector<fs::path>& tarballs,
                                   cri::RuntimeClient& runtime) {
  ImportReport report;
  if (tarballs.empty()) return report;
  KEDGE_ASSIGN_OR_RETURN(auto images, runtime.list_images());
  for (const auto& tarball : tarballs) {
    auto refs = read_image_refs(tarball);
    if (!refs.ok()) {
      logger()->error("skipping image archive: {}", refs.status().message());
      report.failed.emplace_back(tarball, refs.status());
      continue;
    }
    const bool present = !refs->empty() && std::all_of(refs->begin(), refs->end(), [&](const ImageRef& ref) {
      return std::any_of(images.begin(), images.end(), [&](const cri::Image& image) {
        return image.id == ref.config_digest &&
               (ref.name.empty() || std::find(image.repo_tags.begin(), image.repo_tags.end(), ref.name) !=
                                        image.repo_tags.end());
      });
    });
    if (present) {
      logger()->debug("{}: already present", tarball.string());
      report.skipped.push_back(tarball);
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    auto run = run_command({options.ctr_binary, "--address", options.containerd_socket.string(), "--namespace",
                            options.containerd_namespace, "images", "import", "--snapshotter", options.snapshotter,
                            tarball.string()},
                           options.timeout_per_tarball);
    Status st = run.status();
    if (st.ok() && run->exit_code != 0) {
      st = internal_error("ctr images import " + tarball.string() + " exited with " +
                          std::to_string(run->exit_code) + ": " + run->output);
    }
    if (!st.ok()) {
      logger()->error("{}", st.message());
      report.failed.emplace_back(tarball, st);
      continue;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::string names;
    for (const auto& r : *refs) names += (names.empty() ? "" : ", ") + (r.name.empty() ? r.config_digest : r.name);
    logger()->info("imported {} ({}) in {} ms", tarball.filename().string(), names, ms.count());
    report.imported.push_back(tarball);
  }
  return report;
}

}  // namespace kedge::agent

#include "pod_checkpoint.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "kedge/base/file.h"

namespace kedge::agent::detail {

namespace json = boost::json;

namespace {

// The pod without what changes on every write (status, resourceVersion,
// managedFields): what a restarted agent needs to run it again.
std::string stripped(const json::value& pod) {
  json::value v = pod;
  if (auto* o = v.if_object()) {
    o->erase("status");
    if (auto* meta = o->if_contains("metadata"); meta != nullptr && meta->is_object()) {
      meta->as_object().erase("resourceVersion");
      meta->as_object().erase("managedFields");
    }
  }
  return json::serialize(v);
}

}  // namespace

Status PodCheckpoint::put(const std::string& uid, const json::value& pod) {
  std::string s = stripped(pod);
  std::lock_guard lock(mu_);
  auto& slot = pods_[uid];
  if (slot == s) return ok_status();
  slot = std::move(s);
  return write_locked();
}

Status PodCheckpoint::erase(const std::string& uid) {
  std::lock_guard lock(mu_);
  if (pods_.erase(uid) == 0) return ok_status();
  return write_locked();
}

// Through write_file_atomic: a power cut leaves the old checkpoint or the
// new one, never half of one.
Status PodCheckpoint::write_locked() {
  std::string body = "[";
  for (const auto& [uid, pod] : pods_) {
    if (body.size() > 1) body += ",\n";
    body += pod;
  }
  body += "]\n";
  return write_file_atomic(path_, body, 0600).with_context("writing the pod checkpoint");
}

Result<std::vector<client::Object>> PodCheckpoint::load() {
  std::ifstream in(path_);
  if (!in) return std::vector<client::Object>{};
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(text.str(), ec);
  if (ec || !v.is_array()) return data_loss("pod checkpoint " + path_.string() + " is not a JSON array of pods");
  std::vector<client::Object> out;
  std::lock_guard lock(mu_);
  for (auto& pod : v.as_array()) {
    const auto* meta = pod.is_object() ? pod.as_object().if_contains("metadata") : nullptr;
    const auto* uid = meta != nullptr && meta->is_object() ? meta->as_object().if_contains("uid") : nullptr;
    if (uid == nullptr || !uid->is_string()) continue;
    pods_[std::string(uid->as_string())] = stripped(pod);
    out.push_back(std::make_shared<const json::value>(std::move(pod)));
  }
  return out;
}

}  // namespace kedge::agent::detail

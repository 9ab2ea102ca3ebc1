#include "kedge/controllers/statefulset.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "json_path.h"
#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/base/log.h"
#include "kedge/controllers/daemonset.h"
#include "kedge/controllers/rollout.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using path::str_at;

namespace {

// The ordinal in "<sts>-<n>", or -1.
int ordinal_of(std::string_view pod, std::string_view sts) {
  if (pod.size() <= sts.size() + 1 || pod.substr(0, sts.size()) != sts || pod[sts.size()] != '-') return -1;
  std::string_view digits = pod.substr(sts.size() + 1);
  int n = -1;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size() || n < 0) return -1;
  return n;
}

bool running_and_ready(const json::value& pod) {
  return str_at(pod, {"status", "phase"}) == "Running" && is_pod_ready(pod) && !api::get_deletion_timestamp(pod);
}

api::OwnerReference sts_ref(const json::value& sts) {
  return api::OwnerReference{.api_version = "apps/v1",
                             .kind = "StatefulSet",
                             .name = std::string(api::get_name(sts)),
                             .uid = std::string(api::get_uid(sts)),
                             .controller = true,
                             .block_owner_deletion = true};
}

std::string claim_name(const json::value& tmpl, std::string_view sts, int ordinal) {
  return std::string(api::get_name(tmpl)) + "-" + std::string(sts) + "-" + std::to_string(ordinal);
}

}  // namespace

class StatefulSetController::StsHandler final : public client::InformerHandler {
 public:
  explicit StsHandler(StatefulSetController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_delete(const Object&) override {}

 private:
  StatefulSetController& c_;
};

class StatefulSetController::PodHandler final : public client::InformerHandler {
 public:
  explicit PodHandler(StatefulSetController& c) : c_(c) {}
  void on_add(const Object& obj) override { enqueue(*obj); }
  void on_update(const Object&, const Object& obj) override { enqueue(*obj); }
  void on_delete(const Object& obj) override { enqueue(*obj); }

 private:
  void enqueue(const json::value& pod) {
    auto ref = api::get_controller_ref(pod);
    if (ref && ref->kind == "StatefulSet") c_.queue().add(std::string(api::get_namespace(pod)) + "/" + ref->name);
  }
  StatefulSetController& c_;
};

StatefulSetController::StatefulSetController(Transport& transport, StatefulSetControllerOptions options)
    : Controller("statefulset", transport, options.queue),
      options_(std::move(options)),
      sts_handler_(std::make_unique<StsHandler>(*this)),
      pod_handler_(std::make_unique<PodHandler>(*this)) {}

void StatefulSetController::register_watches() {
  transport_.watch(statefulsets_resource(), sts_handler_.get());
  transport_.watch(pods_resource(), pod_handler_.get());
  transport_.watch(persistentvolumeclaims_resource(), nullptr);
}

void StatefulSetController::resync_all() {
  for (const auto& s : transport_.list(statefulsets_resource(), "")) queue().add(object_key(*s));
}

Status StatefulSetController::create_pod(const json::value& sts, int ordinal, const std::string& hash) {
  const std::string ns(api::get_namespace(sts));
  const std::string sts_name(api::get_name(sts));
  const std::string name = sts_name + "-" + std::to_string(ordinal);
  json::value spec = json::object{};
  if (const auto* s = path::at(sts, {"spec", "template", "spec"}); s && s->is_object()) spec = *s;
  auto& so = spec.as_object();
  so["hostname"] = name;
  if (auto svc = str_at(sts, {"spec", "serviceName"}); !svc.empty()) so["subdomain"] = svc;
  // Claims first: a pod must never start without its storage.
  if (const auto* templates = path::array_at(sts, {"spec", "volumeClaimTemplates"})) {
    json::array volumes = so.contains("volumes") && so["volumes"].is_array() ? so["volumes"].as_array() : json::array{};
    for (const auto& t : *templates) {
      std::string claim = claim_name(t, sts_name, ordinal);
      if (!transport_.get(persistentvolumeclaims_resource(), ns, claim)) {
        json::object meta{{"name", claim}, {"namespace", ns}};
        json::object labels;
        if (const auto* l = api::get_labels(t)) labels = *l;
        if (const auto* m = path::object_at(sts, {"spec", "selector", "matchLabels"})) {
          for (const auto& [k, v] : *m) labels[k] = v;
        }
        meta["labels"] = std::move(labels);
        json::value pvc = json::object{{"apiVersion", "v1"},
                                       {"kind", "PersistentVolumeClaim"},
                                       {"metadata", std::move(meta)},
                                       {"spec", t.as_object().contains("spec") ? t.at("spec") : json::value(json::object{})}};
        auto r = transport_.create(persistentvolumeclaims_resource(), ns, pvc);
        if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
          return r.status().with_context("creating claim " + claim);
        }
      }
      std::string vol(api::get_name(t));
      volumes.erase(std::remove_if(volumes.begin(), volumes.end(),
                                   [&](const json::value& v) { return str_at(v, {"name"}) == vol; }),
                    volumes.end());
      volumes.push_back(json::object{{"name", vol}, {"persistentVolumeClaim", json::object{{"claimName", claim}}}});
    }
    so["volumes"] = std::move(volumes);
  }
  json::object labels;
  if (const auto* l = path::object_at(sts, {"spec", "template", "metadata", "labels"})) labels = *l;
  labels[kStatefulSetPodNameLabel] = name;
  labels[kPodIndexLabel] = std::to_string(ordinal);
  labels[kControllerRevisionHashLabel] = sts_name + "-" + hash;
  json::object meta{{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}};
  if (const auto* a = path::object_at(sts, {"spec", "template", "metadata", "annotations"})) meta["annotations"] = *a;
  json::value pod = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", std::move(meta)}, {"spec", std::move(spec)}};
  api::set_owner_references(pod, {sts_ref(sts)});
  auto r = transport_.create(pods_resource(), ns, pod);
  if (!r.ok() && r.status().code() != Code::kAlreadyExists) return r.status().with_context("creating pod " + name);
  return ok_status();
}

Status StatefulSetController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object sts = transport_.get(statefulsets_resource(), ns, name);
  if (!sts || api::get_deletion_timestamp(*sts)) return ok_status();
  const int replicas = static_cast<int>(path::int_at(*sts, {"spec", "replicas"}, 1));
  const bool parallel = str_at(*sts, {"spec", "podManagementPolicy"}) == "Parallel";
  const json::value* tmpl = path::at(*sts, {"spec", "template"});
  const std::string hash = pod_template_hash(tmpl ? *tmpl : json::value(json::object{}), 0);
  const std::string update_revision = name + "-" + hash;

  std::map<int, Object> pods;  // ordinal → pod
  for (const auto& pod : transport_.list(pods_resource(), ns)) {
    auto ref = api::get_controller_ref(*pod);
    int ordinal = ordinal_of(api::get_name(*pod), name);
    if (ref && ref->uid == api::get_uid(*sts) && ordinal >= 0) pods[ordinal] = pod;
  }
  auto remove = [&](const Object& pod) {
    Status s = transport_.remove(pods_resource(), ns, api::get_name(*pod),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(*pod))});
    return s.ok() || s.code() == Code::kNotFound ? ok_status() : s;
  };
  Status result = ok_status();
  auto note = [&](Status s) {
    if (!s.ok() && result.ok()) result = std::move(s);
  };
  // Replicas, ascending: failed pods go, missing ones come (in order unless Parallel).
  bool blocked = false;
  for (int i = 0; i < replicas && !blocked; ++i) {
    auto it = pods.find(i);
    if (it == pods.end()) {
      note(create_pod(*sts, i, hash));
      blocked = !parallel;
      continue;
    }
    const Object& pod = it->second;
    if (str_at(*pod, {"status", "phase"}) == "Failed" && !api::get_deletion_timestamp(*pod)) {
      note(remove(pod));
      blocked = !parallel;
      continue;
    }
    if (!parallel && !running_and_ready(*pod)) blocked = true;
  }
  // Condemned ordinals, highest first.
  bool all_ready = !blocked;
  for (int i = 0; i < replicas && all_ready; ++i) all_ready = pods.contains(i) && running_and_ready(*pods[i]);
  for (auto it = pods.rbegin(); it != pods.rend(); ++it) {
    if (it->first < replicas) break;
    if (api::get_deletion_timestamp(*it->second)) {
      if (!parallel) break;  // wait for it to go
      continue;
    }
    if (!parallel && !all_ready) break;
    note(remove(it->second));
    if (!parallel) break;
  }
  // Rolling update: the highest outdated ordinal >= partition, one at a time.
  bool condemned_left = !pods.empty() && pods.rbegin()->first >= replicas;
  if (str_at(*sts, {"spec", "updateStrategy", "type"}) != "OnDelete" && all_ready && !condemned_left) {
    int partition = static_cast<int>(path::int_at(*sts, {"spec", "updateStrategy", "rollingUpdate", "partition"}, 0));
    for (int i = replicas - 1; i >= std::max(partition, 0); --i) {
      if (api::get_label(*pods[i], kControllerRevisionHashLabel) != update_revision) {
        note(remove(pods[i]));
        break;
      }
    }
  }

  // Status.
  std::int64_t count = 0, ready = 0, updated = 0, current = 0;
  std::string current_revision(str_at(*sts, {"status", "currentRevision"}));
  if (current_revision.empty()) current_revision = update_revision;
  for (const auto& [i, pod] : pods) {
    if (api::get_deletion_timestamp(*pod)) continue;
    ++count;
    if (running_and_ready(*pod)) ++ready;
    auto rev = api::get_label(*pod, kControllerRevisionHashLabel);
    if (rev == update_revision) ++updated;
    if (rev == current_revision) ++current;
  }
  if (updated == replicas && count == replicas) {
    current_revision = update_revision;
    current = updated;
  }
  json::object status{{"replicas", count},
                      {"readyReplicas", ready},
                      {"availableReplicas", ready},
                      {"currentReplicas", current},
                      {"updatedReplicas", updated},
                      {"currentRevision", current_revision},
                      {"updateRevision", update_revision},
                      {"collisionCount", 0},
                      {"observedGeneration", api::get_generation(*sts)}};
  const json::value* old_status = sts->as_object().if_contains("status");
  if (!old_status || !api::json_equal(*old_status, json::value(status))) {
    json::value updated_sts = *sts;
    updated_sts.as_object()["status"] = std::move(status);
    auto r = transport_.update_status(statefulsets_resource(), updated_sts);
    if (!r.ok() && r.status().code() != Code::kNotFound) note(r.status().with_context("updating status"));
  }
  return result;
}

}  // namespace kedge::controllers

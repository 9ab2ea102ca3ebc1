#include "kedge/controllers/volume_binding.h"

#include <algorithm>
#include <cstdlib>

#include "json_path.h"
#include "kedge/api/meta.h"
#include "kedge/api/quantity.h"
#include "kedge/api/selectors.h"

namespace kedge::controllers::volumes {

namespace json = boost::json;

namespace {

bool contains(const json::array* values, std::string_view v) {
  if (values == nullptr) return false;
  return std::any_of(values->begin(), values->end(), [&](const json::value& x) { return x.is_string() && x.as_string() == v; });
}

bool requirement_matches(const json::value& req, const json::object* labels) {
  const std::string_view key = path::str_at(req, {"key"});
  const std::string_view op = path::str_at(req, {"operator"});
  const json::array* values = path::array_at(req, {"values"});
  const json::value* label = labels != nullptr ? labels->if_contains(key) : nullptr;
  const bool has = label != nullptr && label->is_string();
  const std::string_view value = has ? std::string_view(label->as_string()) : std::string_view();
  if (op == "In") return has && contains(values, value);
  if (op == "NotIn") return !has || !contains(values, value);
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    if (!has || values == nullptr || values->size() != 1 || !(*values)[0].is_string()) return false;
    const long long have = std::strtoll(std::string(value).c_str(), nullptr, 10);
    const long long want = std::strtoll((*values)[0].as_string().c_str(), nullptr, 10);
    return op == "Gt" ? have > want : have < want;
  }
  return false;
}

bool term_matches(const json::value& term, const NodeRef& node) {
  const json::array* exprs = path::array_at(term, {"matchExpressions"});
  const json::array* fields = path::array_at(term, {"matchFields"});
  if ((exprs == nullptr || exprs->empty()) && (fields == nullptr || fields->empty())) return false;
  for (const auto& e : exprs != nullptr ? *exprs : json::array{}) {
    if (!requirement_matches(e, node.labels)) return false;
  }
  const json::object name_label{{"metadata.name", node.name}};
  for (const auto& f : fields != nullptr ? *fields : json::array{}) {
    if (path::str_at(f, {"key"}) != "metadata.name" || !requirement_matches(f, &name_label)) return false;
  }
  return true;
}

std::optional<api::Quantity> quantity_at(const json::value& v, std::initializer_list<std::string_view> keys) {
  const json::value* q = path::at(v, keys);
  if (q == nullptr) return std::nullopt;
  auto parsed = api::Quantity::from_json(*q);
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

std::string_view volume_mode(const json::value& obj) {
  const std::string_view mode = path::str_at(obj, {"spec", "volumeMode"});
  return mode.empty() ? "Filesystem" : mode;
}

bool has_access_modes(const json::value& pv, const json::value& claim) {
  const json::array* have = path::array_at(pv, {"spec", "accessModes"});
  const json::array* want = path::array_at(claim, {"spec", "accessModes"});
  for (const auto& m : want != nullptr ? *want : json::array{}) {
    if (!m.is_string() || !contains(have, m.as_string())) return false;
  }
  return true;
}

}  // namespace

bool node_affinity_matches(const json::value& pv, const NodeRef& node) {
  const json::array* terms = path::array_at(pv, {"spec", "nodeAffinity", "required", "nodeSelectorTerms"});
  if (terms == nullptr) return true;
  const json::object hostname_only{{"kubernetes.io/hostname", node.name}};
  const NodeRef n{.name = node.name, .labels = node.labels != nullptr ? node.labels : &hostname_only};
  return std::any_of(terms->begin(), terms->end(), [&](const json::value& t) { return term_matches(t, n); });
}

std::string claim_class(const json::value& claim) {
  if (const json::value* c = path::at(claim, {"spec", "storageClassName"}); c != nullptr && c->is_string()) {
    return std::string(c->as_string());
  }
  return api::get_annotation(claim, "volume.beta.kubernetes.io/storage-class").value_or("");
}

std::string volume_class(const json::value& pv) {
  if (const json::value* c = path::at(pv, {"spec", "storageClassName"}); c != nullptr && c->is_string()) {
    return std::string(c->as_string());
  }
  return api::get_annotation(pv, "volume.beta.kubernetes.io/storage-class").value_or("");
}

bool volume_bound_to_claim(const json::value& pv, const json::value& claim) {
  const json::object* ref = path::object_at(pv, {"spec", "claimRef"});
  if (ref == nullptr) return false;
  const json::value& r = *path::at(pv, {"spec", "claimRef"});
  if (path::str_at(r, {"name"}) != api::get_name(claim) || path::str_at(r, {"namespace"}) != api::get_namespace(claim)) {
    return false;
  }
  const std::string_view uid = path::str_at(r, {"uid"});
  return uid.empty() || uid == api::get_uid(claim);
}

const json::value* find_matching_volume(const json::value& claim, const std::vector<client::Object>& volumes,
                                        const std::optional<NodeRef>& node, bool delay_binding) {
  const auto request = quantity_at(claim, {"spec", "resources", "requests", "storage"});
  const std::string cls = claim_class(claim);
  api::LabelSelector selector;
  if (const json::value* s = path::at(claim, {"spec", "selector"}); s != nullptr && s->is_object()) {
    auto parsed = api::LabelSelector::from_json(*s);
    if (!parsed.ok()) return nullptr;
    selector = *parsed;
  }
  const json::value* smallest = nullptr;
  std::optional<api::Quantity> smallest_size;
  for (const auto& obj : volumes) {
    const json::value& pv = *obj;
    if (api::get_deletion_timestamp(pv)) continue;
    if (volume_mode(pv) != volume_mode(claim) || !has_access_modes(pv, claim)) continue;
    const bool claimed = path::object_at(pv, {"spec", "claimRef"}) != nullptr;
    if (claimed && !volume_bound_to_claim(pv, claim)) continue;
    if (node && !node_affinity_matches(pv, *node)) continue;
    const auto size = quantity_at(pv, {"spec", "capacity", "storage"});
    const bool big_enough = !request || (size && *size >= *request);
    if (claimed) {  // pre-bound to this claim (by the user or an earlier sync)
      if (big_enough) return &pv;
      continue;
    }
    if (delay_binding && !node) continue;
    if (path::str_at(pv, {"status", "phase"}) != "Available") continue;
    if (volume_class(pv) != cls || !selector.matches(api::get_labels(pv)) || !big_enough) continue;
    if (smallest == nullptr || (size && smallest_size && *size < *smallest_size)) {
      smallest = &pv;
      smallest_size = size;
    }
  }
  return smallest;
}

std::vector<std::string> pod_claim_names(const json::value& pod) {
  std::vector<std::string> out;
  const json::array* vols = path::array_at(pod, {"spec", "volumes"});
  for (const auto& v : vols != nullptr ? *vols : json::array{}) {
    if (const json::object* c = path::object_at(v, {"persistentVolumeClaim"})) {
      const json::value* name = c->if_contains("claimName");
      if (name != nullptr && name->is_string()) out.emplace_back(name->as_string());
    } else if (path::object_at(v, {"ephemeral"}) != nullptr) {
      out.push_back(std::string(api::get_name(pod)) + "-" + std::string(path::str_at(v, {"name"})));
    }
  }
  return out;
}

}  // namespace kedge::controllers::volumes

#include <algorithm>

#include "kedge/scheduler/types.h"

namespace kedge::scheduler {

std::int64_t Resources::scalar_value(std::string_view name) const {
  auto it = std::lower_bound(scalar.begin(), scalar.end(), name,
                             [](const auto& e, std::string_view n) { return e.first < n; });
  return it != scalar.end() && it->first == name ? it->second : 0;
}

namespace {

// Merges `other` into `into` (both sorted by name) with `op` on matches.
template <typename Op>
void merge_scalars(std::vector<std::pair<std::string, std::int64_t>>& into,
                   const std::vector<std::pair<std::string, std::int64_t>>& other, Op op) {
  for (const auto& [name, v] : other) {
    auto it = std::lower_bound(into.begin(), into.end(), name,
                               [](const auto& e, const std::string& n) { return e.first < n; });
    if (it != into.end() && it->first == name) {
      it->second = op(it->second, v);
    } else {
      into.insert(it, {name, op(0, v)});
    }
  }
  std::erase_if(into, [](const auto& e) { return e.second == 0; });
}

}  // namespace

void Resources::add(const Resources& o) {
  milli_cpu += o.milli_cpu;
  memory += o.memory;
  ephemeral_storage += o.ephemeral_storage;
  pods += o.pods;
  if (!o.scalar.empty()) merge_scalars(scalar, o.scalar, [](std::int64_t a, std::int64_t b) { return a + b; });
}

void Resources::subtract(const Resources& o) {
  milli_cpu -= o.milli_cpu;
  memory -= o.memory;
  ephemeral_storage -= o.ephemeral_storage;
  pods -= o.pods;
  if (!o.scalar.empty()) merge_scalars(scalar, o.scalar, [](std::int64_t a, std::int64_t b) { return a - b; });
}

void Resources::set_max(const Resources& o) {
  milli_cpu = std::max(milli_cpu, o.milli_cpu);
  memory = std::max(memory, o.memory);
  ephemeral_storage = std::max(ephemeral_storage, o.ephemeral_storage);
  pods = std::max(pods, o.pods);
  if (!o.scalar.empty()) merge_scalars(scalar, o.scalar, [](std::int64_t a, std::int64_t b) { return std::max(a, b); });
}

bool Resources::zero() const {
  return milli_cpu == 0 && memory == 0 && ephemeral_storage == 0 && scalar.empty();
}

std::string_view taint_effect_name(TaintEffect effect) {
  switch (effect) {
    case TaintEffect::kNoSchedule: return "NoSchedule";
    case TaintEffect::kPreferNoSchedule: return "PreferNoSchedule";
    case TaintEffect::kNoExecute: return "NoExecute";
  }
  return "";
}

bool Toleration::tolerates(const Taint& taint) const {
  if (effect && *effect != taint.effect) return false;
  if (!key.empty() && key != taint.key) return false;
  if (op_exists) return true;  // an empty key with Exists matches every key
  return value == taint.value;
}

bool tolerated(const std::vector<Toleration>& tolerations, const Taint& taint) {
  for (const auto& t : tolerations) {
    if (t.tolerates(taint)) return true;
  }
  return false;
}

bool TopologySpreadConstraint::matches(const boost::json::object* labels) const {
  if (!selector.matches(labels)) return false;
  for (const auto& [k, v] : match_labels_from_keys) {
    if (labels == nullptr) return false;
    auto it = labels->find(k);
    if (it == labels->end() || !it->value().is_string() || it->value().get_string() != v) return false;
  }
  return true;
}

const std::string* NodeInfo::label(std::string_view key) const {
  auto it = std::lower_bound(labels.begin(), labels.end(), key,
                             [](const auto& e, std::string_view k) { return e.first < k; });
  return it != labels.end() && it->first == key ? &it->second : nullptr;
}

std::string normalize_image_name(std::string_view image) {
  std::string out(image);
  auto colon = out.rfind(':');
  auto slash = out.rfind('/');
  bool has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (!has_tag) out += ":latest";
  return out;
}

}  // namespace kedge::scheduler

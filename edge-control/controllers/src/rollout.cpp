#include "kedge/controllers/rollout.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <boost/json/serialize.hpp>

#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"

namespace kedge::controllers {

namespace json = boost::json;

Result<int> scaled_value(const json::value* v, int total, bool round_up) {
  if (!v || v->is_null()) return 0;
  if (auto* i = v->if_int64()) return static_cast<int>(*i);
  if (auto* u = v->if_uint64()) return static_cast<int>(*u);
  const auto* s = v->if_string();
  if (!s) return invalid_argument("invalid value for IntOrString: invalid type: neither int nor percentage");
  std::string_view text = *s;
  if (text.empty() || text.back() != '%') {
    return invalid_argument("invalid value for IntOrString: invalid type: string is not a percentage");
  }
  int percent = 0;
  auto digits = text.substr(0, text.size() - 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent);
  if (ec != std::errc{} || end != digits.data() + digits.size()) {
    return invalid_argument("invalid value for IntOrString: invalid value \"" + std::string(text) + "\"");
  }
  // Integer arithmetic avoids 0.1-style float error on exact multiples.
  long long num = static_cast<long long>(percent) * total;
  long long q = num / 100;
  if (round_up && num % 100 != 0 && num > 0) ++q;
  return static_cast<int>(q);
}

Result<Fenceposts> resolve_fenceposts(const json::value* max_surge, const json::value* max_unavailable, int desired) {
  static const json::value kDefault = "25%";
  KEDGE_ASSIGN_OR_RETURN(int surge, scaled_value(max_surge ? max_surge : &kDefault, desired, true));
  KEDGE_ASSIGN_OR_RETURN(int unavailable,
                         scaled_value(max_unavailable ? max_unavailable : &kDefault, desired, false));
  if (surge == 0 && unavailable == 0) unavailable = 1;
  return Fenceposts{.max_surge = surge, .max_unavailable = unavailable};
}

int rolling_new_rs_replicas(int desired, int max_surge, int total_spec, int new_rs_replicas) {
  int max_total = desired + max_surge;
  if (total_spec >= max_total) return new_rs_replicas;  // cannot scale up
  int scale_up = std::min(max_total - total_spec, desired - new_rs_replicas);
  return new_rs_replicas + std::max(scale_up, 0);
}

std::vector<int> plan_old_rs_scale_down(int desired, int max_unavailable, const std::vector<RsCounts>& old_sorted,
                                        const RsCounts& new_rs) {
  std::vector<int> out;
  int old_total = 0;
  for (const auto& rs : old_sorted) {
    out.push_back(rs.replicas);
    old_total += rs.replicas;
  }
  if (old_total == 0) return out;
  int all_total = old_total + new_rs.replicas;
  int min_available = desired - max_unavailable;
  int new_unavailable = new_rs.replicas - new_rs.available;
  int max_scaled_down = all_total - min_available - new_unavailable;
  if (max_scaled_down <= 0) return out;

  // 1. Unhealthy replicas of old ReplicaSets cost no availability.
  int cleaned = 0;
  for (std::size_t i = 0; i < old_sorted.size() && cleaned < max_scaled_down; ++i) {
    int unhealthy = out[i] - old_sorted[i].available;
    if (out[i] == 0 || unhealthy <= 0) continue;
    int n = std::min(max_scaled_down - cleaned, unhealthy);
    out[i] -= n;
    cleaned += n;
  }
  // 2. Healthy ones only while availability stays above the floor. A
  // ReplicaSet's status lags its own spec: right after a scale-down its
  // status still counts the pods being deleted, so availability is capped
  // at each spec (else the next sync would scale down again and dip below
  // the floor).
  int available = std::min(new_rs.available, new_rs.replicas);
  for (std::size_t i = 0; i < old_sorted.size(); ++i) available += std::min(old_sorted[i].available, out[i]);
  if (available <= min_available) return out;
  int budget = available - min_available;
  int scaled = 0;
  for (std::size_t i = 0; i < out.size() && scaled < budget; ++i) {
    if (out[i] == 0) continue;
    int n = std::min(out[i], budget - scaled);
    out[i] -= n;
    scaled += n;
  }
  return out;
}

namespace {

void canonical_into(const json::value& v, std::string& out) {
  if (const auto* o = v.if_object()) {
    std::vector<std::pair<std::string_view, const json::value*>> items;
    for (const auto& kv : *o) items.emplace_back(kv.key(), &kv.value());
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out += '{';
    bool first = true;
    for (const auto& [k, val] : items) {
      if (!first) out += ',';
      first = false;
      out += json::serialize(json::value(k));
      out += ':';
      canonical_into(*val, out);
    }
    out += '}';
  } else if (const auto* a = v.if_array()) {
    out += '[';
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (i) out += ',';
      canonical_into((*a)[i], out);
    }
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

json::value without_hash(const json::value& tmpl) {
  json::value copy = tmpl;
  if (copy.is_object()) api::remove_label(copy, kPodTemplateHashLabel);
  // An emptied labels map and a missing one are the same template.
  if (auto* meta = copy.is_object() ? copy.as_object().if_contains("metadata") : nullptr) {
    if (meta->is_object()) {
      auto& m = meta->as_object();
      if (auto* l = m.if_contains("labels"); l && l->is_object() && l->as_object().empty()) m.erase("labels");
      if (m.empty()) copy.as_object().erase("metadata");
    }
  }
  return copy;
}

}  // namespace

std::string canonical_json(const json::value& v) {
  std::string out;
  canonical_into(v, out);
  return out;
}

std::string pod_template_hash(const json::value& pod_template, std::int64_t collision_count) {
  std::uint32_t h = 2166136261u;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(canonical_json(without_hash(pod_template)));
  if (collision_count > 0) mix(std::to_string(collision_count));
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string digits = std::to_string(h);
  std::string out;
  for (unsigned char c : digits) out += kAlphabet[c % kAlphabet.size()];
  return out;
}

bool templates_equal_ignore_hash(const json::value& a, const json::value& b) {
  return api::json_equal(without_hash(a), without_hash(b));
}

}  // namespace kedge::controllers

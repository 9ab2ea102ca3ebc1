#include "kedge/controllers/pod_util.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

#include "kedge/api/meta.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

std::string_view str_at(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (auto key : path) {
    const auto* obj = cur->if_object();
    if (!obj) return {};
    auto it = obj->find(key);
    if (it == obj->end()) return {};
    cur = &it->value();
  }
  if (const auto* s = cur->if_string()) return *s;
  return {};
}

const json::object* ready_condition(const json::value& pod) {
  const auto* obj = pod.if_object();
  if (!obj) return nullptr;
  auto st = obj->find("status");
  if (st == obj->end() || !st->value().is_object()) return nullptr;
  auto conds = st->value().as_object().find("conditions");
  if (conds == st->value().as_object().end() || !conds->value().is_array()) return nullptr;
  for (const auto& c : conds->value().as_array()) {
    if (c.is_object() && str_at(c, {"type"}) == "Ready") return &c.as_object();
  }
  return nullptr;
}

int phase_rank(std::string_view phase) {
  if (phase == "Pending" || phase.empty()) return 0;
  if (phase == "Unknown") return 1;
  if (phase == "Running") return 2;
  return 3;
}

int restarts(const json::value& pod) {
  int max = 0;
  const auto* obj = pod.if_object();
  if (!obj || !obj->contains("status") || !obj->at("status").is_object()) return 0;
  const auto& st = obj->at("status").as_object();
  auto it = st.find("containerStatuses");
  if (it == st.end() || !it->value().is_array()) return 0;
  for (const auto& cs : it->value().as_array()) {
    if (!cs.is_object()) continue;
    auto rc = cs.as_object().find("restartCount");
    if (rc != cs.as_object().end() && rc->value().is_int64()) {
      max = std::max(max, static_cast<int>(rc->value().as_int64()));
    }
  }
  return max;
}

SystemTime created(const json::value& pod) {
  auto t = api::parse_rfc3339(api::get_creation_timestamp(pod));
  return t.ok() ? *t : SystemTime{};
}

// controller.kubernetes.io/pod-deletion-cost: lower cost is deleted first;
// unparsable or missing counts as 0, as upstream.
std::int64_t deletion_cost(const json::value& pod) {
  auto v = api::get_annotation(pod, "controller.kubernetes.io/pod-deletion-cost");
  if (!v) return 0;
  try {
    std::size_t used = 0;
    long long n = std::stoll(*v, &used);
    if (used != v->size() || n < INT32_MIN || n > INT32_MAX) return 0;
    return n;
  } catch (...) {
    return 0;
  }
}

}  // namespace

bool is_pod_active(const json::value& pod) {
  auto phase = str_at(pod, {"status", "phase"});
  return phase != "Succeeded" && phase != "Failed" && !api::get_deletion_timestamp(pod);
}

bool is_pod_ready(const json::value& pod) {
  const auto* c = ready_condition(pod);
  return c && str_at(json::value(*c), {"status"}) == "True";
}

std::optional<SystemTime> pod_ready_since(const json::value& pod) {
  const auto* c = ready_condition(pod);
  if (!c) return std::nullopt;
  auto status = c->find("status");
  if (status == c->end() || !status->value().is_string() || status->value().as_string() != "True") return std::nullopt;
  auto ltt = c->find("lastTransitionTime");
  if (ltt == c->end() || !ltt->value().is_string()) return std::nullopt;
  auto t = api::parse_rfc3339(ltt->value().as_string());
  if (!t.ok()) return std::nullopt;
  return *t;
}

bool is_pod_available(const json::value& pod, int min_ready_seconds, SystemTime now) {
  if (!is_pod_ready(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  auto since = pod_ready_since(pod);
  if (!since) return false;
  return *since + std::chrono::seconds(min_ready_seconds) <= now;
}

void rank_pods_for_deletion(std::vector<Object>& pods, const std::vector<Object>& related, SystemTime now) {
  std::map<std::string, int> per_node;
  for (const auto& p : related) {
    auto node = str_at(*p, {"spec", "nodeName"});
    if (!node.empty() && is_pod_active(*p)) ++per_node[std::string(node)];
  }
  struct Key {
    int scheduled, phase, ready;
    std::int64_t deletion_cost;
    int neg_colocated, ready_bucket, neg_restarts;
    std::int64_t neg_created;
    std::string name;
  };
  auto key_of = [&](const Object& p) {
    auto node = str_at(*p, {"spec", "nodeName"});
    int colocated = node.empty() ? 0 : per_node[std::string(node)];
    int bucket = 0;
    if (auto since = pod_ready_since(*p)) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - *since).count();
      // Ready for less time → smaller bucket → deleted first.
      bucket = secs <= 0 ? 0 : 1 + static_cast<int>(std::floor(std::log2(static_cast<double>(secs))));
    }
    return Key{.scheduled = node.empty() ? 0 : 1,
               .phase = phase_rank(str_at(*p, {"status", "phase"})),
               .ready = is_pod_ready(*p) ? 1 : 0,
               .deletion_cost = deletion_cost(*p),
               .neg_colocated = -colocated,
               .ready_bucket = bucket,
               .neg_restarts = -restarts(*p),
               .neg_created = -std::chrono::duration_cast<std::chrono::seconds>(created(*p).time_since_epoch()).count(),
               .name = std::string(api::get_name(*p))};
  };
  std::vector<std::pair<Key, Object>> keyed;
  keyed.reserve(pods.size());
  for (auto& p : pods) keyed.emplace_back(key_of(p), p);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    const Key& x = a.first;
    const Key& y = b.first;
    return std::tie(x.scheduled, x.phase, x.ready, x.deletion_cost, x.neg_colocated, x.ready_bucket, x.neg_restarts, x.neg_created,
                    x.name) < std::tie(y.scheduled, y.phase, y.ready, y.deletion_cost, y.neg_colocated, y.ready_bucket, y.neg_restarts,
                                       y.neg_created, y.name);
  });
  for (std::size_t i = 0; i < pods.size(); ++i) pods[i] = keyed[i].second;
}

}  // namespace kedge::controllers

// Private: the cache's data structures, shared by cache.cpp and the plugins.
// Same thread-safety as Cache (single owner thread).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kedge/scheduler/cache.h"

namespace kedge::scheduler {

// Interned label keys and values, so node label lookups and topology pairs
// compare integers instead of strings. Id 0 is "none".
inline constexpr std::uint32_t kNoId = 0;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class StringPool {
 public:
  std::uint32_t intern(std::string_view s);
  // kNoId when `s` was never interned (so nothing carries it).
  std::uint32_t find(std::string_view s) const;
  const std::string& str(std::uint32_t id) const { return strings_[id - 1]; }

 private:
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids_;
  std::deque<std::string> strings_;
};

// Label (key id, value id) pairs sorted by key id.
using LabelIds = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

inline std::uint32_t label_value(const LabelIds& labels, std::uint32_t key) {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return kNoId;
}

// A (topology key, value) pair as one integer for hash maps.
inline std::uint64_t pair_key(std::uint32_t key, std::uint32_t value) {
  return (static_cast<std::uint64_t>(key) << 32) | value;
}

struct NodeSlot;

struct PodEntry {
  std::shared_ptr<const PodInfo> pod;
  NodeSlot* node = nullptr;  // never null while cached
  bool assumed = false;
  std::uint32_t ns_id = kNoId;
  LabelIds labels;
  std::size_t ns_pos = 0;  // position in NsIndex::all
};

struct UsedPort {
  std::string host_ip;
  std::string protocol;
  std::int32_t port = 0;
  int refs = 0;
};

struct NodeSlot {
  std::string name;
  std::shared_ptr<const NodeInfo> node;  // null: known only through pods
  LabelIds labels;
  std::size_t live_pos = 0;  // position in Cache::Impl::live when node != null
  Resources requested;
  std::int64_t nz_milli_cpu = 0;
  std::int64_t nz_memory = 0;
  std::vector<PodEntry*> pods;
  std::vector<UsedPort> ports;
};

enum class TermKind : char { kRequiredAffinity = 'a', kRequiredAnti = 'A', kPreferredAffinity = 'p', kPreferredAnti = 'P' };

// Every existing pod's identical affinity term, counted per topology value.
struct TermGroup {
  PodAffinityTerm term;
  TermKind kind = TermKind::kRequiredAffinity;
  std::uint32_t topology_key = kNoId;
  std::unordered_map<std::uint32_t, std::int64_t> counts;  // value id -> terms there
  std::int64_t refs = 0;
};

struct NsIndex {
  std::vector<PodEntry*> all;
  std::unordered_map<std::uint64_t, std::vector<PodEntry*>> by_label;  // pair_key(key, value)
};

struct Cache::Impl {
  StringPool pool;
  std::unordered_map<std::string, std::unique_ptr<NodeSlot>, StringHash, std::equal_to<>> slots;
  std::vector<NodeSlot*> live;  // existing nodes: the scheduler's candidates, in a stable order
  std::unordered_map<std::string, std::unique_ptr<PodEntry>, StringHash, std::equal_to<>> pods;
  std::unordered_map<std::uint32_t, NsIndex> by_ns;
  std::unordered_map<std::string, TermGroup> term_groups;
  std::unordered_map<std::string, int, StringHash, std::equal_to<>> image_nodes;
  std::unordered_map<std::string, boost::json::object, StringHash, std::equal_to<>> namespaces;

  NodeSlot& slot(std::string_view name);
  LabelIds intern_labels(const std::vector<std::pair<std::string, std::string>>& labels);
  LabelIds intern_labels(const boost::json::object& labels);
  // Adds (+1) or removes (-1) a pod's contribution to its node and the indexes.
  void account(PodEntry& entry, int sign);
  void contribute_terms(PodEntry& entry, int sign);
  void insert_pod(std::shared_ptr<const PodInfo> pod, NodeSlot& node, bool assumed);
  void erase_pod(std::string_view key);
  void maybe_drop_slot(NodeSlot& slot);

  // Namespace labels for namespaceSelector terms; nullptr when unknown.
  const boost::json::object* namespace_labels(std::string_view ns) const;
  // Whether `term` (declared by some pod) selects `pod` (namespace and labels).
  bool term_matches(const PodAffinityTerm& term, const PodInfo& pod) const;
  // Calls fn(PodEntry&) for every cached pod in `ns` that may match
  // `selector` (a superset: callers still check the selector).
  template <typename Fn>
  void for_each_candidate(std::string_view ns, const api::LabelSelector& selector, Fn&& fn) const;
};

template <typename Fn>
void Cache::Impl::for_each_candidate(std::string_view ns, const api::LabelSelector& selector, Fn&& fn) const {
  if (selector.matches_nothing()) return;
  std::uint32_t ns_id = pool.find(ns);
  if (ns_id == kNoId) return;
  auto it = by_ns.find(ns_id);
  if (it == by_ns.end()) return;
  const NsIndex& idx = it->second;
  // Narrow through one requirement that pins the key to a few values.
  for (const auto& req : selector.requirements()) {
    using Op = api::LabelSelector::Op;
    if (req.op != Op::kIn && req.op != Op::kEquals && req.op != Op::kDoubleEquals) continue;
    std::uint32_t key = pool.find(req.key);
    if (key == kNoId) return;  // no pod carries the key
    for (const auto& value : req.values) {
      std::uint32_t v = pool.find(value);
      if (v == kNoId) continue;
      auto hit = idx.by_label.find(pair_key(key, v));
      if (hit == idx.by_label.end()) continue;
      for (PodEntry* e : hit->second) fn(*e);
    }
    return;
  }
  for (PodEntry* e : idx.all) fn(*e);
}

}  // namespace kedge::scheduler

#include <algorithm>

#include "cache_impl.h"

namespace kedge::scheduler {

std::uint32_t StringPool::intern(std::string_view s) {
  auto it = ids_.find(s);
  if (it != ids_.end()) return it->second;
  strings_.emplace_back(s);
  auto id = static_cast<std::uint32_t>(strings_.size());
  ids_.emplace(strings_.back(), id);
  return id;
}

std::uint32_t StringPool::find(std::string_view s) const {
  auto it = ids_.find(s);
  return it == ids_.end() ? kNoId : it->second;
}

namespace {

template <typename T>
void swap_remove(std::vector<T*>& v, T* x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

void add_ports(NodeSlot& node, const PodInfo& pod, int sign) {
  for (const auto& hp : pod.host_ports) {
    auto it = std::find_if(node.ports.begin(), node.ports.end(), [&](const UsedPort& u) {
      return u.port == hp.port && u.protocol == hp.protocol && u.host_ip == hp.host_ip;
    });
    if (sign > 0) {
      if (it == node.ports.end()) {
        node.ports.push_back(UsedPort{.host_ip = hp.host_ip, .protocol = hp.protocol, .port = hp.port, .refs = 1});
      } else {
        ++it->refs;
      }
    } else if (it != node.ports.end() && --it->refs <= 0) {
      *it = std::move(node.ports.back());
      node.ports.pop_back();
    }
  }
}

}  // namespace

NodeSlot& Cache::Impl::slot(std::string_view name) {
  auto it = slots.find(name);
  if (it != slots.end()) return *it->second;
  auto s = std::make_unique<NodeSlot>();
  s->name = std::string(name);
  NodeSlot& ref = *s;
  slots.emplace(std::string(name), std::move(s));
  return ref;
}

LabelIds Cache::Impl::intern_labels(const std::vector<std::pair<std::string, std::string>>& labels) {
  LabelIds out;
  out.reserve(labels.size());
  for (const auto& [k, v] : labels) out.emplace_back(pool.intern(k), pool.intern(v));
  std::sort(out.begin(), out.end());
  return out;
}

LabelIds Cache::Impl::intern_labels(const boost::json::object& labels) {
  LabelIds out;
  out.reserve(labels.size());
  for (const auto& kv : labels) {
    if (kv.value().is_string()) out.emplace_back(pool.intern(kv.key()), pool.intern(kv.value().get_string()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

const boost::json::object* Cache::Impl::namespace_labels(std::string_view ns) const {
  auto it = namespaces.find(ns);
  return it == namespaces.end() ? nullptr : &it->second;
}

bool Cache::Impl::term_matches(const PodAffinityTerm& term, const PodInfo& pod) const {
  bool ns_ok = std::binary_search(term.namespaces.begin(), term.namespaces.end(), pod.ns);
  if (!ns_ok && term.namespace_selector) {
    // An empty selector ({}) selects every namespace, known or not.
    ns_ok = term.namespace_selector->empty() || term.namespace_selector->matches(namespace_labels(pod.ns));
  }
  return ns_ok && term.selector.matches(&pod.labels);
}

void Cache::Impl::contribute_terms(PodEntry& entry, int sign) {
  const PodInfo& pod = *entry.pod;
  if (!pod.has_affinity_terms()) return;
  auto add = [&](const std::vector<PodAffinityTerm>& terms, TermKind kind) {
    for (const auto& term : terms) {
      std::string key;
      key.reserve(term.canonical.size() + 1);
      key += static_cast<char>(kind);
      key += term.canonical;
      auto it = term_groups.find(key);
      if (it == term_groups.end()) {
        if (sign < 0) continue;
        TermGroup g;
        g.term = term;
        g.kind = kind;
        g.topology_key = pool.intern(term.topology_key);
        it = term_groups.emplace(std::move(key), std::move(g)).first;
      }
      TermGroup& g = it->second;
      g.refs += sign;
      std::uint32_t v = label_value(entry.node->labels, g.topology_key);
      if (v != kNoId) {
        auto& c = g.counts[v];
        c += sign;
        if (c == 0) g.counts.erase(v);
      }
      if (g.refs <= 0) term_groups.erase(it);
    }
  };
  add(pod.required_affinity, TermKind::kRequiredAffinity);
  add(pod.required_anti_affinity, TermKind::kRequiredAnti);
  add(pod.preferred_affinity, TermKind::kPreferredAffinity);
  add(pod.preferred_anti_affinity, TermKind::kPreferredAnti);
}

void Cache::Impl::account(PodEntry& entry, int sign) {
  NodeSlot& node = *entry.node;
  const PodInfo& pod = *entry.pod;
  if (sign > 0) {
    node.requested.add(pod.requests);
    node.pods.push_back(&entry);
  } else {
    node.requested.subtract(pod.requests);
    swap_remove(node.pods, &entry);
  }
  node.nz_milli_cpu += sign * pod.non_zero_milli_cpu;
  node.nz_memory += sign * pod.non_zero_memory;
  add_ports(node, pod, sign);
  contribute_terms(entry, sign);

  NsIndex& idx = by_ns[entry.ns_id];
  if (sign > 0) {
    entry.ns_pos = idx.all.size();
    idx.all.push_back(&entry);
    for (const auto& [k, v] : entry.labels) idx.by_label[pair_key(k, v)].push_back(&entry);
  } else {
    PodEntry* last = idx.all.back();
    idx.all[entry.ns_pos] = last;
    last->ns_pos = entry.ns_pos;
    idx.all.pop_back();
    for (const auto& [k, v] : entry.labels) {
      auto it = idx.by_label.find(pair_key(k, v));
      if (it == idx.by_label.end()) continue;
      swap_remove(it->second, &entry);
      if (it->second.empty()) idx.by_label.erase(it);
    }
  }
}

void Cache::Impl::insert_pod(std::shared_ptr<const PodInfo> pod, NodeSlot& node, bool assumed) {
  auto entry = std::make_unique<PodEntry>();
  entry->node = &node;
  entry->assumed = assumed;
  entry->ns_id = pool.intern(pod->ns);
  entry->labels = intern_labels(pod->labels);
  entry->pod = std::move(pod);
  PodEntry& ref = *entry;
  std::string key = ref.pod->key();
  pods.emplace(std::move(key), std::move(entry));
  account(ref, +1);
}

void Cache::Impl::erase_pod(std::string_view key) {
  auto it = pods.find(key);
  if (it == pods.end()) return;
  PodEntry& entry = *it->second;
  NodeSlot& node = *entry.node;
  account(entry, -1);
  pods.erase(it);
  maybe_drop_slot(node);
}

void Cache::Impl::maybe_drop_slot(NodeSlot& s) {
  if (s.node == nullptr && s.pods.empty()) slots.erase(s.name);
}

Cache::Cache() : impl_(std::make_unique<Impl>()) {}
Cache::~Cache() = default;

void Cache::upsert_node(std::shared_ptr<const NodeInfo> node) {
  Impl& m = *impl_;
  NodeSlot& s = m.slot(node->name);
  if (s.node == nullptr) {
    s.live_pos = m.live.size();
    m.live.push_back(&s);
  } else {
    for (const auto& [image, size] : s.node->images) {
      auto it = m.image_nodes.find(image);
      if (it != m.image_nodes.end() && --it->second <= 0) m.image_nodes.erase(it);
    }
  }
  for (const auto& [image, size] : node->images) ++m.image_nodes[image];
  LabelIds labels = m.intern_labels(node->labels);
  if (labels != s.labels) {
    // Topology values changed: re-home the node's pods' term counts.
    for (PodEntry* e : s.pods) m.contribute_terms(*e, -1);
    s.labels = std::move(labels);
    for (PodEntry* e : s.pods) m.contribute_terms(*e, +1);
  }
  s.node = std::move(node);
}

Status Cache::upsert_node(const boost::json::value& node_json) {
  KEDGE_ASSIGN_OR_RETURN(auto node, parse_node(node_json));
  upsert_node(std::move(node));
  return ok_status();
}

void Cache::remove_node(std::string_view name) {
  Impl& m = *impl_;
  auto it = m.slots.find(name);
  if (it == m.slots.end() || it->second->node == nullptr) return;
  NodeSlot& s = *it->second;
  for (const auto& [image, size] : s.node->images) {
    auto img = m.image_nodes.find(image);
    if (img != m.image_nodes.end() && --img->second <= 0) m.image_nodes.erase(img);
  }
  NodeSlot* last = m.live.back();
  m.live[s.live_pos] = last;
  last->live_pos = s.live_pos;
  m.live.pop_back();
  for (PodEntry* e : s.pods) m.contribute_terms(*e, -1);
  s.labels.clear();
  for (PodEntry* e : s.pods) m.contribute_terms(*e, +1);
  s.node.reset();
  m.maybe_drop_slot(s);
}

Status Cache::add_pod(std::shared_ptr<const PodInfo> pod) {
  if (pod->node_name.empty()) return invalid_argument("pod " + pod->key() + ": spec.nodeName: Required value: add_pod takes bound pods");
  Impl& m = *impl_;
  m.erase_pod(pod->key());  // an update, or the confirmation of an assumed pod
  if (pod->terminal) return ok_status();
  NodeSlot& node = m.slot(pod->node_name);
  m.insert_pod(std::move(pod), node, false);
  return ok_status();
}

Status Cache::add_pod(const boost::json::value& pod_json) {
  KEDGE_ASSIGN_OR_RETURN(auto pod, parse_pod(pod_json));
  return add_pod(std::move(pod));
}

void Cache::remove_pod(std::string_view key) { impl_->erase_pod(key); }

Status Cache::assume_pod(std::shared_ptr<const PodInfo> pod, std::string_view node_name) {
  Impl& m = *impl_;
  std::string key = pod->key();
  if (m.pods.contains(key)) return already_exists("pod " + key + " is already in the scheduler cache");
  auto it = m.slots.find(node_name);
  if (it == m.slots.end() || it->second->node == nullptr) return not_found("node \"" + std::string(node_name) + "\" not found");
  auto bound = std::make_shared<PodInfo>(*pod);
  bound->node_name = std::string(node_name);
  m.insert_pod(std::move(bound), *it->second, true);
  return ok_status();
}

void Cache::forget_pod(std::string_view key) {
  auto it = impl_->pods.find(key);
  if (it == impl_->pods.end() || !it->second->assumed) return;
  impl_->erase_pod(key);
}

void Cache::upsert_namespace(std::string_view name, boost::json::object labels) {
  impl_->namespaces[std::string(name)] = std::move(labels);
}

void Cache::remove_namespace(std::string_view name) {
  auto it = impl_->namespaces.find(name);
  if (it != impl_->namespaces.end()) impl_->namespaces.erase(it);
}

std::size_t Cache::node_count() const { return impl_->live.size(); }
std::size_t Cache::pod_count() const { return impl_->pods.size(); }
bool Cache::has_pod(std::string_view key) const { return impl_->pods.contains(key); }

bool Cache::is_assumed(std::string_view key) const {
  auto it = impl_->pods.find(key);
  return it != impl_->pods.end() && it->second->assumed;
}

std::string Cache::node_of(std::string_view key) const {
  auto it = impl_->pods.find(key);
  return it == impl_->pods.end() ? std::string() : it->second->node->name;
}

const Resources* Cache::requested_on(std::string_view node_name) const {
  auto it = impl_->slots.find(node_name);
  return it == impl_->slots.end() ? nullptr : &it->second->requested;
}

}  // namespace kedge::scheduler

#include "kedge/proxy/syncer.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <unordered_map>

#include "kedge/netlink/reader.h"

namespace kedge::proxy {
namespace {

using netlink::Batch;
using netlink::Chain;
using netlink::Element;
using netlink::Ruleset;
using netlink::Set;

std::string table_key(const netlink::Table& t) { return std::string(family_name(t.family)) + " " + t.name; }

void add_rules(Batch& b, const netlink::Table& t, const Chain& c) {
  for (const auto& r : c.rules) b.add_rule(t, c.name, r);
}

// Name indexes: rulesets hold tens of thousands of chains, so lookups by
// name must not be linear scans.
struct Index {
  explicit Index(const Ruleset& rs) {
    chains.reserve(rs.chains.size());
    for (const auto& c : rs.chains) chains.emplace(c.name, &c);
    for (const auto& s : rs.sets) sets.emplace(s.name, &s);
  }
  const Chain* chain(const std::string& name) const {
    auto it = chains.find(name);
    return it == chains.end() ? nullptr : it->second;
  }
  const Set* set(const std::string& name) const {
    auto it = sets.find(name);
    return it == sets.end() ? nullptr : it->second;
  }
  std::unordered_map<std::string_view, const Chain*> chains;
  std::unordered_map<std::string_view, const Set*> sets;
};

// Elements keyed by their key bytes (sets hold each key once).
std::map<netlink::ElementBytes, const Element*> by_key(const Set& s) {
  std::map<netlink::ElementBytes, const Element*> m;
  for (const auto& e : s.elements) m[e.key] = &e;
  return m;
}

}  // namespace

void plan_full(const std::optional<Ruleset>& existing, const Ruleset& desired, Batch& b) {
  const auto& t = desired.table;
  const Index want(desired);
  b.add_table(t);
  // 1. Every desired chain exists (creation is idempotent), then every chain
  //    we own is emptied: after this nothing references any chain or set.
  std::set<std::string> flushed;
  for (const auto& c : desired.chains) b.add_chain(t, Chain{c.name, c.hook, {}});
  if (existing) {
    for (const auto& c : existing->chains) {
      if (flushed.insert(c.name).second) b.flush_chain(t, c.name);
    }
  }
  for (const auto& c : desired.chains) {
    if (flushed.insert(c.name).second) b.flush_chain(t, c.name);
  }
  // 2. Sets: drop stale ones and ones whose definition changed; create the
  //    rest; refill all but dynamic sets (their entries are live state, such
  //    as session affinity, and survive a restart).
  std::set<std::string> kept;
  if (existing) {
    for (const auto& s : existing->sets) {
      const Set* w = want.set(s.name);
      if (w == nullptr || !w->same_definition(s)) b.delete_set(t, s.name);
      else kept.insert(s.name);
    }
  }
  for (const auto& s : desired.sets) {
    b.add_set(t, Set{s.name, s.flags, s.key_type, s.key_len, s.data_type, s.data_len, s.timeout_ms, s.size, {}});
    if (!s.is_dynamic() && kept.count(s.name)) b.flush_set(t, s.name);
  }
  // 3. Rules into the empty sets, then the elements: a rule that uses a map
  //    makes the kernel check every element already in it, so filling the
  //    maps first cost a walk of ~50k elements per rule; then chains nobody
  //    wants any more (empty and unreferenced now).
  for (const auto& c : desired.chains) add_rules(b, t, c);
  for (const auto& s : desired.sets) {
    if (!s.is_dynamic()) b.add_elements(t, s.name, s.elements);
  }
  if (existing) {
    for (const auto& c : existing->chains) {
      if (want.chain(c.name) == nullptr) b.delete_chain(t, c.name);
    }
  }
}

void plan_partial(const Ruleset& last, const Ruleset& desired, Batch& b) {
  const auto& t = desired.table;
  const Index before(last), want(desired);
  // New sets and chains first: new rules and elements may refer to them.
  for (const auto& s : desired.sets) {
    const Set* old = before.set(s.name);
    if (old == nullptr || !old->same_definition(s)) {
      if (old != nullptr) continue;  // handled below (definition change)
      b.add_set(t, Set{s.name, s.flags, s.key_type, s.key_len, s.data_type, s.data_len, s.timeout_ms, s.size, {}});
    }
  }
  for (const auto& c : desired.chains) {
    if (before.chain(c.name) == nullptr) b.add_chain(t, Chain{c.name, c.hook, {}});
  }
  // Element deltas: removals (which may point at chains about to go) before
  // additions; a changed value is a removal plus an addition.
  for (const auto& s : desired.sets) {
    if (s.is_dynamic()) continue;
    const Set* old = before.set(s.name);
    if (old == nullptr) {
      b.add_elements(t, s.name, s.elements);
      continue;
    }
    auto old_keys = by_key(*old);
    auto new_keys = by_key(s);
    std::vector<Element> del, add;
    for (const auto& [k, e] : old_keys) {
      auto it = new_keys.find(k);
      if (it == new_keys.end() || !(*it->second == *e)) del.push_back(*e);
    }
    for (const auto& [k, e] : new_keys) {
      auto it = old_keys.find(k);
      if (it == old_keys.end() || !(*it->second == *e)) add.push_back(*e);
    }
    if (!del.empty()) b.delete_elements(t, s.name, del);
    if (!add.empty()) b.add_elements(t, s.name, add);
  }
  // Changed and new chains get their rules.
  for (const auto& c : desired.chains) {
    const Chain* old = before.chain(c.name);
    if (old != nullptr && old->rules == c.rules) continue;
    if (old != nullptr) b.flush_chain(t, c.name);
    add_rules(b, t, c);
  }
  // Removed chains: empty them all before deleting any (they may jump to
  // each other), then removed sets (only those chains used them).
  std::vector<std::string> gone;
  for (const auto& c : last.chains) {
    if (want.chain(c.name) == nullptr) gone.push_back(c.name);
  }
  for (const auto& name : gone) b.flush_chain(t, name);
  for (const auto& name : gone) b.delete_chain(t, name);
  for (const auto& s : last.sets) {
    if (want.set(s.name) == nullptr) b.delete_set(t, s.name);
  }
}

Result<SyncReport> Syncer::sync_full(
    netlink::Family family, const OwnedTable& owned,
    const std::function<void(const std::function<void(const netlink::Ruleset&)>&)>& produce) {
  good_.erase(family);  // on failure the kernel state is whatever it was; find out next time
  KEDGE_ASSIGN_OR_RETURN(auto present, netlink::list_tables(transport_, family));
  std::set<std::string> existing;
  for (const auto& t : present) {
    if (owned(t.name)) existing.insert(t.name);
  }
  Batch batch;
  Status read_error;
  produce([&](const Ruleset& desired) {
    if (!read_error.ok()) return;
    std::optional<Ruleset> old;
    if (existing.erase(desired.table.name) != 0) {
      auto got = netlink::read_table(transport_, desired.table);
      if (!got.ok()) {
        read_error = got.status().with_context("reading table " + table_key(desired.table) + " before a full sync");
        return;
      }
      old = std::move(*got);
    }
    plan_full(old, desired, batch);
  });
  KEDGE_RETURN_IF_ERROR(read_error);
  for (const auto& stale : existing) batch.delete_table(netlink::Table{family, stale});
  SyncReport report{true, batch.size(), batch.bytes()};
  KEDGE_RETURN_IF_ERROR(batch.commit(transport_));
  good_.insert(family);
  return report;
}

Result<SyncReport> Syncer::sync_changes(netlink::Family family, const std::vector<ShareChange>& changes) {
  if (!good_.count(family)) {
    return failed_precondition("family " + std::string(family_name(family)) + " needs a full sync first");
  }
  Batch batch;
  for (const auto& c : changes) plan_partial(c.before, c.after, batch);
  SyncReport report{false, batch.size(), batch.bytes()};
  good_.erase(family);
  KEDGE_RETURN_IF_ERROR(batch.commit(transport_));
  good_.insert(family);
  return report;
}

Status Syncer::remove(netlink::Family family, const OwnedTable& owned) {
  good_.erase(family);
  KEDGE_ASSIGN_OR_RETURN(auto tables, netlink::list_tables(transport_, family));
  Batch b;
  for (const auto& t : tables) {
    if (owned(t.name)) b.delete_table(t);
  }
  if (b.empty()) return ok_status();
  return b.commit(transport_);
}

}  // namespace kedge::proxy

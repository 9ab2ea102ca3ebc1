#include "kedge/proxy/proxier.h"

#include <malloc.h>

#include <algorithm>

#include "kedge/base/log.h"
#include "kedge/netlink/conntrack.h"
#include "kedge/proxy/packed.h"

namespace kedge::proxy {
namespace {
auto& logger() {
  static auto l = log::logger("proxy");
  return l;
}
}  // namespace

Proxier::Proxier(ProxierOptions options, netlink::Transport& transport)
    : options_(std::move(options)), transport_(transport), syncer_(transport) {}

void Proxier::update_service(const Service& s) {
  Status st = validate(s);
  const std::string key = key_of(s);
  std::optional<std::string> after;
  if (st.ok()) after = packed::pack(s);
  std::lock_guard lock(mu_);
  auto cur = services_.find(key);
  std::optional<std::string> before = cur ? std::optional<std::string>(*cur) : std::nullopt;
  if (!st.ok()) {
    logger()->error("ignoring invalid object: {}", st.message());
    ++stats_.invalid_objects;
    stats_.last_error = st.message();
  }
  service_changes_.update(key, std::move(before), std::move(after));
  dirty_ = true;
  cv_.notify_all();
}

void Proxier::delete_service(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  service_changes_.update(ns + "/" + name, std::nullopt, std::nullopt);
  dirty_ = true;
  cv_.notify_all();
}

void Proxier::update_slice(const EndpointSlice& s) {
  Status st = validate(s);
  const std::string key = key_of(s);
  std::optional<std::string> after;
  if (st.ok()) after = packed::pack(s);
  std::lock_guard lock(mu_);
  if (!st.ok()) {
    logger()->error("ignoring invalid object: {}", st.message());
    ++stats_.invalid_objects;
    stats_.last_error = st.message();
  }
  slice_changes_.update(key, std::nullopt, std::move(after));
  dirty_ = true;
  cv_.notify_all();
}

void Proxier::delete_slice(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  slice_changes_.update(ns + "/" + name, std::nullopt, std::nullopt);
  dirty_ = true;
  cv_.notify_all();
}

void Proxier::replace_all(const Objects& objects) {
  std::set<std::string> seen_svc, seen_slice;
  for (const auto& s : objects.services) {
    seen_svc.insert(key_of(s));
    update_service(s);
  }
  for (const auto& s : objects.slices) {
    seen_slice.insert(key_of(s));
    update_slice(s);
  }
  std::lock_guard lock(mu_);
  services_.for_each([&](std::string_view k, std::string_view) {
    if (!seen_svc.count(std::string(k))) service_changes_.update(std::string(k), std::nullopt, std::nullopt);
  });
  slices_.for_each([&](std::string_view k, std::string_view) {
    if (!seen_slice.count(std::string(k))) slice_changes_.update(std::string(k), std::nullopt, std::nullopt);
  });
  dirty_ = true;
  cv_.notify_all();
}

void Proxier::set_synced() {
  std::lock_guard lock(mu_);
  synced_ = true;
  cv_.notify_all();
}

void PairCounts::assign(const std::map<netlink::ElementBytes, std::uint32_t>& counts) {
  keys_.clear();
  counts_.clear();
  other_.clear();
  key_len_ = counts.empty() ? 0 : counts.begin()->first.size();
  for (const auto& [key, n] : counts) {  // in key order: keys_ stays sorted
    if (key.size() != key_len_ || key_len_ == 0) {
      other_.emplace(key, n);
      continue;
    }
    keys_.insert(keys_.end(), key.begin(), key.end());
    counts_.push_back(n);
  }
  keys_.shrink_to_fit();
  counts_.shrink_to_fit();
}

std::uint32_t PairCounts::add(const netlink::ElementBytes& key, int delta) {
  if (key_len_ == 0 && counts_.empty() && !key.empty()) key_len_ = key.size();
  if (key.size() != key_len_ || key_len_ == 0) {
    auto& n = other_[key];
    n = static_cast<std::uint32_t>(static_cast<std::int64_t>(n) + delta);
    const std::uint32_t now = n;
    if (now == 0) other_.erase(key);
    return now;
  }
  // Binary search over the fixed-length keys.
  std::size_t lo = 0, hi = counts_.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (std::lexicographical_compare(keys_.begin() + static_cast<std::ptrdiff_t>(mid * key_len_),
                                     keys_.begin() + static_cast<std::ptrdiff_t>((mid + 1) * key_len_), key.begin(),
                                     key.end())) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const auto at = keys_.begin() + static_cast<std::ptrdiff_t>(lo * key_len_);
  const bool found = lo < counts_.size() && std::equal(key.begin(), key.end(), at);
  if (!found) {
    if (delta <= 0) return 0;
    keys_.insert(at, key.begin(), key.end());
    counts_.insert(counts_.begin() + static_cast<std::ptrdiff_t>(lo), static_cast<std::uint32_t>(delta));
    return static_cast<std::uint32_t>(delta);
  }
  auto& n = counts_[lo];
  n = static_cast<std::uint32_t>(static_cast<std::int64_t>(n) + delta);
  const std::uint32_t now = n;
  if (now == 0) {
    keys_.erase(at, at + static_cast<std::ptrdiff_t>(key_len_));
    counts_.erase(counts_.begin() + static_cast<std::ptrdiff_t>(lo));
  }
  return now;
}

namespace {

// Like upstream kube-proxy: a UDP endpoint that is no longer used → forget
// the flows DNATed to it; a UDP destination that gets its first endpoint →
// forget its flows (they were rejected and would stay black-holed until the
// entry times out, since only new connections see our rules).
void stale_udp(netlink::Family family, const std::vector<UdpDestination>& before,
               const std::vector<UdpDestination>& after, std::vector<netlink::ConntrackFilter>& out) {
  std::map<std::pair<netlink::Bytes, std::uint16_t>, const UdpDestination*> now;
  for (const auto& d : after) now[{d.address, d.port}] = &d;
  for (const auto& d : before) {
    auto it = now.find({d.address, d.port});
    const std::vector<netlink::Bytes> none;
    const auto& eps = it == now.end() ? none : it->second->endpoints;
    for (const auto& ep : d.endpoints) {
      if (std::find(eps.begin(), eps.end(), ep) == eps.end()) {
        out.push_back({.family = family, .protocol = 17, .orig_dst = d.address, .orig_dst_port = d.port, .reply_src = ep});
      }
    }
    if (d.endpoints.empty() && !eps.empty()) {
      out.push_back({.family = family, .protocol = 17, .orig_dst = d.address, .orig_dst_port = d.port, .reply_src = {}});
    }
  }
}

// Hairpin pairs are shared by every service with that endpoint: a share's
// delta adds a pair only for its first user and deletes it only with its
// last (`users` counts them; a failed batch forces a full sync, which
// recounts).
void count_hairpin_users(netlink::Ruleset& before, netlink::Ruleset& after, PairCounts& users) {
  auto hairpin = [](netlink::Ruleset& rs) -> netlink::Set* {
    for (auto& set : rs.sets) {
      if (set.name == kHairpinSet) return &set;
    }
    return nullptr;
  };
  netlink::Set* was = hairpin(before);
  netlink::Set* now = hairpin(after);
  if (was == nullptr || now == nullptr) return;
  std::set<netlink::ElementBytes> old_keys, new_keys;
  for (const auto& e : was->elements) old_keys.insert(e.key);
  for (const auto& e : now->elements) new_keys.insert(e.key);
  for (const auto& k : old_keys) {
    if (new_keys.count(k)) continue;
    if (users.add(k, -1) > 0) now->elements.push_back(netlink::Element{k, {}, {}, 0, 0});  // still used
  }
  for (const auto& k : new_keys) {
    if (old_keys.count(k)) continue;
    if (users.add(k, +1) > 1) was->elements.push_back(netlink::Element{k, {}, {}, 0, 0});  // already there
  }
}
}  // namespace

Proxier::ServiceInputs Proxier::inputs_locked(const std::string& key) const {
  ServiceInputs in;
  if (auto data = services_.find(key)) in.service = packed::unpack_service(*data);
  slices_.for_each_in_group(key, [&](std::string_view, std::string_view data) {
    in.slices.push_back(packed::unpack_slice(data));
  });
  return in;
}

ProxyState Proxier::unpacked_state_locked() const {
  ProxyState state;
  services_.for_each([&](std::string_view key, std::string_view data) {
    state.services.emplace_hint(state.services.end(), key, packed::unpack_service(data));
  });
  slices_.for_each([&](std::string_view key, std::string_view data) {
    state.slices.emplace_hint(state.slices.end(), key, packed::unpack_slice(data));
  });
  return state;
}

namespace {
// Many changes (a first list, a relist) go in as one bulk: one sort instead
// of a memmove per object.
void apply_changes(ChangeTracker<std::string>& changes, PackedMap& store, bool grouped_by_service) {
  const bool bulk = changes.size() > 64;
  if (bulk) store.begin_bulk();
  changes.drain([&](const std::string& key, std::optional<std::string>&& after) {
    if (after) store.put(key, grouped_by_service ? packed::slice_service_key(*after) : std::string(), *after);
    else store.erase(key);
  });
  if (bulk) store.end_bulk();
}
}  // namespace

Status Proxier::sync_locked_out() {
  const auto start = std::chrono::steady_clock::now();
  // A partial sync rebuilds only the services touched since the last sync:
  // their share before (from the old inputs) and after; a full sync builds
  // everything from a snapshot (the packed objects unpacked).
  ProxyState snapshot;
  std::map<std::string, std::pair<ServiceInputs, ServiceInputs>> touched;  // key → (before, after)
  bool full;
  {
    std::lock_guard lock(mu_);
    full = force_full_;
    std::set<std::string> keys;
    service_changes_.for_each([&](const std::string& key, const std::optional<std::string>&) { keys.insert(key); });
    slice_changes_.for_each([&](const std::string& key, const std::optional<std::string>& after) {
      if (auto service = slices_.group_of(key)) keys.emplace(*service);
      if (after) keys.insert(packed::slice_service_key(*after));
    });
    if (!full) {
      for (const auto& k : keys) touched[k].first = inputs_locked(k);
    }
    apply_changes(service_changes_, services_, false);
    apply_changes(slice_changes_, slices_, true);
    if (full) snapshot = unpacked_state_locked();
    else for (auto& [k, io] : touched) io.second = inputs_locked(k);
    dirty_ = false;
  }
  Status result;
  std::size_t chains = 0, rules = 0, elements = 0, messages = 0;
  std::uint64_t skipped = 0;
  std::string skip_error;
  bool any_full = false;
  auto note_skipped = [&](const std::vector<Status>& list) {
    for (const auto& s : list) {
      logger()->error("skipping: {}", s.message());
      ++skipped;
      skip_error = s.message();
    }
  };
  std::map<netlink::Family, RulesetSize> sizes;
  std::vector<netlink::ConntrackFilter> stale;
  for (auto family : options_.families) {
    Result<SyncReport> report = SyncReport{};
    RulesetSize& size = sizes[family];
    if (full) {
      // Streamed: each shard is built, encoded into the batch and dropped.
      size = RulesetSize{};
      BuildResult main;
      const std::string& table = options_.layout.table;
      report = syncer_.sync_full(
          family, [&](const std::string& name) { return is_layout_table(table, name); },
          [&](const std::function<void(const netlink::Ruleset&)>& emit) {
            main = build_ruleset_streamed(snapshot, options_.layout, family, [&](netlink::Ruleset&& shard) {
              size += size_of(shard);
              emit(shard);
            });
            size += size_of(main.tables);
            emit(main.tables.front());
          });
      hairpin_users_[family].assign(main.hairpin_users);
      note_skipped(main.skipped);
    } else {
      size = sizes_[family];
      std::vector<ShareChange> changes;
      for (const auto& [key, io] : touched) {
        auto share = [&](const ServiceInputs& in) {
          std::vector<const EndpointSlice*> slices;
          for (const auto& sl : in.slices) slices.push_back(&sl);
          return build_service(key, in.service ? &*in.service : nullptr, slices, options_.layout, family);
        };
        auto before = share(io.first);
        auto after = share(io.second);
        note_skipped(after.skipped);
        stale_udp(family, before.udp, after.udp, stale);
        const auto b = size_of(before.tables), a = size_of(after.tables);
        size.chains += a.chains - b.chains;
        size.rules += a.rules - b.rules;
        size.elements += a.elements - b.elements;
        count_hairpin_users(before.tables[0], after.tables[0], hairpin_users_[family]);
        for (std::size_t i = 0; i < after.tables.size(); ++i) {
          changes.push_back(ShareChange{std::move(before.tables[i]), std::move(after.tables[i])});
        }
      }
      report = syncer_.sync_changes(family, changes);
    }
    if (!report.ok()) {
      result = report.status();
      break;
    }
    any_full = any_full || report->full;
    messages += report->messages;
    chains += size.chains;
    rules += size.rules;
    elements += size.elements;
  }
  if (result.ok()) sizes_ = sizes;
  // A full sync builds the whole ruleset and its encoded batch (hundreds of
  // MB at 10k services) and frees them; hand that memory back to the system
  // instead of keeping it in malloc's free lists for the process lifetime.
  // The snapshot goes first, or the trim could not return its pages.
  if (full) {
    snapshot = ProxyState{};
    ::malloc_trim(0);
  }
  std::uint64_t forgotten = 0;
  if (result.ok()) {
    // After the commit, so a datagram arriving meanwhile gets the new rules.
    for (const auto& f : stale) {
      auto n = netlink::delete_conntrack(transport_, f);
      if (!n.ok()) logger()->warn("flushing stale UDP conntrack entries: {}", n.status().message());
      else forgotten += *n;
    }
  }
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  std::lock_guard lock(mu_);
  ++stats_.syncs;
  stats_.conntrack_deleted += forgotten;
  stats_.last_sync_duration = took;
  const double seconds = std::chrono::duration<double>(took).count();
  stats_.sync_duration_sum_seconds += seconds;
  for (std::size_t i = 0; i < kSyncDurationBuckets.size(); ++i) {
    if (seconds <= kSyncDurationBuckets[i]) ++stats_.sync_duration_buckets[i];
  }
  stats_.last_sync_ok = result.ok();
  // Count each skipped service once per distinct failure, not per sync.
  if (skipped != 0 && skip_error != stats_.last_error) {
    stats_.invalid_objects += skipped;
    stats_.last_error = skip_error;
  }
  if (!result.ok()) {
    ++stats_.sync_failures;
    stats_.last_error = result.message();
    force_full_ = true;
    last_ok_ = false;
    logger()->error("sync failed (next sync is a full resync): {}", result.message());
  } else {
    if (any_full) ++stats_.full_syncs;
    force_full_ = false;
    last_ok_ = true;
    stats_.chains = chains;
    stats_.rules = rules;
    stats_.elements = elements;
    stats_.last_batch_messages = messages;
    logger()->debug("synced {} chains, {} rules, {} elements in {} us ({} messages{})", chains, rules, elements,
                    took.count(), messages, any_full ? ", full" : "");
  }
  cv_.notify_all();
  return result;
}

Status Proxier::sync_now() { return sync_locked_out(); }

void Proxier::run() {
  auto last_start = std::chrono::steady_clock::time_point{};
  std::unique_lock lock(mu_);
  while (!stop_) {
    // Sleep until there is something to do (and the initial list is in).
    auto wake = [&] { return stop_ || (synced_ && (dirty_ || force_full_)); };
    if (!last_ok_ && synced_ && stats_.syncs > 0) {
      cv_.wait_for(lock, options_.retry_interval, [&] { return stop_ || dirty_; });
    } else {
      cv_.wait(lock, wake);
    }
    if (stop_) break;
    // Rate limit: at most one sync per min_sync_interval.
    auto next = last_start + options_.min_sync_interval;
    if (std::chrono::steady_clock::now() < next) {
      cv_.wait_until(lock, next, [&] { return stop_; });
      if (stop_) break;
    }
    last_start = std::chrono::steady_clock::now();
    lock.unlock();
    (void)sync_locked_out();
    lock.lock();
  }
}

void Proxier::stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

bool Proxier::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return !dirty_ && service_changes_.empty() && slice_changes_.empty() && last_ok_;
  });
}

void Proxier::record_invalid(const Status& why) {
  logger()->error("ignoring invalid object: {}", why.message());
  std::lock_guard lock(mu_);
  ++stats_.invalid_objects;
  stats_.last_error = why.message();
}

ProxierStats Proxier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Status cleanup(netlink::Transport& transport, const std::string& table) {
  Syncer s(transport);
  for (auto f : {netlink::Family::kIp, netlink::Family::kIp6}) {
    KEDGE_RETURN_IF_ERROR(s.remove(f, [&](const std::string& name) { return is_layout_table(table, name); }));
  }
  return ok_status();
}

}  // namespace kedge::proxy

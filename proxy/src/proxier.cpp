#include "kedge/proxy/proxier.h"

#include <malloc.h>

#include <algorithm>

#include "kedge/base/log.h"
#include "kedge/netlink/conntrack.h"

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
  std::lock_guard lock(mu_);
  const std::string key = key_of(s);
  auto cur = state_.services.find(key);
  std::optional<Service> before = cur == state_.services.end() ? std::nullopt : std::optional<Service>(cur->second);
  if (!st.ok()) {
    logger()->error("ignoring invalid object: {}", st.message());
    ++stats_.invalid_objects;
    stats_.last_error = st.message();
    service_changes_.update(key, std::move(before), std::nullopt);
  } else {
    service_changes_.update(key, std::move(before), s);
  }
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
  std::lock_guard lock(mu_);
  const std::string key = key_of(s);
  if (!st.ok()) {
    logger()->error("ignoring invalid object: {}", st.message());
    ++stats_.invalid_objects;
    stats_.last_error = st.message();
    slice_changes_.update(key, std::nullopt, std::nullopt);
  } else {
    slice_changes_.update(key, std::nullopt, s);
  }
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
  std::map<std::string, bool> seen_svc, seen_slice;
  for (const auto& s : objects.services) {
    seen_svc[key_of(s)] = true;
    update_service(s);
  }
  for (const auto& s : objects.slices) {
    seen_slice[key_of(s)] = true;
    update_slice(s);
  }
  std::vector<std::pair<std::string, std::string>> gone_svc, gone_slice;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, s] : state_.services) {
      if (!seen_svc.count(k)) gone_svc.emplace_back(s.namespace_name, s.name);
    }
    for (const auto& [k, s] : state_.slices) {
      if (!seen_slice.count(k)) gone_slice.emplace_back(s.namespace_name, s.name);
    }
  }
  for (const auto& [ns, n] : gone_svc) delete_service(ns, n);
  for (const auto& [ns, n] : gone_slice) delete_slice(ns, n);
}

void Proxier::set_synced() {
  std::lock_guard lock(mu_);
  synced_ = true;
  cv_.notify_all();
}

namespace {
std::string service_key_of(const EndpointSlice& s) { return s.namespace_name + "/" + s.service_name; }

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
void count_hairpin_users(netlink::Ruleset& before, netlink::Ruleset& after,
                         std::map<netlink::ElementBytes, std::uint32_t>& users) {
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
    auto it = users.find(k);
    if (it != users.end() && --it->second > 0) now->elements.push_back(netlink::Element{k, {}, {}, 0, 0});  // still used
    else if (it != users.end()) users.erase(it);
  }
  for (const auto& k : new_keys) {
    if (old_keys.count(k)) continue;
    if (++users[k] > 1) was->elements.push_back(netlink::Element{k, {}, {}, 0, 0});  // already there
  }
}
}  // namespace

Proxier::ServiceInputs Proxier::inputs_locked(const std::string& key) const {
  ServiceInputs in;
  if (auto it = state_.services.find(key); it != state_.services.end()) in.service = it->second;
  if (auto it = slices_by_service_.find(key); it != slices_by_service_.end()) {
    for (const auto& sk : it->second) in.slices.push_back(state_.slices.at(sk));
  }
  return in;
}

Status Proxier::sync_locked_out() {
  const auto start = std::chrono::steady_clock::now();
  // A partial sync rebuilds only the services touched since the last sync:
  // their share before (from the old inputs) and after; a full sync builds
  // everything from state_, outside mu_: only the sync writes state_ (under
  // mu_, below), other threads only read it, so no copy is needed (at 10k
  // services a copy was ~10 MB and a tenth of the sync's CPU).
  std::map<std::string, std::pair<ServiceInputs, ServiceInputs>> touched;  // key → (before, after)
  bool full;
  {
    std::lock_guard lock(mu_);
    full = force_full_;
    std::set<std::string> keys;
    service_changes_.for_each([&](const std::string& key, const std::optional<Service>&) { keys.insert(key); });
    slice_changes_.for_each([&](const std::string& key, const std::optional<EndpointSlice>& after) {
      if (auto it = state_.slices.find(key); it != state_.slices.end()) keys.insert(service_key_of(it->second));
      if (after) keys.insert(service_key_of(*after));
    });
    if (!full) {
      for (const auto& k : keys) touched[k].first = inputs_locked(k);
    }
    slice_changes_.for_each([&](const std::string& key, const std::optional<EndpointSlice>& after) {
      if (auto it = state_.slices.find(key); it != state_.slices.end()) {
        auto idx = slices_by_service_.find(service_key_of(it->second));
        if (idx != slices_by_service_.end()) {
          idx->second.erase(key);
          if (idx->second.empty()) slices_by_service_.erase(idx);
        }
      }
      if (after) slices_by_service_[service_key_of(*after)].insert(key);
    });
    service_changes_.apply(state_.services);
    slice_changes_.apply(state_.slices);
    if (!full) {
      for (auto& [k, io] : touched) io.second = inputs_locked(k);
    }
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
            main = build_ruleset_streamed(state_, options_.layout, family, [&](netlink::Ruleset&& shard) {
              size += size_of(shard);
              emit(shard);
            });
            size += size_of(main.tables);
            emit(main.tables.front());
          });
      hairpin_users_[family] = std::move(main.hairpin_users);
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
  if (full) ::malloc_trim(0);
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

// The service proxy's reconciler: change trackers for Services and
// EndpointSlices feed a rate-limited sync loop that builds the desired
// ruleset (ruleset.h) and programs it through a Syncer, one batch per table.
//
// Threading: update_*() and stats() may be called from any thread; they take
// mu_. run() is the sync loop and owns the Transport and the Syncer: call it
// from exactly one thread (it returns when stop() is called). It sleeps on a
// condition variable between syncs (no polling).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kedge/netlink/transport.h"
#include "kedge/base/packed_map.h"
#include "kedge/proxy/packed.h"
#include "kedge/proxy/ruleset.h"
#include "kedge/proxy/syncer.h"
#include "kedge/proxy/types.h"

namespace kedge::proxy {

// Records, per object key, the state before the first unsynced change and
// the latest state after it; changes that cancel out vanish (like upstream's
// ServiceChangeTracker).
template <typename T>
class ChangeTracker {
 public:
  // `before`: what the caller knew until now; `after`: nullopt = deleted.
  void update(const std::string& key, std::optional<T> before, std::optional<T> after) {
    auto it = pending_.find(key);
    if (it == pending_.end()) it = pending_.emplace(key, Change{std::move(before), {}}).first;
    it->second.after = std::move(after);
  }
  bool empty() const { return pending_.empty(); }
  // f(key, after) for every pending change (after: nullopt = deleted).
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, change] : pending_) f(key, change.after);
  }
  std::size_t size() const { return pending_.size(); }
  // f(key, after) for every pending change, in key order; then forgets them.
  template <typename F>
  void drain(F&& f) {
    for (auto& [key, change] : pending_) f(key, std::move(change.after));
    pending_.clear();
  }

 private:
  struct Change {
    std::optional<T> before;
    std::optional<T> after;
  };
  std::map<std::string, Change> pending_;
};

// How many services use each hairpin pair (see count_hairpin_users in
// proxier.cpp). The pairs of one family all have one length (addr . addr),
// so they are kept sorted in one block with the counts beside them: 12
// bytes a pair for IPv4, where a std::map took ~100 (50k pairs at 10k
// services with 5 endpoints each when their slices name no node).
class PairCounts {
 public:
  void assign(const std::map<netlink::ElementBytes, std::uint32_t>& counts);
  // Adds `delta` (+1 or -1) to the key's count and returns the new count;
  // a count of 0 forgets the key.
  std::uint32_t add(const netlink::ElementBytes& key, int delta);
  std::size_t size() const { return counts_.size() + other_.size(); }

 private:
  std::size_t key_len_ = 0;             // set by the first key
  std::vector<std::uint8_t> keys_;      // counts_.size() keys of key_len_ bytes, sorted
  std::vector<std::uint32_t> counts_;
  std::map<netlink::ElementBytes, std::uint32_t> other_;  // keys of another length (not expected)
};

struct ProxierOptions {
  LayoutOptions layout;
  std::vector<netlink::Family> families = {netlink::Family::kIp, netlink::Family::kIp6};
  std::chrono::milliseconds min_sync_interval{1000};
  std::chrono::milliseconds retry_interval{5000};  // after a failed sync
};

// Upper bounds (seconds) of the sync duration histogram buckets, like
// kube-proxy's network_programming / sync_proxy_rules histograms.
inline constexpr std::array<double, 10> kSyncDurationBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                0.05,  0.1,    0.25,  1.0,  5.0};

struct ProxierStats {
  std::uint64_t syncs = 0;
  // Cumulative counts per bucket of kSyncDurationBuckets (+Inf = syncs).
  std::array<std::uint64_t, kSyncDurationBuckets.size()> sync_duration_buckets{};
  double sync_duration_sum_seconds = 0;
  bool last_sync_ok = false;
  std::uint64_t full_syncs = 0;
  std::uint64_t sync_failures = 0;
  std::uint64_t invalid_objects = 0;  // rejected by validate() or skipped by the builder
  std::string last_error;
  std::chrono::microseconds last_sync_duration{0};
  std::size_t chains = 0;
  std::size_t rules = 0;
  std::size_t elements = 0;
  std::size_t last_batch_messages = 0;
  std::uint64_t conntrack_deleted = 0;  // stale UDP flows forgotten
};

class Proxier {
 public:
  // `transport` is used only by run()'s thread and must outlive the Proxier.
  Proxier(ProxierOptions options, netlink::Transport& transport);

  // Change feed. Invalid objects are logged, counted and treated as absent
  // (their rules go away) so they can never half-program the kernel.
  void update_service(const Service& s);
  void delete_service(const std::string& namespace_name, const std::string& name);
  void update_slice(const EndpointSlice& s);
  void delete_slice(const std::string& namespace_name, const std::string& name);
  // Replaces everything (a full re-list): objects not in `objects` are deleted.
  void replace_all(const Objects& objects);
  // Marks the initial list as complete; run() syncs nothing before this.
  void set_synced();

  // One sync right now on the calling thread (tests, --once). REQUIRES: run()
  // is not running concurrently.
  Status sync_now();
  // The loop; returns after stop().
  void run();
  void stop();
  // Waits until no change is pending and the last sync succeeded, or timeout.
  bool wait_idle(std::chrono::milliseconds timeout);

  ProxierStats stats() const;
  // An object that could not even be decoded (the informer's JSON): logged
  // and counted like a validation failure; the caller deletes its rules.
  void record_invalid(const Status& why);

 private:
  Status sync_locked_out();  // builds + programs; called without mu_ held
  // What one service's share is built from.
  struct ServiceInputs {
    std::optional<Service> service;
    std::vector<EndpointSlice> slices;
  };
  ServiceInputs inputs_locked(const std::string& service_key) const;  // REQUIRES: mu_ held
  ProxyState unpacked_state_locked() const;                           // REQUIRES: mu_ held

  const ProxierOptions options_;
  netlink::Transport& transport_;
  Syncer syncer_;  // run()'s thread only
  std::map<netlink::Family, RulesetSize> sizes_;  // run()'s thread only: what is installed, per family
  // run()'s thread only: services per hairpin pair installed (see count_hairpin_users).
  std::map<netlink::Family, PairCounts> hairpin_users_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_. Objects are kept packed, in one block per kind
  // (packed.h, base/packed_map.h: ~2 MB at 10k services where the structs in maps took ~17 MB
  // and pinned more), and unpacked only for the services a sync builds.
  ChangeTracker<std::string> service_changes_;  // packed Service
  ChangeTracker<std::string> slice_changes_;    // packed EndpointSlice
  PackedMap services_;  // "ns/name" → packed Service
  PackedMap slices_;    // "ns/name" → packed EndpointSlice, grouped by "ns/service"
  bool synced_ = false;
  bool stop_ = false;
  bool force_full_ = true;
  bool dirty_ = true;
  bool last_ok_ = false;
  ProxierStats stats_;
};

// Removes the proxy's tables, ip and ip6: `table` and every shard "<table>-NN"
// (kedge proxy --cleanup).
Status cleanup(netlink::Transport& transport, const std::string& table);

}  // namespace kedge::proxy

// Turning a desired ruleset into one netlink batch.
//
// plan_full() replaces the whole table content in one transaction: chains
// are flushed and refilled, stale chains and sets deleted, so the packet path
// sees the old rules until the commit and the new ones after it (no gap).
// plan_partial() sends only what changed since the last successful sync:
// element deltas for maps/sets, flush+refill for changed chains.
//
// Thread-safety: plan_* are pure; a Syncer is owned by one thread (the
// proxy's sync thread), together with its Transport.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <vector>
#include <string>

#include "kedge/netlink/batch.h"
#include "kedge/netlink/model.h"
#include "kedge/netlink/transport.h"

namespace kedge::proxy {

// `existing`: the table as read from the kernel (nullopt: absent).
void plan_full(const std::optional<netlink::Ruleset>& existing, const netlink::Ruleset& desired, netlink::Batch& batch);
// REQUIRES: `last` is exactly what the kernel holds (the last committed desired state).
void plan_partial(const netlink::Ruleset& last, const netlink::Ruleset& desired, netlink::Batch& batch);

struct SyncReport {
  bool full = false;
  std::size_t messages = 0;  // netlink messages in the batch
  std::size_t bytes = 0;
};

// One service's share before and after (see build_service()).
struct ShareChange {
  netlink::Ruleset before;
  netlink::Ruleset after;
};

class Syncer {
 public:
  // `transport` must outlive the Syncer. `keep_last`: remember the last
  // committed ruleset so sync(desired, false) can diff against it; the
  // Proxier passes false and sends share deltas instead (sync_changes), so
  // no copy of the whole ruleset is kept.
  explicit Syncer(netlink::Transport& transport, bool keep_last = true)
      : transport_(transport), keep_last_(keep_last) {}

  // Programs one table. A full sync reads the table back from the kernel
  // first (adopting what a previous process left). After any failure the
  // next sync of that table is full.
  Result<SyncReport> sync(const netlink::Ruleset& desired, bool full);
  // Applies per-service deltas to `table` in one batch. REQUIRES: the last
  // sync of `table` succeeded (else FailedPrecondition: do a full sync).
  Result<SyncReport> sync_changes(const netlink::Table& table, const std::vector<ShareChange>& changes);
  // Deletes the table (absent is fine). Forgets what was programmed.
  Status remove(const netlink::Table& table);

 private:
  netlink::Transport& transport_;
  const bool keep_last_;
  std::map<std::string, netlink::Ruleset> last_;  // by "family table", only after a successful commit
  std::set<std::string> good_;  // tables whose last sync succeeded
};

}  // namespace kedge::proxy

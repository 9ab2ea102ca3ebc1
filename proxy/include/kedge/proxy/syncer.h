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

#include <functional>
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

// One service's share of one table before and after (see build_service()).
struct ShareChange {
  netlink::Ruleset before;
  netlink::Ruleset after;
};

// Which tables of a family are ours (the proxy's main table and its shards).
using OwnedTable = std::function<bool(const std::string& table_name)>;

class Syncer {
 public:
  // `transport` must outlive the Syncer.
  explicit Syncer(netlink::Transport& transport) : transport_(transport) {}

  // Full sync of one family's tables in one batch. `produce(emit)` calls
  // emit(table) once per desired table; each is read back from the kernel
  // (adopting what a previous process left), planned with plan_full and
  // encoded as it comes, so the caller may drop it afterwards. Tables of the
  // family that `owned` claims but nobody produced are deleted in the same
  // batch. After any failure the next sync of the family must be full.
  Result<SyncReport> sync_full(netlink::Family family, const OwnedTable& owned,
                               const std::function<void(const std::function<void(const netlink::Ruleset&)>&)>& produce);
  // Applies per-service deltas (to any tables of `family`) in one batch.
  // REQUIRES: the last sync of `family` succeeded (else FailedPrecondition:
  // do a full sync).
  Result<SyncReport> sync_changes(netlink::Family family, const std::vector<ShareChange>& changes);
  // Deletes the family's tables that `owned` claims (none is fine).
  Status remove(netlink::Family family, const OwnedTable& owned);

 private:
  netlink::Transport& transport_;
  std::set<netlink::Family> good_;  // families whose last sync succeeded
};

}  // namespace kedge::proxy

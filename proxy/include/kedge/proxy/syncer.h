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

class Syncer {
 public:
  // `transport` must outlive the Syncer.
  explicit Syncer(netlink::Transport& transport) : transport_(transport) {}

  // Programs one table. A full sync reads the table back from the kernel
  // first (adopting what a previous process left). After any failure the
  // next sync of that table is full.
  Result<SyncReport> sync(const netlink::Ruleset& desired, bool full);
  // Deletes the table (absent is fine). Forgets what was programmed.
  Status remove(const netlink::Table& table);

 private:
  netlink::Transport& transport_;
  std::map<std::string, netlink::Ruleset> last_;  // by "family table", only after a successful commit
};

}  // namespace kedge::proxy

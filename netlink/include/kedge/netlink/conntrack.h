// Conntrack entries over ctnetlink (NFNL_SUBSYS_CTNETLINK) through the same
// Transport as nftables batches: no conntrack CLI, no libnetfilter_conntrack.
//
// The proxy needs one operation: forget UDP "connections" that point at a
// backend which went away (or that were rejected while a service had no
// backend), else conntrack keeps sending a client's datagrams to the old
// translation until the entry times out.
//
// Thread-safety: like the Transport (one thread at a time).
#pragma once

#include <cstdint>
#include <optional>

#include "kedge/base/status.h"
#include "kedge/netlink/model.h"
#include "kedge/netlink/transport.h"

namespace kedge::netlink {

struct ConntrackFilter {
  Family family = Family::kIp;
  std::uint8_t protocol = 17;  // IPPROTO_UDP
  Bytes orig_dst;              // network order, 4 or 16 bytes
  std::uint16_t orig_dst_port = 0;
  // Only entries whose reply comes from this address (the backend the
  // entry was DNATed to); nullopt = any.
  std::optional<Bytes> reply_src;
};

// Dumps the table, then deletes the matching entries in one datagram.
// Returns how many were deleted (an entry gone meanwhile is not an error).
Result<std::size_t> delete_conntrack(Transport& transport, const ConntrackFilter& filter);

}  // namespace kedge::netlink

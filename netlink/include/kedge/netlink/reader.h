// Reading back what is installed in the kernel: whole tables as model values.
//
// Thread-safety: free functions; the Transport is used by the calling thread
// only, for the duration of the call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/netlink/model.h"
#include "kedge/netlink/transport.h"

namespace kedge::netlink {

// Every table of `family` (Family::kInet lists inet tables only).
Result<std::vector<Table>> list_tables(Transport& transport, Family family);

// The table with its chains (and their rules, in order), named sets with
// their elements, and anonymous sets attached to the lookups that use them.
// nullopt when the table does not exist. Chains and sets come back sorted by
// name. A table holding an expression the model does not know is an error.
Result<std::optional<Ruleset>> read_table(Transport& transport, const Table& table);

}  // namespace kedge::netlink

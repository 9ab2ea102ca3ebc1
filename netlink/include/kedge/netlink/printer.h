// Readable, sorted text for a Ruleset, close to `nft list table`: sets and
// chains sorted by name, set elements sorted, counters without their live
// values. Used for golden tests and for logs; it is not nft's parser input.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "kedge/netlink/model.h"

namespace kedge::netlink {

struct PrintOptions {
  // Elements of dynamic sets (filled by the packet path, e.g. affinity
  // entries) change on their own; golden files leave them out.
  bool dynamic_elements = false;
};

std::string print(const Ruleset& ruleset, const PrintOptions& options = {});
// One rule on one line, as inside a chain block.
std::string print_rule(const Ruleset& context, const Rule& rule);

}  // namespace kedge::netlink

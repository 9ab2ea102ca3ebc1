#include <cstdio>

#include "roles.h"

namespace kedge::cmd {

// Not built yet: refuses to run rather than pretend.
int run_store(std::span<const std::string> args) {
  CommonOptions common;
  flags::FlagSet set("store", "The store role is not implemented yet.");
  add_common_flags(set, common);
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  std::fprintf(stderr, "kedge store: not implemented yet\n");
  return 1;
}

}  // namespace kedge::cmd

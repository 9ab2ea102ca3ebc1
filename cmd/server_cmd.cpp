#include <cstdio>

#include "roles.h"

namespace kedge::cmd {

// Not built yet: refuses to run rather than pretend.
int run_server(std::span<const std::string> args) {
  CommonOptions common;
  flags::FlagSet set("server", "The server role is not implemented yet.");
  add_common_flags(set, common);
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  std::fprintf(stderr, "kedge server: not implemented yet\n");
  return 1;
}

}  // namespace kedge::cmd

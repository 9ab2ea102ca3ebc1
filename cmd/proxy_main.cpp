// kedge-proxy: the `kedge proxy` role as an executable of its own. It links
// only what the proxy needs (base, client, netlink, proxy): a standalone
// proxy then maps none of the other roles' code and libraries (gRPC,
// protobuf, SQLite, the API server...), whose pages the kedge multi-call
// binary touches at start even when only the proxy runs. `kedge proxy`
// execs this binary when it sits next to kedge, so users keep typing
// `kedge proxy`; the flags and behaviour are the same (proxy_cmd.cpp).
#include <string>
#include <vector>

#include "kedge/base/signals.h"
#include "roles.h"

int main(int argc, char** argv) {
  // Before any thread exists, so every thread inherits the mask (as in
  // kedge's main; a mask inherited through exec is kept anyway).
  kedge::signals::block_termination_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  return kedge::cmd::run_proxy(args);
}

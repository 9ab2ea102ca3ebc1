// kedge-store: the `kedge store` role as an executable of its own. It links
// the store, its etcd gRPC front and flag handling only, not the API server,
// agent, proxy or REST client of the kedge multi-call binary, so a standalone
// store maps none of their code or shared libraries. `kedge store` execs it
// when it sits next to kedge; flags and behaviour are the same (store_cmd.cpp).
#include <string>
#include <vector>

#include "kedge/base/signals.h"
#include "roles.h"

int main(int argc, char** argv) {
  // Before any thread exists, so every thread inherits the mask.
  kedge::signals::block_termination_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  return kedge::cmd::run_store(args);
}

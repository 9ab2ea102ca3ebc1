// kedge-agent: the `kedge agent` role as an executable of its own, for
// worker devices. It links the node's libraries only (kubelet, CRI, agent
// API, proxy), not the store, SQLite, scheduler or controllers the kedge
// multi-call binary carries for `kedge server`. `kedge agent` execs it when
// it sits next to kedge; flags and behaviour are the same (agent_cmd.cpp).
#include <string>
#include <vector>

#include "kedge/base/signals.h"
#include "roles.h"

int main(int argc, char** argv) {
  // Before any thread exists, so every thread inherits the mask.
  kedge::signals::block_termination_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  return kedge::cmd::run_agent(args);
}

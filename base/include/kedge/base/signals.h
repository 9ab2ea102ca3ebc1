// Termination signals for the kedge process.
//
// main() calls block_termination_signals() before starting any thread, so
// every thread inherits the mask and only wait_for_termination() sees SIGINT
// and SIGTERM (no async-signal-unsafe handler code anywhere). After the signal
// the caller drains its components; a watchdog ends the process if draining
// takes longer than the budget, so `systemctl stop` never hangs.
#pragma once

#include <chrono>

namespace kedge::signals {

void block_termination_signals();

// Blocks until SIGINT or SIGTERM arrives; returns the signal number. Arms a
// watchdog thread that calls _exit(1) if the process is still alive `drain`
// later. A second signal during the drain exits at once.
int wait_for_termination(std::chrono::milliseconds drain = std::chrono::seconds(5));

}  // namespace kedge::signals

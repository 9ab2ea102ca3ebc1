// The kedge multi-call binary's roles. Each role lives in its own file
// (<role>_cmd.cpp): it declares its flags, builds its options struct and
// wires libraries together; the work itself is in the libraries.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "kedge/base/flags.h"
#include "kedge/base/status.h"

namespace kedge::cmd {

// Flags every role shares.
struct CommonOptions {
  std::string log_level = "info";
  std::string log_format = "text";
};

void add_common_flags(flags::FlagSet& set, CommonOptions& options);

// Parses `args` into `set`; prints usage on --help. Returns the exit code to
// stop with (0 after help, 2 on a flag error), or -1 to go on running.
int parse_or_exit(flags::FlagSet& set, const CommonOptions& common, std::span<const std::string> args);

// This host's addresses: every non-loopback IPv4 and non-link-local IPv6.
std::vector<std::string> local_addresses();

// Every role returns the process exit code.
int run_server(std::span<const std::string> args);
int run_agent(std::span<const std::string> args);
int run_store(std::span<const std::string> args);
int run_proxy(std::span<const std::string> args);
int run_version(std::span<const std::string> args);

}  // namespace kedge::cmd

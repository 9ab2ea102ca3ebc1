// kedge: one binary, several roles (like k3s). main() only picks the role.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

struct Role {
  std::string_view name;
  std::string_view summary;
  int (*run)(std::span<const std::string>);
};

constexpr Role kRoles[] = {
    {"server", "run the control plane (API server, scheduler, controllers) plus an agent and proxy for this node",
     run_server},
    {"agent", "run the node agent (kubelet) and service proxy on a worker device", run_agent},
    {"store", "run the etcd v3 compatible store alone", run_store},
    {"proxy", "run the nftables service proxy alone", run_proxy},
    {"version", "print version, git commit and build type", run_version},
};

void print_help(std::FILE* out) {
  std::fprintf(out,
               "kedge - a small, hardened Kubernetes distribution for edge devices\n\n"
               "Usage: kedge <command> [flags]\n\nCommands:\n");
  for (const auto& r : kRoles) {
    std::fprintf(out, "  %-9.*s %.*s\n", static_cast<int>(r.name.size()), r.name.data(),
                 static_cast<int>(r.summary.size()), r.summary.data());
  }
  std::fprintf(out, "\nRun 'kedge <command> --help' for the flags of a command.\n");
}

}  // namespace

void add_common_flags(flags::FlagSet& set, CommonOptions& options) {
  set.add("log-level", &options.log_level, "trace|debug|info|warn|error|critical|off");
  set.add("log-format", &options.log_format, "text|json");
}

int parse_or_exit(flags::FlagSet& set, const CommonOptions& common,
                  std::span<const std::string> args) {
  auto outcome = set.parse(args);
  if (!outcome.ok()) {
    std::fprintf(stderr, "kedge: %s\n", outcome.status().message().c_str());
    return 2;
  }
  if (*outcome == flags::FlagSet::Outcome::kHelp) {
    std::fputs(set.usage().c_str(), stdout);
    return 0;
  }
  auto log_options = log::parse_options(common.log_level, common.log_format);
  if (!log_options.ok()) {
    std::fprintf(stderr, "kedge: %s\n", log_options.status().message().c_str());
    return 2;
  }
  log::init(*log_options);
  for (const auto& warning : set.warnings()) log::logger("main")->warn("{}", warning);
  return -1;
}

}  // namespace kedge::cmd

int main(int argc, char** argv) {
  using namespace kedge::cmd;
  // Before any thread exists, so every thread inherits the mask.
  kedge::signals::block_termination_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") args[0] = "version";
  for (const auto& role : kRoles) {
    if (role.name == args[0]) return role.run(std::span(args).subspan(1));
  }
  std::fprintf(stderr, "kedge: unknown command \"%s\"\n\n", args[0].c_str());
  print_help(stderr);
  return 2;
}

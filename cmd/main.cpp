// kedge: one binary, several roles (like k3s). main() only picks the role.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/signals.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

// `kedge proxy`, `kedge agent` and `kedge store` run the lean kedge-proxy /
// kedge-agent / kedge-store executables when they sit next to this one
// (packages install them all in /usr/bin): the same code (proxy_cmd.cpp,
// agent_cmd.cpp, store_cmd.cpp), but without mapping the other roles' code
// and libraries (gRPC, protobuf and SQLite for the proxy; the store, SQLite
// and controllers for the agent; the API server, agent and libcurl's tree
// for the store), which costs a standalone proxy ~8 MB of RSS for nothing
// (bench/README.md, proxy). Without them, the role runs in this process.
int run_lean_or_here(const char* lean_name, int (*here)(std::span<const std::string>), std::span<const std::string> args) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::string lean = (self.parent_path() / lean_name).string();
    if (::access(lean.c_str(), X_OK) == 0) {
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(lean.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(lean.c_str(), argv.data());
      std::fprintf(stderr, "kedge: cannot run %s (%s); running it in this process\n", lean.c_str(), std::strerror(errno));
    }
  }
  return here(args);
}
int run_proxy_lean_or_here(std::span<const std::string> args) { return run_lean_or_here("kedge-proxy", run_proxy, args); }
int run_agent_lean_or_here(std::span<const std::string> args) { return run_lean_or_here("kedge-agent", run_agent, args); }
int run_store_lean_or_here(std::span<const std::string> args) { return run_lean_or_here("kedge-store", run_store, args); }

struct Role {
  std::string_view name;
  std::string_view summary;
  int (*run)(std::span<const std::string>);
};

constexpr Role kRoles[] = {
    {"server", "run the control plane (API server, scheduler, controllers) plus an agent and proxy for this node",
     run_server},
    {"agent", "run the node agent (kubelet) and service proxy on a worker device", run_agent_lean_or_here},
    {"store", "run the etcd v3 compatible store alone", run_store_lean_or_here},
    {"proxy", "run the nftables service proxy alone", run_proxy_lean_or_here},
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

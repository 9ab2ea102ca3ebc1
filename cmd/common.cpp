// What every role's wiring shares, in both executables: the kedge
// multi-call binary (main.cpp) and the lean kedge-proxy (proxy_main.cpp).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>

#include "kedge/base/log.h"
#include "roles.h"

namespace kedge::cmd {

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
  // No role takes positional arguments: a stray word (`--disable-proxy
  // true`, a typo'd flag without its dashes) would otherwise be ignored.
  if (!set.positional().empty()) {
    std::fprintf(stderr, "kedge: unexpected argument \"%s\" (flags start with --; booleans take --flag=false)\n",
                 set.positional().front().c_str());
    return 2;
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

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (auto* i = ifs; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
  }
  freeifaddrs(ifs);
  return out;
}

}  // namespace kedge::cmd

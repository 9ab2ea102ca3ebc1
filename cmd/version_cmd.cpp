#include <cstdio>

#include "kedge/base/version.h"
#include "roles.h"

namespace kedge::cmd {

int run_version(std::span<const std::string> args) {
  CommonOptions common;
  std::string output = "text";
  flags::FlagSet set("version", "Print version, git commit and build type.");
  add_common_flags(set, common);
  set.add("output", &output, "text|json");
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  const auto& v = version_info();
  if (output == "json") {
    std::printf(R"({"version":"%.*s","gitCommit":"%.*s","buildType":"%.*s"})" "\n",
                static_cast<int>(v.version.size()), v.version.data(),
                static_cast<int>(v.git_commit.size()), v.git_commit.data(),
                static_cast<int>(v.build_type.size()), v.build_type.data());
  } else if (output == "text") {
    std::printf("kedge version v%.*s\ngit commit: %.*s\nbuild type: %.*s\n",
                static_cast<int>(v.version.size()), v.version.data(),
                static_cast<int>(v.git_commit.size()), v.git_commit.data(),
                static_cast<int>(v.build_type.size()), v.build_type.data());
  } else {
    std::fprintf(stderr, "kedge: --output=%s: want text or json\n", output.c_str());
    return 2;
  }
  return 0;
}

}  // namespace kedge::cmd

// Build stamp of this kedge binary.
#pragma once

#include <string_view>

namespace kedge {

struct VersionInfo {
  std::string_view version;     // "0.1.0"
  std::string_view git_commit;  // short hash, "-dirty" when built from a modified tree
  std::string_view build_type;  // CMake build type
};

const VersionInfo& version_info();

}  // namespace kedge

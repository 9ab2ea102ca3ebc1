// Host facts: capget(2) agrees with the kernel's own report in /proc.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kedge/agent/host.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

std::uint64_t proc_status_mask(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field + ":")) return std::stoull(line.substr(field.size() + 1), nullptr, 16);
  }
  ADD_FAILURE() << field << " not in /proc/self/status";
  return 0;
}

TEST(Capabilities, MatchProcSelfStatus) {
  auto caps = current_capabilities();
  ASSERT_TRUE(caps.ok()) << caps.status().to_string();
  EXPECT_EQ(caps->effective, proc_status_mask("CapEff"));
  EXPECT_EQ(caps->permitted, proc_status_mask("CapPrm"));
  EXPECT_EQ(caps->inheritable, proc_status_mask("CapInh"));
  EXPECT_EQ(caps->has_effective(kCapSysResource), ((proc_status_mask("CapEff") >> 24) & 1) == 1);
  EXPECT_FALSE(caps->has_effective(-1));
  EXPECT_FALSE(caps->has_effective(64));
}

TEST(Overlayfs, ProbeCleansUpAfterItself) {
  KEDGE_REQUIRE(testing::is_root(), "root (mount)");
  testing::TempDir dir("kedge-overlay");
  auto result = check_overlayfs(dir / "probe");
  EXPECT_FALSE(std::filesystem::exists(dir / "probe"));
  if (!result.supported) {
    EXPECT_FALSE(result.reason.empty());
  }
  // Whatever the answer, nothing stays mounted under the probe directory.
  std::ifstream mounts("/proc/self/mountinfo");
  std::stringstream all;
  all << mounts.rdbuf();
  EXPECT_EQ(all.str().find((dir / "probe").string()), std::string::npos);
}

}  // namespace
}  // namespace kedge::agent

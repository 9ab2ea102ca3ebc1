#include "kedge/base/file.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kedge/testing/process.h"

namespace kedge {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The new content replaces the old one whole, with the mode asked for, and
// no temporary file is left behind.
TEST(WriteFileAtomic, ReplacesTheFileWithItsMode) {
  testing::TempDir dir;
  const auto path = dir.path() / "state";
  ASSERT_TRUE(write_file_atomic(path, "first\n", 0644).ok());
  ASSERT_TRUE(write_file_atomic(path, "second\n", 0600).ok());
  EXPECT_EQ(read(path), "second\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "state.tmp"));
}

TEST(WriteFileAtomic, AMissingDirectoryIsAnErrorNamingTheFile) {
  testing::TempDir dir;
  const auto path = dir.path() / "no" / "state";
  Status st = write_file_atomic(path, "x", 0600);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find((dir.path() / "no" / "state.tmp").string()), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kedge

// The ustar writer and reader, checked against GNU tar where installed.
#include <fstream>

#include <gtest/gtest.h>

#include "kedge/agent/tar.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

std::string long_path() {
  std::string p;
  for (int i = 0; i < 12; ++i) p += "directory" + std::to_string(i) + "/";
  return p + "file.txt";  // ~140 bytes: needs the ustar prefix field
}

std::string build_archive() {
  std::string out;
  TarWriter w(&out);
  EXPECT_TRUE(w.add_directory("bin").ok());
  EXPECT_TRUE(w.add_file("bin/tool", "#!/bin/sh\necho hi\n", 0755).ok());
  EXPECT_TRUE(w.add_symlink("bin/alias", "tool").ok());
  EXPECT_TRUE(w.add_file("empty", "").ok());
  EXPECT_TRUE(w.add_file(long_path(), std::string(1000, 'x')).ok());
  w.finish();
  return out;
}

TEST(TarWriter, BlocksAreAlignedAndOutputIsDeterministic) {
  const std::string a = build_archive();
  EXPECT_EQ(a.size() % 512, 0u);
  EXPECT_EQ(a, build_archive());
  // Two zero blocks end the archive.
  EXPECT_EQ(a.substr(a.size() - 1024), std::string(1024, '\0'));
}

TEST(TarWriter, RejectsWhatUstarCannotHold) {
  std::string out;
  TarWriter w(&out);
  EXPECT_EQ(w.add_file("/abs", "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(w.add_file("", "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(w.add_file(std::string(101, 'a'), "x").code(), Code::kInvalidArgument);  // no '/' to split at
  EXPECT_EQ(w.add_file(std::string(300, 'a'), "x").code(), Code::kInvalidArgument);
  EXPECT_EQ(w.add_symlink("l", std::string(101, 't')).code(), Code::kInvalidArgument);
  EXPECT_EQ(w.add_symlink("l", "").code(), Code::kInvalidArgument);
  EXPECT_TRUE(out.empty()) << "a rejected entry must write nothing";
}

TEST(TarReader, ReadsBackWhatWasWritten) {
  testing::TempDir dir("kedge-tar");
  std::ofstream(dir / "a.tar", std::ios::binary) << build_archive();
  auto members = read_tar_members(dir / "a.tar", [](const std::string&) { return true; });
  ASSERT_TRUE(members.ok()) << members.status().to_string();
  EXPECT_EQ(members->at("bin/tool"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(members->at("empty"), "");
  EXPECT_EQ(members->at(long_path()), std::string(1000, 'x'));
  EXPECT_FALSE(members->contains("bin/alias")) << "symlinks are not file members";
  EXPECT_FALSE(members->contains("bin/"));

  auto only = read_tar_members(dir / "a.tar", [](const std::string& n) { return n == "empty"; });
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->size(), 1u);
}

TEST(TarReader, CorruptionAndLimitsAreErrors) {
  testing::TempDir dir("kedge-tar");
  std::string a = build_archive();
  std::string bad = a;
  bad[0] ^= 1;  // the first header's name: checksum no longer matches
  std::ofstream(dir / "bad.tar", std::ios::binary) << bad;
  auto r = read_tar_members(dir / "bad.tar", [](const std::string&) { return true; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos);

  std::ofstream(dir / "short.tar", std::ios::binary) << a.substr(0, 700);
  EXPECT_EQ(read_tar_members(dir / "short.tar", [](const std::string&) { return true; }).status().code(),
            Code::kDataLoss);

  auto big = read_tar_members(dir / "bad.tar", [](const std::string&) { return true; }, 10);
  EXPECT_FALSE(big.ok());
  EXPECT_EQ(read_tar_members(dir / "missing.tar", [](const std::string&) { return true; }).status().code(),
            Code::kNotFound);
}

TEST(TarWriter, GnuTarListsAndExtractsIt) {
  const std::string tar = testing::find_binary("tar");
  KEDGE_REQUIRE(!tar.empty(), "GNU tar");
  testing::TempDir dir("kedge-tar");
  std::ofstream(dir / "a.tar", std::ios::binary) << build_archive();
  auto list = testing::run({tar, "-tvf", (dir / "a.tar").string()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("bin/alias -> tool"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("-rwxr-xr-x root/root"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(long_path()), std::string::npos) << list.out;
  std::filesystem::create_directory(dir / "x");
  auto extract = testing::run({tar, "-xf", (dir / "a.tar").string(), "-C", (dir / "x").string()});
  ASSERT_EQ(extract.exit_code, 0) << extract.err;
  EXPECT_EQ(std::filesystem::read_symlink(dir / "x/bin/alias"), "tool");
  EXPECT_EQ(std::filesystem::file_size(dir / "x" / long_path()), 1000u);
  EXPECT_TRUE((std::filesystem::status(dir / "x/bin/tool").permissions() & std::filesystem::perms::owner_exec) !=
              std::filesystem::perms::none);
}

}  // namespace
}  // namespace kedge::agent

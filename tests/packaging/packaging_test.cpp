// Builds the .deb and .rpm with CPack from this build tree and inspects them
// as a packager would: file list, metadata, conffiles, maintainer scripts.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::testing {
namespace {

namespace fs = std::filesystem;

std::string version() {
  auto r = run({kedge_binary(), "version", "--output=json", "--config=/dev/null"});
  auto pos = r.out.find("\"version\":\"");
  if (pos == std::string::npos) return {};
  pos += 11;
  return r.out.substr(pos, r.out.find('"', pos) - pos);
}

class Packages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("kedge-pkg");
    const auto config = fs::path(build_dir()) / "CPackConfig.cmake";
    if (!fs::exists(config) || find_binary("rpmbuild").empty() || find_binary("dpkg-deb").empty()) return;
    cpack_ = run({"cpack", "--config", config.string(), "-B", dir_->path().string()},
                 {.timeout = std::chrono::minutes(8)});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    KEDGE_REQUIRE(fs::exists(fs::path(build_dir()) / "CPackConfig.cmake"), "a configured build tree");
    KEDGE_REQUIRE(!find_binary("rpmbuild").empty(), "rpmbuild (package rpm)");
    KEDGE_REQUIRE(!find_binary("dpkg-deb").empty(), "dpkg-deb");
    ASSERT_EQ(cpack_.exit_code, 0) << cpack_.out << cpack_.err;
  }
  static fs::path package(const std::string& name) { return dir_->path() / name; }
  static std::string arch_deb() { return run({"dpkg", "--print-architecture"}).out.substr(0, 5) == "arm64" ? "arm64" : "amd64"; }

  static TempDir* dir_;
  static CommandResult cpack_;
};

TempDir* Packages::dir_ = nullptr;
CommandResult Packages::cpack_;

TEST_F(Packages, DebHasBinaryUnitsConfigAndDataDir) {
  const auto deb = package("kedge_" + version() + "_" + arch_deb() + ".deb");
  ASSERT_TRUE(fs::exists(deb)) << "missing " << deb << "\n" << cpack_.out;
  auto contents = run({"dpkg-deb", "-c", deb.string()});
  ASSERT_EQ(contents.exit_code, 0) << contents.err;
  for (const char* want : {"./usr/bin/kedge", "./usr/bin/kedge-proxy", "./usr/bin/kedge-agent", "./usr/bin/kedge-store",
                           "./lib/systemd/system/kedge-server.service",
                           "./lib/systemd/system/kedge-agent.service",
                           "./lib/systemd/system/kedge-store.service", "./etc/kedge/config.yaml",
                           "./var/lib/kedge/images/"}) {
    EXPECT_NE(contents.out.find(want), std::string::npos) << want << " not in\n" << contents.out;
  }
  // The state directory holds the CA key: owner-only.
  EXPECT_NE(contents.out.find("drwx------ root/root         0"), std::string::npos) << contents.out;

  auto info = run({"dpkg-deb", "-I", deb.string()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  for (const char* want : {"Package: kedge", "Version: ", "Depends: ", "containerd", "conffiles",
                           "postinst", "prerm"}) {
    EXPECT_NE(info.out.find(want), std::string::npos) << want << " not in\n" << info.out;
  }
  auto conffiles = run({"dpkg-deb", "-I", deb.string(), "conffiles"});
  EXPECT_NE(conffiles.out.find("/etc/kedge/config.yaml"), std::string::npos) << conffiles.out;
}

TEST_F(Packages, RpmHasBinaryUnitsAndNoreplaceConfig) {
  const auto arch = run({"uname", "-m"}).out;
  const auto rpm = package("kedge-" + version() + "." + arch.substr(0, arch.find('\n')) + ".rpm");
  ASSERT_TRUE(fs::exists(rpm)) << "missing " << rpm << "\n" << cpack_.out;
  auto list = run({"rpm", "-qpl", rpm.string()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  for (const char* want : {"/usr/bin/kedge", "/usr/bin/kedge-proxy", "/usr/bin/kedge-agent", "/usr/bin/kedge-store",
                           "/lib/systemd/system/kedge-server.service",
                           "/lib/systemd/system/kedge-agent.service", "/etc/kedge/config.yaml",
                           "/var/lib/kedge\n", "/var/lib/kedge/images"}) {
    EXPECT_NE(list.out.find(want), std::string::npos) << want << " not in\n" << list.out;
  }
  // Directories the system owns must not be claimed by the package.
  EXPECT_EQ(list.out.find("/etc\n"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("/var/lib\n"), std::string::npos) << list.out;
  auto config = run({"rpm", "-qpc", rpm.string()});
  EXPECT_NE(config.out.find("/etc/kedge/config.yaml"), std::string::npos) << config.out;
  auto scripts = run({"rpm", "-qp", "--scripts", rpm.string()});
  EXPECT_NE(scripts.out.find("daemon-reload"), std::string::npos) << scripts.out;
}

TEST_F(Packages, ServerUnitIsHardenedButKeepsPodsAlive) {
  const auto deb = package("kedge_" + version() + "_" + arch_deb() + ".deb");
  TempDir root("kedge-deb-x");
  ASSERT_EQ(run({"dpkg-deb", "-x", deb.string(), root.path().string()}).exit_code, 0);
  for (const char* unit : {"kedge-server.service", "kedge-agent.service"}) {
    std::ifstream in(root.path() / "lib/systemd/system" / unit);
    std::stringstream text;
    text << in.rdbuf();
    const auto s = text.str();
    EXPECT_NE(s.find("ExecStart=/usr/bin/kedge "), std::string::npos) << unit;
    EXPECT_NE(s.find("KillMode=process"), std::string::npos) << unit;  // pods survive restarts
    EXPECT_NE(s.find("Delegate=yes"), std::string::npos) << unit;
    EXPECT_NE(s.find("ProtectKernelModules=yes"), std::string::npos) << unit;
    EXPECT_NE(s.find("ProtectClock=yes"), std::string::npos) << unit;
  }
  std::ifstream in(root.path() / "lib/systemd/system/kedge-store.service");
  std::stringstream text;
  text << in.rdbuf();
  for (const char* want : {"NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                           "SystemCallFilter=@system-service"}) {
    EXPECT_NE(text.str().find(want), std::string::npos) << want;
  }
  // The packaged binary runs.
  auto v = run({(root.path() / "usr/bin/kedge").string(), "version"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("kedge version v" + version()), std::string::npos) << v.out;
  // So does the lean proxy `kedge proxy` runs (cmd/proxy_main.cpp).
  auto p = run({(root.path() / "usr/bin/kedge").string(), "proxy", "--help"});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("Usage: kedge proxy"), std::string::npos) << p.out;
}

}  // namespace
}  // namespace kedge::testing

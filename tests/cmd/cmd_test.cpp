// The kedge binary as a user meets it: help, version, flag errors.
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kedge/testing/process.h"

namespace kedge::testing {
namespace {

TEST(KedgeBinary, HelpListsEveryRole) {
  auto r = run({kedge_binary(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* role : {"server", "agent", "store", "proxy", "version"}) {
    EXPECT_NE(r.out.find(std::string("  ") + role), std::string::npos) << role << "\n" << r.out;
  }
}

TEST(KedgeBinary, NoArgumentsIsAUsageError) {
  auto r = run({kedge_binary()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Usage: kedge <command>"), std::string::npos);
}

TEST(KedgeBinary, VersionPrintsVersionCommitAndBuildType) {
  auto r = run({kedge_binary(), "version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("kedge version v0."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("git commit: "), std::string::npos);
  EXPECT_EQ(r.out.find("git commit: unknown"), std::string::npos) << "built outside git? " << r.out;
  EXPECT_NE(r.out.find("build type: "), std::string::npos);
  auto j = run({kedge_binary(), "version", "--output=json"});
  EXPECT_NE(j.out.find("\"gitCommit\":\""), std::string::npos) << j.out;
}

TEST(KedgeBinary, EveryRoleHasHelpWithDefaults) {
  for (const char* role : {"server", "agent", "store", "proxy", "version"}) {
    auto r = run({kedge_binary(), role, "--help"});
    EXPECT_EQ(r.exit_code, 0) << role << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("Usage: kedge ") + role), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--log-level"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(default \""), std::string::npos) << r.out;
  }
}

TEST(KedgeBinary, UnknownCommandAndFlagAreNamed) {
  auto r = run({kedge_binary(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command \"frobnicate\""), std::string::npos) << r.err;
  auto f = run({kedge_binary(), "version", "--bogus"});
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_NE(f.err.find("unknown flag --bogus"), std::string::npos) << f.err;
  auto l = run({kedge_binary(), "version", "--log-level=loud", "--config=/dev/null"});
  EXPECT_EQ(l.exit_code, 2);
  EXPECT_NE(l.err.find("unknown log level \"loud\""), std::string::npos) << l.err;
  // A boolean takes --flag=false: a separate word is refused, not ignored.
  auto p = run({kedge_binary(), "store", "--config=/dev/null", "--log-level", "warn", "strict"});
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.err.find("unexpected argument \"strict\""), std::string::npos) << p.err;
}

// `kedge <role>` execs kedge-<role> next to kedge with the same arguments
// (cmd/main.cpp), and runs the role itself when there is none. `args` are
// handed on; a fake kedge-<role> echoes them and exits 7. `then` gets the
// directory holding kedge and the fake for further checks.
void expect_lean_binary_or_itself(const std::string& role, const std::vector<std::string>& args,
                                  const std::function<void(const std::filesystem::path&)>& then = {}) {
  namespace fs = std::filesystem;
  TempDir dir("kedge-lean");
  fs::copy_file(kedge_binary(), dir / "kedge");
  auto alone = run({(dir / "kedge").string(), role, "--help"});
  EXPECT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_NE(alone.out.find("Usage: kedge " + role), std::string::npos) << alone.out;

  const fs::path lean_path = dir / ("kedge-" + role);
  std::ofstream(lean_path) << "#!/bin/sh\necho \"lean: $*\"\nexit 7\n";
  fs::permissions(lean_path, fs::perms::owner_all);
  std::vector<std::string> argv = {(dir / "kedge").string(), role};
  argv.insert(argv.end(), args.begin(), args.end());
  auto lean = run(argv);
  EXPECT_EQ(lean.exit_code, 7) << lean.err;
  std::string echoed = "lean:";
  for (const auto& a : args) echoed += " " + a;
  EXPECT_EQ(lean.out, echoed + "\n");
  if (then) then(dir.path());
}

TEST(KedgeBinary, ProxyRunsTheLeanBinaryNextToItElseItself) {
  expect_lean_binary_or_itself("proxy", {"--manifests", "a dir", "--ipv6=false"});
}

TEST(KedgeBinary, StoreRunsTheLeanBinaryNextToItElseItself) {
  expect_lean_binary_or_itself("store", {"--data-dir", "a dir", "--durability", "relaxed"});
}

TEST(KedgeBinary, AgentRunsTheLeanBinaryNextToItElseItself) {
  expect_lean_binary_or_itself("agent", {"--kubeconfig", "a file"}, [](const std::filesystem::path& dir) {
    // `kedge server` runs its agent in-process: it never execs kedge-agent.
    auto server = run({(dir / "kedge").string(), "server", "--help"});
    EXPECT_EQ(server.exit_code, 0) << server.err;
    EXPECT_NE(server.out.find("Usage: kedge server"), std::string::npos) << server.out;
  });
}

// The agent's memory target rests on what kedge-agent maps: its CRI client
// has its own HTTP/2 transport and protobuf-lite messages, so no grpc++ stack
// and no full libprotobuf may come back through a new dependency.
TEST(KedgeBinary, LeanAgentLoadsNoGrpcStackNorFullProtobuf) {
  const auto agent = std::filesystem::path(kedge_binary()).parent_path() / "kedge-agent";
  ASSERT_TRUE(std::filesystem::exists(agent)) << agent;
  auto r = run({"ldd", agent.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* lib : {"libgrpc", "libgpr", "libabsl", "libcares", "libre2", "libupb", "libprotobuf.so"}) {
    EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " is back in kedge-agent:\n" << r.out;
  }
  EXPECT_NE(r.out.find("libprotobuf-lite.so"), std::string::npos) << r.out;
  // And the kedge binary, which keeps grpc++ for the store, binds the CRI
  // messages to the full library: never both protobuf runtimes in a process.
  auto k = run({"ldd", kedge_binary()});
  EXPECT_EQ(k.out.find("libprotobuf-lite.so"), std::string::npos) << k.out;
}

}  // namespace
}  // namespace kedge::testing

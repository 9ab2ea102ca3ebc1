// Child processes: exit codes, output capture, deadlines, signals.
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

#include "kedge/agent/child_process.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

using std::chrono::milliseconds;

TEST(RunCommand, CapturesOutputAndExitCode) {
  auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(r->output.find("out\n"), std::string::npos);
  EXPECT_NE(r->output.find("err\n"), std::string::npos);
}

TEST(RunCommand, ChildInheritsOnlyStdio) {
  // A descriptor opened without O_CLOEXEC (as Asio's acceptors are) stays
  // ours: the child sees only stdin, stdout and stderr.
  int leaked[2];
  ASSERT_EQ(::pipe(leaked), 0);
  auto r = run_command({"sh", "-c", "ls /proc/$$/fd"}, std::chrono::seconds(10));
  ::close(leaked[0]);
  ::close(leaked[1]);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->output, "0\n1\n2\n") << "fds " << leaked[0] << " and " << leaked[1] << " must not be inherited";
}

TEST(RunCommand, DeadlineKillsTheChild) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_command({"sleep", "30"}, milliseconds(300));
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(RunCommand, MissingBinaryIsNotFound) {
  auto r = run_command({"kedge-no-such-binary"}, milliseconds(1000));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("kedge-no-such-binary"), std::string::npos);
}

TEST(Spawn, ChildStartsWithTermUnblockedAndDiesOnTerminate) {
  // The test runner may block SIGTERM as kedge's main does; the child must
  // still see the default disposition, or terminate() would need SIGKILL.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  testing::TempDir dir("kedge-child");
  auto child = spawn({.argv = {"sleep", "30"}, .output = dir / "out.log", .parent_death_signal = SIGTERM});
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(child.ok()) << child.status().to_string();
  EXPECT_GT(child->pid(), 0);
  auto still = child->wait_for(milliseconds(100));
  ASSERT_TRUE(still.ok());
  EXPECT_FALSE(still->has_value()) << "sleep exited early";
  EXPECT_EQ(child->terminate(std::chrono::seconds(5)), 128 + SIGTERM);
  EXPECT_FALSE(child->valid());
}

TEST(Spawn, OutputIsAppendedToTheLogFile) {
  testing::TempDir dir("kedge-child");
  for (int i = 0; i < 2; ++i) {
    auto child = spawn({.argv = {"sh", "-c", "echo line"}, .output = dir / "out.log"});
    ASSERT_TRUE(child.ok());
    auto code = child->wait_for(std::chrono::seconds(10));
    ASSERT_TRUE(code.ok() && code->has_value());
    EXPECT_EQ(**code, 0);
  }
  auto r = testing::run({"cat", (dir / "out.log").string()});
  EXPECT_EQ(r.out, "line\nline\n");
}

}  // namespace
}  // namespace kedge::agent

// The CRI log reader on crafted log files: partial lines, tail, since,
// timestamps, limitBytes, previous, and follow with appends, rotation and a
// restart.
#include "kedge/agent/log_reader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

namespace fs = std::filesystem;

void append(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::app | std::ios::binary);
  out << text;
}

const char* kLog =
    "2026-01-02T03:04:05.000000001Z stdout F first\n"
    "2026-01-02T03:04:06.5+01:00 stderr F second\n"
    "2026-01-02T03:04:07Z stdout P par\n"
    "2026-01-02T03:04:07.1Z stdout P ti\n"
    "2026-01-02T03:04:07.2Z stdout F al\n"
    "garbage that is not CRI\n"
    "2026-01-02T03:04:08Z stdout F \n"
    "2026-01-02T03:04:09Z stdout F last\n";

std::string read_all(const fs::path& file, const LogOptions& options) {
  std::string out;
  Status s = read_container_log(file, options, [&](std::string_view c) {
    out.append(c);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

class LogReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = dir_.path() / "0.log";
    append(file_, kLog);
  }
  testing::TempDir dir_;
  fs::path file_;
};

TEST(CriLogLine, Parses) {
  auto l = parse_cri_log_line("2026-01-02T03:04:05Z stderr P hello world");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->timestamp, "2026-01-02T03:04:05Z");
  EXPECT_TRUE(l->is_stderr);
  EXPECT_TRUE(l->partial);
  EXPECT_EQ(l->content, "hello world");
  EXPECT_FALSE(parse_cri_log_line("2026 stdin F x"));
  EXPECT_FALSE(parse_cri_log_line("nospace"));
  EXPECT_FALSE(parse_cri_log_line("2026-01-02T03:04:05Z stdout X x"));
}

TEST(Rfc3339, ParsesOffsetsAndFractions) {
  auto a = parse_rfc3339("2026-01-02T03:04:05Z");
  auto b = parse_rfc3339("2026-01-02T04:04:05+01:00");
  auto c = parse_rfc3339("2026-01-02T03:04:05.000000001Z");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*c - *a, std::chrono::nanoseconds(1));
  EXPECT_FALSE(parse_rfc3339("2026-01-02 03:04:05Z").ok());
  EXPECT_FALSE(parse_rfc3339("2026-13-02T03:04:05Z").ok());
  EXPECT_FALSE(parse_rfc3339("2026-01-02T03:04:05").ok());
}

TEST_F(LogReaderTest, JoinsPartialLinesAndSkipsGarbage) {
  EXPECT_EQ(read_all(file_, {}), "first\nsecond\npartial\n\nlast\n");
}

TEST_F(LogReaderTest, TimestampsUseTheFirstPiece) {
  EXPECT_EQ(read_all(file_, {.timestamps = true}),
            "2026-01-02T03:04:05.000000001Z first\n"
            "2026-01-02T03:04:06.5+01:00 second\n"
            "2026-01-02T03:04:07Z partial\n"
            "2026-01-02T03:04:08Z \n"
            "2026-01-02T03:04:09Z last\n");
}

TEST_F(LogReaderTest, Tail) {
  EXPECT_EQ(read_all(file_, {.tail_lines = 2}), "\nlast\n");
  EXPECT_EQ(read_all(file_, {.tail_lines = 3}), "partial\n\nlast\n");
  EXPECT_EQ(read_all(file_, {.tail_lines = 0}), "");
  EXPECT_EQ(read_all(file_, {.tail_lines = 100}), "first\nsecond\npartial\n\nlast\n");
}

TEST_F(LogReaderTest, Since) {
  // 03:04:06.5+01:00 is 02:04:06.5Z: before every other entry.
  EXPECT_EQ(read_all(file_, {.since = *parse_rfc3339("2026-01-02T03:04:07Z")}), "partial\n\nlast\n");
  EXPECT_EQ(read_all(file_, {.since = *parse_rfc3339("2026-01-02T03:04:08.5Z")}), "last\n");
  EXPECT_EQ(read_all(file_, {.tail_lines = 1, .since = *parse_rfc3339("2026-01-02T03:04:07Z")}), "last\n");
}

TEST_F(LogReaderTest, LimitBytesCutsExactly) {
  EXPECT_EQ(read_all(file_, {.limit_bytes = 8}), "first\nse");
  EXPECT_EQ(read_all(file_, {.limit_bytes = 6}), "first\n");
  EXPECT_EQ(read_all(file_, {.timestamps = true, .limit_bytes = 4}), "2026");
}

TEST_F(LogReaderTest, UnfinishedLastEntryHasNoNewline) {
  append(file_, "2026-01-02T03:04:10Z stdout P no end yet");
  EXPECT_EQ(read_all(file_, {.tail_lines = 1}), "no end yet");
}

TEST_F(LogReaderTest, SinkRefusalStops) {
  int calls = 0;
  Status s = read_container_log(file_, {}, [&](std::string_view) {
    ++calls;
    return false;
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 1);
}

TEST(FindContainerLog, PicksCurrentAndPrevious) {
  testing::TempDir dir;
  fs::create_directories(dir.path() / "ns_web_uid1" / "app");
  for (const char* f : {"0.log", "1.log", "2.log", "2.log.20260101-000000", "10.log.gz"}) {
    append(dir.path() / "ns_web_uid1" / "app" / f, "");
  }
  fs::create_directories(dir.path() / "ns_webby_uid9" / "app");
  append(dir.path() / "ns_webby_uid9" / "app" / "7.log", "");
  auto cur = find_container_log(dir.path(), "ns", "web", "app", false);
  ASSERT_TRUE(cur.ok()) << cur.status().message();
  EXPECT_EQ(cur->filename(), "2.log");
  EXPECT_EQ(cur->parent_path().parent_path().filename(), "ns_web_uid1");
  auto prev = find_container_log(dir.path(), "ns", "web", "app", true);
  ASSERT_TRUE(prev.ok());
  EXPECT_EQ(prev->filename(), "1.log");
  auto missing = find_container_log(dir.path(), "ns", "web", "sidecar", false);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("sidecar"), std::string::npos);
  EXPECT_EQ(find_container_log(dir.path(), "ns", "gone", "app", false).status().code(), Code::kNotFound);
  auto no_prev = find_container_log(dir.path(), "ns", "webby", "app", true);
  EXPECT_NE(no_prev.status().message().find("previous terminated container \"app\""), std::string::npos);
}

// Follows on another thread; collects output under a mutex.
class Follower {
 public:
  Follower(fs::path file, LogOptions options) {
    options.follow = true;
    thread_ = std::thread([this, file, options] {
      result_ = read_container_log(file, options, [this](std::string_view c) {
        std::lock_guard lock(mu_);
        out_.append(c);
        return true;
      }, &cancel_);
      finished_ = true;
    });
  }
  ~Follower() {
    cancel_.cancel();
    thread_.join();
  }
  std::string out() {
    std::lock_guard lock(mu_);
    return out_;
  }
  bool finished() const { return finished_; }
  void cancel() { cancel_.cancel(); }
  const Status& result() const { return result_; }

 private:
  LogCancel cancel_;
  std::mutex mu_;
  std::string out_;
  std::atomic<bool> finished_{false};
  Status result_;
  std::thread thread_;
};

TEST_F(LogReaderTest, FollowSeesAppendsAndStopsOnCancel) {
  Follower f(file_, {.tail_lines = 1});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; })) << f.out();
  append(file_, "2026-01-02T03:04:10Z stdout P hal");
  append(file_, "f \n");
  append(file_, "2026-01-02T03:04:11Z stdout F line\n");
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\nhalf line\n"; })) << f.out();
  EXPECT_FALSE(f.finished());
  f.cancel();
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
  EXPECT_TRUE(f.result().ok());
}

TEST_F(LogReaderTest, FollowStopsAtLimit) {
  Follower f(file_, {.tail_lines = 1, .limit_bytes = 11});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; }));
  append(file_, "2026-01-02T03:04:10Z stdout F abc\n");
  append(file_, "2026-01-02T03:04:11Z stdout F defgh\n");
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
  EXPECT_EQ(f.out(), "last\nabc\nde");
}

TEST_F(LogReaderTest, FollowEndsWhenTheContainerRestarts) {
  Follower f(file_, {.tail_lines = 1});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; }));
  append(file_, "2026-01-02T03:04:10Z stdout F bye\n");
  append(dir_.path() / "1.log", "2026-01-02T03:04:12Z stdout F next instance\n");
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
  EXPECT_EQ(f.out(), "last\nbye\n");
}

TEST_F(LogReaderTest, FollowReopensARotatedFile) {
  Follower f(file_, {.tail_lines = 1});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; }));
  append(file_, "2026-01-02T03:04:10Z stdout F before\n");
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\nbefore\n"; }));
  fs::rename(file_, dir_.path() / "0.log.20260102-030411");
  append(file_, "2026-01-02T03:04:12Z stdout F after\n");
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\nbefore\nafter\n"; })) << f.out();
  EXPECT_FALSE(f.finished());
}

TEST_F(LogReaderTest, FollowEndsWhenTheContainerStops) {
  auto running = std::make_shared<std::atomic<bool>>(true);
  Follower f(file_, {.tail_lines = 1,
                     .container_running = [running] { return running->load(); },
                     .running_check_interval = std::chrono::milliseconds(50)});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; }));
  append(file_, "2026-01-02T03:04:10Z stdout F final words\n");
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\nfinal words\n"; }));
  EXPECT_FALSE(f.finished());
  *running = false;  // exits without writing anything more
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
  EXPECT_EQ(f.out(), "last\nfinal words\n");
}

TEST_F(LogReaderTest, FollowOfAStoppedContainerPrintsAndEnds) {
  Follower f(file_, {.container_running = [] { return false; }});
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
  EXPECT_EQ(f.out(), "first\nsecond\npartial\n\nlast\n");
}

TEST_F(LogReaderTest, FollowEndsWhenTheLogIsDeleted) {
  Follower f(file_, {.tail_lines = 1});
  ASSERT_TRUE(testing::eventually([&] { return f.out() == "last\n"; }));
  fs::remove(file_);
  ASSERT_TRUE(testing::eventually([&] { return f.finished(); }));
}

}  // namespace
}  // namespace kedge::agent

// kill -9 at random moments while several threads write: after every
// restart each acknowledged write is present, the history left after
// compaction has no revision gaps, and the integrity check passes.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "store_test_util.h"

namespace kedge::store {
namespace {

using namespace kedge::store::testing;  // NOLINT
using namespace std::chrono_literals;

struct Ack {
  std::string key;
  Revision revision = 0;
};

std::vector<Ack> read_acks(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::vector<Ack> acks;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;  // a torn last line was never fully printed
    std::istringstream line(text.substr(pos, end - pos));
    pos = end + 1;
    std::string tag;
    Ack ack;
    if (line >> tag >> ack.key >> ack.revision && tag == "ACK") acks.push_back(ack);
  }
  return acks;
}

class Collector : public WatchObserver {
 public:
  void on_events(Revision, std::span<const Event> events) override {
    std::lock_guard lock(mu);
    for (const Event& e : events) revisions.insert(e.kv.mod_revision);
  }
  void on_canceled(const Status& reason, Revision) override {
    std::lock_guard lock(mu);
    canceled = reason.to_string();
  }
  std::mutex mu;
  std::set<Revision> revisions;
  std::string canceled;
};

TEST(StoreCrashTest, AcknowledgedWritesSurviveKillNine) {
  kedge::testing::TempDir dir("kedge-store-crash");
  const auto data = dir.path() / "data";
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(150, 900);
  constexpr int kRounds = 20;
  std::size_t total_acks = 0;
  for (int round = 0; round < kRounds; ++round) {
    const auto log = dir.path() / ("round" + std::to_string(round) + ".log");
    {
      kedge::testing::Process writer({KEDGE_STORE_CRASH_WRITER, data.string(), "8"}, log);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      writer.kill_and_wait(SIGKILL);
    }
    const std::vector<Ack> acks = read_acks(log);
    total_acks += acks.size();
    auto store = SqliteStore::open(options_in(data));  // runs the integrity check
    ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.status().to_string();
    for (const Ack& ack : acks) {
      auto r = (*store)->range(get_req(ack.key));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      ASSERT_EQ(r->kvs.size(), 1u) << "round " << round << ": acknowledged " << ack.key << " at "
                                   << ack.revision << " is missing";
      EXPECT_EQ(r->kvs[0].mod_revision, ack.revision) << ack.key;
      EXPECT_EQ(r->kvs[0].value, ack.key);
    }
    // Every revision after the compact revision is in the history.
    auto status = (*store)->status();
    ASSERT_TRUE(status.ok());
    if (status->revision > 1) {
      Collector collector;
      WatchRequest all;
      all.key = std::string(1, '\0');
      all.range_end = std::string(1, '\0');
      // Revision 1 is the empty store's: no change carries it.
      const Revision first = std::max<Revision>(status->compact_revision + 1, 2);
      all.start_revision = first;
      auto watch = (*store)->watch(all, collector);
      ASSERT_TRUE(watch.ok());
      const auto expected = static_cast<std::size_t>(status->revision - first + 1);
      const bool complete = kedge::testing::eventually([&] {
        std::lock_guard lock(collector.mu);
        return collector.revisions.size() >= expected || !collector.canceled.empty();
      }, 30s);
      std::lock_guard lock(collector.mu);
      if (!complete) {
        Revision missing = 0;
        for (Revision r = first; r <= status->revision; ++r) {
          if (!collector.revisions.contains(r)) {
            missing = r;
            break;
          }
        }
        FAIL() << "round " << round << ": history has " << collector.revisions.size() << " of " << expected
               << " revisions after compact revision " << status->compact_revision << " (current "
               << status->revision << "); first missing " << missing;
      }
      ASSERT_TRUE(collector.canceled.empty()) << collector.canceled;
      ASSERT_EQ(collector.revisions.size(), expected) << "round " << round;
      EXPECT_EQ(*collector.revisions.begin(), first);
      EXPECT_EQ(*collector.revisions.rbegin(), status->revision);
    }
  }
  // The rounds must have done real work for the test to mean anything.
  EXPECT_GT(total_acks, 1000u);
  std::printf("crash test: %zu acknowledged writes over %d kill -9 rounds\n", total_acks, kRounds);
}

}  // namespace
}  // namespace kedge::store

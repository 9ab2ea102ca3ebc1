// kill -9 at random moments while several threads write: after every
// restart each acknowledged write is present, the history left after
// compaction has no revision gaps, and the integrity check passes.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <random>
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
    expect_contiguous_history(**store, "round " + std::to_string(round));
  }
  // The rounds must have done real work for the test to mean anything.
  EXPECT_GT(total_acks, 1000u);
  std::printf("crash test: %zu acknowledged writes over %d kill -9 rounds\n", total_acks, kRounds);
}

}  // namespace
}  // namespace kedge::store

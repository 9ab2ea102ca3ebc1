// KeyIndex: the in-memory map from each key to the kv rows of its versions.
#include "key_index.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace kedge::store {
namespace {

using mvcc::first_id;

std::vector<std::pair<std::string, std::int64_t>> live(const KeyIndex& index, const std::string& key,
                                                       const std::string& end, Revision at) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  KeyIndex::Reader lock = index.read();
  index.live(key, end, at, [&](const std::string& k, std::int64_t id) { out.emplace_back(k, id); });
  return out;
}

std::optional<std::int64_t> latest(const KeyIndex& index, const std::string& key, Revision at) {
  KeyIndex::Reader lock = index.read();
  return index.latest(key, at);
}

TEST(KeyIndexTest, NewestVersionAtARevisionAndTombstones) {
  KeyIndex index;
  index.add("a", first_id(2), false);
  index.add("a", first_id(5) + 1, false);  // second change of revision 5
  index.add("a", first_id(7), true);       // deleted at 7
  index.add("a", first_id(9), false);      // created again
  index.committed();
  EXPECT_EQ(latest(index, "a", 1), std::nullopt);
  EXPECT_EQ(latest(index, "a", 2), first_id(2));
  EXPECT_EQ(latest(index, "a", 4), first_id(2));
  EXPECT_EQ(latest(index, "a", 5), first_id(5) + 1);
  EXPECT_EQ(latest(index, "a", 7), std::nullopt);
  EXPECT_EQ(latest(index, "a", 8), std::nullopt);
  EXPECT_EQ(latest(index, "a", 9), first_id(9));
  EXPECT_EQ(latest(index, "a", std::numeric_limits<Revision>::max()), first_id(9));
  EXPECT_EQ(latest(index, "b", 9), std::nullopt);
}

TEST(KeyIndexTest, RangesAsEtcdSpellsThem) {
  KeyIndex index;
  for (const char* k : {"a", "b/1", "b/2", "c"}) index.add(k, first_id(2), false);
  index.add("b/2", first_id(3), true);
  index.committed();
  using Rows = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(live(index, "b/1", "", 3), (Rows{{"b/1", first_id(2)}}));                          // one key
  EXPECT_EQ(live(index, "b/", "b0", 3), (Rows{{"b/1", first_id(2)}}));                          // prefix; b/2 deleted
  EXPECT_EQ(live(index, "b/", "b0", 2), (Rows{{"b/1", first_id(2)}, {"b/2", first_id(2)}}));    // before the delete
  EXPECT_EQ(live(index, "b/2", std::string(1, '\0'), 2), (Rows{{"b/2", first_id(2)}, {"c", first_id(2)}}));  // from key
  EXPECT_EQ(live(index, "c", "a", 3), Rows{});  // end before start: empty, as in etcd
  EXPECT_EQ(live(index, "a", "a", 3), Rows{});
}

TEST(KeyIndexTest, RollbackForgetsWhatTheFailedPartAdded) {
  KeyIndex index;
  index.add("old", first_id(2), false);
  index.committed();
  index.add("old", first_id(3), false);  // request 1 of a batch
  const std::size_t mark = index.mark();
  index.add("old", first_id(4), false);  // request 2 of the batch fails
  index.add("new", first_id(4), false);
  index.add("new", first_id(4) + 1, true);
  index.rollback(mark, first_id(4));
  EXPECT_EQ(latest(index, "old", 10), first_id(3));
  EXPECT_EQ(latest(index, "new", 10), std::nullopt);
  EXPECT_EQ(index.keys(), 1u);
  index.rollback(0, first_id(3));  // then the whole batch fails to commit
  EXPECT_EQ(latest(index, "old", 10), first_id(2));
  EXPECT_EQ(index.entries(), 1u);
}

TEST(KeyIndexTest, PruneDropsOlderVersionsAndForgetsEmptyKeys) {
  KeyIndex index;
  for (Revision r = 2; r <= 6; ++r) index.add("k", first_id(r), r == 4);
  index.add("gone", first_id(3), false);
  index.add("gone", first_id(5), true);
  index.committed();
  std::vector<std::int64_t> older;
  {
    KeyIndex::Reader lock = index.read();
    index.older("k", first_id(5), older);
  }
  EXPECT_EQ(older, (std::vector<std::int64_t>{first_id(2), first_id(3), first_id(4)}));
  index.prune("k", first_id(5), false);
  EXPECT_EQ(index.entries(), 4u);  // k: 5, 6; gone: 3, 5
  EXPECT_EQ(latest(index, "k", 5), first_id(5));
  EXPECT_EQ(latest(index, "k", 3), std::nullopt);  // what a read below the compaction would see: nothing
  index.prune("gone", first_id(5), true);
  EXPECT_EQ(index.keys(), 1u);
  index.prune("absent", first_id(5), true);  // no such key: nothing happens
  EXPECT_EQ(index.entries(), 2u);
}

}  // namespace
}  // namespace kedge::store

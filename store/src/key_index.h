// Every key's revisions, in memory (etcd's treeIndex).
//
// Why: the kv table is ordered by revision (row id) and has no index of its
// own, so a put appends to one b-tree instead of also inserting into a
// (key, revision) index leaf somewhere in the file. With that SQLite index a
// commit of N puts to N keys wrote N scattered index pages into the WAL (and
// again at checkpoint), and compaction rewrote one index page per deleted
// row; see store/README.md "Key index". The cost is 8 bytes per kept
// revision plus a map node per key, rebuilt from the table at open.
//
// An entry is a kv row id (mod_revision << 20 | change) and whether the row
// is a tombstone. Entries of a key are in id order.
//
// Threads: only the store's writer thread changes the index (add, rollback,
// compaction's prune), under the exclusive lock, for a few instructions
// each. Every reader, the writer included, reads under a `Reader` (shared
// lock) held only while it walks the index, never while it reads SQLite.
// Which entries a reader may still need is the store's business (its
// compaction waits for readers older than the compaction, store_impl.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/store/types.h"
#include "row_id.h"

namespace kedge::store {

class KeyIndex {
 public:
  struct Entry {
    std::int64_t id = 0;
    bool tombstone = false;
  };

  // Holds the shared lock, which every caller of the queries below holds.
  using Reader = std::shared_lock<std::shared_mutex>;
  Reader read() const { return Reader(mu_); }

  // The id of `key`'s newest row at or below `at`; nullopt when there is
  // none or it is a tombstone.
  std::optional<std::int64_t> latest(std::string_view key, Revision at) const;

  // Calls fn(key, id) for each key of etcd's range [key, range_end) (a point
  // when range_end is empty, open-ended when it is "\0") that is live at
  // `at`, in key order.
  template <typename Fn>
  void live(const std::string& key, const std::string& range_end, Revision at, Fn&& fn) const;

  // Number of keys, and of entries (for stats and tests).
  std::size_t keys() const;
  std::size_t entries() const;

  // --- writer thread only -------------------------------------------------

  // Appends a row of a write transaction not committed yet; readers never
  // look above the revision of their snapshot, so they cannot see it early.
  void add(std::string_view key, std::int64_t id, bool tombstone);
  // Position in the list of keys added since the last commit.
  std::size_t mark() const { return journal_.size(); }
  // Undoes every add since `mark` (a rolled-back savepoint or transaction):
  // each of those keys drops its entries with id >= first_id.
  void rollback(std::size_t mark, std::int64_t first_id);
  // The transaction committed: nothing added so far can be rolled back.
  void committed() { journal_.clear(); }

  // Compaction: drops `key`'s entries with id < cutoff_id, and the entry at
  // cutoff_id too when `inclusive`; a key left with nothing is forgotten.
  void prune(std::string_view key, std::int64_t cutoff_id, bool inclusive);
  // The entries of `key` older than `id` (compaction's delete list).
  void older(std::string_view key, std::int64_t id, std::vector<std::int64_t>& out) const;

 private:
  // id * 2 + tombstone, so a key's history is one vector of integers.
  using Packed = std::int64_t;
  using Map = std::map<std::string, std::vector<Packed>, std::less<>>;
  static Entry unpack(Packed p) { return Entry{.id = p >> 1, .tombstone = (p & 1) != 0}; }
  // Index of the newest entry of `history` at or below `at`, or -1.
  static std::ptrdiff_t newest_at(const std::vector<Packed>& history, Revision at);

  mutable std::shared_mutex mu_;
  Map map_;
  std::vector<Map::iterator> journal_;  // writer thread: keys added since the last commit
};

// ---------------------------------------------------------------- template

template <typename Fn>
void KeyIndex::live(const std::string& key, const std::string& range_end, Revision at, Fn&& fn) const {
  auto emit = [&](Map::const_iterator it) {
    const std::ptrdiff_t i = newest_at(it->second, at);
    if (i < 0) return;
    const Entry e = unpack(it->second[static_cast<std::size_t>(i)]);
    if (!e.tombstone) fn(it->first, e.id);
  };
  if (range_end.empty()) {
    if (auto it = map_.find(key); it != map_.end()) emit(it);
    return;
  }
  const bool open = range_end.size() == 1 && range_end[0] == '\0';
  if (!open && range_end <= key) return;  // an empty range, as etcd's index sees it
  for (auto it = map_.lower_bound(key); it != map_.end() && (open || it->first < range_end); ++it) emit(it);
}

}  // namespace kedge::store

#include "key_index.h"

#include <algorithm>
#include <limits>
#include <mutex>

namespace kedge::store {

std::ptrdiff_t KeyIndex::newest_at(const std::vector<Packed>& history, Revision at) {
  // Packed values order as ids do; the first one above `at` is where
  // revision at + 1 starts. Revisions this large (kLatest) cannot be stored.
  constexpr Revision kLargest = std::numeric_limits<Packed>::max() >> (mvcc::kChangeBits + 2);
  if (at >= kLargest) return static_cast<std::ptrdiff_t>(history.size()) - 1;
  const Packed bound = mvcc::first_id(at + 1) * 2;
  const auto it = std::lower_bound(history.begin(), history.end(), bound);
  return (it - history.begin()) - 1;
}

std::optional<std::int64_t> KeyIndex::latest(std::string_view key, Revision at) const {
  const auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  const std::ptrdiff_t i = newest_at(it->second, at);
  if (i < 0) return std::nullopt;
  const Entry e = unpack(it->second[static_cast<std::size_t>(i)]);
  if (e.tombstone) return std::nullopt;
  return e.id;
}

std::size_t KeyIndex::keys() const { return map_.size(); }

std::size_t KeyIndex::entries() const {
  std::size_t n = 0;
  for (const auto& [key, history] : map_) n += history.size();
  return n;
}

void KeyIndex::add(std::string_view key, std::int64_t id, bool tombstone) {
  std::unique_lock lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) it = map_.emplace(std::string(key), std::vector<Packed>{}).first;
  auto& history = it->second;
  if (history.size() == history.capacity()) {
    // Grow by a quarter, not push_back's doubling: a key rewritten often
    // (no compaction yet) keeps thousands of entries, and doubling left up
    // to half of them as slack (bench/store: ~7 MB of 16 after 1.2M puts to
    // 256 keys). Copying 8-byte entries every quarter is still amortized O(1).
    history.reserve(history.size() + history.size() / 4 + 4);
  }
  history.push_back(id * 2 + (tombstone ? 1 : 0));
  journal_.push_back(it);
}

void KeyIndex::rollback(std::size_t mark, std::int64_t first_id) {
  if (mark >= journal_.size()) return;
  std::unique_lock lock(mu_);
  const Packed bound = first_id * 2;
  for (std::size_t i = mark; i < journal_.size(); ++i) {
    auto& history = journal_[i]->second;
    while (!history.empty() && history.back() >= bound) history.pop_back();
  }
  // A key may be in the journal more than once: erase each emptied one once.
  std::vector<Map::iterator> touched(journal_.begin() + static_cast<std::ptrdiff_t>(mark), journal_.end());
  journal_.resize(mark);
  std::sort(touched.begin(), touched.end(), [](Map::iterator a, Map::iterator b) { return &*a < &*b; });
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  // Entries added before `mark` have smaller ids and stay, so a key left
  // empty was new in the rolled-back part.
  for (Map::iterator it : touched) {
    if (it->second.empty()) map_.erase(it);
  }
}

void KeyIndex::prune(std::string_view key, std::int64_t cutoff_id, bool inclusive) {
  std::unique_lock lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) return;
  auto& history = it->second;
  const Packed bound = cutoff_id * 2 + (inclusive ? 2 : 0);
  history.erase(history.begin(), std::lower_bound(history.begin(), history.end(), bound));
  if (history.empty()) {
    map_.erase(it);
  } else if (history.capacity() > 2 * history.size() + 8) {
    history.shrink_to_fit();
  }
}

void KeyIndex::older(std::string_view key, std::int64_t id, std::vector<std::int64_t>& out) const {
  const auto it = map_.find(key);
  if (it == map_.end()) return;
  for (Packed p : it->second) {
    const Entry e = unpack(p);
    if (e.id >= id) break;
    out.push_back(e.id);
  }
}

}  // namespace kedge::store

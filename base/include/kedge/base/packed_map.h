// PackedMap: a compact sorted map of strings for long-lived state.
//
// Thread-safety: a plain value; callers guard it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kedge {

// Values by key, all in one block (records appended to an arena, found
// through sorted offset arrays), so that 10k entries are a few large
// allocations instead of 20-40k small ones that pin heap pages long after
// the temporaries around them were freed (the proxy's packed objects, an
// informer's versions: bench/README.md, proxy). Each record also carries a
// group with a second index by (group, key): the proxy groups
// EndpointSlices by Service.
//
// Costs: find is a binary search; put/erase move offsets (4 bytes each, a
// memmove); replaced records stay in the arena as garbage until it is over
// half of it, then the arena is rewritten. Between begin_bulk() and
// end_bulk() the indexes are updated in one sort + merge at the end (a
// full list of 10k objects).
class PackedMap {
 public:
  std::size_t size() const { return by_key_.size(); }
  std::size_t arena_bytes() const { return arena_.capacity(); }
  // Views into the store: valid until the next put, erase or end_bulk.
  std::optional<std::string_view> find(std::string_view key) const;
  std::optional<std::string_view> group_of(std::string_view key) const;
  // REQUIRES (in bulk): each key at most once per bulk.
  void put(std::string_view key, std::string_view group, std::string_view data);
  void erase(std::string_view key);
  void begin_bulk();
  void end_bulk();
  // f(key, data) in key order.
  template <typename F>
  void for_each(F&& f) const {
    for (auto off : by_key_) f(key_at(off), data_at(off));
  }
  // f(key, data) for every record of `group`, in key order.
  template <typename F>
  void for_each_in_group(std::string_view group, F&& f) const {
    for (auto i = group_lower_bound(group, {}); i < by_group_.size() && group_at(by_group_[i]) == group; ++i) {
      f(key_at(by_group_[i]), data_at(by_group_[i]));
    }
  }

 private:
  struct Header {
    std::uint32_t key_len, group_len, data_len;
  };
  Header header_at(std::uint32_t off) const;
  std::string_view key_at(std::uint32_t off) const;
  std::string_view group_at(std::uint32_t off) const;
  std::string_view data_at(std::uint32_t off) const;
  std::size_t record_size(std::uint32_t off) const;
  std::size_t key_lower_bound(std::string_view key) const;
  std::size_t group_lower_bound(std::string_view group, std::string_view key) const;
  void compact();

  std::string arena_;                    // records: Header, key, group, data
  std::size_t dead_bytes_ = 0;           // of replaced or erased records
  std::vector<std::uint32_t> by_key_;    // live records, by key
  std::vector<std::uint32_t> by_group_;  // live records, by (group, key)
  bool bulk_ = false;
  std::vector<std::uint32_t> added_;     // in bulk: appended, not indexed yet
  std::vector<std::uint32_t> removed_;   // in bulk: dead, still indexed
};

}  // namespace kedge

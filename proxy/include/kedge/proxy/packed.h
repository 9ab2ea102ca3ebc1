// Services and EndpointSlices packed into bytes, for the Proxier's
// long-lived state (proxier.h): a packed object is ~60-150 bytes where the
// struct (types.h) is a tree of a dozen small allocations, several times
// larger; PackedStore keeps them in one block. At 10k services with 5
// endpoints each the structs took ~17 MB of heap plus the fragmentation
// their many small blocks pinned, packed ~2 MB (bench/README.md, proxy).
// Objects are unpacked only when a sync builds their rules.
//
// Format: the fields in declaration order; integers as LEB128 varints
// (signed ones zigzag-encoded), strings and lists length-prefixed. Packed
// data never leaves the process, so there is no versioning.
//
// Thread-safety: the functions are pure; a PackedStore is a plain value
// (the Proxier guards its stores with its mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/proxy/types.h"

namespace kedge::proxy::packed {

std::string pack(const Service& service);
std::string pack(const EndpointSlice& slice);
// REQUIRES: `data` came from pack() of the same type.
Service unpack_service(std::string_view data);
EndpointSlice unpack_slice(std::string_view data);
// "namespace/service-name" of a packed slice, without unpacking the rest.
std::string slice_service_key(std::string_view data);

// Packed objects by key, all in one block (records appended to an arena,
// found through sorted offset arrays), so that 10k objects are a few large
// allocations instead of 40k small ones that pin heap pages long after the
// temporaries around them were freed. Each record also carries a group (a
// slice's "ns/service") with a second index by (group, key), which replaces
// a separate slices-by-service map.
//
// Costs: find is a binary search; put/erase move offsets (4 bytes each, a
// memmove); replaced records stay in the arena as garbage until it is over
// half of it, then the arena is rewritten. Between begin_bulk() and
// end_bulk() the indexes are updated in one sort + merge at the end (a
// full list of 10k objects).
class PackedStore {
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

}  // namespace kedge::proxy::packed

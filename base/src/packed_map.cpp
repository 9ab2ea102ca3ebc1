#include "kedge/base/packed_map.h"

#include <algorithm>
#include <cstring>

namespace kedge {

PackedMap::Header PackedMap::header_at(std::uint32_t off) const {
  Header h;
  std::memcpy(&h, arena_.data() + off, sizeof h);  // records are not aligned
  return h;
}
std::string_view PackedMap::key_at(std::uint32_t off) const {
  return std::string_view(arena_).substr(off + sizeof(Header), header_at(off).key_len);
}
std::string_view PackedMap::group_at(std::uint32_t off) const {
  const Header h = header_at(off);
  return std::string_view(arena_).substr(off + sizeof(Header) + h.key_len, h.group_len);
}
std::string_view PackedMap::data_at(std::uint32_t off) const {
  const Header h = header_at(off);
  return std::string_view(arena_).substr(off + sizeof(Header) + h.key_len + h.group_len, h.data_len);
}
std::size_t PackedMap::record_size(std::uint32_t off) const {
  const Header h = header_at(off);
  return sizeof(Header) + h.key_len + h.group_len + h.data_len;
}

std::size_t PackedMap::key_lower_bound(std::string_view key) const {
  return static_cast<std::size_t>(
      std::lower_bound(by_key_.begin(), by_key_.end(), key,
                       [&](std::uint32_t off, std::string_view k) { return key_at(off) < k; }) -
      by_key_.begin());
}

std::size_t PackedMap::group_lower_bound(std::string_view group, std::string_view key) const {
  return static_cast<std::size_t>(
      std::lower_bound(by_group_.begin(), by_group_.end(), std::pair(group, key),
                       [&](std::uint32_t off, const std::pair<std::string_view, std::string_view>& gk) {
                         return std::pair(group_at(off), key_at(off)) < gk;
                       }) -
      by_group_.begin());
}

std::optional<std::string_view> PackedMap::find(std::string_view key) const {
  const std::size_t i = key_lower_bound(key);
  if (i == by_key_.size() || key_at(by_key_[i]) != key) return std::nullopt;
  return data_at(by_key_[i]);
}

std::optional<std::string_view> PackedMap::group_of(std::string_view key) const {
  const std::size_t i = key_lower_bound(key);
  if (i == by_key_.size() || key_at(by_key_[i]) != key) return std::nullopt;
  return group_at(by_key_[i]);
}

void PackedMap::erase(std::string_view key) {
  const std::size_t i = key_lower_bound(key);
  if (i == by_key_.size() || key_at(by_key_[i]) != key) return;
  const std::uint32_t off = by_key_[i];
  dead_bytes_ += record_size(off);
  if (bulk_) {
    removed_.push_back(off);
    return;
  }
  by_key_.erase(by_key_.begin() + static_cast<std::ptrdiff_t>(i));
  const std::size_t g = group_lower_bound(group_at(off), key_at(off));
  by_group_.erase(by_group_.begin() + static_cast<std::ptrdiff_t>(g));
  if (dead_bytes_ > arena_.size() / 2 && arena_.size() > 4096) compact();
}

void PackedMap::put(std::string_view key, std::string_view group, std::string_view data) {
  erase(key);
  const Header h{static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(group.size()),
                 static_cast<std::uint32_t>(data.size())};
  const auto off = static_cast<std::uint32_t>(arena_.size());
  arena_.append(reinterpret_cast<const char*>(&h), sizeof h);
  arena_.append(key);
  arena_.append(group);
  arena_.append(data);
  if (bulk_) {
    added_.push_back(off);
    return;
  }
  by_key_.insert(by_key_.begin() + static_cast<std::ptrdiff_t>(key_lower_bound(key)), off);
  by_group_.insert(by_group_.begin() + static_cast<std::ptrdiff_t>(group_lower_bound(group, key)), off);
}

void PackedMap::begin_bulk() { bulk_ = true; }

void PackedMap::end_bulk() {
  bulk_ = false;
  std::sort(removed_.begin(), removed_.end());
  auto gone = [&](std::uint32_t off) { return std::binary_search(removed_.begin(), removed_.end(), off); };
  std::erase_if(by_key_, gone);
  std::erase_if(by_group_, gone);
  auto by_key = [&](std::uint32_t a, std::uint32_t b) { return key_at(a) < key_at(b); };
  auto by_group = [&](std::uint32_t a, std::uint32_t b) {
    return std::pair(group_at(a), key_at(a)) < std::pair(group_at(b), key_at(b));
  };
  auto merge_added = [&](std::vector<std::uint32_t>& index, auto less) {
    const auto mid = static_cast<std::ptrdiff_t>(index.size());
    index.insert(index.end(), added_.begin(), added_.end());
    std::sort(index.begin() + mid, index.end(), less);
    std::inplace_merge(index.begin(), index.begin() + mid, index.end(), less);
  };
  merge_added(by_key_, by_key);
  merge_added(by_group_, by_group);
  added_ = {};
  removed_ = {};
  // A bulk (the initial list) leaves the arena up to twice its size after
  // doubling; rewrite it to size.
  if (dead_bytes_ > arena_.size() / 2 || arena_.capacity() > arena_.size() + arena_.size() / 4) compact();
}

void PackedMap::compact() {
  std::string fresh;
  fresh.reserve(arena_.size() - dead_bytes_);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> moved;  // old offset → new, by old
  moved.reserve(by_key_.size());
  for (auto& off : by_key_) {
    const auto now = static_cast<std::uint32_t>(fresh.size());
    fresh.append(arena_, off, record_size(off));
    moved.emplace_back(off, now);
    off = now;
  }
  std::sort(moved.begin(), moved.end());
  for (auto& off : by_group_) {
    off = std::lower_bound(moved.begin(), moved.end(), std::pair(off, std::uint32_t{0}))->second;
  }
  arena_ = std::move(fresh);
  dead_bytes_ = 0;
  by_key_.shrink_to_fit();
  by_group_.shrink_to_fit();
}

}  // namespace kedge

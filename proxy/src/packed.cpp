#include "kedge/proxy/packed.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace kedge::proxy::packed {
namespace {

// A new field in Service or EndpointSlice must be packed too, or it would
// silently read back as its default. The sizes catch that on the common
// LP64 libstdc++ targets (where CI builds): update pack/unpack, then these.
#if defined(__LP64__) && defined(_GLIBCXX_RELEASE)
static_assert(sizeof(Service) == 216, "Service changed: pack the new field, then update this size");
static_assert(sizeof(ServicePort) == 56, "ServicePort changed: pack the new field, then update this size");
static_assert(sizeof(EndpointSlice) == 152, "EndpointSlice changed: pack the new field, then update this size");
static_assert(sizeof(Endpoint) == 96, "Endpoint changed: pack the new field, then update this size");
static_assert(sizeof(EndpointPort) == 48, "EndpointPort changed: pack the new field, then update this size");
#endif

class Writer {
 public:
  void u(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void i(std::int64_t v) { u((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63)); }
  void s(std::string_view v) {
    u(v.size());
    out_.append(v);
  }
  void strings(const std::vector<std::string>& v) {
    u(v.size());
    for (const auto& x : v) s(x);
  }
  template <typename E>
  void e(E v) {
    u(static_cast<std::uint64_t>(v));
  }
  std::string take() {
    out_.shrink_to_fit();
    return std::move(out_);
  }

 private:
  std::string out_;
};

// Reads what Writer wrote. Past the end (cannot happen for our own data)
// it yields zeros and empty strings rather than reading out of bounds.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint64_t u() {
    std::uint64_t v = 0;
    for (int shift = 0; pos_ < in_.size() && shift < 64; shift += 7) {
      const auto byte = static_cast<std::uint8_t>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    return v;
  }
  std::int64_t i() {
    const std::uint64_t v = u();
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
  }
  std::string_view sv() {
    const std::uint64_t n = u();
    const std::size_t len = n > in_.size() - pos_ ? in_.size() - pos_ : static_cast<std::size_t>(n);
    std::string_view out = in_.substr(pos_, len);
    pos_ += len;
    return out;
  }
  std::string s() { return std::string(sv()); }
  std::vector<std::string> strings() {
    std::vector<std::string> v(count());
    for (auto& x : v) x = s();
    return v;
  }
  bool b() { return u() != 0; }
  template <typename E>
  E e() {
    return static_cast<E>(u());
  }
  // A list length, capped by the bytes left (each element takes at least one).
  std::size_t count() {
    const std::uint64_t n = u();
    return n > in_.size() - pos_ ? in_.size() - pos_ : static_cast<std::size_t>(n);
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string pack(const Service& s) {
  Writer w;
  w.s(s.namespace_name);
  w.s(s.name);
  w.e(s.type);
  w.strings(s.cluster_ips);
  w.u(s.ports.size());
  for (const auto& p : s.ports) {
    w.s(p.name);
    w.e(p.protocol);
    w.i(p.port);
    w.i(p.node_port);
  }
  w.strings(s.external_ips);
  w.strings(s.load_balancer_ips);
  w.u(s.affinity_client_ip);
  w.i(s.affinity_timeout_seconds);
  w.e(s.internal_traffic_policy);
  w.e(s.external_traffic_policy);
  w.u(s.ip_families.size());
  for (auto f : s.ip_families) w.e(f);
  return w.take();
}

Service unpack_service(std::string_view data) {
  Reader r(data);
  Service s;
  s.namespace_name = r.s();
  s.name = r.s();
  s.type = r.e<ServiceType>();
  s.cluster_ips = r.strings();
  s.ports.resize(r.count());
  for (auto& p : s.ports) {
    p.name = r.s();
    p.protocol = r.e<Protocol>();
    p.port = r.i();
    p.node_port = r.i();
  }
  s.external_ips = r.strings();
  s.load_balancer_ips = r.strings();
  s.affinity_client_ip = r.b();
  s.affinity_timeout_seconds = r.i();
  s.internal_traffic_policy = r.e<TrafficPolicy>();
  s.external_traffic_policy = r.e<TrafficPolicy>();
  s.ip_families.resize(r.count());
  for (auto& f : s.ip_families) f = r.e<IpFamily>();
  return s;
}

std::string pack(const EndpointSlice& s) {
  Writer w;
  // The first three fields are what slice_service_key() reads.
  w.s(s.namespace_name);
  w.s(s.name);
  w.s(s.service_name);
  w.e(s.address_type);
  w.u(s.endpoints.size());
  for (const auto& ep : s.endpoints) {
    w.strings(ep.addresses);
    w.u((ep.conditions.ready ? 1u : 0u) | (ep.conditions.serving ? 2u : 0u) | (ep.conditions.terminating ? 4u : 0u));
    w.s(ep.node_name);
    w.s(ep.zone);
  }
  w.u(s.ports.size());
  for (const auto& p : s.ports) {
    w.s(p.name);
    w.e(p.protocol);
    w.i(p.port);
  }
  return w.take();
}

EndpointSlice unpack_slice(std::string_view data) {
  Reader r(data);
  EndpointSlice s;
  s.namespace_name = r.s();
  s.name = r.s();
  s.service_name = r.s();
  s.address_type = r.e<AddressType>();
  s.endpoints.resize(r.count());
  for (auto& ep : s.endpoints) {
    ep.addresses = r.strings();
    const std::uint64_t c = r.u();
    ep.conditions = {.ready = (c & 1) != 0, .serving = (c & 2) != 0, .terminating = (c & 4) != 0};
    ep.node_name = r.s();
    ep.zone = r.s();
  }
  s.ports.resize(r.count());
  for (auto& p : s.ports) {
    p.name = r.s();
    p.protocol = r.e<Protocol>();
    p.port = r.i();
  }
  return s;
}

std::string slice_service_key(std::string_view data) {
  Reader r(data);
  std::string key(r.sv());
  (void)r.sv();  // the slice's own name
  key += '/';
  key += r.sv();
  return key;
}

}  // namespace kedge::proxy::packed

namespace kedge::proxy::packed {

PackedStore::Header PackedStore::header_at(std::uint32_t off) const {
  Header h;
  std::memcpy(&h, arena_.data() + off, sizeof h);  // records are not aligned
  return h;
}
std::string_view PackedStore::key_at(std::uint32_t off) const {
  return std::string_view(arena_).substr(off + sizeof(Header), header_at(off).key_len);
}
std::string_view PackedStore::group_at(std::uint32_t off) const {
  const Header h = header_at(off);
  return std::string_view(arena_).substr(off + sizeof(Header) + h.key_len, h.group_len);
}
std::string_view PackedStore::data_at(std::uint32_t off) const {
  const Header h = header_at(off);
  return std::string_view(arena_).substr(off + sizeof(Header) + h.key_len + h.group_len, h.data_len);
}
std::size_t PackedStore::record_size(std::uint32_t off) const {
  const Header h = header_at(off);
  return sizeof(Header) + h.key_len + h.group_len + h.data_len;
}

std::size_t PackedStore::key_lower_bound(std::string_view key) const {
  return static_cast<std::size_t>(
      std::lower_bound(by_key_.begin(), by_key_.end(), key,
                       [&](std::uint32_t off, std::string_view k) { return key_at(off) < k; }) -
      by_key_.begin());
}

std::size_t PackedStore::group_lower_bound(std::string_view group, std::string_view key) const {
  return static_cast<std::size_t>(
      std::lower_bound(by_group_.begin(), by_group_.end(), std::pair(group, key),
                       [&](std::uint32_t off, const std::pair<std::string_view, std::string_view>& gk) {
                         return std::pair(group_at(off), key_at(off)) < gk;
                       }) -
      by_group_.begin());
}

std::optional<std::string_view> PackedStore::find(std::string_view key) const {
  const std::size_t i = key_lower_bound(key);
  if (i == by_key_.size() || key_at(by_key_[i]) != key) return std::nullopt;
  return data_at(by_key_[i]);
}

std::optional<std::string_view> PackedStore::group_of(std::string_view key) const {
  const std::size_t i = key_lower_bound(key);
  if (i == by_key_.size() || key_at(by_key_[i]) != key) return std::nullopt;
  return group_at(by_key_[i]);
}

void PackedStore::erase(std::string_view key) {
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

void PackedStore::put(std::string_view key, std::string_view group, std::string_view data) {
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

void PackedStore::begin_bulk() { bulk_ = true; }

void PackedStore::end_bulk() {
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

void PackedStore::compact() {
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

}  // namespace kedge::proxy::packed

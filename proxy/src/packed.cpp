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

#include "kedge/netlink/model.h"

#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace kedge::netlink {

std::string_view family_name(Family family) {
  switch (family) {
    case Family::kInet: return "inet";
    case Family::kIp: return "ip";
    case Family::kIp6: return "ip6";
  }
  return "unknown";
}

Verdict accept() { return {NF_ACCEPT, {}}; }
Verdict drop() { return {NF_DROP, {}}; }
Verdict jump(std::string chain) { return {NFT_JUMP, std::move(chain)}; }
Verdict go_to(std::string chain) { return {NFT_GOTO, std::move(chain)}; }
Verdict return_verdict() { return {NFT_RETURN, {}}; }

namespace type {
std::uint32_t concat(std::initializer_list<std::uint32_t> types) {
  std::uint32_t out = 0;
  for (auto t : types) out = (out << kTypeBits) | t;
  return out;
}
std::vector<std::uint32_t> split(std::uint32_t key_type) {
  std::vector<std::uint32_t> out;
  const std::uint32_t mask = (1u << kTypeBits) - 1;
  do {
    out.push_back(key_type & mask);
    key_type >>= kTypeBits;
  } while (key_type != 0);
  std::reverse(out.begin(), out.end());
  return out;
}
std::uint32_t size(std::uint32_t t) {
  switch (t) {
    case kIpv4Addr: return 4;
    case kIpv6Addr: return 16;
    case kInetProto: return 1;
    case kInetService: return 2;
    case kMark: return 4;
    case kInteger: return 4;
    default: return 0;
  }
}
}  // namespace type

bool Set::same_definition(const Set& o) const {
  return flags == o.flags && key_type == o.key_type && key_len == o.key_len &&
         data_type == o.data_type && data_len == o.data_len && timeout_ms == o.timeout_ms;
}

bool operator==(const Lookup& a, const Lookup& b) {
  if (a.sreg != b.sreg || a.dreg != b.dreg || a.invert != b.invert) return false;
  if (a.inline_set.has_value() != b.inline_set.has_value()) return false;
  if (!a.inline_set) return a.set == b.set;
  // Anonymous sets get their name from the kernel: compare contents only.
  // The kernel also reports the ANONYMOUS|CONSTANT flags we add on creation.
  Set x = *a.inline_set, y = *b.inline_set;
  x.flags &= ~(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
  y.flags &= ~(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
  auto by_key = [](const Element& l, const Element& r) { return l.key < r.key; };
  std::sort(x.elements.begin(), x.elements.end(), by_key);
  std::sort(y.elements.begin(), y.elements.end(), by_key);
  return x.same_definition(y) && x.elements == y.elements;
}

const Chain* Ruleset::find_chain(std::string_view name) const {
  for (const auto& c : chains) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

const Set* Ruleset::find_set(std::string_view name) const {
  for (const auto& s : sets) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::size_t parse_ip(std::string_view text, std::uint8_t (&out)[16]) {
  char s[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof s) return 0;
  std::memcpy(s, text.data(), text.size());
  s[text.size()] = '\0';
  if (text.find(':') != std::string_view::npos) return inet_pton(AF_INET6, s, out) == 1 ? 16 : 0;
  return inet_pton(AF_INET, s, out) == 1 ? 4 : 0;
}

Result<Bytes> parse_ip(std::string_view text) {
  std::uint8_t b[16];
  const std::size_t n = parse_ip(text, b);
  if (n == 0) return invalid_argument("not an IP address: \"" + std::string(text) + "\"");
  return Bytes(b, b + n);
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return invalid_argument("not a CIDR: \"" + std::string(text) + "\"");
  KEDGE_ASSIGN_OR_RETURN(Bytes addr, parse_ip(text.substr(0, slash)));
  unsigned prefix = 0;
  auto rest = text.substr(slash + 1);
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), prefix);
  if (ec != std::errc() || p != rest.data() + rest.size() || prefix > addr.size() * 8) {
    return invalid_argument("bad prefix length in \"" + std::string(text) + "\"");
  }
  return Cidr{std::move(addr), prefix};
}

std::string format_ip(const Bytes& bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (bytes.size() == 4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else if (bytes.size() == 16) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  else return "?";
  return buf;
}

Bytes be16(std::uint16_t v) { return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}; }
Bytes be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
Bytes host32(std::uint32_t v) {
  Bytes out(4);
  std::memcpy(out.data(), &v, 4);
  return out;
}
Bytes u8(std::uint8_t v) { return {v}; }
Bytes pad4(Bytes value) {
  value.resize((value.size() + 3) / 4 * 4, 0);
  return value;
}

Payload ip_saddr(Family f, std::uint32_t dreg) {
  return f == Family::kIp6 ? Payload{NFT_PAYLOAD_NETWORK_HEADER, 8, 16, dreg}
                           : Payload{NFT_PAYLOAD_NETWORK_HEADER, 12, 4, dreg};
}
Payload ip_daddr(Family f, std::uint32_t dreg) {
  return f == Family::kIp6 ? Payload{NFT_PAYLOAD_NETWORK_HEADER, 24, 16, dreg}
                           : Payload{NFT_PAYLOAD_NETWORK_HEADER, 16, 4, dreg};
}
Payload th_dport(std::uint32_t dreg) { return {NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, dreg}; }
Meta meta_l4proto(std::uint32_t dreg) { return {NFT_META_L4PROTO, dreg}; }
Cmp cmp_eq(Bytes data, std::uint32_t sreg) { return {sreg, NFT_CMP_EQ, std::move(data)}; }
Cmp cmp_neq(Bytes data, std::uint32_t sreg) { return {sreg, NFT_CMP_NEQ, std::move(data)}; }
Immediate verdict(Verdict v) { return {kRegVerdict, {}, std::move(v)}; }
Immediate load(Bytes data, std::uint32_t dreg) { return {dreg, std::move(data), {}}; }

std::vector<Expr> match_prefix(Payload field, const Cidr& cidr, bool negate) {
  Bytes mask(cidr.address.size(), 0);
  Bytes net = cidr.address;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    unsigned bits = cidr.prefix > i * 8 ? std::min(8u, cidr.prefix - static_cast<unsigned>(i * 8)) : 0;
    mask[i] = static_cast<std::uint8_t>(bits == 0 ? 0 : (0xff00u >> bits) & 0xff);
    net[i] &= mask[i];
  }
  field.dreg = kReg1;
  Bytes zero(mask.size(), 0);
  return {field, Bitwise{kReg1, kReg1, mask, zero}, negate ? cmp_neq(net) : cmp_eq(net)};
}

std::vector<Expr> ct_state_is(std::uint32_t state_bits) {
  return {Ct{NFT_CT_STATE, kReg1}, Bitwise{kReg1, kReg1, host32(state_bits), host32(0)},
          cmp_neq(host32(0))};
}

}  // namespace kedge::netlink

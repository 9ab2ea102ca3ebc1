// A typed model of one nftables table: chains, sets/maps with their
// elements, and rules built from kernel-level expressions.
//
// The model mirrors what the kernel stores (registers, payload offsets, set
// key types), not nft's source syntax, so a ruleset read back from the kernel
// compares equal to the one that was sent. Builders in this header (ip_daddr,
// cmp_eq, ...) produce the usual sequences so callers rarely touch registers.
//
// Thread-safety: plain values; copy freely between threads.
#pragma once

#include <netinet/in.h>  // before the kernel headers: glibc and UAPI share in_addr
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::netlink {

using Bytes = std::vector<std::uint8_t>;

// NFPROTO_* values: the table's address family.
enum class Family : std::uint8_t { kInet = 1, kIp = 2, kIp6 = 10 };
std::string_view family_name(Family family);  // "ip", "ip6", "inet"

// Kernel registers: 0 is the verdict register, 1..4 the 16-byte registers,
// 8..23 the 32-bit registers (reg32(0) aliases the start of register 1).
inline constexpr std::uint32_t kRegVerdict = NFT_REG_VERDICT;
inline constexpr std::uint32_t kReg1 = NFT_REG_1;
inline constexpr std::uint32_t kReg2 = NFT_REG_2;
constexpr std::uint32_t reg32(unsigned index) { return NFT_REG32_00 + index; }

struct Verdict {
  // NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN, NFT_CONTINUE.
  std::int32_t code = NFT_CONTINUE;
  std::string chain;  // for jump/goto only
  friend bool operator==(const Verdict&, const Verdict&) = default;
};
Verdict accept();
Verdict drop();
Verdict jump(std::string chain);
Verdict go_to(std::string chain);
Verdict return_verdict();

// ---- expressions (one struct per kernel expression type) ----
struct Payload {
  std::uint32_t base = NFT_PAYLOAD_NETWORK_HEADER;
  std::uint32_t offset = 0;
  std::uint32_t len = 0;
  std::uint32_t dreg = kReg1;
  friend bool operator==(const Payload&, const Payload&) = default;
};
struct Meta {  // load
  std::uint32_t key = NFT_META_MARK;
  std::uint32_t dreg = kReg1;
  friend bool operator==(const Meta&, const Meta&) = default;
};
struct MetaSet {
  std::uint32_t key = NFT_META_MARK;
  std::uint32_t sreg = kReg1;
  friend bool operator==(const MetaSet&, const MetaSet&) = default;
};
struct Ct {  // load
  std::uint32_t key = NFT_CT_STATE;
  std::uint32_t dreg = kReg1;
  friend bool operator==(const Ct&, const Ct&) = default;
};
struct Cmp {
  std::uint32_t sreg = kReg1;
  std::uint32_t op = NFT_CMP_EQ;
  Bytes data;
  friend bool operator==(const Cmp&, const Cmp&) = default;
};
struct Bitwise {  // dreg = (sreg & mask) ^ xor
  std::uint32_t sreg = kReg1;
  std::uint32_t dreg = kReg1;
  Bytes mask;
  Bytes xor_value;
  friend bool operator==(const Bitwise&, const Bitwise&) = default;
};
struct Immediate {
  std::uint32_t dreg = kRegVerdict;
  Bytes data;       // when dreg != kRegVerdict
  Verdict verdict;  // when dreg == kRegVerdict
  friend bool operator==(const Immediate&, const Immediate&) = default;
};
struct Numgen {
  std::uint32_t dreg = kReg1;
  std::uint32_t modulus = 1;
  std::uint32_t type = NFT_NG_RANDOM;
  std::uint32_t offset = 0;
  friend bool operator==(const Numgen&, const Numgen&) = default;
};
struct Nat {
  std::uint32_t type = NFT_NAT_DNAT;
  Family family = Family::kIp;
  std::uint32_t reg_addr = kReg1;
  std::uint32_t reg_proto = 0;  // 0: no port rewrite
  std::uint32_t flags = 0;      // NF_NAT_RANGE_*; the kernel adds PROTO_SPECIFIED itself
  friend bool operator==(const Nat&, const Nat&) = default;
};
struct Masquerade {
  std::uint32_t flags = 0;  // NF_NAT_RANGE_PROTO_RANDOM_FULLY = 0x10
  friend bool operator==(const Masquerade&, const Masquerade&) = default;
};
struct Counter {
  // Packets/bytes read back are live values: not part of equality.
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  friend bool operator==(const Counter&, const Counter&) { return true; }
};
struct Reject {
  std::uint32_t type = NFT_REJECT_ICMP_UNREACH;
  std::uint8_t code = 3;  // port unreachable: TCP and UDP clients see "connection refused"
  friend bool operator==(const Reject&, const Reject&) = default;
};
struct Dynset {
  std::uint32_t op = NFT_DYNSET_OP_UPDATE;
  std::uint32_t sreg_key = kReg1;
  std::string set;
  std::uint64_t timeout_ms = 0;  // 0: the set's default timeout
  friend bool operator==(const Dynset&, const Dynset&) = default;
};

// A set element's key or data, inline: the kernel caps both at 64 bytes
// (NFT_DATA_VALUE_MAXLEN), and a large ruleset has ~100k elements, each of
// which cost two heap allocations as a Bytes vector (a third of a full
// sync's CPU at 10k services went to malloc). Compares like Bytes would.
class ElementBytes {
 public:
  static constexpr std::size_t kCapacity = 64;
  ElementBytes() = default;
  ElementBytes(const Bytes& bytes) { assign(bytes.data(), bytes.size()); }  // NOLINT: implicit, reads like Bytes
  ElementBytes(std::initializer_list<std::uint8_t> bytes) { assign(bytes.begin(), bytes.size()); }
  // REQUIRES: size() + n <= kCapacity (longer values are cut: the kernel would refuse them anyway).
  void assign(const std::uint8_t* p, std::size_t n) {
    size_ = 0;
    append(p, n);
  }
  void append(const std::uint8_t* p, std::size_t n) {
    n = std::min(n, kCapacity - size_);
    if (n != 0) std::memcpy(bytes_.data() + size_, p, n);
    size_ = static_cast<std::uint8_t>(size_ + n);
  }
  void append(const Bytes& b) { append(b.data(), b.size()); }
  const std::uint8_t* data() const { return bytes_.data(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::uint8_t* begin() const { return bytes_.data(); }
  const std::uint8_t* end() const { return bytes_.data() + size_; }
  std::uint8_t operator[](std::size_t i) const { return bytes_[i]; }
  Bytes to_bytes() const { return Bytes(begin(), end()); }
  friend bool operator==(const ElementBytes& a, const ElementBytes& b) {
    return a.size_ == b.size_ && std::memcmp(a.data(), b.data(), a.size_) == 0;
  }
  friend bool operator<(const ElementBytes& a, const ElementBytes& b) {
    const int c = std::memcmp(a.data(), b.data(), std::min(a.size_, b.size_));
    return c != 0 ? c < 0 : a.size_ < b.size_;
  }

 private:
  std::array<std::uint8_t, kCapacity> bytes_;
  std::uint8_t size_ = 0;
};

// One set element. Keys and data are in the kernel's byte layout (network
// order for addresses and ports, host order for integers/marks/verdict keys).
struct Element {
  ElementBytes key;
  ElementBytes data;              // maps with non-verdict data
  std::optional<Verdict> verdict;  // verdict maps
  std::uint32_t flags = 0;        // NFT_SET_ELEM_INTERVAL_END
  std::uint64_t timeout_ms = 0;   // per-element timeout (0: set default)
  friend bool operator==(const Element&, const Element&) = default;
};

// nft's datatype numbers, which nft (and our printer) use to show keys.
// Concatenations pack several types, kTypeBits bits each, first type highest.
namespace type {
inline constexpr std::uint32_t kVerdict = 1, kInteger = 4, kIpv4Addr = 7, kIpv6Addr = 8,
                               kInetProto = 12, kInetService = 13, kMark = 19;
inline constexpr unsigned kTypeBits = 6;
std::uint32_t concat(std::initializer_list<std::uint32_t> types);
std::vector<std::uint32_t> split(std::uint32_t key_type);
// Bytes one value of `t` occupies in a register, before 4-byte padding.
std::uint32_t size(std::uint32_t t);
}  // namespace type

struct Set {
  std::string name;             // "__map%d" style for anonymous sets
  std::uint32_t flags = 0;      // NFT_SET_MAP, NFT_SET_TIMEOUT, NFT_SET_EVAL, NFT_SET_INTERVAL, ...
  std::uint32_t key_type = 0;   // nft datatype (see type::)
  std::uint32_t key_len = 0;    // bytes, each concatenated field padded to 4
  std::uint32_t data_type = 0;  // NFT_DATA_VERDICT for verdict maps
  std::uint32_t data_len = 0;
  std::uint64_t timeout_ms = 0;
  std::uint32_t size = 0;       // max elements for dynamic sets (0: none)
  std::vector<Element> elements;
  bool is_map() const { return (flags & NFT_SET_MAP) != 0; }
  bool is_anonymous() const { return (flags & NFT_SET_ANONYMOUS) != 0; }
  bool is_dynamic() const { return (flags & NFT_SET_EVAL) != 0; }
  // Same kernel definition (everything but the name and elements).
  bool same_definition(const Set& other) const;
  friend bool operator==(const Set&, const Set&) = default;
};

struct Lookup {
  std::uint32_t sreg = kReg1;
  std::string set;  // named set; ignored when `inline_set` is given
  std::optional<std::uint32_t> dreg;  // kRegVerdict for a verdict map (vmap)
  bool invert = false;
  // An anonymous constant set/map created with the rule (e.g. numgen's vmap).
  std::optional<Set> inline_set;
  friend bool operator==(const Lookup& a, const Lookup& b);
};

using Expr = std::variant<Payload, Meta, MetaSet, Ct, Cmp, Bitwise, Immediate, Numgen, Nat,
                          Masquerade, Counter, Reject, Dynset, Lookup>;

struct Rule {
  std::vector<Expr> exprs;
  std::string comment;
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct BaseHook {
  std::uint32_t hook = NF_INET_PRE_ROUTING;  // NF_INET_*
  std::int32_t priority = 0;
  std::string type = "filter";               // filter | nat | route
  std::uint32_t policy = 1;                  // NF_ACCEPT
  friend bool operator==(const BaseHook&, const BaseHook&) = default;
};

struct Chain {
  std::string name;
  std::optional<BaseHook> hook;  // set for base chains
  std::vector<Rule> rules;
  friend bool operator==(const Chain&, const Chain&) = default;
};

struct Table {
  Family family = Family::kIp;
  std::string name;
  friend bool operator==(const Table&, const Table&) = default;
};

// One table and everything in it. Anonymous sets live inside their rules.
struct Ruleset {
  Table table;
  std::vector<Chain> chains;
  std::vector<Set> sets;
  const Chain* find_chain(std::string_view name) const;
  const Set* find_set(std::string_view name) const;
};

// ---- value helpers ----
// Parses a dotted IPv4 or textual IPv6 address into network-order bytes.
Result<Bytes> parse_ip(std::string_view text);
// The same without allocating: the address's length (4 or 16), 0 if `text`
// is not an address.
std::size_t parse_ip(std::string_view text, std::uint8_t (&out)[16]);
// IPv4 "a.b.c.d/n" or IPv6 "x::/n": address bytes and prefix length.
struct Cidr {
  Bytes address;
  unsigned prefix = 0;
};
Result<Cidr> parse_cidr(std::string_view text);
std::string format_ip(const Bytes& bytes);  // 4 or 16 bytes
Bytes be16(std::uint16_t v);
Bytes be32(std::uint32_t v);
Bytes host32(std::uint32_t v);
Bytes u8(std::uint8_t v);
// Pads `value` with zeros to a multiple of 4 (a register slot).
Bytes pad4(Bytes value);

// ---- expression builders: the sequences nft itself emits ----
// Address of the packet's source/destination for the table's family.
Payload ip_saddr(Family f, std::uint32_t dreg = kReg1);
Payload ip_daddr(Family f, std::uint32_t dreg = kReg1);
Payload th_dport(std::uint32_t dreg = kReg1);  // transport header destination port
Meta meta_l4proto(std::uint32_t dreg = kReg1);
Cmp cmp_eq(Bytes data, std::uint32_t sreg = kReg1);
Cmp cmp_neq(Bytes data, std::uint32_t sreg = kReg1);
Immediate verdict(Verdict v);
Immediate load(Bytes data, std::uint32_t dreg);
// `ip saddr != cidr` and friends: mask with bitwise, then compare.
std::vector<Expr> match_prefix(Payload field, const Cidr& cidr, bool negate);
// ct state new (and other ct states: NF_CT_STATE_BIT values).
std::vector<Expr> ct_state_is(std::uint32_t state_bits);

}  // namespace kedge::netlink

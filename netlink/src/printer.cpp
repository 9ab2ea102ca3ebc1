#include "kedge/netlink/printer.h"

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

namespace kedge::netlink {
namespace {

constexpr std::uint32_t kTypeCtState = 26;  // nft's ct_state datatype (printer-only)

std::uint32_t norm_reg(std::uint32_t r) { return r >= 1 && r <= 4 ? NFT_REG32_00 + (r - 1) * 4 : r; }

std::string hex(const Bytes& b) {
  std::string s = "0x";
  char buf[3];
  for (auto c : b) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    s += buf;
  }
  return s;
}

std::uint32_t host_u32(const Bytes& b) {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data(), std::min<std::size_t>(4, b.size()));
  return v;
}

std::string proto_name(std::uint8_t p) {
  switch (p) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    default: return std::to_string(p);
  }
}

std::string ct_state_names(std::uint32_t bits) {
  static const std::pair<std::uint32_t, const char*> kNames[] = {
      {NF_CT_STATE_INVALID_BIT, "invalid"}, {NF_CT_STATE_BIT(IP_CT_ESTABLISHED), "established"},
      {NF_CT_STATE_BIT(IP_CT_RELATED), "related"}, {NF_CT_STATE_BIT(IP_CT_NEW), "new"},
      {NF_CT_STATE_UNTRACKED_BIT, "untracked"}};
  std::string s;
  for (auto [bit, name] : kNames) {
    if (bits & bit) s += (s.empty() ? "" : ",") + std::string(name);
  }
  return s.empty() ? "0" : s;
}

// A value of nft datatype `t` in the kernel's layout.
std::string format_value(std::uint32_t t, const Bytes& b) {
  switch (t) {
    case type::kIpv4Addr:
    case type::kIpv6Addr:
      if (b.size() >= type::size(t)) return format_ip(Bytes(b.begin(), b.begin() + type::size(t)));
      break;
    case type::kInetProto:
      if (!b.empty()) return proto_name(b[0]);
      break;
    case type::kInetService:
      if (b.size() >= 2) return std::to_string((b[0] << 8) | b[1]);
      break;
    case type::kMark: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "0x%08x", host_u32(b));
      return buf;
    }
    case type::kInteger:
      if (b.size() == 4) return std::to_string(host_u32(b));
      break;
    case kTypeCtState:
      return ct_state_names(host_u32(b));
  }
  return hex(b);
}

std::string type_name(std::uint32_t t) {
  switch (t) {
    case type::kVerdict: return "verdict";
    case type::kInteger: return "integer";
    case type::kIpv4Addr: return "ipv4_addr";
    case type::kIpv6Addr: return "ipv6_addr";
    case type::kInetProto: return "inet_proto";
    case type::kInetService: return "inet_service";
    case type::kMark: return "mark";
    default: return "type" + std::to_string(t);
  }
}

std::string key_type_name(std::uint32_t key_type) {
  std::string s;
  for (auto t : type::split(key_type)) s += (s.empty() ? "" : " . ") + type_name(t);
  return s;
}

std::string format_verdict(const Verdict& v) {
  switch (v.code) {
    case NF_ACCEPT: return "accept";
    case NF_DROP: return "drop";
    case NFT_JUMP: return "jump " + v.chain;
    case NFT_GOTO: return "goto " + v.chain;
    case NFT_RETURN: return "return";
    case NFT_CONTINUE: return "continue";
    default: return "verdict " + std::to_string(v.code);
  }
}

// A value of a (possibly concatenated) type: a set's key or a map's data,
// each field padded to 4 bytes.
std::string format_fields(std::uint32_t concat_type, const Bytes& key) {
  auto types = type::split(concat_type);
  std::string s;
  std::size_t off = 0;
  for (auto t : types) {
    std::uint32_t sz = type::size(t);
    if (sz == 0 || off + sz > key.size()) return hex(key);
    s += (s.empty() ? "" : " . ") + format_value(t, Bytes(key.begin() + off, key.begin() + off + sz));
    off += (sz + 3) / 4 * 4;
  }
  return s;
}

std::vector<std::string> format_elements(const Set& set) {
  std::vector<std::string> out;
  for (const auto& e : set.elements) {
    std::string s = format_fields(set.key_type, e.key.to_bytes());
    if (e.flags & NFT_SET_ELEM_INTERVAL_END) s += " (interval end)";
    if (e.verdict) s += " : " + format_verdict(*e.verdict);
    else if (set.is_map()) s += " : " + format_fields(set.data_type, e.data.to_bytes());
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string inline_set(const Set& set) {
  std::string s = "{ ";
  bool first = true;
  for (const auto& e : format_elements(set)) {
    s += (first ? "" : ", ") + e;
    first = false;
  }
  return s + " }";
}

struct RegValue {
  std::string text;
  std::uint32_t type = type::kInteger;
  Bytes literal;   // for immediates
  int prefix = -1;  // address masked to a prefix
  bool masked = false;  // an expression (a & b): equality is spelled "=="
};

class RulePrinter {
 public:
  RulePrinter(const Ruleset& ctx) : ctx_(ctx) {}

  std::string print(const Rule& rule) {
    for (const auto& x : rule.exprs) std::visit(*this, x);
    std::string s;
    for (const auto& p : parts_) s += (s.empty() ? "" : " ") + p;
    if (!rule.comment.empty()) s += " comment \"" + rule.comment + "\"";
    return s;
  }

  void operator()(const Payload& x) {
    RegValue v;
    Family f = ctx_.table.family;
    if (x.base == NFT_PAYLOAD_NETWORK_HEADER && f != Family::kIp6 && x.len == 4 && (x.offset == 12 || x.offset == 16)) {
      v = {x.offset == 12 ? "ip saddr" : "ip daddr", type::kIpv4Addr, {}, -1};
    } else if (x.base == NFT_PAYLOAD_NETWORK_HEADER && f == Family::kIp6 && x.len == 16 && (x.offset == 8 || x.offset == 24)) {
      v = {x.offset == 8 ? "ip6 saddr" : "ip6 daddr", type::kIpv6Addr, {}, -1};
    } else if (x.base == NFT_PAYLOAD_TRANSPORT_HEADER && x.len == 2 && (x.offset == 0 || x.offset == 2)) {
      v = {x.offset == 0 ? "th sport" : "th dport", type::kInetService, {}, -1};
    } else {
      static const char* kBase[] = {"ll", "nh", "th"};
      v.text = std::string("@") + (x.base < 3 ? kBase[x.base] : "?") + "," + std::to_string(x.offset * 8) + "," +
               std::to_string(x.len * 8);
    }
    regs_[norm_reg(x.dreg)] = v;
  }
  void operator()(const Meta& x) {
    RegValue v;
    if (x.key == NFT_META_L4PROTO) v = {"meta l4proto", type::kInetProto, {}, -1};
    else if (x.key == NFT_META_MARK) v = {"meta mark", type::kMark, {}, -1};
    else if (x.key == NFT_META_NFPROTO) v = {"meta nfproto", type::kInteger, {}, -1};
    else v.text = "meta key" + std::to_string(x.key);
    regs_[norm_reg(x.dreg)] = v;
  }
  void operator()(const MetaSet& x) {
    std::string name = x.key == NFT_META_MARK ? "meta mark" : "meta key" + std::to_string(x.key);
    parts_.push_back(name + " set " + value_text(x.sreg));
  }
  void operator()(const Ct& x) {
    RegValue v;
    if (x.key == NFT_CT_STATE) v = {"ct state", kTypeCtState, {}, -1};
    else if (x.key == NFT_CT_MARK) v = {"ct mark", type::kMark, {}, -1};
    else v.text = "ct key" + std::to_string(x.key);
    regs_[norm_reg(x.dreg)] = v;
  }
  void operator()(const Cmp& x) {
    RegValue& v = regs_[norm_reg(x.sreg)];
    static const char* kOps[] = {"", "!= ", "< ", "<= ", "> ", ">= "};
    std::string op = x.op < 6 ? kOps[x.op] : "?? ";
    if (x.op == NFT_CMP_EQ && v.masked) op = "== ";
    if (v.type == kTypeCtState && v.prefix == -2 && x.op == NFT_CMP_NEQ && host_u32(x.data) == 0) {
      // `ct state new`: (state & bits) != 0
      parts_.push_back(v.text);
      return;
    }
    std::string value = format_value(v.type, x.data);
    if (v.prefix >= 0) value += "/" + std::to_string(v.prefix);
    parts_.push_back(v.text + " " + op + value);
  }
  void operator()(const Bitwise& x) {
    RegValue v = regs_[norm_reg(x.sreg)];
    bool xor_zero = std::all_of(x.xor_value.begin(), x.xor_value.end(), [](auto c) { return c == 0; });
    bool mask_ones = std::all_of(x.mask.begin(), x.mask.end(), [](auto c) { return c == 0xff; });
    if (xor_zero && (v.type == type::kIpv4Addr || v.type == type::kIpv6Addr) && is_prefix(x.mask)) {
      v.prefix = prefix_len(x.mask);
    } else if (xor_zero && v.type == kTypeCtState) {
      v.text = "ct state " + ct_state_names(host_u32(x.mask));
      v.prefix = -2;
    } else if (xor_zero) {
      v.text += " & " + format_value(v.type, x.mask);
      v.masked = true;
    } else if (mask_ones) {
      v.text += " ^ " + format_value(v.type, x.xor_value);
    } else {
      bool is_or = x.mask.size() == x.xor_value.size();
      for (std::size_t i = 0; is_or && i < x.mask.size(); ++i) is_or = (x.mask[i] ^ x.xor_value[i]) == 0xff;
      v.text += is_or ? " | " + format_value(v.type, x.xor_value)
                      : " & " + format_value(v.type, x.mask) + " ^ " + format_value(v.type, x.xor_value);
    }
    regs_[norm_reg(x.dreg)] = v;
  }
  void operator()(const Immediate& x) {
    if (x.dreg == kRegVerdict) {
      parts_.push_back(format_verdict(x.verdict));
      return;
    }
    regs_[norm_reg(x.dreg)] = RegValue{hex(x.data), type::kInteger, x.data, -1};
  }
  void operator()(const Numgen& x) {
    std::string kind = x.type == NFT_NG_RANDOM ? "random" : "inc";
    std::string s = "numgen " + kind + " mod " + std::to_string(x.modulus);
    if (x.offset != 0) s += " offset " + std::to_string(x.offset);
    regs_[norm_reg(x.dreg)] = RegValue{s, type::kInteger, {}, -1};
  }
  void operator()(const Nat& x) {
    std::string s = x.type == NFT_NAT_DNAT ? "dnat to " : "snat to ";
    const RegValue& a = regs_[norm_reg(x.reg_addr)];
    std::string addr = a.literal.empty() ? a.text : format_ip(a.literal);
    if (x.reg_proto != 0 && a.literal.empty() && type::split(a.type).size() > 1) {
      // Address and port from one lookup of a map with `addr . port` data.
      s = std::string(x.type == NFT_NAT_DNAT ? "dnat " : "snat ") + std::string(family_name(x.family)) + " to " + a.text;
    } else if (x.reg_proto != 0) {
      const RegValue& p = regs_[norm_reg(x.reg_proto)];
      std::string port = p.literal.size() >= 2 ? std::to_string((p.literal[0] << 8) | p.literal[1]) : p.text;
      s += (x.family == Family::kIp6 ? "[" + addr + "]" : addr) + ":" + port;
    } else {
      s += addr;
    }
    parts_.push_back(s);
  }
  void operator()(const Masquerade& x) {
    std::string s = "masquerade";
    if (x.flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY) s += " fully-random";
    if (x.flags & NF_NAT_RANGE_PROTO_RANDOM) s += " random";
    if (x.flags & NF_NAT_RANGE_PERSISTENT) s += " persistent";
    parts_.push_back(s);
  }
  void operator()(const Counter&) { parts_.push_back("counter"); }
  void operator()(const Reject& x) {
    bool plain = x.type == NFT_REJECT_ICMP_UNREACH && ((ctx_.table.family == Family::kIp && x.code == 3) ||
                                                      (ctx_.table.family == Family::kIp6 && x.code == 4));
    if (plain) parts_.push_back("reject");
    else if (x.type == NFT_REJECT_TCP_RST) parts_.push_back("reject with tcp reset");
    else parts_.push_back("reject type " + std::to_string(x.type) + " code " + std::to_string(x.code));
  }
  void operator()(const Dynset& x) {
    const Set* set = ctx_.find_set(x.set);
    std::string key = set ? key_text(x.sreg_key, *set) : value_text(x.sreg_key);
    std::string op = x.op == NFT_DYNSET_OP_ADD ? "add" : x.op == NFT_DYNSET_OP_UPDATE ? "update" : "delete";
    std::string s = op + " @" + x.set + " { " + key;
    if (x.timeout_ms != 0) s += " timeout " + std::to_string(x.timeout_ms / 1000) + "s";
    parts_.push_back(s + " }");
  }
  void operator()(const Lookup& x) {
    const Set* set = x.inline_set ? &*x.inline_set : ctx_.find_set(x.set);
    std::string key = set ? key_text(x.sreg, *set) : value_text(x.sreg);
    std::string target = x.inline_set ? inline_set(*x.inline_set) : "@" + x.set;
    if (x.dreg && *x.dreg == kRegVerdict) {
      parts_.push_back(key + " vmap " + target);
    } else if (x.dreg) {
      regs_[norm_reg(*x.dreg)] = RegValue{key + " map " + target, set ? set->data_type : type::kInteger, {}, -1};
    } else {
      parts_.push_back(key + (x.invert ? " != " : " ") + target);
    }
  }

 private:
  static bool is_prefix(const Bytes& m) {
    bool zero = false;
    for (auto c : m) {
      for (int b = 7; b >= 0; --b) {
        bool bit = (c >> b) & 1;
        if (bit && zero) return false;
        if (!bit) zero = true;
      }
    }
    return true;
  }
  static int prefix_len(const Bytes& m) {
    int n = 0;
    for (auto c : m) n += __builtin_popcount(c);
    return n;
  }
  std::string value_text(std::uint32_t reg) {
    const RegValue& v = regs_[norm_reg(reg)];
    return v.literal.empty() ? v.text : hex(v.literal);
  }
  std::string key_text(std::uint32_t sreg, const Set& set) {
    std::string s;
    std::uint32_t r = norm_reg(sreg);
    for (auto t : type::split(set.key_type)) {
      s += (s.empty() ? "" : " . ") + regs_[r].text;
      r += std::max<std::uint32_t>(1, (type::size(t) + 3) / 4);
    }
    return s;
  }

  const Ruleset& ctx_;
  std::map<std::uint32_t, RegValue> regs_;
  std::vector<std::string> parts_;
};

const char* hook_name(std::uint32_t hook) {
  switch (hook) {
    case NF_INET_PRE_ROUTING: return "prerouting";
    case NF_INET_LOCAL_IN: return "input";
    case NF_INET_FORWARD: return "forward";
    case NF_INET_LOCAL_OUT: return "output";
    case NF_INET_POST_ROUTING: return "postrouting";
    default: return "?";
  }
}

void print_set(std::string& out, const Set& set, const PrintOptions& options) {
  out += std::string("\t") + (set.is_map() ? "map " : "set ") + set.name + " {\n";
  out += "\t\ttype " + key_type_name(set.key_type);
  if (set.is_map()) out += " : " + (set.data_type == NFT_DATA_VERDICT ? std::string("verdict") : key_type_name(set.data_type));
  out += "\n";
  if (set.size != 0) out += "\t\tsize " + std::to_string(set.size) + "\n";
  std::string flags;
  if (set.flags & NFT_SET_CONSTANT) flags += ",constant";
  if (set.flags & NFT_SET_INTERVAL) flags += ",interval";
  if (set.flags & NFT_SET_EVAL) flags += ",dynamic";
  if (set.flags & NFT_SET_TIMEOUT) flags += ",timeout";
  if (!flags.empty()) out += "\t\tflags " + flags.substr(1) + "\n";
  if (set.timeout_ms != 0) out += "\t\ttimeout " + std::to_string(set.timeout_ms / 1000) + "s\n";
  if (!set.elements.empty() && (options.dynamic_elements || !set.is_dynamic())) {
    out += "\t\telements = {\n";
    for (const auto& e : format_elements(set)) out += "\t\t\t" + e + ",\n";
    out += "\t\t}\n";
  }
  out += "\t}\n";
}

}  // namespace

std::string print_rule(const Ruleset& context, const Rule& rule) { return RulePrinter(context).print(rule); }

std::string print(const Ruleset& rs, const PrintOptions& options) {
  std::string out = "table " + std::string(family_name(rs.table.family)) + " " + rs.table.name + " {\n";
  std::vector<const Set*> sets;
  for (const auto& s : rs.sets) sets.push_back(&s);
  std::sort(sets.begin(), sets.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::vector<const Chain*> chains;
  for (const auto& c : rs.chains) chains.push_back(&c);
  std::sort(chains.begin(), chains.end(), [](auto* a, auto* b) { return a->name < b->name; });
  bool first = true;
  for (const auto* s : sets) {
    if (!first) out += "\n";
    first = false;
    print_set(out, *s, options);
  }
  for (const auto* c : chains) {
    if (!first) out += "\n";
    first = false;
    out += "\tchain " + c->name + " {\n";
    if (c->hook) {
      out += "\t\ttype " + c->hook->type + " hook " + hook_name(c->hook->hook) + " priority " +
             std::to_string(c->hook->priority) + "; policy " + (c->hook->policy == NF_ACCEPT ? "accept" : "drop") +
             ";\n";
    }
    for (const auto& r : c->rules) out += "\t\t" + print_rule(rs, r) + "\n";
    out += "\t}\n";
  }
  return out + "}\n";
}

}  // namespace kedge::netlink

#include "codec.h"

#include <libnftnl/udata.h>

#include <cstring>

#include <linux/netfilter/nf_nat.h>

namespace kedge::netlink::detail {
namespace {

ExprPtr new_expr(const char* name) { return ExprPtr(nftnl_expr_alloc(name)); }

void set_bytes(nftnl_expr* e, std::uint16_t attr, const Bytes& b) {
  nftnl_expr_set_data(e, attr, b.data(), static_cast<std::uint32_t>(b.size()));
}

Bytes get_bytes(const nftnl_expr* e, std::uint16_t attr) {
  std::uint32_t len = 0;
  const auto* p = static_cast<const std::uint8_t*>(nftnl_expr_get_data(e, attr, &len));
  return p ? Bytes(p, p + len) : Bytes{};
}

// Encodes one expression; inline sets are referenced by their batch id.
struct Encoder {
  const std::vector<std::uint32_t>& anon_ids;
  std::size_t next_anon = 0;
  Status status;

  ExprPtr operator()(const Payload& x) {
    auto e = new_expr("payload");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_DREG, x.dreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_BASE, x.base);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_OFFSET, x.offset);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_PAYLOAD_LEN, x.len);
    return e;
  }
  ExprPtr operator()(const Meta& x) {
    auto e = new_expr("meta");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, x.key);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_DREG, x.dreg);
    return e;
  }
  ExprPtr operator()(const MetaSet& x) {
    auto e = new_expr("meta");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_KEY, x.key);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_META_SREG, x.sreg);
    return e;
  }
  ExprPtr operator()(const Ct& x) {
    auto e = new_expr("ct");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_KEY, x.key);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CT_DREG, x.dreg);
    return e;
  }
  ExprPtr operator()(const Cmp& x) {
    auto e = new_expr("cmp");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_SREG, x.sreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_CMP_OP, x.op);
    set_bytes(e.get(), NFTNL_EXPR_CMP_DATA, x.data);
    return e;
  }
  ExprPtr operator()(const Bitwise& x) {
    auto e = new_expr("bitwise");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_SREG, x.sreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_DREG, x.dreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_BITWISE_LEN, static_cast<std::uint32_t>(x.mask.size()));
    set_bytes(e.get(), NFTNL_EXPR_BITWISE_MASK, x.mask);
    set_bytes(e.get(), NFTNL_EXPR_BITWISE_XOR, x.xor_value);
    return e;
  }
  ExprPtr operator()(const Immediate& x) {
    auto e = new_expr("immediate");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_DREG, x.dreg);
    if (x.dreg == kRegVerdict) {
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_IMM_VERDICT, static_cast<std::uint32_t>(x.verdict.code));
      if (!x.verdict.chain.empty()) nftnl_expr_set_str(e.get(), NFTNL_EXPR_IMM_CHAIN, x.verdict.chain.c_str());
    } else {
      set_bytes(e.get(), NFTNL_EXPR_IMM_DATA, x.data);
    }
    return e;
  }
  ExprPtr operator()(const Numgen& x) {
    auto e = new_expr("numgen");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NG_DREG, x.dreg);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NG_MODULUS, x.modulus);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NG_TYPE, x.type);
    if (x.offset != 0) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NG_OFFSET, x.offset);
    return e;
  }
  ExprPtr operator()(const Nat& x) {
    auto e = new_expr("nat");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_TYPE, x.type);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FAMILY, static_cast<std::uint32_t>(x.family));
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_ADDR_MIN, x.reg_addr);
    if (x.reg_proto != 0) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_REG_PROTO_MIN, x.reg_proto);
    if (x.flags != 0) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_NAT_FLAGS, x.flags);
    return e;
  }
  ExprPtr operator()(const Masquerade& x) {
    auto e = new_expr("masq");
    if (x.flags != 0) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_MASQ_FLAGS, x.flags);
    return e;
  }
  ExprPtr operator()(const Counter&) { return new_expr("counter"); }
  ExprPtr operator()(const Reject& x) {
    auto e = new_expr("reject");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_REJECT_TYPE, x.type);
    nftnl_expr_set_u8(e.get(), NFTNL_EXPR_REJECT_CODE, x.code);
    return e;
  }
  ExprPtr operator()(const Dynset& x) {
    auto e = new_expr("dynset");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_SREG_KEY, x.sreg_key);
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_DYNSET_OP, x.op);
    nftnl_expr_set_str(e.get(), NFTNL_EXPR_DYNSET_SET_NAME, x.set.c_str());
    if (x.timeout_ms != 0) nftnl_expr_set_u64(e.get(), NFTNL_EXPR_DYNSET_TIMEOUT, x.timeout_ms);
    return e;
  }
  ExprPtr operator()(const Lookup& x) {
    auto e = new_expr("lookup");
    nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SREG, x.sreg);
    if (x.inline_set) {
      if (next_anon >= anon_ids.size()) {
        status = internal_error("lookup with an inline set but no anonymous set id");
        return e;
      }
      nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOOKUP_SET, x.inline_set->name.c_str());
      nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_SET_ID, anon_ids[next_anon++]);
    } else {
      nftnl_expr_set_str(e.get(), NFTNL_EXPR_LOOKUP_SET, x.set.c_str());
    }
    if (x.dreg) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_DREG, *x.dreg);
    if (x.invert) nftnl_expr_set_u32(e.get(), NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
    return e;
  }
};

std::uint32_t u32_or(const nftnl_expr* e, std::uint16_t attr, std::uint32_t fallback) {
  return nftnl_expr_is_set(e, attr) ? nftnl_expr_get_u32(e, attr) : fallback;
}

Result<Expr> decode_expr(const nftnl_expr* e) {
  std::string name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
  if (name == "payload") {
    return Expr(Payload{nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE), nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET),
                        nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN), nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_DREG)});
  }
  if (name == "meta") {
    if (nftnl_expr_is_set(e, NFTNL_EXPR_META_SREG)) {
      return Expr(MetaSet{nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY), nftnl_expr_get_u32(e, NFTNL_EXPR_META_SREG)});
    }
    return Expr(Meta{nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY), nftnl_expr_get_u32(e, NFTNL_EXPR_META_DREG)});
  }
  if (name == "ct") return Expr(Ct{nftnl_expr_get_u32(e, NFTNL_EXPR_CT_KEY), nftnl_expr_get_u32(e, NFTNL_EXPR_CT_DREG)});
  if (name == "cmp") {
    return Expr(Cmp{nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG), nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP),
                    get_bytes(e, NFTNL_EXPR_CMP_DATA)});
  }
  if (name == "bitwise") {
    return Expr(Bitwise{nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_SREG), nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_DREG),
                        get_bytes(e, NFTNL_EXPR_BITWISE_MASK), get_bytes(e, NFTNL_EXPR_BITWISE_XOR)});
  }
  if (name == "immediate") {
    Immediate x;
    x.dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG);
    if (x.dreg == kRegVerdict) {
      x.verdict.code = static_cast<std::int32_t>(nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT));
      if (nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) x.verdict.chain = nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN);
    } else {
      x.data = get_bytes(e, NFTNL_EXPR_IMM_DATA);
    }
    return Expr(x);
  }
  if (name == "numgen") {
    return Expr(Numgen{nftnl_expr_get_u32(e, NFTNL_EXPR_NG_DREG), nftnl_expr_get_u32(e, NFTNL_EXPR_NG_MODULUS),
                       nftnl_expr_get_u32(e, NFTNL_EXPR_NG_TYPE), u32_or(e, NFTNL_EXPR_NG_OFFSET, 0)});
  }
  if (name == "nat") {
    // The kernel reports the MAP_IPS/PROTO_SPECIFIED flags it derives from
    // the registers; drop them so a read-back rule equals the one sent.
    constexpr std::uint32_t kImplied = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
    return Expr(Nat{nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE),
                    static_cast<Family>(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_FAMILY)),
                    u32_or(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, 0), u32_or(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, 0),
                    u32_or(e, NFTNL_EXPR_NAT_FLAGS, 0) & ~kImplied});
  }
  if (name == "masq") return Expr(Masquerade{u32_or(e, NFTNL_EXPR_MASQ_FLAGS, 0)});
  if (name == "counter") {
    return Expr(Counter{nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS), nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES)});
  }
  if (name == "reject") {
    return Expr(Reject{nftnl_expr_get_u32(e, NFTNL_EXPR_REJECT_TYPE), nftnl_expr_get_u8(e, NFTNL_EXPR_REJECT_CODE)});
  }
  if (name == "dynset") {
    Dynset x;
    x.op = nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_OP);
    x.sreg_key = nftnl_expr_get_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY);
    x.set = nftnl_expr_get_str(e, NFTNL_EXPR_DYNSET_SET_NAME);
    if (nftnl_expr_is_set(e, NFTNL_EXPR_DYNSET_TIMEOUT)) x.timeout_ms = nftnl_expr_get_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT);
    return Expr(x);
  }
  if (name == "lookup") {
    Lookup x;
    x.sreg = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG);
    x.set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);
    if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG)) x.dreg = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG);
    x.invert = (u32_or(e, NFTNL_EXPR_LOOKUP_FLAGS, 0) & NFT_LOOKUP_F_INV) != 0;
    return Expr(x);
  }
  return unimplemented("expression \"" + name + "\" is not in the model");
}

int comment_cb(const nftnl_udata* attr, void* data) {
  if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
    const char* v = static_cast<const char*>(nftnl_udata_get(attr));
    std::uint32_t len = nftnl_udata_len(attr);
    *static_cast<std::string*>(data) = std::string(v, strnlen(v, len));
  }
  return 0;
}

}  // namespace

TablePtr make_table(Family family, const std::string& name) {
  TablePtr t(nftnl_table_alloc());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FAMILY, static_cast<std::uint32_t>(family));
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, name.c_str());
  return t;
}

ChainPtr make_chain(Family family, const std::string& table, const std::string& name,
                    const std::optional<BaseHook>& hook) {
  ChainPtr c(nftnl_chain_alloc());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_FAMILY, static_cast<std::uint32_t>(family));
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, name.c_str());
  if (hook) {
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, hook->hook);
    nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, hook->priority);
    nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, hook->type.c_str());
    nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_POLICY, hook->policy);
  }
  return c;
}

SetPtr make_set(Family family, const std::string& table, const Set& set, std::uint32_t id) {
  SetPtr s(nftnl_set_alloc());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FAMILY, static_cast<std::uint32_t>(family));
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, set.name.c_str());
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, set.flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, set.key_type);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, set.key_len);
  if (set.is_map()) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, set.data_type);
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, set.data_len);
  }
  if (set.timeout_ms != 0) nftnl_set_set_u64(s.get(), NFTNL_SET_TIMEOUT, set.timeout_ms);
  if (set.size != 0) nftnl_set_set_u32(s.get(), NFTNL_SET_DESC_SIZE, set.size);
  if (id != 0) nftnl_set_set_u32(s.get(), NFTNL_SET_ID, id);
  if (set.key_type == type::kInteger || set.key_type == type::kMark) {
    // Host-order keys: tell nft so `nft list` shows 1, not 16777216.
    constexpr std::uint32_t kHostEndian = 1;  // nft's BYTEORDER_HOST_ENDIAN
    std::unique_ptr<nftnl_udata_buf, Deleter<nftnl_udata_buf_free>> ud(nftnl_udata_buf_alloc(64));
    nftnl_udata_put_u32(ud.get(), NFTNL_UDATA_SET_KEYBYTEORDER, kHostEndian);
    nftnl_set_set_data(s.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()));
  }
  return s;
}

Result<RulePtr> make_rule(Family family, const std::string& table, const std::string& chain, const Rule& rule,
                          const std::vector<std::uint32_t>& anon_ids) {
  RulePtr r(nftnl_rule_alloc());
  nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, static_cast<std::uint32_t>(family));
  nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, table.c_str());
  nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain.c_str());
  Encoder enc{anon_ids};
  for (const auto& x : rule.exprs) {
    ExprPtr e = std::visit(enc, x);
    if (!enc.status.ok()) return enc.status;
    nftnl_rule_add_expr(r.get(), e.release());  // the rule owns it now
  }
  if (!rule.comment.empty()) {
    std::unique_ptr<nftnl_udata_buf, Deleter<nftnl_udata_buf_free>> ud(nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN));
    if (!nftnl_udata_put_strz(ud.get(), NFTNL_UDATA_RULE_COMMENT, rule.comment.c_str())) {
      return invalid_argument("rule comment too long: " + rule.comment);
    }
    nftnl_rule_set_data(r.get(), NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud.get()), nftnl_udata_buf_len(ud.get()));
  }
  return r;
}

Chain decode_chain(nftnl_chain* c) {
  Chain out;
  out.name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
  if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
    BaseHook h;
    h.hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
    h.priority = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
    if (nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE)) h.type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
    if (nftnl_chain_is_set(c, NFTNL_CHAIN_POLICY)) h.policy = nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY);
    out.hook = h;
  }
  return out;
}

Set decode_set(nftnl_set* s) {
  Set out;
  out.name = nftnl_set_get_str(s, NFTNL_SET_NAME);
  out.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
  out.key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE);
  out.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
  if (nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE)) out.data_type = nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE);
  // Verdict maps: the kernel reports its internal verdict size; callers
  // never set one.
  if (nftnl_set_is_set(s, NFTNL_SET_DATA_LEN) && out.data_type != NFT_DATA_VERDICT) {
    out.data_len = nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN);
  }
  if (nftnl_set_is_set(s, NFTNL_SET_TIMEOUT)) out.timeout_ms = nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT);
  if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE)) out.size = nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE);
  return out;
}

std::vector<Element> decode_elements(nftnl_set* s) {
  std::vector<Element> out;
  nftnl_set_elem_foreach(
      s,
      [](nftnl_set_elem* e, void* data) -> int {
        Element el;
        std::uint32_t len = 0;
        const auto* k = static_cast<const std::uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
        if (k) el.key.assign(k, len);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
          Verdict v;
          v.code = static_cast<std::int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
          if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) v.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
          el.verdict = v;
        } else if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
          const auto* d = static_cast<const std::uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len));
          el.data.assign(d, len);
        }
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) el.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) el.timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
        static_cast<std::vector<Element>*>(data)->push_back(std::move(el));
        return 0;
      },
      &out);
  return out;
}

Result<Rule> decode_rule(nftnl_rule* r) {
  Rule out;
  struct Ctx {
    Rule* rule;
    Status status;
  } ctx{&out, {}};
  nftnl_expr_foreach(
      r,
      [](nftnl_expr* e, void* data) -> int {
        auto* c = static_cast<Ctx*>(data);
        auto x = decode_expr(e);
        if (!x.ok()) {
          c->status = x.status();
          return -1;
        }
        c->rule->exprs.push_back(std::move(*x));
        return 0;
      },
      &ctx);
  KEDGE_RETURN_IF_ERROR(ctx.status);
  if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
    std::uint32_t len = 0;
    const void* ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
    nftnl_udata_parse(ud, len, comment_cb, &out.comment);
  }
  return out;
}

}  // namespace kedge::netlink::detail

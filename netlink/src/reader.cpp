#include "kedge/netlink/reader.h"

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>

#include "codec.h"

namespace kedge::netlink {
namespace {

std::atomic<std::uint32_t> g_dump_seq{static_cast<std::uint32_t>(std::time(nullptr))};

using Build = std::function<void(nlmsghdr*)>;
using Parse = std::function<Status(const nlmsghdr*)>;

// One dump request: sends it and feeds each reply message to `parse` until
// NLMSG_DONE. ENOENT (no such table/set) is returned as kNotFound.
Status dump(Transport& transport, std::uint16_t type, Family family, const Build& build, const Parse& parse) {
  alignas(nlmsghdr) std::uint8_t req[4096];
  const std::uint32_t seq = g_dump_seq.fetch_add(1);
  auto* nlh = nftnl_nlmsg_build_hdr(reinterpret_cast<char*>(req), type, static_cast<std::uint16_t>(family),
                                    NLM_F_DUMP | NLM_F_ACK, seq);
  build(nlh);
  KEDGE_RETURN_IF_ERROR(transport.send(std::span(req, nlh->nlmsg_len)));
  while (true) {
    auto got = transport.receive(std::chrono::milliseconds(5000));
    if (!got.ok()) return got.status();
    if (!got->has_value()) return deadline_exceeded("nftables dump: no reply within 5 s");
    const Bytes& d = **got;
    const auto* m = reinterpret_cast<const nlmsghdr*>(d.data());
    int len = static_cast<int>(d.size());
    for (; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
      if (m->nlmsg_seq != seq) continue;
      if (m->nlmsg_type == NLMSG_DONE) return ok_status();
      if (m->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(m));
        if (err->error == 0) return ok_status();
        if (err->error == -ENOENT) return not_found(std::strerror(ENOENT));
        return errno_status("nftables dump", -err->error);
      }
      KEDGE_RETURN_IF_ERROR(parse(m));
    }
  }
}

template <typename Ptr>
Status parse_into(const nlmsghdr* m, Ptr& obj, int (*fn)(const nlmsghdr*, typename Ptr::element_type*),
                  const char* what) {
  if (fn(m, obj.get()) < 0) return data_loss(std::string("cannot parse ") + what + " from the kernel");
  return ok_status();
}

}  // namespace

Result<std::vector<Table>> list_tables(Transport& transport, Family family) {
  std::vector<Table> out;
  auto st = dump(transport, NFT_MSG_GETTABLE, family, [](nlmsghdr*) {},
                 [&](const nlmsghdr* m) -> Status {
                   detail::TablePtr t(nftnl_table_alloc());
                   KEDGE_RETURN_IF_ERROR(parse_into(m, t, nftnl_table_nlmsg_parse, "table"));
                   out.push_back({static_cast<Family>(nftnl_table_get_u32(t.get(), NFTNL_TABLE_FAMILY)),
                                  nftnl_table_get_str(t.get(), NFTNL_TABLE_NAME)});
                   return ok_status();
                 });
  KEDGE_RETURN_IF_ERROR(st);
  std::sort(out.begin(), out.end(), [](const Table& a, const Table& b) { return a.name < b.name; });
  return out;
}

Result<std::optional<Ruleset>> read_table(Transport& transport, const Table& table) {
  KEDGE_ASSIGN_OR_RETURN(auto tables, list_tables(transport, table.family));
  if (std::find(tables.begin(), tables.end(), table) == tables.end()) return std::optional<Ruleset>();

  Ruleset rs;
  rs.table = table;
  auto with_table = [&](std::uint16_t attr_kind) {
    return [&, attr_kind](nlmsghdr* nlh) { mnl_attr_put_strz(nlh, attr_kind, table.name.c_str()); };
  };
  auto same_table = [&](const char* t) { return t != nullptr && table.name == t; };

  // Chains.
  Status chains_st = (dump(transport, NFT_MSG_GETCHAIN, table.family, with_table(NFTA_CHAIN_TABLE),
                             [&](const nlmsghdr* m) -> Status {
                               detail::ChainPtr c(nftnl_chain_alloc());
                               KEDGE_RETURN_IF_ERROR(parse_into(m, c, nftnl_chain_nlmsg_parse, "chain"));
                               if (same_table(nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE))) {
                                 rs.chains.push_back(detail::decode_chain(c.get()));
                               }
                               return ok_status();
                             }));
  KEDGE_RETURN_IF_ERROR(chains_st);
  // Sets (named and anonymous) with their elements.
  std::vector<Set> all_sets;
  Status sets_st = (dump(transport, NFT_MSG_GETSET, table.family, with_table(NFTA_SET_TABLE),
                             [&](const nlmsghdr* m) -> Status {
                               detail::SetPtr s(nftnl_set_alloc());
                               KEDGE_RETURN_IF_ERROR(parse_into(m, s, nftnl_set_nlmsg_parse, "set"));
                               if (same_table(nftnl_set_get_str(s.get(), NFTNL_SET_TABLE))) {
                                 all_sets.push_back(detail::decode_set(s.get()));
                               }
                               return ok_status();
                             }));
  KEDGE_RETURN_IF_ERROR(sets_st);
  for (auto& set : all_sets) {
    auto st = dump(
        transport, NFT_MSG_GETSETELEM, table.family,
        [&](nlmsghdr* nlh) {
          mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.name.c_str());
          mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set.name.c_str());
        },
        [&](const nlmsghdr* m) -> Status {
          detail::SetPtr s(nftnl_set_alloc());
          KEDGE_RETURN_IF_ERROR(parse_into(m, s, nftnl_set_elems_nlmsg_parse, "set elements"));
          auto els = detail::decode_elements(s.get());
          set.elements.insert(set.elements.end(), std::make_move_iterator(els.begin()),
                              std::make_move_iterator(els.end()));
          return ok_status();
        });
    KEDGE_RETURN_IF_ERROR(st.with_context("reading elements of set " + set.name));
  }
  for (auto& set : all_sets) {
    std::sort(set.elements.begin(), set.elements.end(),
              [](const Element& a, const Element& b) { return a.key < b.key; });
  }
  std::map<std::string, const Set*> anonymous;
  for (const auto& s : all_sets) {
    if (s.is_anonymous()) anonymous[s.name] = &s;
    else rs.sets.push_back(s);
  }
  // Rules, in chain order as the kernel keeps them.
  std::map<std::string, std::vector<Rule>> rules;
  Status rules_st = (dump(transport, NFT_MSG_GETRULE, table.family, with_table(NFTA_RULE_TABLE),
                             [&](const nlmsghdr* m) -> Status {
                               detail::RulePtr r(nftnl_rule_alloc());
                               KEDGE_RETURN_IF_ERROR(parse_into(m, r, nftnl_rule_nlmsg_parse, "rule"));
                               if (!same_table(nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE))) return ok_status();
                               std::string chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
                               KEDGE_ASSIGN_OR_RETURN(Rule rule, detail::decode_rule(r.get()));
                               for (auto& x : rule.exprs) {
                                 auto* l = std::get_if<Lookup>(&x);
                                 if (l == nullptr) continue;
                                 auto it = anonymous.find(l->set);
                                 if (it != anonymous.end()) {
                                   l->inline_set = *it->second;
                                   l->set.clear();
                                 }
                               }
                               rules[chain].push_back(std::move(rule));
                               return ok_status();
                             }));
  KEDGE_RETURN_IF_ERROR(rules_st);
  for (auto& c : rs.chains) {
    auto it = rules.find(c.name);
    if (it != rules.end()) c.rules = std::move(it->second);
  }
  std::sort(rs.chains.begin(), rs.chains.end(), [](const Chain& a, const Chain& b) { return a.name < b.name; });
  std::sort(rs.sets.begin(), rs.sets.end(), [](const Set& a, const Set& b) { return a.name < b.name; });
  return std::optional<Ruleset>(std::move(rs));
}

}  // namespace kedge::netlink

// Unit tests of the netlink layer without a kernel: message encoding, ack
// matching, error attribution, element chunking and the printer.
#include <netinet/in.h>  // before the kernel headers
#include <linux/netfilter/nf_conntrack_common.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include <gtest/gtest.h>

#include "fake_transport.h"
#include "kedge/netlink/batch.h"
#include "kedge/netlink/printer.h"

namespace kedge::netlink {
namespace {

using testing::FakeTransport;

const Table kTable{Family::kIp, "t"};

std::uint16_t nft_type(const Bytes& m) {
  return reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type & 0xff;
}

TEST(Batch, EncodesEveryMessageWithAckAndOwnSequence) {
  Batch b;
  b.add_table(kTable);
  b.add_chain(kTable, Chain{"in", BaseHook{NF_INET_LOCAL_IN, -110, "filter", NF_ACCEPT}, {}});
  b.add_chain(kTable, Chain{"svc", std::nullopt, {}});
  b.add_rule(kTable, "in", Rule{{verdict(jump("svc"))}, "to svc"});
  ASSERT_EQ(b.size(), 4u);

  FakeTransport fake;
  ASSERT_TRUE(b.commit(fake).ok());
  ASSERT_EQ(fake.sent.size(), 1u);
  const auto* first = reinterpret_cast<const nlmsghdr*>(fake.sent[0].data());
  EXPECT_EQ(first->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
  ASSERT_EQ(fake.messages.size(), 4u);
  // Own sequence numbers; only the last message asks for an ack (failures
  // are reported without one).
  std::uint32_t prev = 0;
  for (std::size_t i = 0; i < fake.messages.size(); ++i) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(fake.messages[i].data());
    EXPECT_EQ((h->nlmsg_flags & NLM_F_ACK) != 0, i + 1 == fake.messages.size()) << i;
    EXPECT_GT(h->nlmsg_seq, prev);
    prev = h->nlmsg_seq;
  }
  EXPECT_EQ(nft_type(fake.messages[0]), NFT_MSG_NEWTABLE);
  EXPECT_EQ(nft_type(fake.messages[1]), NFT_MSG_NEWCHAIN);
  EXPECT_EQ(nft_type(fake.messages[3]), NFT_MSG_NEWRULE);

  // The base chain message carries the hook exactly as given.
  nftnl_chain* c = nftnl_chain_alloc();
  ASSERT_GE(nftnl_chain_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(fake.messages[1].data()), c), 0);
  EXPECT_STREQ(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "in");
  EXPECT_STREQ(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "filter");
  EXPECT_EQ(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), static_cast<std::uint32_t>(NF_INET_LOCAL_IN));
  EXPECT_EQ(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), -110);
  nftnl_chain_free(c);
}

TEST(Batch, KernelErrorNamesTheObjectThatFailed) {
  Batch b;
  b.add_table(kTable);
  b.add_chain(kTable, Chain{"a", std::nullopt, {}});
  b.add_rule(kTable, "a", Rule{{verdict(jump("missing"))}, "bad jump"});
  b.add_chain(kTable, Chain{"b", std::nullopt, {}});
  FakeTransport fake;
  fake.errors[2] = ENOENT;
  Status st = b.commit(fake);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("add rule #1 in chain ip t a (comment \"bad jump\")"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("rolled back"), std::string::npos);
}

TEST(Batch, MissingAcksAreAnError) {
  Batch b;
  b.add_table(kTable);
  FakeTransport fake;
  fake.drop_acks = true;
  Status st = b.commit(fake);
  EXPECT_EQ(st.code(), Code::kUnavailable) << st.to_string();
  EXPECT_NE(st.message().find("never acknowledged"), std::string::npos);
}

TEST(Batch, LargeElementListsAreSplitUnder64KiB) {
  std::vector<Element> els;
  for (std::uint32_t i = 0; i < 20000; ++i) els.push_back(Element{be32(0x0a000000 + i), {}, {}, 0, 0});
  Batch b;
  b.add_elements(kTable, "ips", els);
  EXPECT_GT(b.size(), 5u);
  FakeTransport fake;
  ASSERT_TRUE(b.commit(fake).ok());
  std::size_t total = 0;
  for (const auto& m : fake.messages) {
    EXPECT_LT(m.size(), 65535u);
    // libnftnl numbers list entries 1..n while its own parser wants type 1
    // for each, so count the nested entries with libmnl instead.
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
    const auto* end = reinterpret_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
         mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) {
      if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS) continue;
      const auto* nest_end = reinterpret_cast<const char*>(mnl_attr_get_payload(a)) + mnl_attr_get_payload_len(a);
      for (auto* el = static_cast<const nlattr*>(mnl_attr_get_payload(a));
           mnl_attr_ok(el, static_cast<int>(nest_end - reinterpret_cast<const char*>(el))); el = mnl_attr_next(el)) {
        ++total;
      }
    }
  }
  EXPECT_EQ(total, els.size());
}

TEST(Batch, AnonymousSetsPrecedeTheRuleThatBindsThem) {
  Set vmap;
  vmap.flags = NFT_SET_MAP;
  vmap.key_type = type::kInteger;
  vmap.key_len = 4;
  vmap.data_type = NFT_DATA_VERDICT;
  vmap.elements = {Element{host32(0), {}, go_to("a"), 0, 0}, Element{host32(1), {}, go_to("b"), 0, 0}};
  Batch b;
  b.add_rule(kTable, "svc", Rule{{Numgen{kReg1, 2, NFT_NG_RANDOM, 0}, Lookup{kReg1, "", kRegVerdict, false, vmap}}, ""});
  FakeTransport fake;
  ASSERT_TRUE(b.commit(fake).ok());
  ASSERT_EQ(fake.messages.size(), 3u);
  EXPECT_EQ(nft_type(fake.messages[0]), NFT_MSG_NEWSET);
  EXPECT_EQ(nft_type(fake.messages[1]), NFT_MSG_NEWSETELEM);
  EXPECT_EQ(nft_type(fake.messages[2]), NFT_MSG_NEWRULE);
  nftnl_set* s = nftnl_set_alloc();
  ASSERT_GE(nftnl_set_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(fake.messages[0].data()), s), 0);
  EXPECT_EQ(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), static_cast<std::uint32_t>(NFT_SET_MAP | NFT_SET_ANONYMOUS | NFT_SET_CONSTANT));
  EXPECT_STREQ(nftnl_set_get_str(s, NFTNL_SET_NAME), "__map%d");
  nftnl_set_free(s);
}

TEST(Values, ParseAddressesAndPrefixes) {
  EXPECT_EQ(*parse_ip("10.43.0.1"), (Bytes{10, 43, 0, 1}));
  EXPECT_EQ(parse_ip("fd00::1")->size(), 16u);
  EXPECT_FALSE(parse_ip("10.43.0.256").ok());
  EXPECT_FALSE(parse_ip("").ok());
  auto c = parse_cidr("10.42.0.0/16");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prefix, 16u);
  EXPECT_FALSE(parse_cidr("10.42.0.0/33").ok());
  EXPECT_FALSE(parse_cidr("10.42.0.0").ok());
  EXPECT_EQ(type::split(type::concat({type::kIpv4Addr, type::kInetProto, type::kInetService})),
            (std::vector<std::uint32_t>{type::kIpv4Addr, type::kInetProto, type::kInetService}));
}

TEST(Printer, PrintsRulesetLikeNftListTable) {
  Ruleset rs;
  rs.table = kTable;
  Set ips;
  ips.name = "service-ips";
  ips.flags = NFT_SET_MAP;
  ips.key_type = type::concat({type::kIpv4Addr, type::kInetProto, type::kInetService});
  ips.key_len = 12;
  ips.data_type = NFT_DATA_VERDICT;
  Bytes key = {10, 43, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0};
  ips.elements.push_back(Element{key, {}, go_to("svc"), 0, 0});
  rs.sets.push_back(ips);
  Chain services{"services", std::nullopt, {}};
  services.rules.push_back(Rule{{ip_daddr(Family::kIp, kReg1), meta_l4proto(reg32(1)), th_dport(reg32(2)),
                                 Lookup{kReg1, "service-ips", kRegVerdict, false, std::nullopt}},
                                ""});
  Chain ep{"ep", std::nullopt, {}};
  auto prefix = match_prefix(ip_saddr(Family::kIp), *parse_cidr("10.42.0.0/16"), true);
  prefix.push_back(verdict(jump("mark")));
  ep.rules.push_back(Rule{prefix, ""});
  ep.rules.push_back(Rule{{meta_l4proto(), cmp_eq(u8(6)), load({10, 1, 0, 2}, kReg1), load(be16(80), kReg2),
                           Nat{NFT_NAT_DNAT, Family::kIp, kReg1, kReg2, 0}},
                          "dnat"});
  Chain pre{"nat-prerouting", BaseHook{NF_INET_PRE_ROUTING, -100, "nat", NF_ACCEPT}, {}};
  auto ct = ct_state_is(NF_CT_STATE_BIT(IP_CT_NEW));
  ct.push_back(verdict(jump("services")));
  pre.rules.push_back(Rule{ct, ""});
  rs.chains = {services, pre, ep};
  EXPECT_EQ(print(rs),
            "table ip t {\n"
            "\tmap service-ips {\n"
            "\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n"
            "\t\telements = {\n"
            "\t\t\t10.43.0.1 . tcp . 80 : goto svc,\n"
            "\t\t}\n"
            "\t}\n\n"
            "\tchain ep {\n"
            "\t\tip saddr != 10.42.0.0/16 jump mark\n"
            "\t\tmeta l4proto tcp dnat to 10.1.0.2:80 comment \"dnat\"\n"
            "\t}\n\n"
            "\tchain nat-prerouting {\n"
            "\t\ttype nat hook prerouting priority -100; policy accept;\n"
            "\t\tct state new jump services\n"
            "\t}\n\n"
            "\tchain services {\n"
            "\t\tip daddr . meta l4proto . th dport vmap @service-ips\n"
            "\t}\n"
            "}\n");
}

}  // namespace
}  // namespace kedge::netlink

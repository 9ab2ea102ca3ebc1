// The netlink layer against the real kernel, inside a network namespace the
// test creates: program a table with every expression kind the proxy uses,
// read it back, compare with what was sent and with `nft list table`.
#include <netinet/in.h>  // before the kernel headers
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kedge/netlink/batch.h"
#include "kedge/netlink/conntrack.h"
#include "kedge/netlink/printer.h"
#include "kedge/netlink/reader.h"
#include "kedge/testing/prereq.h"
#include "netns.h"

namespace kedge::netlink {
namespace {

using testing::NetNs;

const Table kTable{Family::kIp, "kedge-nl-test"};

Ruleset sample() {
  Ruleset rs;
  rs.table = kTable;
  Set ips{"service-ips", NFT_SET_MAP, type::concat({type::kIpv4Addr, type::kInetProto, type::kInetService}), 12,
          NFT_DATA_VERDICT, 0, 0, 0, {}};
  ips.elements.push_back(Element{{10, 43, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0}, {}, go_to("svc1"), 0, 0});
  ips.elements.push_back(Element{{10, 43, 0, 2, 17, 0, 0, 0, 0, 53, 0, 0}, {}, go_to("svc1"), 0, 0});
  Set cluster{"cluster-ips", 0, type::kIpv4Addr, 4, 0, 0, 0, 0, {}};
  cluster.elements.push_back(Element{{10, 43, 0, 1}, {}, {}, 0, 0});
  Set aff{"affinity-ep1", NFT_SET_TIMEOUT | NFT_SET_EVAL, type::kIpv4Addr, 4, 0, 0, 10800000, 65535, {}};
  rs.sets = {aff, cluster, ips};

  Chain pre{"nat-prerouting", BaseHook{NF_INET_PRE_ROUTING, -100, "nat", NF_ACCEPT}, {}};
  pre.rules.push_back(Rule{{verdict(jump("services"))}, ""});
  Chain fwd{"filter-forward", BaseHook{NF_INET_FORWARD, -110, "filter", NF_ACCEPT}, {}};
  auto ct = ct_state_is(NF_CT_STATE_BIT(IP_CT_NEW));
  ct.push_back(verdict(jump("cluster-check")));
  fwd.rules.push_back(Rule{ct, ""});
  // reject is only valid on input/forward/output, dnat only below nat chains:
  // the kernel validates every path from a base chain at commit.
  Chain check{"cluster-check", std::nullopt, {}};
  Chain services{"services", std::nullopt, {}};
  services.rules.push_back(Rule{{ip_daddr(Family::kIp, kReg1), meta_l4proto(reg32(1)), th_dport(reg32(2)),
                                 Lookup{kReg1, "service-ips", kRegVerdict, false, std::nullopt}},
                                ""});
  services.rules.push_back(
      Rule{{ip_daddr(Family::kIp), Lookup{kReg1, "cluster-ips", std::nullopt, false, std::nullopt}, Reject{}}, ""});
  Chain mark{"mark-for-masquerade", std::nullopt, {}};
  mark.rules.push_back(Rule{{Meta{NFT_META_MARK, kReg1}, Bitwise{kReg1, kReg1, host32(~0x4000u), host32(0x4000)},
                             MetaSet{NFT_META_MARK, kReg1}},
                            ""});
  Chain masq{"masquerading", std::nullopt, {}};
  masq.rules.push_back(Rule{{Meta{NFT_META_MARK, kReg1}, Bitwise{kReg1, kReg1, host32(0x4000), host32(0)},
                             cmp_eq(host32(0)), verdict(return_verdict())},
                            ""});
  masq.rules.push_back(Rule{{Masquerade{NF_NAT_RANGE_PROTO_RANDOM_FULLY}}, ""});
  Chain ep1{"ep1", std::nullopt, {}};
  ep1.rules.push_back(Rule{{ip_saddr(Family::kIp), cmp_eq({10, 1, 0, 2}), verdict(jump("mark-for-masquerade"))}, ""});
  ep1.rules.push_back(Rule{{ip_saddr(Family::kIp), Dynset{NFT_DYNSET_OP_UPDATE, kReg1, "affinity-ep1", 0}}, ""});
  ep1.rules.push_back(Rule{{meta_l4proto(), cmp_eq(u8(6)), load({10, 1, 0, 2}, kReg1), load(be16(8080), kReg2),
                            Nat{NFT_NAT_DNAT, Family::kIp, kReg1, kReg2, 0}},
                           ""});
  Chain ep2 = ep1;
  ep2.name = "ep2";
  ep2.rules.erase(ep2.rules.begin() + 1);
  Chain svc1{"svc1", std::nullopt, {}};
  auto prefix = match_prefix(ip_saddr(Family::kIp), *parse_cidr("10.42.0.0/16"), true);
  prefix.push_back(verdict(jump("mark-for-masquerade")));
  svc1.rules.push_back(Rule{prefix, "masquerade off-cluster"});
  svc1.rules.push_back(Rule{{ip_saddr(Family::kIp), Lookup{kReg1, "affinity-ep1", std::nullopt, false, std::nullopt},
                             verdict(go_to("ep1"))},
                            ""});
  Set lb{"", NFT_SET_MAP, type::kInteger, 4, NFT_DATA_VERDICT, 0, 0, 0, {}};
  lb.elements = {Element{host32(0), {}, go_to("ep1"), 0, 0}, Element{host32(1), {}, go_to("ep2"), 0, 0}};
  svc1.rules.push_back(Rule{{Numgen{kReg1, 2, NFT_NG_RANDOM, 0}, Lookup{kReg1, "", kRegVerdict, false, lb}}, ""});
  svc1.rules.push_back(Rule{{Counter{}}, ""});
  rs.chains = {check, ep1, ep2, fwd, mark, masq, pre, services, svc1};
  return rs;
}

Batch program(const Ruleset& rs) {
  Batch b;
  b.add_table(rs.table);
  for (const auto& s : rs.sets) b.add_set(rs.table, s);
  for (const auto& c : rs.chains) b.add_chain(rs.table, c);
  for (const auto& s : rs.sets) b.add_elements(rs.table, s.name, s.elements);
  for (const auto& c : rs.chains) {
    for (const auto& r : c.rules) b.add_rule(rs.table, c.name, r);
  }
  return b;
}

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::is_root() || testing::find_binary("nft").empty()) return;
    ns_ = std::make_unique<NetNs>("kedge-nl-" + std::to_string(getpid()));
    if (!ns_->ok() || !ns_->enter()) return;
    auto t = open_netfilter_socket();
    if (t.ok()) transport_ = std::move(*t);
  }
  void TearDown() override {
    transport_.reset();
    ns_.reset();
  }
  std::unique_ptr<NetNs> ns_;
  std::unique_ptr<Transport> transport_;
};

TEST_F(KernelTest, ProgramReadBackAndPrintRoundTrip) {
  KEDGE_REQUIRE(testing::is_root(), "needs root for network namespaces");
  KEDGE_REQUIRE(!testing::find_binary("nft").empty(), "needs nft");
  ASSERT_TRUE(transport_) << "could not open a netfilter socket in the test namespace";
  Ruleset want = sample();
  Batch b = program(want);
  Status st = b.commit(*transport_);
  ASSERT_TRUE(st.ok()) << st.to_string();

  auto got = read_table(*transport_, kTable);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_TRUE(got->has_value());
  const Ruleset& rs = **got;
  EXPECT_EQ(print(rs), print(want));
  ASSERT_EQ(rs.chains.size(), want.chains.size());
  for (std::size_t i = 0; i < rs.chains.size(); ++i) {
    const auto& got_rules = rs.chains[i].rules;
    const auto& want_rules = want.chains[i].rules;
    ASSERT_EQ(got_rules.size(), want_rules.size()) << want.chains[i].name;
    for (std::size_t j = 0; j < got_rules.size(); ++j) {
      ASSERT_EQ(got_rules[j].exprs.size(), want_rules[j].exprs.size()) << want.chains[i].name << " rule " << j;
      for (std::size_t k = 0; k < got_rules[j].exprs.size(); ++k) {
        EXPECT_TRUE(got_rules[j].exprs[k] == want_rules[j].exprs[k])
            << "chain " << want.chains[i].name << " rule " << j << " expression " << k << " (variant index "
            << want_rules[j].exprs[k].index() << ") differs after read-back";
      }
      EXPECT_EQ(got_rules[j].comment, want_rules[j].comment);
    }
    EXPECT_EQ(rs.chains[i].hook, want.chains[i].hook) << want.chains[i].name;
  }
  for (const auto& s : want.sets) {
    ASSERT_NE(rs.find_set(s.name), nullptr) << s.name;
    EXPECT_TRUE(rs.find_set(s.name)->same_definition(s)) << s.name;
  }

  // nft itself understands what we programmed.
  auto nft = ns_->exec({"nft", "list", "table", "ip", kTable.name});
  ASSERT_EQ(nft.exit_code, 0) << nft.err;
  for (const char* line : {"ip daddr . meta l4proto . th dport vmap @service-ips",
                           "numgen random mod 2 vmap { 0 : goto ep1, 1 : goto ep2 }",
                           "meta l4proto tcp dnat to 10.1.0.2:8080", "update @affinity-ep1 { ip saddr }",
                           "10.43.0.1 . tcp . 80 : goto svc1", "masquerade fully-random",
                           "ip saddr != 10.42.0.0/16 jump mark-for-masquerade comment \"masquerade off-cluster\"",
                           "ct state new jump cluster-check", "ip daddr @cluster-ips reject"}) {
    EXPECT_NE(nft.out.find(line), std::string::npos) << "nft list lacks: " << line << "\n" << nft.out;
  }
}

TEST_F(KernelTest, FailedBatchNamesTheRuleAndChangesNothing) {
  KEDGE_REQUIRE(testing::is_root(), "needs root for network namespaces");
  KEDGE_REQUIRE(!testing::find_binary("nft").empty(), "needs nft");
  ASSERT_TRUE(transport_);
  Batch b;
  b.add_table(kTable);
  b.add_chain(kTable, Chain{"good", std::nullopt, {}});
  b.add_rule(kTable, "good", Rule{{verdict(jump("does-not-exist"))}, "dangling jump"});
  Status st = b.commit(*transport_);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("add rule #1 in chain ip kedge-nl-test good (comment \"dangling jump\")"),
            std::string::npos)
      << st.message();
  auto got = read_table(*transport_, kTable);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_FALSE(got->has_value()) << "the table from the failed batch exists";
}

TEST_F(KernelTest, FlushAndDeleteInOneBatch) {
  KEDGE_REQUIRE(testing::is_root(), "needs root for network namespaces");
  KEDGE_REQUIRE(!testing::find_binary("nft").empty(), "needs nft");
  ASSERT_TRUE(transport_);
  ASSERT_TRUE(program(sample()).commit(*transport_).ok());
  Batch b;
  b.flush_chain(kTable, "svc1");   // drops the jumps to ep1/ep2 and the anonymous map
  b.flush_set(kTable, "service-ips");
  b.flush_chain(kTable, "ep2");
  b.delete_chain(kTable, "ep2");
  Status st = b.commit(*transport_);
  ASSERT_TRUE(st.ok()) << st.to_string();
  auto got = read_table(*transport_, kTable);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->find_chain("ep2"), nullptr);
  EXPECT_TRUE((*got)->find_chain("svc1")->rules.empty());
  EXPECT_TRUE((*got)->find_set("service-ips")->elements.empty());

  Batch del;
  del.delete_table(kTable);
  ASSERT_TRUE(del.commit(*transport_).ok());
  auto gone = read_table(*transport_, kTable);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

// Stale UDP flows: entries created by real datagrams are found by their
// original destination (and reply source) and deleted; others stay.
TEST_F(KernelTest, ConntrackEntriesDeletedByDestination) {
  KEDGE_REQUIRE(transport_ != nullptr, "needs root, nft and a network namespace");
  // Any conntrack-using rule turns connection tracking on in this netns.
  auto nft = ns_->exec({"nft", "add table ip ct-on; add chain ip ct-on out { type filter hook output priority 0; }; "
                               "add rule ip ct-on out ct state new counter"});
  ASSERT_EQ(nft.exit_code, 0) << nft.err;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  for (std::uint16_t port : {5555, 5556}) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
  }
  ::close(fd);
  const Bytes lo{127, 0, 0, 1};
  ConntrackFilter f{.family = Family::kIp, .protocol = IPPROTO_UDP, .orig_dst = lo, .orig_dst_port = 5555,
                    .reply_src = Bytes{10, 9, 9, 9}};
  auto n = delete_conntrack(*transport_, f);
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 0u) << "the reply comes from 127.0.0.1, not 10.9.9.9";
  f.reply_src = lo;
  n = delete_conntrack(*transport_, f);
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 1u);
  n = delete_conntrack(*transport_, f);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u) << "already gone";
  f.orig_dst_port = 5556;
  f.reply_src.reset();
  n = delete_conntrack(*transport_, f);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u) << "the other flow was left alone until asked";
}

}  // namespace
}  // namespace kedge::netlink

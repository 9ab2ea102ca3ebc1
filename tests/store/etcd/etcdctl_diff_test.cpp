// The differential test of issue 3: one etcdctl script (etcdctl_script.sh)
// run against a fresh Debian etcd 3.4 and a fresh `kedge store`; the
// transcripts (-w json, stderr "Error:" lines, exit codes) must be identical
// once cluster_id, member_id, raft_term and lease IDs are masked, and the
// remaining TTL of a lease (a clock reading) is checked to be within 5 s of
// its granted TTL instead of compared.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "servers.h"

namespace kedge::store::testing {
namespace {

std::string script_path() { return kedge::testing::source_dir() + "/tests/store/etcd/etcdctl_script.sh"; }

// etcd 3.4 lists a lease's keys (TimeToLive --keys) in Go map order, which
// changes from run to run: compare them as a set.
std::string sort_lease_keys(const std::string& transcript) {
  static const std::regex kKeys(R"re("keys":\[([^\]]*)\])re");
  std::string result;
  std::size_t last = 0;
  for (std::sregex_iterator it(transcript.begin(), transcript.end(), kKeys), end; it != end; ++it) {
    const auto& m = *it;
    std::vector<std::string> keys;
    std::stringstream list(m[1]);
    for (std::string k; std::getline(list, k, ',');) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    std::string joined;
    for (const auto& k : keys) joined += (joined.empty() ? "" : ",") + k;
    result += transcript.substr(last, static_cast<std::size_t>(m.position()) - last);
    result += "\"keys\":[" + joined + "]";
    last = static_cast<std::size_t>(m.position() + m.length());
  }
  return result + transcript.substr(last);
}

std::string mask(const std::string& transcript) {
  static const std::regex kIds(R"re("(cluster_id|member_id|raft_term|ID|id|lease)":\d+)re");
  static const std::regex kTtl(R"re("ttl":(\d+),"granted-ttl":(\d+))re");
  std::string out = std::regex_replace(sort_lease_keys(transcript), kIds, "\"$1\":\"<masked>\"");
  // Remaining TTL: compare "within 5 s of granted", not the exact second.
  std::string result;
  std::sregex_iterator it(out.begin(), out.end(), kTtl), end;
  std::size_t last = 0;
  for (; it != end; ++it) {
    const auto& m = *it;
    const long ttl = std::stol(m[1]), granted = std::stol(m[2]);
    result += out.substr(last, static_cast<std::size_t>(m.position()) - last);
    if (ttl <= granted && ttl >= granted - 5) {
      result += "\"ttl\":\"<granted-5s..granted>\",\"granted-ttl\":" + std::string(m[2]);
    } else {
      result += m.str();
    }
    last = static_cast<std::size_t>(m.position() + m.length());
  }
  result += out.substr(last);
  return result;
}

std::string run_script(const Server& s) {
  auto r = kedge::testing::run({"bash", script_path(), s.endpoint},
                               {.env = {}, .stdin_data = {}, .timeout = std::chrono::seconds(240), .cwd = {}});
  EXPECT_EQ(r.exit_code, 0) << s.name << " script stderr: " << r.err;
  return r.out;
}

std::string unified_diff(const std::string& a, const std::string& b) {
  kedge::testing::TempDir dir("kedge-diff");
  std::ofstream(dir / "etcd.txt") << a;
  std::ofstream(dir / "kedge.txt") << b;
  auto r = kedge::testing::run({"diff", "-u", (dir / "etcd.txt").string(), (dir / "kedge.txt").string()});
  return r.out;
}

TEST(EtcdctlDiff, SameTranscriptAsEtcd34) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  Server etcd = start_etcd();
  Server kedge = start_kedge_store();
  ASSERT_TRUE(wait_serving(etcd.endpoint)) << etcd.log();
  ASSERT_TRUE(wait_serving(kedge.endpoint)) << kedge.log();

  const std::string want = mask(run_script(etcd));
  const std::string got = mask(run_script(kedge));
  // The script exercises every area; make sure it really ran against etcd.
  ASSERT_NE(want.find("\"succeeded\":true"), std::string::npos) << want;
  ASSERT_NE(want.find("\"CompactRevision\""), std::string::npos) << want;
  EXPECT_TRUE(want == got) << "etcdctl transcripts differ (- etcd 3.4, + kedge store):\n"
                           << unified_diff(want, got) << "\nkedge log:\n" << kedge.log();
  // The server survived the bad input and still serves.
  EXPECT_TRUE(kedge.process->running()) << kedge.log();
}

}  // namespace
}  // namespace kedge::store::testing

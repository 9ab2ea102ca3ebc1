// Maintenance through stock etcdctl 3.4: `defrag` answers as etcd does and
// really returns free pages; `snapshot save` writes a file a fresh
// `kedge store` starts from with the same data, revision and hash;
// `kedge store --restore-snapshot` checks its sha256 trailer; `endpoint hashkv` agrees on two stores with the same history and reports
// the compaction point as etcd does.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "servers.h"

namespace kedge::store::testing {
namespace {

kedge::testing::CommandResult etcdctl(const Server& s, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"etcdctl", "--endpoints=" + s.endpoint, "--command-timeout=30s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return kedge::testing::run(argv, {.env = {{"ETCDCTL_API", "3"}}, .stdin_data = {},
                                    .timeout = std::chrono::seconds(60), .cwd = {}});
}

std::string ok_out(const Server& s, const std::vector<std::string>& args) {
  auto r = etcdctl(s, args);
  EXPECT_EQ(r.exit_code, 0) << s.name << " " << args.at(0) << ": " << r.out << r.err << "\n" << s.log();
  return r.out;
}

// The same writes on any server: 60 puts of 16 KB values over 10 keys (revs
// 2..61), 5 keys deleted (62..66), then a compaction at revision 40.
void write_history(const Server& s) {
  for (int i = 0; i < 60; ++i) {
    ok_out(s, {"put", "k" + std::to_string(i % 10), std::string(16000, static_cast<char>('a' + i % 26))});
  }
  for (int i = 0; i < 10; i += 2) ok_out(s, {"del", "k" + std::to_string(i)});
  ok_out(s, {"compact", "40", "--physical"});
}

// "hash" and "compact_revision" of `endpoint hashkv -w json`.
std::pair<std::string, std::string> hashkv(const Server& s) {
  const std::string out = ok_out(s, {"endpoint", "hashkv", "-w", "json"});
  std::smatch hash, compact;
  EXPECT_TRUE(std::regex_search(out, hash, std::regex(R"re("hash":(\d+))re"))) << out;
  EXPECT_TRUE(std::regex_search(out, compact, std::regex(R"re("compact_revision":(\d+))re"))) << out;
  return {hash.size() > 1 ? hash[1].str() : "", compact.size() > 1 ? compact[1].str() : ""};
}

// "dbSize" and "dbSizeInUse" of `endpoint status -w json`.
std::pair<long, long> db_size(const Server& s) {
  const std::string out = ok_out(s, {"endpoint", "status", "-w", "json"});
  std::smatch size, in_use;
  EXPECT_TRUE(std::regex_search(out, size, std::regex(R"re("dbSize":(\d+))re"))) << out;
  EXPECT_TRUE(std::regex_search(out, in_use, std::regex(R"re("dbSizeInUse":(\d+))re"))) << out;
  return {size.size() > 1 ? std::stol(size[1].str()) : -1, in_use.size() > 1 ? std::stol(in_use[1].str()) : -1};
}

TEST(EtcdctlMaintenance, DefragSnapshotAndHashKv) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  Server etcd = start_etcd();
  Server a = start_kedge_store();
  ASSERT_TRUE(wait_serving(etcd.endpoint)) << etcd.log();
  ASSERT_TRUE(wait_serving(a.endpoint)) << a.log();
  write_history(etcd);
  write_history(a);

  // defrag: etcd's text (endpoint aside) and exit code; afterwards every
  // byte of the file is in use (no free page, WAL truncated).
  auto kedge_defrag = etcdctl(a, {"defrag"});
  auto etcd_defrag = etcdctl(etcd, {"defrag"});
  EXPECT_EQ(kedge_defrag.exit_code, 0) << kedge_defrag.err;
  EXPECT_EQ(kedge_defrag.out, "Finished defragmenting etcd member[" + a.endpoint + "]\n");
  EXPECT_EQ(etcd_defrag.out, "Finished defragmenting etcd member[" + etcd.endpoint + "]\n");
  const auto [size, in_use] = db_size(a);
  EXPECT_EQ(size, in_use);

  // hashkv: reported at the compaction point as etcd does.
  const auto [hash_a, compact_a] = hashkv(a);
  EXPECT_EQ(compact_a, "40");
  EXPECT_EQ(hashkv(etcd).second, "40");

  // snapshot save → a new store started from the file.
  const auto file = a.dir->path() / "snap.db";
  auto saved = etcdctl(a, {"snapshot", "save", file.string()});
  ASSERT_EQ(saved.exit_code, 0) << saved.out << saved.err << a.log();
  EXPECT_EQ(saved.out, "Snapshot saved at " + file.string() + "\n");
  ok_out(a, {"put", "after-snapshot", "x"});

  // A damaged copy is refused, naming the problem; nothing is started from it.
  const auto bad = a.dir->path() / "bad.db";
  std::filesystem::copy_file(file, bad);
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('X');
  }
  kedge::testing::TempDir bad_dir("kedge-store-bad-restore");
  auto refused = kedge::testing::run({kedge::testing::kedge_binary(), "store", "--restore-snapshot=" + bad.string(),
                                      "--data-dir=" + (bad_dir.path() / "data").string(),
                                      "--listen-client-urls=http://127.0.0.1:0"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE((refused.out + refused.err).find("sha256 mismatch"), std::string::npos) << refused.out << refused.err;
  EXPECT_FALSE(std::filesystem::exists(bad_dir.path() / "data" / "store.db"));

  Server b;
  b.name = "kedge-restored";
  b.dir = std::make_unique<kedge::testing::TempDir>("kedge-store-restored");
  b.endpoint = "http://127.0.0.1:" + std::to_string(kedge::testing::free_port());
  b.process = std::make_unique<kedge::testing::Process>(
      std::vector<std::string>{kedge::testing::kedge_binary(), "store", "--listen-client-urls=" + b.endpoint,
                               "--data-dir=" + (b.dir->path() / "data").string(),
                               "--restore-snapshot=" + file.string(), "--log-level=warn"},
      b.dir->path() / "kedge.log");
  ASSERT_TRUE(wait_serving(b.endpoint)) << b.log();
  EXPECT_EQ(hashkv(b), std::make_pair(hash_a, compact_a));
  EXPECT_EQ(ok_out(b, {"get", "after-snapshot"}), "");
  EXPECT_EQ(ok_out(b, {"get", "k1", "--print-value-only"}), ok_out(etcd, {"get", "k1", "--print-value-only"}));
  EXPECT_EQ(ok_out(b, {"get", "k", "--prefix", "--keys-only"}), ok_out(etcd, {"get", "k", "--prefix", "--keys-only"}));
  // Same history, same revision as the original at the time of the snapshot.
  const std::string status = ok_out(b, {"get", "k1", "-w", "json"});
  EXPECT_NE(status.find("\"revision\":66"), std::string::npos) << status;
  // The original moved on: its hash changed.
  EXPECT_NE(hashkv(a).first, hash_a);
}

}  // namespace
}  // namespace kedge::store::testing

// `kedge store` on https:// with --client-cert-auth and on a unix:// socket,
// driven by etcdctl (and EtcdStore over TLS): the flags are etcd's, a client
// without a certificate signed by the trusted CA is refused, SIGTERM drains.
#include <signal.h>

#include <gtest/gtest.h>

#include "kedge/store/etcd_client.h"
#include "servers.h"

namespace kedge::store::testing {
namespace {

using kedge::testing::CommandOptions;
using kedge::testing::run;

// A CA, a server certificate for 127.0.0.1 and a client certificate, via openssl.
void make_pki(const std::filesystem::path& d) {
  auto sh = [&](const std::string& cmd) {
    auto r = run({"bash", "-c", cmd}, CommandOptions{.env = {}, .stdin_data = {}, .timeout = std::chrono::seconds(60), .cwd = d});
    ASSERT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
  };
  sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca 2>/dev/null");
  sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null");
  sh("printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
     "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 "
     "-extfile server.ext 2>/dev/null");
  sh("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client 2>/dev/null");
  sh("printf 'extendedKeyUsage=clientAuth\\n' > client.ext && openssl x509 -req -in client.csr -CA ca.crt "
     "-CAkey ca.key -CAcreateserial -out client.crt -days 1 -extfile client.ext 2>/dev/null");
  // A second CA whose client certificate the server must refuse.
  sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other 2>/dev/null");
}

kedge::testing::CommandResult ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"etcdctl", "--dial-timeout=2s", "--command-timeout=3s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, CommandOptions{.env = {{"ETCDCTL_API", "3"}}, .stdin_data = {}, .timeout = std::chrono::seconds(20), .cwd = {}});
}

TEST(KedgeStoreTls, ClientCertAuthAsEtcdSpellsIt) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcdctl (Debian etcd-client)");
  KEDGE_REQUIRE(!kedge::testing::find_binary("openssl").empty(), "openssl");
  kedge::testing::TempDir pki("kedge-pki");
  make_pki(pki.path());
  const auto p = [&](const char* f) { return (pki.path() / f).string(); };
  const std::string url = "https://127.0.0.1:" + std::to_string(kedge::testing::free_port());
  Server s = start_kedge_store({"--listen-client-urls=" + url, "--cert-file=" + p("server.crt"),
                                "--key-file=" + p("server.key"), "--trusted-ca-file=" + p("ca.crt"),
                                "--client-cert-auth"});
  const std::vector<std::string> good{"--endpoints=" + url, "--cacert=" + p("ca.crt"), "--cert=" + p("client.crt"),
                                      "--key=" + p("client.key")};
  ASSERT_TRUE(kedge::testing::eventually(
      [&] {
        auto args = good;
        args.insert(args.end(), {"put", "secure", "yes"});
        return ctl(args).exit_code == 0;
      },
      std::chrono::seconds(15)))
      << s.log();
  auto get = good;
  get.insert(get.end(), {"get", "secure", "--print-value-only"});
  auto r = ctl(get);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "yes\n");
  // No client certificate, and a certificate from another CA: refused.
  EXPECT_NE(ctl({"--endpoints=" + url, "--cacert=" + p("ca.crt"), "get", "secure"}).exit_code, 0);
  EXPECT_NE(ctl({"--endpoints=" + url, "--cacert=" + p("ca.crt"), "--cert=" + p("other.crt"),
                 "--key=" + p("other.key"), "get", "secure"})
                .exit_code,
            0);
  // The etcd client implementation speaks the same TLS.
  auto store = EtcdStore::connect({.endpoints = {url}, .ca_file = p("ca.crt"), .cert_file = p("client.crt"),
                                   .key_file = p("client.key")});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto got = (*store)->range({.key = "secure"});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "yes");
  // SIGTERM drains and exits 0.
  EXPECT_EQ(s.process->kill_and_wait(SIGTERM), 0) << s.log();
}

TEST(KedgeStoreUnix, ServesOnUnixSocketAndTcp) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcdctl (Debian etcd-client)");
  kedge::testing::TempDir dir("kedge-sock");
  const std::string sock = (dir.path() / "store.sock").string();
  const std::string tcp = "http://127.0.0.1:" + std::to_string(kedge::testing::free_port());
  Server s = start_kedge_store({"--listen-client-urls=unix://" + sock + "," + tcp});
  ASSERT_TRUE(wait_serving(tcp)) << s.log();
  auto put = ctl({"--endpoints=unix://" + sock, "put", "via", "socket"});
  EXPECT_EQ(put.exit_code, 0) << put.err << s.log();
  auto get = ctl({"--endpoints=" + tcp, "get", "via", "--print-value-only"});
  EXPECT_EQ(get.out, "socket\n") << get.err;
  auto members = ctl({"--endpoints=" + tcp, "member", "list"});
  EXPECT_EQ(members.exit_code, 0) << members.err;
  EXPECT_NE(members.out.find(tcp), std::string::npos) << members.out;
  auto status = ctl({"--endpoints=" + tcp, "endpoint", "status", "-w", "json"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("\"version\":\"3.4."), std::string::npos) << status.out;
  auto health = ctl({"--endpoints=" + tcp, "endpoint", "health"});
  EXPECT_EQ(health.exit_code, 0) << health.out << health.err;
  auto snapshot = ctl({"--endpoints=" + tcp, "snapshot", "save", (dir.path() / "snap.db").string()});
  EXPECT_EQ(snapshot.exit_code, 0) << snapshot.err;
  // What the store does not do answers Unimplemented with a message.
  auto move = ctl({"--endpoints=" + tcp, "move-leader", "1234"});
  EXPECT_NE(move.exit_code, 0);
  EXPECT_NE(move.err.find("not supported"), std::string::npos) << move.err;
}

TEST(KedgeStoreFlags, BadFlagsAreRefused) {
  kedge::testing::TempDir dir("kedge-flags");
  auto r = run({kedge::testing::kedge_binary(), "store", "--data-dir=" + dir.path().string(),
                "--auto-compaction-mode=weekly"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--auto-compaction-mode=weekly"), std::string::npos) << r.err;
  r = run({kedge::testing::kedge_binary(), "store", "--data-dir=" + dir.path().string(),
           "--listen-client-urls=https://127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--cert-file"), std::string::npos) << r.err;
  r = run({kedge::testing::kedge_binary(), "store", "--data-dir=" + dir.path().string(), "--durability=maybe"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace kedge::store::testing

// EtcdStore's watches across an etcd restart: Debian etcd 3.4 is SIGKILLed and
// started again on the same data dir under a watching EtcdStore. The watch
// must resume from the revision after the last one it delivered (no event
// lost, none repeated), and when etcd compacted past that revision while the
// watch was away, end with the compacted error and compact_revision so the
// caller relists.
#include <gtest/gtest.h>

#include <condition_variable>
#include <csignal>
#include <mutex>

#include "kedge/store/etcd_client.h"
#include "servers.h"

namespace kedge::store::testing {
namespace {

using kedge::testing::Process;

class Lines final : public WatchObserver {
 public:
  void on_events(Revision, std::span<const Event> events) override {
    std::lock_guard lock(mu_);
    for (const auto& e : events) {
      lines_.push_back((e.type == Event::Type::kPut ? "PUT " : "DELETE ") + e.kv.key + "=" + e.kv.value + "@" +
                       std::to_string(e.kv.mod_revision));
    }
    cv_.notify_all();
  }
  void on_canceled(const Status& reason, Revision compact_revision) override {
    std::lock_guard lock(mu_);
    lines_.push_back("canceled " + std::string(code_name(reason.code())) + " " + reason.message() +
                     " compact=" + std::to_string(compact_revision));
    cv_.notify_all();
  }
  // Waits up to 30 s (an etcd restart plus the watch's backoff) for `n` lines.
  std::vector<std::string> wait(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return lines_.size() >= n; });
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

// One etcd member on a fixed data dir and fixed ports, so it can be killed
// and started again as the same member.
class RestartableEtcd {
 public:
  RestartableEtcd() : peer_("http://127.0.0.1:" + std::to_string(kedge::testing::free_port())) {}
  // Starts etcd answering clients on `client_url`.
  void start(const std::string& client_url) {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"etcd", "--data-dir=" + (dir_.path() / "data").string(),
                                 "--listen-client-urls=" + client_url, "--advertise-client-urls=" + client_url,
                                 "--listen-peer-urls=" + peer_, "--initial-advertise-peer-urls=" + peer_,
                                 "--initial-cluster=default=" + peer_, "--log-level=warn"},
        dir_.path() / ("etcd-" + std::to_string(++starts_) + ".log"));
    ASSERT_TRUE(wait_serving(client_url)) << process_->log();
  }
  void kill9() { process_->kill_and_wait(SIGKILL); }

 private:
  kedge::testing::TempDir dir_{"kedge-etcd-restart"};
  std::string peer_;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

void etcdctl(const std::string& endpoint, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"etcdctl", "--endpoints=" + endpoint};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = kedge::testing::run(argv, {.env = {{"ETCDCTL_API", "3"}}, .stdin_data = {},
                                      .timeout = std::chrono::seconds(10), .cwd = {}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

std::string url() { return "http://127.0.0.1:" + std::to_string(kedge::testing::free_port()); }

TEST(EtcdWatchReconnect, ResumesAfterTheLastDeliveredRevision) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  RestartableEtcd etcd;
  const std::string endpoint = url();
  etcd.start(endpoint);
  auto store = EtcdStore::connect({.endpoints = {endpoint}});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->put({.key = "other", .value = "x"}).ok());  // rev 2
  Lines lines;
  auto watch = (*store)->watch({.key = "w/", .range_end = "w0"}, lines);  // from rev 3
  ASSERT_TRUE(watch.ok()) << watch.status().to_string();
  etcdctl(endpoint, {"put", "w/1", "a"});  // 3
  ASSERT_EQ(lines.wait(1).size(), 1u);

  etcd.kill9();
  etcd.start(endpoint);
  // Written as soon as etcd is back: whether the watch has reconnected yet
  // or not, it must see each of these once, in order.
  etcdctl(endpoint, {"put", "w/2", "b"});  // 4
  etcdctl(endpoint, {"del", "w/1"});       // 5
  etcdctl(endpoint, {"put", "w/3", "c"});  // 6
  const std::vector<std::string> want{"PUT w/1=a@3", "PUT w/2=b@4", "DELETE w/1=@5", "PUT w/3=c@6"};
  EXPECT_EQ(lines.wait(4), want);

  // A second restart, with nothing written while etcd was away.
  etcd.kill9();
  etcd.start(endpoint);
  etcdctl(endpoint, {"put", "w/4", "d"});  // 7
  auto got = lines.wait(5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[4], "PUT w/4=d@7");
}

TEST(EtcdWatchReconnect, CompactedWhileAwayEndsWithCompactRevision) {
  KEDGE_REQUIRE(etcd_tools_present(), "etcd and etcdctl (Debian etcd-server, etcd-client)");
  RestartableEtcd etcd;
  const std::string endpoint = url();
  etcd.start(endpoint);
  auto store = EtcdStore::connect({.endpoints = {endpoint}});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  Lines lines;
  auto watch = (*store)->watch({.key = "w/", .range_end = "w0"}, lines);  // from rev 2
  ASSERT_TRUE(watch.ok()) << watch.status().to_string();
  etcdctl(endpoint, {"put", "w/1", "a"});  // 2
  ASSERT_EQ(lines.wait(1).size(), 1u);

  // While the watch cannot reach it (etcd answers on another port), etcd
  // moves on and compacts past the watch's next revision (3).
  etcd.kill9();
  const std::string elsewhere = url();
  etcd.start(elsewhere);
  etcdctl(elsewhere, {"put", "w/2", "b"});  // 3
  etcdctl(elsewhere, {"put", "w/3", "c"});  // 4
  etcdctl(elsewhere, {"compact", "4"});
  etcd.kill9();
  etcd.start(endpoint);
  auto got = lines.wait(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1],
            "canceled OUT_OF_RANGE etcdserver: mvcc: required revision has been compacted compact=4");
  // A relist at the current revision sees what the watch missed.
  auto r = (*store)->range({.key = "w/", .range_end = "w0"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->kvs.size(), 3u);
}

}  // namespace
}  // namespace kedge::store::testing

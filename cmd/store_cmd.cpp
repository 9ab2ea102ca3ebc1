// `kedge store`: the etcd v3 compatible store alone (SQLite core behind the
// etcd gRPC front), with etcd's flag spellings so existing scripts and
// kube-apiserver's --etcd-servers work unchanged.
#include <malloc.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "kedge/base/log.h"
#include "kedge/base/signals.h"
#include "kedge/store/etcd_server.h"
#include "kedge/store/sqlite_store.h"
#include "roles.h"

namespace kedge::cmd {
namespace {

struct StoreOptions {
  std::vector<std::string> listen_client_urls{"http://127.0.0.1:2379"};
  std::vector<std::string> advertise_client_urls;
  std::string data_dir = "/var/lib/kedge/store";
  std::string name = "default";
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  bool client_cert_auth = false;
  std::string durability = "strict";
  std::int64_t max_request_bytes = 1572864;
  std::int64_t max_txn_ops = 128;
  std::int64_t worker_threads = 64;
};

// A Go duration ("5m", "1h30m", "90s") or, as etcd accepts for periodic mode,
// a bare number of hours.
Result<std::chrono::seconds> parse_retention_period(const std::string& text) {
  std::int64_t bare = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), bare);
  if (ec == std::errc() && p == text.data() + text.size() && bare >= 0) return std::chrono::seconds(bare * 3600);
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    auto [q, e] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (e != std::errc() || n < 0 || q == text.data() + text.size()) break;
    i = static_cast<std::size_t>(q - text.data());
    const char unit = text[i++];
    if (unit == 'h') total += n * 3600;
    else if (unit == 'm') total += n * 60;
    else if (unit == 's') total += n;
    else return invalid_argument("--auto-compaction-retention=" + text + ": unknown unit");
    if (i == text.size()) return std::chrono::seconds(total);
  }
  return invalid_argument("--auto-compaction-retention=" + text + ": want a duration such as 5m or 1h, or hours");
}

Status apply_compaction(const StoreOptions& o, store::SqliteStoreOptions& out) {
  if (o.auto_compaction_mode == "revision") {
    std::int64_t n = 0;
    const auto& t = o.auto_compaction_retention;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || p != t.data() + t.size() || n < 0) {
      return invalid_argument("--auto-compaction-retention=" + t + ": revision mode wants a revision count");
    }
    out.auto_compaction_retention_revisions = n;
    return ok_status();
  }
  if (o.auto_compaction_mode != "periodic") {
    return invalid_argument("--auto-compaction-mode=" + o.auto_compaction_mode + ": want periodic or revision");
  }
  KEDGE_ASSIGN_OR_RETURN(out.auto_compaction_retention_period, parse_retention_period(o.auto_compaction_retention));
  return ok_status();
}

// The member and cluster IDs are random on first start and kept in the data
// directory, so clients see the same member across restarts (as etcd).
Result<std::pair<std::uint64_t, std::uint64_t>> load_ids(const std::filesystem::path& dir) {
  const auto path = dir / "member-id";
  std::uint64_t cluster = 0, member = 0;
  if (std::ifstream in(path); in) {
    in >> std::hex >> cluster >> member;
    if (cluster != 0 && member != 0) return std::pair{cluster, member};
    return data_loss("\"" + path.string() + "\" is corrupt; delete it to pick new member IDs");
  }
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  while (cluster == 0) cluster = rng();
  while (member == 0) member = rng();
  const auto tmp = dir / "member-id.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << std::hex << cluster << ' ' << member << '\n';
    if (!out.flush()) return errno_status("write " + tmp.string(), errno);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return unavailable("rename " + tmp.string() + ": " + ec.message());
  return std::pair{cluster, member};
}

}  // namespace

int run_store(std::span<const std::string> args) {
  CommonOptions common;
  StoreOptions o;
  flags::FlagSet set("store", "Run the etcd v3 compatible store (SQLite) alone.");
  add_common_flags(set, common);
  set.add("listen-client-urls", &o.listen_client_urls, "URLs to serve etcd v3 gRPC on (http://, https://, unix://, unixs://)");
  set.add("advertise-client-urls", &o.advertise_client_urls, "client URLs MemberList reports (default: the listen URLs)");
  set.add("data-dir", &o.data_dir, "directory of the database");
  set.add("name", &o.name, "member name");
  set.add("auto-compaction-mode", &o.auto_compaction_mode, "periodic|revision");
  set.add("auto-compaction-retention", &o.auto_compaction_retention,
          "periodic: duration (5m, 1h) or hours; revision: revisions to keep; 0 = off");
  set.add("cert-file", &o.cert_file, "TLS certificate for https:// and unixs:// URLs");
  set.add("key-file", &o.key_file, "TLS private key");
  set.add("trusted-ca-file", &o.trusted_ca_file, "CA bundle that client certificates must chain to");
  set.add("client-cert-auth", &o.client_cert_auth, "require a client certificate signed by --trusted-ca-file");
  set.add("durability", &o.durability, "strict (fsync per group commit) | relaxed (survives kill -9, not power loss)");
  set.add("max-request-bytes", &o.max_request_bytes, "largest write request accepted");
  set.add("max-txn-ops", &o.max_txn_ops, "most operations in one txn");
  set.add("worker-threads", &o.worker_threads, "most threads running blocking store calls (grows on demand)");
  std::string restore;
  set.add("restore-snapshot", &restore,
          "a file from `etcdctl snapshot save` to start from (checked; --data-dir must hold no store yet)");
  if (int rc = parse_or_exit(set, common, args); rc >= 0) return rc;
  auto log = log::logger("store");

  store::SqliteStoreOptions so{.data_dir = o.data_dir,
                               .max_request_bytes = o.max_request_bytes,
                               .max_txn_ops = o.max_txn_ops};
  if (o.durability == "relaxed") {
    so.durability = store::Durability::kRelaxed;
  } else if (o.durability != "strict") {
    std::fprintf(stderr, "kedge: --durability=%s: want strict or relaxed\n", o.durability.c_str());
    return 2;
  }
  if (auto st = apply_compaction(o, so); !st.ok()) {
    std::fprintf(stderr, "kedge: %s\n", st.message().c_str());
    return 2;
  }
  if (!restore.empty()) {
    if (auto st = store::restore_snapshot(restore, o.data_dir); !st.ok()) {
      log->critical("{}", st.to_string());
      return 1;
    }
    log->info("restored {} into {}", restore, o.data_dir);
  }
  // At most 8 malloc arenas (glibc's default is 8 per core). Session 7 set
  // 2 to save RSS under grpc++'s threads (43.2 -> 36.5 MB), but with two the
  // transport loop and the store's writer share one arena about half the
  // time, and then fight over its lock on every allocation: at 256 clients
  // ~6 futex calls per put, 43 instead of 13-16 µs of server CPU, a third of
  // the puts/s (bench/README, session 9). 8 keeps the busy threads apart for
  // ~5 MB more RSS.
  ::mallopt(M_ARENA_MAX, 8);
  auto store = store::SqliteStore::open(so);
  if (!store.ok()) {
    log->critical("cannot open the store: {}", store.status().to_string());
    return 1;
  }
  auto ids = load_ids(o.data_dir);
  if (!ids.ok()) {
    log->critical("{}", ids.status().to_string());
    return 1;
  }
  auto server = store::EtcdServer::start(
      **store, store::EtcdServerOptions{
                   .listen_client_urls = o.listen_client_urls,
                   .advertise_client_urls = o.advertise_client_urls,
                   .tls = {.cert_file = o.cert_file,
                           .key_file = o.key_file,
                           .trusted_ca_file = o.trusted_ca_file,
                           .client_cert_auth = o.client_cert_auth},
                   .name = o.name,
                   .cluster_id = ids->first,
                   .member_id = ids->second,
                   .max_request_bytes = o.max_request_bytes,
                   .max_txn_ops = o.max_txn_ops,
                   .worker_threads = static_cast<int>(o.worker_threads),
               });
  if (!server.ok()) {
    log->critical("cannot serve: {}", server.status().to_string());
    return 1;
  }
  log->info("kedge store ready (data dir {}, durability {})", o.data_dir, o.durability);
  const int sig = signals::wait_for_termination(std::chrono::seconds(10));
  log->info("signal {}: draining", sig);
  (*server)->shutdown(std::chrono::seconds(2));
  server->reset();
  store->reset();
  log->info("stopped");
  return 0;
}

}  // namespace kedge::cmd

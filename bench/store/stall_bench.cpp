// store_stall_bench: how long a put waits while the SQLite core compacts.
//
//   store_stall_bench [--revisions 100000] [--keys 1000] [--value-size 256]
//                     [--writers 4] [--dir /tmp/x] [--defragment]
//   store_stall_bench --write-path N [--seconds 10] [--page-size 4096] [--value-size 256]
//
// --write-path: where the bytes of a put go instead. N closed-loop writers,
// each rewriting its own key (as bench/store's put_cN), on a fresh strict
// store for --seconds; prints puts, commits, WAL frames per commit, WAL bytes
// per put and what the process wrote to disk per put (/proc/self/io
// write_bytes: WAL + checkpoints into the database file).
//
// 1. Fills a fresh store (relaxed durability, only to fill faster) with
//    `revisions` puts over `keys` keys.
// 2. Reopens it with strict durability (fsync per group commit) and runs
//    `writers` closed-loop put threads (one key each) for a baseline of 3 s.
// 3. Compacts at the current revision (≈ `revisions` revisions of history
//    to delete) and keeps the writers running until physical compaction,
//    incremental vacuum and the WAL checkpoint are done (and, with
//    --defragment, a full defragment after that).
// Prints "metric value" lines: put latency p50/p99/p99.9/max in both phases,
// how long the maintenance took, and the store's own longest writer turns.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kedge/store/sqlite_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using kedge::store::SqliteStore;
using kedge::store::SqliteStoreOptions;

struct Args {
  int revisions = 100000;
  int keys = 1000;
  int value_size = 256;
  int writers = 4;
  std::string dir;
  bool defragment = false;
  int write_path = 0;
  int seconds = 10;
  int page_size = 4096;
  int batch_rows = SqliteStoreOptions{}.compaction_batch_rows;
  int vacuum_pages = SqliteStoreOptions{}.defragment_step_pages;
};

std::int64_t write_bytes() {
  FILE* f = std::fopen("/proc/self/io", "r");
  if (!f) return 0;
  char line[128];
  long long v = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::sscanf(line, "write_bytes: %lld", &v) == 1) break;
  }
  std::fclose(f);
  return v;
}

std::unique_ptr<SqliteStore> open_store(const Args& a, kedge::store::Durability durability) {
  SqliteStoreOptions o;
  o.data_dir = a.dir;
  o.durability = durability;
  o.page_size = a.page_size;
  o.compaction_batch_rows = a.batch_rows;
  o.defragment_step_pages = a.vacuum_pages;
  auto store = SqliteStore::open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(store).value();
}

void fill(const Args& a) {
  auto store = open_store(a, kedge::store::Durability::kRelaxed);
  const std::string value(static_cast<std::size_t>(a.value_size), 'v');
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < a.revisions; i = next++) {
        kedge::store::PutRequest p;
        p.key = "key/" + std::to_string(i % a.keys);
        p.value = value;
        if (!store->put(p).ok()) std::exit(1);
      }
    });
  }
  for (auto& t : threads) t.join();
}

// Put latencies (µs) of `writers` threads until `done` turns true.
std::vector<std::int64_t> measure(SqliteStore& store, const Args& a, const std::atomic<bool>& done) {
  std::vector<std::vector<std::int64_t>> per(static_cast<std::size_t>(a.writers));
  std::vector<std::thread> threads;
  const std::string value(static_cast<std::size_t>(a.value_size), 'w');
  for (int t = 0; t < a.writers; ++t) {
    threads.emplace_back([&, t] {
      kedge::store::PutRequest p;
      p.key = "writer/" + std::to_string(t);
      p.value = value;
      while (!done) {
        const auto start = Clock::now();
        if (!store.put(p).ok()) std::exit(1);
        per[static_cast<std::size_t>(t)].push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::int64_t> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  return all;
}

int write_path(const Args& a) {
  auto store = open_store(a, kedge::store::Durability::kStrict);
  Args w = a;
  w.writers = a.write_path;
  std::atomic<bool> done{false};
  const auto s0 = store->stats();
  const std::int64_t b0 = write_bytes();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::seconds(a.seconds));
    done = true;
  });
  const auto lat = measure(*store, w, done);
  stopper.join();
  const auto s1 = store->stats();
  const double puts = static_cast<double>(lat.size());
  const double commits = static_cast<double>(s1.commits - s0.commits);
  const double frames = static_cast<double>(s1.wal_frames - s0.wal_frames);
  std::printf("page_size %d\nwriters %d\nputs_per_s %.0f\n", a.page_size, a.write_path, puts / a.seconds);
  std::printf("puts_per_commit %.1f\n", puts / std::max(1.0, commits));
  std::printf("wal_frames_per_commit %.1f\n", frames / std::max(1.0, commits));
  std::printf("wal_bytes_per_put %.0f\n", frames * (a.page_size + 24) / std::max(1.0, puts));
  std::printf("disk_bytes_per_put %.0f\n", static_cast<double>(write_bytes() - b0) / std::max(1.0, puts));
  return 0;
}

void report(const char* phase, const std::vector<std::int64_t>& lat) {
  if (lat.empty()) return;
  auto at = [&](double q) {
    return static_cast<double>(lat[std::min(lat.size() - 1, static_cast<std::size_t>(q * static_cast<double>(lat.size())))]) / 1000.0;
  };
  std::printf("%s_puts %zu\n", phase, lat.size());
  std::printf("%s_put_p50_ms %.3f\n", phase, at(0.5));
  std::printf("%s_put_p99_ms %.3f\n", phase, at(0.99));
  std::printf("%s_put_p999_ms %.3f\n", phase, at(0.999));
  std::printf("%s_put_max_ms %.3f\n", phase, static_cast<double>(lat.back()) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--write-path" && i + 1 < argc) {
      a.write_path = std::stoi(argv[++i]);
      continue;
    }
    if (k == "--defragment") {
      a.defragment = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "store_stall_bench: %s needs a value\n", k.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (k == "--revisions") a.revisions = std::stoi(v);
    else if (k == "--keys") a.keys = std::stoi(v);
    else if (k == "--value-size") a.value_size = std::stoi(v);
    else if (k == "--writers") a.writers = std::stoi(v);
    else if (k == "--dir") a.dir = v;
    else if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--page-size") a.page_size = std::stoi(v);
    else if (k == "--batch-rows") a.batch_rows = std::stoi(v);
    else if (k == "--vacuum-pages") a.vacuum_pages = std::stoi(v);
    else {
      std::fprintf(stderr, "store_stall_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const bool own_dir = a.dir.empty();
  if (own_dir) a.dir = (std::filesystem::temp_directory_path() / ("kedge-stall-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(a.dir);
  if (a.write_path > 0) {
    const int rc = write_path(a);
    if (own_dir) std::filesystem::remove_all(a.dir);
    return rc;
  }
  const auto fill_start = Clock::now();
  fill(a);
  std::printf("fill_seconds %.1f\n", std::chrono::duration<double>(Clock::now() - fill_start).count());

  auto store = open_store(a, kedge::store::Durability::kStrict);
  std::atomic<bool> done{false};
  {
    std::thread stopper([&] {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      done = true;
    });
    report("baseline", measure(*store, a, done));
    stopper.join();
  }
  done = false;
  const auto before = store->stats();
  std::vector<std::int64_t> lat;
  std::thread writers([&] { lat = measure(*store, a, done); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start = Clock::now();
  auto status = store->status();
  if (!status.ok() || !store->compact(status->revision, false).ok()) return 1;
  if (!store->wait_compacted().ok()) return 1;
  const double compact_s = std::chrono::duration<double>(Clock::now() - start).count();
  double defrag_s = 0;
  if (a.defragment) {
    const auto d = Clock::now();
    if (!store->defragment().ok()) return 1;
    defrag_s = std::chrono::duration<double>(Clock::now() - d).count();
  }
  done = true;
  writers.join();
  const auto after = store->stats();
  std::printf("compacted_revisions %lld\n", static_cast<long long>(status->revision));
  std::printf("compaction_seconds %.2f\n", compact_s);
  if (a.defragment) std::printf("defragment_seconds %.2f\n", defrag_s);
  report("during", lat);
  std::printf("rows_deleted %lld\n", static_cast<long long>(after.compaction_rows_deleted - before.compaction_rows_deleted));
  std::printf("compaction_steps %lld\n", static_cast<long long>(after.compaction_steps - before.compaction_steps));
  std::printf("max_compaction_step_ms %.3f\n", static_cast<double>(after.max_compaction_step_us) / 1000.0);
  std::printf("max_maintenance_turn_ms %.3f\n", static_cast<double>(after.max_maintenance_us) / 1000.0);
  std::printf("max_commit_ms %.3f\n", static_cast<double>(after.max_commit_us) / 1000.0);
  store.reset();
  if (own_dir) std::filesystem::remove_all(a.dir);
  return 0;
}

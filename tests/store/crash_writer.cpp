// A store client for the crash test: several writer threads put unique keys
// (some in multi-op txns) and print "ACK <key> <revision>" for every write
// the store acknowledged, line-buffered, until the test SIGKILLs it.
//
// usage: store_crash_writer DATA_DIR THREADS
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kedge/store/sqlite_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR THREADS\n", argv[0]);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  kedge::store::SqliteStoreOptions options;
  options.data_dir = argv[1];
  // Compaction runs during the crashes too.
  options.auto_compaction_retention_revisions = 500;
  options.auto_compaction_interval = std::chrono::milliseconds(50);
  options.compaction_batch_rows = 100;
  auto store = kedge::store::SqliteStore::open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().to_string().c_str());
    return 1;
  }
  const int threads = std::atoi(argv[2]);
  const std::string run = std::to_string(::getpid());
  std::mutex out;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (long i = 0;; ++i) {
        const std::string base = "crash/" + run + "/" + std::to_string(t) + "/" + std::to_string(i);
        if (i % 5 == 4) {
          kedge::store::TxnRequest txn;
          for (const char* suffix : {"a", "b", "c"}) {
            kedge::store::PutRequest put;
            put.key = base + suffix;
            put.value = put.key;
            txn.success.push_back({put});
          }
          auto r = (*store)->txn(txn);
          if (!r.ok()) continue;
          std::lock_guard lock(out);
          for (const char* suffix : {"a", "b", "c"}) std::printf("ACK %s%s %lld\n", base.c_str(), suffix, static_cast<long long>(r->revision));
        } else {
          kedge::store::PutRequest put;
          put.key = base;
          put.value = base;
          auto r = (*store)->put(put);
          if (!r.ok()) continue;
          std::lock_guard lock(out);
          std::printf("ACK %s %lld\n", base.c_str(), static_cast<long long>(r->revision));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

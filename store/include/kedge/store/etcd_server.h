// EtcdServer: serves a kedge::store::Store as an etcd v3 gRPC endpoint
// (etcdserverpb.KV, Watch, Lease, Maintenance, Cluster, plus gRPC health), so
// etcdctl, clientv3 and kube-apiserver talk to kedge's store as to etcd 3.4.
//
// Threads: one event-loop thread runs the gRPC transport (rpc_server.h: gRPC
// over HTTP/2 on libnghttp2, not grpc++) and calls the services' handlers,
// which never block; every blocking Store call runs on this server's worker
// pool (`worker_threads`) or the store's own write queue. Watch events arrive
// on the store's notifier thread and are only queued there. A progress
// ticker thread sends `progress_notify` notifications.
//
// Thread-safety: start() and the destructor from one thread; client_urls()
// from any thread. Ownership: the server borrows `store`, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/store/kv.h"

namespace kedge::store {

struct EtcdTlsOptions {
  std::string cert_file;        // PEM server certificate (chain)
  std::string key_file;         // PEM private key
  std::string trusted_ca_file;  // PEM CA bundle that client certificates must chain to
  bool client_cert_auth = false;
};

struct EtcdServerOptions {
  // etcd spelling: http://host:port, https://host:port (TLS), unix://path,
  // unixs://path (TLS over a unix socket). Port 0 picks a free port.
  std::vector<std::string> listen_client_urls;
  // What MemberList advertises; empty = the bound listen URLs.
  std::vector<std::string> advertise_client_urls;
  EtcdTlsOptions tls;  // required when a URL is https:// or unixs://
  std::string name = "default";
  std::uint64_t cluster_id = 0;  // REQUIRES: nonzero (etcd never sends 0)
  std::uint64_t member_id = 0;   // REQUIRES: nonzero
  // Reported by Maintenance.Status. kube-apiserver enables its consistent
  // list-from-cache for >= 3.4.31, which needs correct progress notifications.
  std::string version = "3.4.31";
  // etcd's --max-request-bytes: larger write requests fail with
  // "etcdserver: request is too large"; gRPC refuses messages beyond this
  // plus 512 KiB of framing allowance, as etcd does.
  std::int64_t max_request_bytes = 1572864;
  std::int64_t max_txn_ops = 128;  // etcd's --max-txn-ops
  // Most threads running blocking Store calls (the pool starts with 4 and
  // grows while every thread is busy). Concurrent writes beyond this wait in
  // a queue, so one group commit carries at most this many client writes.
  int worker_threads = 64;
  // How often watches created with progress_notify get an empty response (etcd: 10 min).
  std::chrono::milliseconds progress_notify_interval = std::chrono::minutes(10);
  // Queued watch responses per stream beyond which the stream is ended with
  // RESOURCE_EXHAUSTED (a client this slow would otherwise grow memory
  // without bound); the client's watch then re-establishes from its revision.
  std::int64_t max_watch_queue_bytes = 64 << 20;
};

class EtcdServer {
 public:
  // Binds every listen URL and starts serving. Errors name the URL or file at fault.
  static Result<std::unique_ptr<EtcdServer>> start(Store& store, EtcdServerOptions options);

  // Stops accepting, lets in-flight unary calls finish for up to `grace`,
  // then cancels the rest (watch and keep-alive streams end). Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(2));

  // Calls shutdown() if not done yet.
  ~EtcdServer();

  // The URLs actually bound (port 0 resolved), in listen order.
  std::vector<std::string> client_urls() const;

  struct Impl;

 private:
  explicit EtcdServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Restores a file written by `etcdctl snapshot save` from a kedge store (the
// store's database followed by etcd's 32-byte sha256 trailer, see
// Maintenance.Snapshot) into <data_dir>/store.db. Errors: DataLoss when the
// checksum is missing or wrong; AlreadyExists when data_dir already holds a
// store (never overwritten); Unavailable for I/O errors.
Status restore_snapshot(const std::filesystem::path& file, const std::filesystem::path& data_dir);

}  // namespace kedge::store

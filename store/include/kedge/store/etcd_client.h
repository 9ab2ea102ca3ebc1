// EtcdStore: the Store interface over a real etcd v3 cluster (gRPC), so
// edge-control can keep its state in an external etcd
// (`--datastore-endpoint https://etcd:2379`) when one box is not enough.
//
// Endpoints are tried in order; a call that fails with UNAVAILABLE moves to
// the next endpoint and is retried once there (reads only: a write that may
// have been applied is never replayed, the caller gets UNAVAILABLE).
//
// Threads: each Watch owns one reader thread that runs its observer (the
// "notifier thread" of kv.h for this implementation). Everything else runs on
// the caller's thread and blocks until etcd answers or `request_timeout`.
//
// Thread-safety: every method may be called concurrently (see kv.h).
// Ownership: connect() returns the sole owner; every Watch must be destroyed
// before the EtcdStore.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kedge/base/status.h"
#include "kedge/store/kv.h"

namespace kedge::store {

struct EtcdClientOptions {
  // http://host:port, https://host:port or unix://path (etcd's spelling).
  std::vector<std::string> endpoints;
  // TLS (https:// endpoints): CA bundle to verify the server; a client
  // certificate and key when the server asks for one (--client-cert-auth).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds dial_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
};

class EtcdStore final : public Store {
 public:
  // Connects to the first reachable endpoint (within dial_timeout each).
  // Errors: InvalidArgument for a bad URL or unreadable TLS file,
  // Unavailable when no endpoint answers.
  static Result<std::unique_ptr<EtcdStore>> connect(const EtcdClientOptions& options);

  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  Result<RangeResponse> range(const RangeRequest& request) override;
  Result<PutResponse> put(const PutRequest& request) override;
  Result<DeleteRangeResponse> delete_range(const DeleteRangeRequest& request) override;
  Result<TxnResponse> txn(const TxnRequest& request) override;
  Result<CompactResponse> compact(Revision revision, bool physical) override;
  Result<std::unique_ptr<Watch>> watch(const WatchRequest& request, WatchObserver& observer) override;
  Result<LeaseGrantResponse> lease_grant(std::int64_t ttl_seconds, LeaseId id) override;
  Result<Revision> lease_revoke(LeaseId id) override;
  Result<std::int64_t> lease_keep_alive(LeaseId id) override;
  Result<LeaseTimeToLiveResponse> lease_time_to_live(LeaseId id, bool with_keys) override;
  Result<std::vector<LeaseId>> lease_list() override;
  // compact_revision is reported as 0: etcd's Status RPC does not carry it.
  Result<StoreStatus> status() override;

  struct Impl;

 private:
  explicit EtcdStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::store

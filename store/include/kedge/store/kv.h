// The store interface: etcd v3 semantics behind a C++ API.
//
// Two implementations: the embedded SQLite store (store/sqlite_store.h) and
// a client of a real etcd cluster (store/etcd_client.h). edge-control holds a
// `Store&` and never knows which one it has.
//
// Thread-safety: every method may be called from any thread concurrently.
// Blocking: the request methods block the caller until the operation is
// durable (writes) or answered (reads), so they must run on a worker thread,
// never on an event loop. Watch callbacks run on the store's own notifier
// thread and must not block (post to your own loop).
//
// Errors are kedge::Status with etcd's gRPC code and etcd's exact message
// text (clientv3 matches on the string), e.g.
//   OutOfRange      "etcdserver: mvcc: required revision has been compacted"
//   OutOfRange      "etcdserver: mvcc: required revision is a future revision"
//   InvalidArgument "etcdserver: duplicate key given in txn request"
//   NotFound        "etcdserver: requested lease not found"
//   InvalidArgument "etcdserver: request is too large"
// See store/README.md for the full table.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "kedge/base/status.h"
#include "kedge/store/types.h"

namespace kedge::store {

// What a watcher is told, on the store's notifier thread, in revision order.
class WatchObserver {
 public:
  virtual ~WatchObserver() = default;
  // Events of one or more revisions; `header_revision` is the store revision
  // when they were sent. Empty `events` = progress notification.
  virtual void on_events(Revision header_revision, std::span<const Event> events) = 0;
  // The watch ended and will send nothing more: compaction past its start
  // (`compact_revision` > 0, as etcd's canceled reply), the watcher fell too
  // far behind, or the store is shutting down. Called at most once.
  virtual void on_canceled(const Status& reason, Revision compact_revision) = 0;
};

// A live watch; destroying it cancels the watch. After the destructor
// returns, the observer is never called again.
class Watch {
 public:
  virtual ~Watch() = default;
  // Asks for a progress notification (empty on_events) at the current revision.
  virtual void request_progress() = 0;
};

// A consistent copy of the whole store (Maintenance.Snapshot), read in
// chunks by one thread. The copy was taken when the reader was created;
// writes after that are not in it. Destroying the reader frees the copy.
class SnapshotReader {
 public:
  virtual ~SnapshotReader() = default;
  // Total bytes of the copy.
  virtual std::int64_t size() const = 0;
  // The next up to `max` bytes; empty once everything was read.
  virtual Result<std::string> read(std::size_t max) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<RangeResponse> range(const RangeRequest& request) = 0;
  virtual Result<PutResponse> put(const PutRequest& request) = 0;
  virtual Result<DeleteRangeResponse> delete_range(const DeleteRangeRequest& request) = 0;
  virtual Result<TxnResponse> txn(const TxnRequest& request) = 0;

  // Writes that answer later, for callers that must not block (the etcd
  // front's gRPC reactors). A store that queues writes itself takes `done`
  // and returns true: `done` then runs exactly once, on a store thread after
  // the commit (or before this returns, for a request refused up front), and
  // must not block. false (the default, and a read-only Txn, which needs a
  // blocking read) leaves `done` untouched: the caller runs the blocking
  // method on a thread that may block.
  template <typename T>
  using Done = std::function<void(Result<T>)>;
  virtual bool try_put_async(const PutRequest& /*request*/, Done<PutResponse>& /*done*/) { return false; }
  virtual bool try_delete_range_async(const DeleteRangeRequest& /*request*/, Done<DeleteRangeResponse>& /*done*/) {
    return false;
  }
  virtual bool try_txn_async(const TxnRequest& /*request*/, Done<TxnResponse>& /*done*/) { return false; }
  // Drops history at revisions below `revision`. `physical` waits until the
  // space is reclaimed.
  virtual Result<CompactResponse> compact(Revision revision, bool physical) = 0;

  // `observer` must outlive the returned Watch. Starting at a compacted
  // revision still returns a Watch, whose observer is canceled at once with
  // compact_revision set (as etcd does on the wire).
  virtual Result<std::unique_ptr<Watch>> watch(const WatchRequest& request,
                                               WatchObserver& observer) = 0;

  // `id` 0 = the store picks one.
  virtual Result<LeaseGrantResponse> lease_grant(std::int64_t ttl_seconds, LeaseId id) = 0;
  // Deletes the lease and every key attached to it, in one revision.
  virtual Result<Revision> lease_revoke(LeaseId id) = 0;
  // Renews the lease to its granted TTL; returns that TTL.
  virtual Result<std::int64_t> lease_keep_alive(LeaseId id) = 0;
  virtual Result<LeaseTimeToLiveResponse> lease_time_to_live(LeaseId id, bool with_keys) = 0;
  virtual Result<std::vector<LeaseId>> lease_list() = 0;

  virtual Result<StoreStatus> status() = 0;

  // Maintenance (etcd's Maintenance service). An implementation that cannot
  // do one answers Unimplemented, never a fake success.
  //
  // Returns free space to the file system.
  virtual Status defragment() { return unimplemented("store: defragment is not supported here"); }
  // A consistent copy of the whole store, which a store can be started from.
  virtual Result<std::unique_ptr<SnapshotReader>> snapshot() {
    return unimplemented("store: snapshot is not supported here");
  }
  // A hash of the MVCC keyspace at `revision` (0 = current): every change
  // after the compaction point plus each key's surviving version at it.
  // Equal on two stores with the same history; stable across restarts and
  // physical compaction. Errors: compacted / future revision, as Range.
  virtual Result<HashResponse> hash_kv(Revision revision) {
    (void)revision;
    return unimplemented("store: hash_kv is not supported here");
  }
  // A hash of everything stored, history included, as it lies on disk now
  // (changes as physical compaction proceeds; for tests, as etcd's Hash).
  virtual Result<HashResponse> hash() { return unimplemented("store: hash is not supported here"); }
};

}  // namespace kedge::store

// EtcdStore: kedge::store::Store over etcd v3 gRPC (see etcd_client.h).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "convert.h"
#include "errors.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "kedge/base/log.h"
#include "kedge/store/etcd_client.h"

namespace kedge::store {

namespace {

using etcd::from_grpc;
using etcd::from_pb;
using etcd::to_pb;

struct Endpoint {
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(std::string("cannot read ") + what + " \"" + path + "\"");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Endpoint> make_endpoint(const std::string& url, const EtcdClientOptions& o) {
  Endpoint e{.url = url, .channel = {}, .kv = {}, .lease = {}, .maintenance = {}, .watch = {}};
  std::shared_ptr<grpc::ChannelCredentials> creds;
  std::string target;
  if (url.starts_with("http://")) {
    target = url.substr(7);
    creds = grpc::InsecureChannelCredentials();
  } else if (url.starts_with("https://")) {
    target = url.substr(8);
    grpc::SslCredentialsOptions ssl;
    if (!o.ca_file.empty()) {
      KEDGE_ASSIGN_OR_RETURN(ssl.pem_root_certs, read_file(o.ca_file, "CA file"));
    }
    if (!o.cert_file.empty()) {
      KEDGE_ASSIGN_OR_RETURN(ssl.pem_cert_chain, read_file(o.cert_file, "client certificate"));
      KEDGE_ASSIGN_OR_RETURN(ssl.pem_private_key, read_file(o.key_file, "client key"));
    }
    creds = grpc::SslCredentials(ssl);
  } else if (url.starts_with("unix://")) {
    target = "unix:" + url.substr(7);
    creds = grpc::InsecureChannelCredentials();
  } else {
    return invalid_argument("etcd endpoint \"" + url + "\": want http://, https:// or unix://");
  }
  while (!target.empty() && target.back() == '/') target.pop_back();
  if (target.empty()) return invalid_argument("etcd endpoint \"" + url + "\" has no address");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // etcd sends responses of any size
  e.channel = grpc::CreateCustomChannel(target, creds, args);
  e.kv = etcdserverpb::KV::NewStub(e.channel);
  e.lease = etcdserverpb::Lease::NewStub(e.channel);
  e.maintenance = etcdserverpb::Maintenance::NewStub(e.channel);
  e.watch = etcdserverpb::Watch::NewStub(e.channel);
  return e;
}

constexpr const char* kErrCompacted = "etcdserver: mvcc: required revision has been compacted";

// Picks the watch stub for a (re)connection; `attempt` > 0 after a failure
// moves on to the next endpoint.
using WatchStubPicker = std::function<etcdserverpb::Watch::Stub&(int attempt)>;

// One etcd watch stream per Watch; its reader thread calls the observer.
// When the stream breaks (etcd restarted, connection lost, endpoint gone) the
// reader re-creates the watch from the revision after the last one delivered,
// as clientv3 does, retrying with backoff until it succeeds or the Watch is
// destroyed; a resume below etcd's compaction point ends the watch with the
// compacted error and compact_revision, so the caller relists.
class ClientWatch final : public Watch {
 public:
  ClientWatch(WatchStubPicker pick, const WatchRequest& request, WatchObserver& observer)
      : pick_(std::move(pick)), request_(request), observer_(observer) {}

  ~ClientWatch() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (ctx_) ctx_->TryCancel();
    }
    stop_cv_.notify_all();
    if (reader_.joinable()) reader_.join();
  }

  // Sends the create request and waits for etcd's "created" reply.
  Status start() {
    auto created = create(0, request_.start_revision);
    if (!created.ok()) return created.status();
    if (created->canceled()) return invalid_argument(created->cancel_reason());
    // etcd starts a watch without a revision after its current one.
    next_revision_ = request_.start_revision != 0 ? request_.start_revision : created->header().revision() + 1;
    reader_ = std::thread([this] { read_loop(); });
    return ok_status();
  }

  void request_progress() override {
    etcdserverpb::WatchRequest req;
    req.mutable_progress_request();
    std::lock_guard lock(mu_);
    if (stream_) stream_->Write(req);
  }

 private:
  using Stream = grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

  static Status from_grpc_or(const grpc::Status& st, const char* fallback) {
    if (!st.ok()) return from_grpc(st);
    return unavailable(fallback);
  }

  // Opens a stream and creates the watch from `revision`; returns etcd's
  // first reply (created, or canceled when etcd refused it).
  Result<etcdserverpb::WatchResponse> create(int attempt, Revision revision) {
    etcdserverpb::WatchRequest req;
    auto* c = req.mutable_create_request();
    c->set_key(request_.key);
    c->set_range_end(request_.range_end);
    c->set_start_revision(revision);
    c->set_prev_kv(request_.prev_kv);
    if (request_.filter_noput) c->add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
    if (request_.filter_nodelete) c->add_filters(etcdserverpb::WatchCreateRequest::NODELETE);
    Stream* stream;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return cancelled("watch destroyed");
      stream_.reset();  // a stream goes before its context
      ctx_ = std::make_unique<grpc::ClientContext>();
      stream_ = pick_(attempt).Watch(ctx_.get());
      stream = stream_.get();
    }
    etcdserverpb::WatchResponse resp;
    bool ok;
    {
      std::lock_guard lock(mu_);
      ok = stream->Write(req);
    }
    ok = ok && stream->Read(&resp);
    if (!ok) return from_grpc_or(stream->Finish(), "etcd closed the watch stream");
    if (!resp.created()) return internal_error("etcd answered a watch create without created=true");
    if (resp.canceled()) {
      stream->WritesDone();
      std::lock_guard lock(mu_);
      ctx_->TryCancel();
      stream->Finish().ok();  // the stream ends with the refusal above
    }
    return resp;
  }

  // Errors after which a new stream may work; anything else (auth, a bad
  // request) ends the watch.
  static bool retryable(const Status& st) {
    switch (st.code()) {
      case Code::kUnavailable:
      case Code::kInternal:
      case Code::kUnknown:
      case Code::kCancelled:
      case Code::kDeadlineExceeded:
      case Code::kResourceExhausted:
      case Code::kAborted:
        return true;
      default:
        return false;
    }
  }

  // Delivers one stream's responses; returns why it ended, or OK with
  // `finished` set when the watch ended for good.
  Status pump(bool& finished) {
    etcdserverpb::WatchResponse resp;
    std::vector<Event> events;
    while (stream_->Read(&resp)) {
      if (resp.canceled()) {
        finished = true;
        if (stopping_) return {};
        if (resp.compact_revision() != 0) {
          observer_.on_canceled(out_of_range(kErrCompacted), resp.compact_revision());
        } else {
          observer_.on_canceled(cancelled(resp.cancel_reason().empty() ? "watch canceled by etcd"
                                                                       : resp.cancel_reason()),
                                0);
        }
        return {};
      }
      events.clear();
      for (const auto& e : resp.events()) {
        events.push_back(from_pb(e));
        next_revision_ = std::max(next_revision_, e.kv().mod_revision() + 1);
      }
      // An empty response is a progress notification: every event up to its
      // header revision was delivered.
      if (resp.events_size() == 0) next_revision_ = std::max(next_revision_, resp.header().revision() + 1);
      observer_.on_events(resp.header().revision(), events);
    }
    return from_grpc_or(stream_->Finish(), "etcd closed the watch stream");
  }

  void read_loop() {
    auto backoff = std::chrono::milliseconds(100);
    for (int attempt = 1;; ++attempt) {
      bool finished = false;
      Status ended = pump(finished);
      if (finished || stopping_) return;
      if (!retryable(ended)) {
        observer_.on_canceled(ended, 0);
        return;
      }
      log::logger("store")->warn("etcd watch stream ended ({}); resuming from revision {}", ended.to_string(),
                                 next_revision_);
      // Re-create the watch, moving through the endpoints, until it works.
      while (true) {
        {
          std::unique_lock lock(mu_);
          stop_cv_.wait_for(lock, backoff, [&] { return stopping_.load(); });
          if (stopping_) return;
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        auto created = create(attempt++, next_revision_);
        if (created.ok() && created->canceled()) {
          if (created->compact_revision() != 0) {
            observer_.on_canceled(out_of_range(kErrCompacted), created->compact_revision());
          } else {
            observer_.on_canceled(cancelled(created->cancel_reason()), 0);
          }
          return;
        }
        if (created.ok()) break;
        if (stopping_) return;
        if (!retryable(created.status())) {
          observer_.on_canceled(created.status(), 0);
          return;
        }
      }
      log::logger("store")->info("etcd watch resumed from revision {}", next_revision_);
      backoff = std::chrono::milliseconds(100);
    }
  }

  WatchStubPicker pick_;
  const WatchRequest request_;
  WatchObserver& observer_;
  // The reader thread replaces ctx_/stream_ on reconnect; mu_ guards the
  // swap, writes on the stream and stopping_ against the destructor.
  std::mutex mu_;
  std::condition_variable stop_cv_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<Stream> stream_;
  std::atomic<bool> stopping_{false};
  Revision next_revision_ = 0;  // reader thread (and start() before it)
  std::thread reader_;
};

}  // namespace

struct EtcdStore::Impl {
  EtcdClientOptions options;
  std::vector<Endpoint> endpoints;
  std::atomic<std::size_t> current{0};

  Endpoint& endpoint() { return endpoints[current.load() % endpoints.size()]; }

  void set_deadline(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now() + options.request_timeout);
  }

  // Runs `rpc(endpoint, ctx)`; on UNAVAILABLE moves to the next endpoint and,
  // when `retry` (a read), runs it once more there.
  template <typename Rpc>
  Status call(Rpc rpc, bool retry) {
    for (int attempt = 0;; ++attempt) {
      const std::size_t used = current.load();
      grpc::ClientContext ctx;
      set_deadline(ctx);
      grpc::Status st = rpc(endpoints[used % endpoints.size()], ctx);
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE || endpoints.size() == 1) return from_grpc(st);
      std::size_t expected = used;
      current.compare_exchange_strong(expected, used + 1);
      if (!retry || attempt >= 1) return from_grpc(st);
    }
  }
};

Result<std::unique_ptr<EtcdStore>> EtcdStore::connect(const EtcdClientOptions& options) {
  if (options.endpoints.empty()) return invalid_argument("no etcd endpoint given");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (const auto& url : options.endpoints) {
    KEDGE_ASSIGN_OR_RETURN(auto e, make_endpoint(url, options));
    impl->endpoints.push_back(std::move(e));
  }
  for (std::size_t i = 0; i < impl->endpoints.size(); ++i) {
    auto deadline = std::chrono::system_clock::now() + options.dial_timeout;
    if (impl->endpoints[i].channel->WaitForConnected(deadline)) {
      impl->current = i;
      return std::unique_ptr<EtcdStore>(new EtcdStore(std::move(impl)));
    }
  }
  std::string all;
  for (const auto& u : options.endpoints) all += (all.empty() ? "" : ", ") + u;
  return unavailable("no etcd endpoint answered within the dial timeout: " + all);
}

EtcdStore::EtcdStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdStore::~EtcdStore() = default;

Result<RangeResponse> EtcdStore::range(const RangeRequest& request) {
  etcdserverpb::RangeRequest req;
  to_pb(request, &req);
  etcdserverpb::RangeResponse resp;
  KEDGE_RETURN_IF_ERROR(impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Range(&ctx, req, &resp); }, true));
  return from_pb(resp);
}

Result<PutResponse> EtcdStore::put(const PutRequest& request) {
  etcdserverpb::PutRequest req;
  to_pb(request, &req);
  etcdserverpb::PutResponse resp;
  KEDGE_RETURN_IF_ERROR(impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Put(&ctx, req, &resp); }, false));
  return from_pb(resp);
}

Result<DeleteRangeResponse> EtcdStore::delete_range(const DeleteRangeRequest& request) {
  etcdserverpb::DeleteRangeRequest req;
  to_pb(request, &req);
  etcdserverpb::DeleteRangeResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->DeleteRange(&ctx, req, &resp); }, false));
  return from_pb(resp);
}

Result<TxnResponse> EtcdStore::txn(const TxnRequest& request) {
  etcdserverpb::TxnRequest req;
  to_pb(request, &req);
  etcdserverpb::TxnResponse resp;
  KEDGE_RETURN_IF_ERROR(impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Txn(&ctx, req, &resp); }, false));
  return from_pb(resp);
}

Result<CompactResponse> EtcdStore::compact(Revision revision, bool physical) {
  etcdserverpb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(physical);
  etcdserverpb::CompactionResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Compact(&ctx, req, &resp); }, false));
  return CompactResponse{.revision = resp.header().revision()};
}

Result<std::unique_ptr<Watch>> EtcdStore::watch(const WatchRequest& request, WatchObserver& observer) {
  Impl* impl = impl_.get();
  auto pick = [impl](int attempt) -> etcdserverpb::Watch::Stub& {
    if (attempt > 0 && impl->endpoints.size() > 1) impl->current.fetch_add(1);
    return *impl->endpoint().watch;
  };
  auto w = std::make_unique<ClientWatch>(pick, request, observer);
  KEDGE_RETURN_IF_ERROR(w->start());
  return std::unique_ptr<Watch>(std::move(w));
}

Result<LeaseGrantResponse> EtcdStore::lease_grant(std::int64_t ttl_seconds, LeaseId id) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  req.set_id(id);
  etcdserverpb::LeaseGrantResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.lease->LeaseGrant(&ctx, req, &resp); }, false));
  if (!resp.error().empty()) return internal_error("etcd: " + resp.error());
  return LeaseGrantResponse{.revision = resp.header().revision(), .id = resp.id(), .ttl = resp.ttl()};
}

Result<Revision> EtcdStore::lease_revoke(LeaseId id) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(id);
  etcdserverpb::LeaseRevokeResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.lease->LeaseRevoke(&ctx, req, &resp); }, false));
  return resp.header().revision();
}

Result<std::int64_t> EtcdStore::lease_keep_alive(LeaseId id) {
  // etcd offers keep-alive only as a stream: one request, one answer.
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(id);
  etcdserverpb::LeaseKeepAliveResponse resp;
  bool answered = false;
  KEDGE_RETURN_IF_ERROR(impl_->call(
      [&](Endpoint& e, grpc::ClientContext& ctx) {
        auto stream = e.lease->LeaseKeepAlive(&ctx);
        answered = stream->Write(req) && stream->Read(&resp);
        stream->WritesDone();
        if (answered) ctx.TryCancel();  // etcd keeps the stream open; we are done with it
        auto st = stream->Finish();
        return answered ? grpc::Status::OK : st;
      },
      true));
  if (!answered) return unavailable("etcd closed the keep-alive stream without an answer");
  if (resp.ttl() <= 0) return not_found("etcdserver: requested lease not found");
  return resp.ttl();
}

Result<LeaseTimeToLiveResponse> EtcdStore::lease_time_to_live(LeaseId id, bool with_keys) {
  etcdserverpb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  req.set_keys(with_keys);
  etcdserverpb::LeaseTimeToLiveResponse resp;
  KEDGE_RETURN_IF_ERROR(impl_->call(
      [&](Endpoint& e, grpc::ClientContext& ctx) { return e.lease->LeaseTimeToLive(&ctx, req, &resp); }, true));
  LeaseTimeToLiveResponse out{.revision = resp.header().revision(),
                              .id = resp.id(),
                              .ttl = resp.ttl(),
                              .granted_ttl = resp.grantedttl(),
                              .keys = {}};
  for (const auto& k : resp.keys()) out.keys.push_back(k);
  return out;
}

Result<std::vector<LeaseId>> EtcdStore::lease_list() {
  etcdserverpb::LeaseLeasesRequest req;
  etcdserverpb::LeaseLeasesResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.lease->LeaseLeases(&ctx, req, &resp); }, true));
  std::vector<LeaseId> ids;
  for (const auto& l : resp.leases()) ids.push_back(l.id());
  return ids;
}

Result<StoreStatus> EtcdStore::status() {
  etcdserverpb::StatusRequest req;
  etcdserverpb::StatusResponse resp;
  KEDGE_RETURN_IF_ERROR(
      impl_->call([&](Endpoint& e, grpc::ClientContext& ctx) { return e.maintenance->Status(&ctx, req, &resp); }, true));
  return StoreStatus{.revision = resp.header().revision(),
                     .compact_revision = 0,
                     .db_size = resp.dbsize(),
                     .db_size_in_use = resp.dbsizeinuse()};
}

}  // namespace kedge::store

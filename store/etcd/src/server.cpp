// EtcdServer: binds the listen URLs, wires the services, runs the progress
// ticker, and drains on shutdown.
#include <condition_variable>
#include <thread>

#include "kedge/base/log.h"
#include "shared.h"

namespace kedge::store {

using etcd::Shared;
using etcd::WatchRegistry;
using etcd::WorkerPool;
namespace rpc = etcd::rpc;

namespace etcd {

void WatchRegistry::add(WatchStream* stream) {
  std::lock_guard lock(mu_);
  streams_.insert(stream);
}

void WatchRegistry::remove(WatchStream* stream) {
  std::lock_guard lock(mu_);
  streams_.erase(stream);
}

void WatchRegistry::for_each(const std::function<void(WatchStream&)>& fn) {
  std::lock_guard lock(mu_);
  for (auto* s : streams_) fn(*s);
}

Result<Revision> Shared::current_revision() const {
  KEDGE_ASSIGN_OR_RETURN(auto st, store.status());
  return st.revision;
}

void add_health_service(rpc::RpcServer& server) {
  // HealthCheckRequest is {string service = 1}; HealthCheckResponse is
  // {ServingStatus status = 1} with SERVING = 1. The whole server ("") is
  // the only service it knows, as grpc++'s default health service.
  static constexpr std::string_view kServing("\x08\x01", 2);
  auto whole_server = [](std::string_view request) { return request.empty() || request == std::string_view("\x0a\x00", 2); };
  server.add_unary("/grpc.health.v1.Health/Check", [whole_server](std::string_view request, const std::shared_ptr<rpc::Call>& call) {
    if (!whole_server(request)) {
      call->finish({rpc::RpcCode::kNotFound, "unknown service"});
      return;
    }
    call->reply(kServing);
  });
  server.add_stream("/grpc.health.v1.Health/Watch", [whole_server](const std::shared_ptr<rpc::Call>& call) {
    // One answer, then the stream stays open until the client goes or the server stops.
    rpc::Call* c = call.get();
    call->on_message = [c, whole_server](std::string_view request) {
      c->write(whole_server(request) ? kServing : std::string_view("\x08\x03", 2));  // 3: SERVICE_UNKNOWN
    };
  });
}

}  // namespace etcd

namespace {

struct ListenUrl {
  std::string url;  // as given
  rpc::Listener listener;
};

Result<ListenUrl> parse_listen_url(const std::string& url) {
  ListenUrl out{.url = url, .listener = {}};
  rpc::Listener& l = out.listener;
  std::string address;
  auto take = [&](std::string_view scheme) {
    if (url.starts_with(scheme)) {
      address = url.substr(scheme.size());
      return true;
    }
    return false;
  };
  if (take("http://")) {
  } else if (take("https://")) {
    l.tls = true;
  } else if (take("unix://")) {
    l.kind = rpc::Listener::Kind::kUnix;
  } else if (take("unixs://")) {
    l.kind = rpc::Listener::Kind::kUnix;
    l.tls = true;
  } else {
    return invalid_argument("listen URL \"" + url + "\": want http://, https://, unix:// or unixs://");
  }
  if (!address.empty() && address.back() == '/') address.pop_back();
  if (address.empty()) return invalid_argument("listen URL \"" + url + "\" has no address");
  if (l.kind == rpc::Listener::Kind::kUnix) {
    l.path = address;
    return out;
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || (address.front() == '[' && address.find(']', colon) != std::string::npos)) {
    return invalid_argument("listen URL \"" + url + "\" has no port");
  }
  l.host = address.substr(0, colon);
  if (l.host.size() >= 2 && l.host.front() == '[' && l.host.back() == ']') l.host = l.host.substr(1, l.host.size() - 2);
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    return invalid_argument("listen URL \"" + url + "\" has a bad port");
  }
  l.port = std::stoi(port);
  return out;
}

}  // namespace

struct EtcdServer::Impl {
  Impl(Store& s, EtcdServerOptions o)
      : options(std::move(o)),
        pool(4, options.worker_threads),
        shared{.store = s,
               .pool = pool,
               .options = options,
               .limits = {.max_request_bytes = options.max_request_bytes, .max_txn_ops = options.max_txn_ops},
               .watches = registry,
               .advertised_urls = {}} {}

  void ticker_loop() {
    std::unique_lock lock(ticker_mu);
    while (!stopping) {
      ticker_cv.wait_for(lock, options.progress_notify_interval);
      if (stopping) break;
      lock.unlock();
      registry.for_each([](etcd::WatchStream& s) { etcd::tick_progress(s); });
      lock.lock();
    }
  }

  const EtcdServerOptions options;
  WatchRegistry registry;
  WorkerPool pool;
  Shared shared;
  rpc::RpcServer server;
  std::vector<std::string> bound_urls;

  std::mutex ticker_mu;
  std::condition_variable ticker_cv;
  bool stopping = false;  // guarded by ticker_mu
  std::thread ticker;
  bool shut_down = false;
};

Result<std::unique_ptr<EtcdServer>> EtcdServer::start(Store& store, EtcdServerOptions options) {
  if (options.listen_client_urls.empty()) return invalid_argument("no listen client URL given");
  if (options.cluster_id == 0 || options.member_id == 0) return invalid_argument("cluster and member IDs must be nonzero");
  std::vector<ListenUrl> urls;
  for (const auto& u : options.listen_client_urls) {
    KEDGE_ASSIGN_OR_RETURN(auto parsed, parse_listen_url(u));
    urls.push_back(std::move(parsed));
  }
  auto impl = std::make_unique<Impl>(store, std::move(options));

  etcd::add_kv_service(impl->shared, impl->server);
  etcd::add_watch_service(impl->shared, impl->server);
  etcd::add_lease_service(impl->shared, impl->server);
  etcd::add_maintenance_service(impl->shared, impl->server);
  etcd::add_cluster_service(impl->shared, impl->server);
  etcd::add_health_service(impl->server);
  rpc::RpcServerOptions rpc_options{
      .listeners = {},
      .tls = impl->options.tls,
      // etcd accepts requests up to max-request-bytes plus 512 KiB of framing.
      .max_receive_bytes = static_cast<std::size_t>(impl->options.max_request_bytes) + 512 * 1024};
  for (const auto& u : urls) rpc_options.listeners.push_back(u.listener);
  KEDGE_RETURN_IF_ERROR(impl->server.bind(std::move(rpc_options)));
  const std::vector<int> ports = impl->server.bound_ports();
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::string bound = urls[i].url;
    if (urls[i].listener.kind == rpc::Listener::Kind::kTcp) {
      const auto colon = bound.rfind(':');
      bound = bound.substr(0, colon + 1) + std::to_string(ports[i]);
    }
    impl->bound_urls.push_back(bound);
  }
  // Set before the first handler can run (MemberList reads it).
  impl->shared.advertised_urls =
      impl->options.advertise_client_urls.empty() ? impl->bound_urls : impl->options.advertise_client_urls;
  impl->server.serve();
  impl->ticker = std::thread([p = impl.get()] { p->ticker_loop(); });
  log::logger("store")->info("etcd v3 API serving on {}", fmt::join(impl->bound_urls, ", "));
  return std::unique_ptr<EtcdServer>(new EtcdServer(std::move(impl)));
}

EtcdServer::EtcdServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void EtcdServer::shutdown(std::chrono::milliseconds grace) {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  {
    std::lock_guard lock(impl_->ticker_mu);
    impl_->stopping = true;
  }
  impl_->ticker_cv.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  // In-flight unary calls get `grace`; then the rest (watch and keep-alive
  // streams) end, and the pool runs what they queued before it stops.
  impl_->server.shutdown(grace);
  impl_->pool.stop();
}

EtcdServer::~EtcdServer() { shutdown(); }

std::vector<std::string> EtcdServer::client_urls() const { return impl_->bound_urls; }

}  // namespace kedge::store

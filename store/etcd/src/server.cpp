// EtcdServer: binds the listen URLs, wires the services, runs the progress
// ticker, and drains on shutdown.
#include <absl/synchronization/mutex.h>
#include <grpcpp/ext/health_check_service_server_builder_option.h>
#include <grpcpp/health_check_service_interface.h>

#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include "kedge/base/log.h"
#include "shared.h"

namespace kedge::store {

using etcd::Shared;
using etcd::WatchRegistry;
using etcd::WorkerPool;

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

}  // namespace etcd

namespace {

struct ListenUrl {
  std::string url;      // as given
  std::string address;  // gRPC form: host:port or unix:path
  bool tls = false;
  bool unix_socket = false;
};

Result<ListenUrl> parse_listen_url(const std::string& url) {
  ListenUrl out{.url = url};
  auto take = [&](std::string_view scheme) {
    if (url.starts_with(scheme)) {
      out.address = url.substr(scheme.size());
      return true;
    }
    return false;
  };
  if (take("http://")) {
  } else if (take("https://")) {
    out.tls = true;
  } else if (take("unix://")) {
    out.unix_socket = true;
  } else if (take("unixs://")) {
    out.unix_socket = out.tls = true;
  } else {
    return invalid_argument("listen URL \"" + url + "\": want http://, https://, unix:// or unixs://");
  }
  if (!out.address.empty() && out.address.back() == '/') out.address.pop_back();
  if (out.address.empty()) return invalid_argument("listen URL \"" + url + "\" has no address");
  if (out.unix_socket) {
    out.address = "unix:" + out.address;
  } else if (out.address.find(':') == std::string::npos) {
    return invalid_argument("listen URL \"" + url + "\" has no port");
  }
  return out;
}

Result<std::string> read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(std::string("cannot read ") + what + " \"" + path + "\"");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return invalid_argument(std::string(what) + " \"" + path + "\" is empty");
  return ss.str();
}

Result<std::shared_ptr<grpc::ServerCredentials>> tls_credentials(const EtcdTlsOptions& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return invalid_argument("an https:// or unixs:// URL needs --cert-file and --key-file");
  }
  KEDGE_ASSIGN_OR_RETURN(auto cert, read_pem(tls.cert_file, "--cert-file"));
  KEDGE_ASSIGN_OR_RETURN(auto key, read_pem(tls.key_file, "--key-file"));
  grpc::SslServerCredentialsOptions opts(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  opts.pem_key_cert_pairs.push_back({key, cert});
  if (!tls.trusted_ca_file.empty()) {
    KEDGE_ASSIGN_OR_RETURN(opts.pem_root_certs, read_pem(tls.trusted_ca_file, "--trusted-ca-file"));
  }
  if (tls.client_cert_auth) {
    if (tls.trusted_ca_file.empty()) return invalid_argument("--client-cert-auth needs --trusted-ca-file");
    opts.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(opts);
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
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::unique_ptr<grpc::Server> server;
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

  // Debian's abseil is built with lock-order tracking on: every absl::Mutex
  // gRPC takes walks a global cycle graph (2-3 % of the server's CPU per put
  // in a profile at 256 clients). It is a debugging aid for absl's users.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // etcd accepts requests up to max-request-bytes plus 512 KiB of framing
  // and sends responses of any size.
  builder.SetMaxReceiveMessageSize(static_cast<int>(impl->options.max_request_bytes + 512 * 1024));
  builder.SetMaxSendMessageSize(std::numeric_limits<int>::max());
  std::vector<int> ports(urls.size(), 0);
  for (std::size_t i = 0; i < urls.size(); ++i) {
    std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
    if (urls[i].tls) {
      KEDGE_ASSIGN_OR_RETURN(creds, tls_credentials(impl->options.tls));
    }
    builder.AddListeningPort(urls[i].address, creds, &ports[i]);
  }
  impl->services.push_back(etcd::make_kv_service(impl->shared));
  impl->services.push_back(etcd::make_watch_service(impl->shared));
  impl->services.push_back(etcd::make_lease_service(impl->shared));
  impl->services.push_back(etcd::make_maintenance_service(impl->shared));
  impl->services.push_back(etcd::make_cluster_service(impl->shared));
  for (auto& s : impl->services) builder.RegisterService(s.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server) return unavailable("cannot serve on the listen client URLs (address in use or not permitted?)");
  for (std::size_t i = 0; i < urls.size(); ++i) {
    if (!urls[i].unix_socket && ports[i] == 0) {
      impl->server->Shutdown();
      return unavailable("cannot bind " + urls[i].url);
    }
    std::string bound = urls[i].url;
    if (!urls[i].unix_socket) {
      const auto colon = bound.rfind(':');
      bound = bound.substr(0, colon + 1) + std::to_string(ports[i]);
    }
    impl->bound_urls.push_back(bound);
  }
  impl->shared.advertised_urls =
      impl->options.advertise_client_urls.empty() ? impl->bound_urls : impl->options.advertise_client_urls;
  if (auto* health = impl->server->GetHealthCheckService()) health->SetServingStatus(true);
  impl->ticker = std::thread([p = impl.get()] { p->ticker_loop(); });
  log::logger("store")->info("etcd v3 API serving on {}", fmt::join(impl->bound_urls, ", "));
  return std::unique_ptr<EtcdServer>(new EtcdServer(std::move(impl)));
}

EtcdServer::EtcdServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void EtcdServer::shutdown(std::chrono::milliseconds grace) {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  if (auto* health = impl_->server->GetHealthCheckService()) health->SetServingStatus(false);
  {
    std::lock_guard lock(impl_->ticker_mu);
    impl_->stopping = true;
  }
  impl_->ticker_cv.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  // In-flight calls get `grace`; then gRPC cancels the rest (watch and
  // keep-alive streams) and waits for their reactors, whose pool work still runs.
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->pool.stop();
}

EtcdServer::~EtcdServer() { shutdown(); }

std::vector<std::string> EtcdServer::client_urls() const { return impl_->bound_urls; }

}  // namespace kedge::store

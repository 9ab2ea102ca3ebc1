#include "kedge/control/node_proxy.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include <boost/json.hpp>

#include "kedge/base/log.h"
#include "kedge/control/api_error.h"

namespace kedge::control {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::string_view kLogParams[] = {"follow",     "tailLines", "sinceSeconds", "sinceTime",
                                           "timestamps", "previous",  "limitBytes"};

HttpResponse error_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.code;
  r.body = json::serialize(e.to_json());
  return r;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  for (std::size_t start = 1; start <= path.size();) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string str(const json::value* v) {
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> container_names(const json::object& spec, std::string_view list) {
  std::vector<std::string> names;
  if (const auto* arr = spec.if_contains(list); arr != nullptr && arr->is_array()) {
    for (const auto& c : arr->as_array()) {
      if (c.is_object()) names.push_back(str(c.as_object().if_contains("name")));
    }
  }
  return names;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// The container to read, as upstream's validation picks it.
ApiResult<std::string> pick_container(const json::object& pod, const std::string& pod_name,
                                      std::optional<std::string> requested) {
  const auto* spec_v = pod.if_contains("spec");
  json::object empty;
  const json::object& spec = spec_v != nullptr && spec_v->is_object() ? spec_v->as_object() : empty;
  auto containers = container_names(spec, "containers");
  auto inits = container_names(spec, "initContainers");
  auto ephemeral = container_names(spec, "ephemeralContainers");
  if (!requested || requested->empty()) {
    if (containers.size() == 1) return containers.front();
    std::string msg = "a container name must be specified for pod " + pod_name + ", choose one of: [" +
                      join(containers) + "]";
    if (!inits.empty()) msg += " or one of the init containers: [" + join(inits) + "]";
    return bad_request_error(std::move(msg));
  }
  for (const auto* list : {&containers, &inits, &ephemeral}) {
    if (std::find(list->begin(), list->end(), *requested) != list->end()) return *requested;
  }
  return bad_request_error("container " + *requested + " is not valid for pod " + pod_name);
}

// The agent's address: the node's InternalIP (else ExternalIP, else
// Hostname) and its advertised kubelet port.
ApiResult<std::string> agent_base_url(const json::object& node, const std::string& node_name) {
  const auto* status = node.if_contains("status");
  if (status == nullptr || !status->is_object()) {
    return bad_request_error("node " + node_name + " has no status (its agent never registered)");
  }
  std::string address;
  for (const char* wanted : {"InternalIP", "ExternalIP", "Hostname"}) {
    if (const auto* addrs = status->as_object().if_contains("addresses"); addrs != nullptr && addrs->is_array()) {
      for (const auto& a : addrs->as_array()) {
        if (a.is_object() && str(a.as_object().if_contains("type")) == wanted) {
          address = str(a.as_object().if_contains("address"));
          break;
        }
      }
    }
    if (!address.empty()) break;
  }
  if (address.empty()) return bad_request_error("node " + node_name + " reports no address");
  std::int64_t port = 10250;
  if (const auto* p = status->as_object().if_contains("daemonEndpoints")) {
    if (p->is_object()) {
      if (const auto* k = p->as_object().if_contains("kubeletEndpoint"); k != nullptr && k->is_object()) {
        if (const auto* port_v = k->as_object().if_contains("Port"); port_v != nullptr && port_v->is_int64() &&
                                                                     port_v->as_int64() > 0) {
          port = port_v->as_int64();
        }
      }
    }
  }
  std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  return "https://" + host + ":" + std::to_string(port);
}

}  // namespace

// One transfer from an agent, on its own thread. The handler waits for the
// response head; a 2xx body then flows into the client's sink.
class Upstream final : public StreamSource, public std::enable_shared_from_this<Upstream> {
 public:
  Upstream(std::string url, const NodeProxyOptions& options) : url_(std::move(url)), options_(options) {
    multi_ = curl_multi_init();
  }
  ~Upstream() override {
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  void run();
  // Waits for the head; false on timeout.
  bool wait_head(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return head_ready_; });
  }
  void wait_done() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
  }
  long code() {
    std::lock_guard lock(mu_);
    return code_;
  }
  std::string transport_error() {
    std::lock_guard lock(mu_);
    return transport_error_;
  }
  std::string error_body() {
    std::lock_guard lock(mu_);
    return error_body_;
  }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }

  void start(std::shared_ptr<StreamSink> sink) override {
    std::unique_lock lock(mu_);
    if (done_) {
      lock.unlock();
      sink->close();
      return;
    }
    sink_ = std::move(sink);
    cv_.notify_all();
  }
  void cancel() override {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    curl_multi_wakeup(multi_);
  }

 private:
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* self = static_cast<Upstream*>(user);
    std::string_view line(data, size * n);
    if (line == "\r\n" || line == "\n") {
      long code = 0;
      curl_easy_getinfo(self->easy_, CURLINFO_RESPONSE_CODE, &code);
      if (code >= 200) {  // not an interim 1xx
        std::lock_guard lock(self->mu_);
        self->code_ = code;
        self->head_ready_ = true;
        self->cv_.notify_all();
      }
    }
    return size * n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* self = static_cast<Upstream*>(user);
    const std::size_t bytes = size * n;
    std::shared_ptr<StreamSink> sink;
    {
      std::unique_lock lock(self->mu_);
      if (self->code_ < 200 || self->code_ >= 300) {
        if (self->error_body_.size() < kMaxErrorBody) self->error_body_.append(data, bytes);
        return bytes;
      }
      // The handler returns the stream response, then the server attaches
      // the client's sink; until then the body waits here (and in TCP).
      self->cv_.wait(lock, [&] { return self->sink_ != nullptr || self->cancelled_; });
      if (self->cancelled_) return 0;
      sink = self->sink_;
    }
    if (!sink->write(std::string(data, bytes))) return 0;
    if (!sink->wait_below(self->options_.stream_window_bytes, std::chrono::seconds(30))) return 0;
    return bytes;
  }

  const std::string url_;
  const NodeProxyOptions& options_;
  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;  // owned by run()
  std::mutex mu_;
  std::condition_variable cv_;
  bool head_ready_ = false;  // guarded by mu_
  bool done_ = false;
  bool cancelled_ = false;
  long code_ = 0;
  std::string transport_error_;
  std::string error_body_;
  std::shared_ptr<StreamSink> sink_;
};

void Upstream::run() {
  easy_ = curl_easy_init();
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy_, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(easy_, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
  curl_easy_setopt(easy_, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Upstream::on_header);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Upstream::on_body);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, "kedge-edge-control");
  curl_multi_add_handle(multi_, easy_);
  CURLcode result = CURLE_OK;
  int running = 1;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (cancelled_) break;
    }
    if (curl_multi_perform(multi_, &running) != CURLM_OK || running == 0) break;
    // Sleeps until the socket is ready or cancel() wakes it: no timer.
    curl_multi_poll(multi_, nullptr, 0, 24 * 3600 * 1000, nullptr);
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg == CURLMSG_DONE) result = msg->data.result;
  }
  curl_multi_remove_handle(multi_, easy_);
  curl_easy_cleanup(easy_);
  easy_ = nullptr;
  std::shared_ptr<StreamSink> sink;
  {
    std::lock_guard lock(mu_);
    if (result != CURLE_OK && !head_ready_) {
      transport_error_ = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(result);
    }
    if (!head_ready_ && transport_error_.empty()) transport_error_ = "no response";
    head_ready_ = true;
    done_ = true;
    sink = std::move(sink_);
  }
  cv_.notify_all();
  if (sink) sink->close();
}

struct NodeProxy::Impl {
  NodeProxyOptions options;
  std::mutex mu;
  bool stopping = false;  // guarded by mu
  struct Running {
    std::shared_ptr<Upstream> upstream;
    std::thread thread;
  };
  std::list<Running> running;  // guarded by mu

  ApiResult<json::object> get_json(const HttpRequest& from, const std::string& path) {
    HttpRequest r;
    r.method = "GET";
    r.path = path;
    r.headers["accept"] = "application/json";
    r.user = from.user;
    HttpResponse resp = options.api(r);
    if (resp.status != 200) {
      ApiError e;
      e.code = resp.status;
      boost::system::error_code ec;
      auto v = json::parse(resp.body, ec);
      if (!ec && v.is_object()) {
        e.reason = str(v.as_object().if_contains("reason"));
        e.message = str(v.as_object().if_contains("message"));
      } else {
        e.message = resp.body;
      }
      return e;
    }
    boost::system::error_code ec;
    auto v = json::parse(resp.body, ec);
    if (ec || !v.is_object()) return internal_api_error("reading " + path + ": not a JSON object");
    return std::move(v.as_object());
  }

  std::shared_ptr<Upstream> launch(const std::string& url) {
    auto up = std::make_shared<Upstream>(url, options);
    std::list<Running> finished;
    {
      std::lock_guard lock(mu);
      if (stopping) return nullptr;
      for (auto it = running.begin(); it != running.end();) {
        auto next = std::next(it);
        if (it->upstream->done()) finished.splice(finished.end(), running, it);
        it = next;
      }
      running.push_back({up, std::thread([up] { up->run(); })});
    }
    for (auto& r : finished) r.thread.join();
    return up;
  }
};

NodeProxy::NodeProxy(NodeProxyOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

NodeProxy::~NodeProxy() { stop(); }

bool NodeProxy::handles(const HttpRequest& request) {
  if (request.method != "GET" || !request.user.authenticated) return false;
  auto p = split_path(request.path);
  return p.size() == 7 && p[0] == "api" && p[1] == "v1" && p[2] == "namespaces" && p[4] == "pods" && p[6] == "log";
}

HttpResponse NodeProxy::handle(const HttpRequest& request) {
  auto p = split_path(request.path);
  const std::string& ns = p[3];
  const std::string& name = p[5];
  auto pod = impl_->get_json(request, "/api/v1/namespaces/" + ns + "/pods/" + name);
  if (!pod.ok()) return error_response(pod.error());
  auto container = pick_container(*pod, name, request.param("container"));
  if (!container.ok()) return error_response(container.error());
  std::string node_name;
  if (const auto* spec = pod->if_contains("spec"); spec != nullptr && spec->is_object()) {
    node_name = str(spec->as_object().if_contains("nodeName"));
  }
  if (node_name.empty()) return error_response(bad_request_error("pod " + name + " does not have a host assigned"));
  auto node = impl_->get_json(request, "/api/v1/nodes/" + node_name);
  if (!node.ok()) return error_response(node.error());
  auto base = agent_base_url(*node, node_name);
  if (!base.ok()) return error_response(base.error());

  std::string url = *base + "/containerLogs/" + ns + "/" + name + "/" + *container;
  char sep = '?';
  for (auto key : kLogParams) {
    auto v = request.param(key);
    if (!v) continue;
    char* esc = curl_easy_escape(nullptr, v->c_str(), static_cast<int>(v->size()));
    url += sep + std::string(key) + "=" + (esc != nullptr ? esc : "");
    curl_free(esc);
    sep = '&';
  }
  auto up = impl_->launch(url);
  if (!up) return error_response(internal_api_error("the API server is shutting down"));
  if (!up->wait_head(impl_->options.connect_timeout + impl_->options.head_timeout)) {
    up->cancel();
    return error_response(timeout_error("the agent on node " + node_name + " (" + *base +
                                        ") did not answer in time"));
  }
  long code = up->code();
  if (code == 0) {
    return error_response(internal_api_error("cannot reach the agent on node " + node_name + " at " + *base +
                                             ": " + up->transport_error()));
  }
  if (code < 200 || code >= 300) {
    up->wait_done();
    std::string body = up->error_body();
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (!ec && v.is_object() && str(v.as_object().if_contains("kind")) == "Status") {
      HttpResponse r;
      r.status = static_cast<int>(code);
      r.body = std::move(body);
      return r;
    }
    ApiError e = internal_api_error("the agent on node " + node_name + " answered " + std::to_string(code) +
                                    ": " + body);
    e.code = static_cast<int>(code);
    return error_response(e);
  }
  HttpResponse r;
  r.content_type = "text/plain";
  r.stream = up;
  return r;
}

void NodeProxy::stop() {
  std::list<Impl::Running> all;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    all.swap(impl_->running);
  }
  for (auto& r : all) r.upstream->cancel();
  for (auto& r : all) r.thread.join();
}

}  // namespace kedge::control

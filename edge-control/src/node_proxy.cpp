#include "kedge/control/node_proxy.h"

#include <curl/curl.h>
#include <openssl/evp.h>

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

// kubectl exec over WebSocket (v5/v4.channel.k8s.io): runs the command on the
// agent (ExecSync), then sends stdout on channel 1, stderr on 2 and the
// result Status on 3, and closes.
class ExecSession final : public WebSocketHandler, public std::enable_shared_from_this<ExecSession> {
 public:
  ExecSession(std::string url, std::vector<std::string> command, const NodeProxyOptions& options)
      : url_(std::move(url)), command_(std::move(command)), options_(options) {}

  // Set by NodeProxy: runs `fn` on a thread it joins at stop.
  std::function<void(std::function<void()>)> spawn;

  void start(std::shared_ptr<WebSocketConnection> conn) override {
    spawn([self = shared_from_this(), conn] { self->run(*conn); });
  }
  void on_closed() override { closed_ = true; }
  // Set for requests refused after the upgrade: kubectl falls back to SPDY
  // when the upgrade itself fails, so refusals that must reach the user go
  // on the status channel.
  std::string refusal;

 private:
  static std::string channel(char id, std::string_view data) {
    std::string m(1, id);
    m.append(data);
    return m;
  }

  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<ExecSession*>(user)->closed_ ? 1 : 0;  // the client left: abort
  }

  static std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    auto* out = static_cast<std::string*>(user);
    if (out->size() < 64 * 1024 * 1024) out->append(data, size * n);
    return size * n;
  }

  static std::string decode64(const std::string& in) {
    std::string out(in.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (n < 0) return {};
    std::size_t len = static_cast<std::size_t>(n);
    if (in.size() >= 1 && in[in.size() - 1] == '=') --len;  // EVP_DecodeBlock counts padding
    if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
    out.resize(len);
    return out;
  }

  void fail(WebSocketConnection& conn, const std::string& message, int code = 500,
            const char* reason = "InternalError") {
    json::object st{{"metadata", json::object{}}, {"status", "Failure"}, {"message", message},
                    {"reason", reason}, {"code", code}};
    conn.send(channel(3, json::serialize(st)));
    conn.close();
  }

  void run(WebSocketConnection& conn) {
    if (!refusal.empty()) return fail(conn, refusal, 400, "BadRequest");
    CURL* curl = curl_easy_init();
    std::string body;
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, options_.client_key_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &ExecSession::collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &ExecSession::on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    if (closed_) return;
    if (rc != CURLE_OK) return fail(conn, "cannot reach the agent: " + std::string(errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return fail(conn, "the agent answered " + std::to_string(code) + ": " + body);
    const auto& o = v.as_object();
    if (code != 200) return fail(conn, str(o.if_contains("message")));
    std::string out = decode64(str(o.if_contains("stdout")));
    std::string err = decode64(str(o.if_contains("stderr")));
    std::int64_t exit_code = o.contains("exitCode") && o.at("exitCode").is_int64() ? o.at("exitCode").as_int64() : 0;
    if (!out.empty()) conn.send(channel(1, out));
    if (!err.empty()) conn.send(channel(2, err));
    json::object st{{"metadata", json::object{}}};
    if (exit_code == 0) {
      st["status"] = "Success";
    } else {
      std::string cmd;
      for (const auto& c : command_) cmd += (cmd.empty() ? "" : " ") + c;
      st["status"] = "Failure";
      st["message"] = "command terminated with non-zero exit code: error executing command [" + cmd +
                      "], exit code " + std::to_string(exit_code);
      st["reason"] = "NonZeroExitCode";
      st["details"] = json::object{
          {"causes", json::array{json::object{{"reason", "ExitCode"}, {"message", std::to_string(exit_code)}}}}};
    }
    conn.send(channel(3, json::serialize(st)));
    conn.close();
  }

  const std::string url_;
  const std::vector<std::string> command_;
  const NodeProxyOptions& options_;
  std::atomic<bool> closed_{false};
};

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

  // Runs `fn` on a thread joined at stop (or by a later spawn once done).
  void spawn(std::function<void()> fn) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::list<std::pair<std::shared_ptr<std::atomic<bool>>, std::thread>> finished;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      for (auto it = threads.begin(); it != threads.end();) {
        auto next = std::next(it);
        if (*it->first) finished.splice(finished.end(), threads, it);
        it = next;
      }
      threads.emplace_back(done, std::thread([fn = std::move(fn), done] {
                             fn();
                             *done = true;
                           }));
    }
    for (auto& [flag, t] : finished) t.join();
  }
  std::list<std::pair<std::shared_ptr<std::atomic<bool>>, std::thread>> threads;  // guarded by mu

  HttpResponse exec(const HttpRequest& request, const std::string& ns, const std::string& name);

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
  if (!request.user.authenticated) return false;
  auto p = split_path(request.path);
  if (p.size() != 7 || p[0] != "api" || p[1] != "v1" || p[2] != "namespaces" || p[4] != "pods") return false;
  if (p[6] == "log") return request.method == "GET";
  return p[6] == "exec" && (request.method == "GET" || request.method == "POST");
}

// The agent behind pod ns/name's container: resolves pod, container, node.
struct AgentTarget {
  std::string base;  // https://ip:port
  std::string node;
  std::string container;
  std::string pod_uid;
};

static ApiResult<AgentTarget> resolve(NodeProxy::Impl& impl, const HttpRequest& request, const std::string& ns,
                                      const std::string& name);

HttpResponse NodeProxy::Impl::exec(const HttpRequest& request, const std::string& ns, const std::string& name) {
  if (request.header("upgrade").find("websocket") == std::string::npos &&
      request.header("upgrade").find("WebSocket") == std::string::npos) {
    return error_response(bad_request_error(
        "kedge serves exec over WebSocket only (v5.channel.k8s.io, v4.channel.k8s.io); SPDY is not supported"));
  }
  std::string offered = request.header("sec-websocket-protocol");
  std::string protocol;
  for (const char* p : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    if (offered.find(p) != std::string::npos) {
      protocol = p;
      break;
    }
  }
  if (protocol.empty()) {
    return error_response(bad_request_error("no supported exec subprotocol among \"" + offered +
                                            "\" (kedge speaks v5.channel.k8s.io and v4.channel.k8s.io)"));
  }
  std::vector<std::string> command;
  bool tty = false, in = false;
  for (const auto& [k, v] : request.query) {
    if (k == "command") command.push_back(v);
    if (k == "tty") tty = v == "true" || v == "1";
    if (k == "stdin") in = v == "true" || v == "1";
  }
  if (command.empty()) return error_response(bad_request_error("you must specify at least one command for the container"));
  std::string refusal;
  auto target = resolve(*this, request, ns, name);
  if (!target.ok()) refusal = target.error().message;
  if (tty || in) refusal = "kedge runs exec without stdin and tty for now (CRI ExecSync): drop -i/-t";
  if (!refusal.empty()) {
    auto session = std::make_shared<ExecSession>("", command, options);
    session->spawn = [this](std::function<void()> fn) { spawn(std::move(fn)); };
    session->refusal = refusal;
    return HttpResponse{.websocket = session, .websocket_protocol = protocol};
  }
  std::string url = target->base + "/exec/" + ns + "/" + name + "/" + target->container + "?podUID=" + target->pod_uid;
  char sep = '&';
  for (const auto& c : command) {
    char* esc = curl_easy_escape(nullptr, c.c_str(), static_cast<int>(c.size()));
    url += sep + std::string("command=") + (esc != nullptr ? esc : "");
    curl_free(esc);
    sep = '&';
  }
  auto session = std::make_shared<ExecSession>(url, command, options);
  session->spawn = [this](std::function<void()> fn) { spawn(std::move(fn)); };
  HttpResponse r;
  r.websocket = session;
  r.websocket_protocol = protocol;
  return r;
}

static ApiResult<AgentTarget> resolve(NodeProxy::Impl& impl, const HttpRequest& request, const std::string& ns,
                                      const std::string& name) {
  auto pod = impl.get_json(request, "/api/v1/namespaces/" + ns + "/pods/" + name);
  if (!pod.ok()) return pod.error();
  auto container = pick_container(*pod, name, request.param("container"));
  if (!container.ok()) return container.error();
  std::string node_name;
  if (const auto* spec = pod->if_contains("spec"); spec != nullptr && spec->is_object()) {
    node_name = str(spec->as_object().if_contains("nodeName"));
  }
  if (node_name.empty()) return bad_request_error("pod " + name + " does not have a host assigned");
  auto node = impl.get_json(request, "/api/v1/nodes/" + node_name);
  if (!node.ok()) return node.error();
  auto base = agent_base_url(*node, node_name);
  if (!base.ok()) return base.error();
  std::string uid;
  if (const auto* meta = pod->if_contains("metadata"); meta != nullptr && meta->is_object()) {
    uid = str(meta->as_object().if_contains("uid"));
  }
  return AgentTarget{*base, node_name, *container, uid};
}

HttpResponse NodeProxy::handle(const HttpRequest& request) {
  auto p = split_path(request.path);
  const std::string& ns = p[3];
  const std::string& name = p[5];
  if (p[6] == "exec") return impl_->exec(request, ns, name);
  auto target = resolve(*impl_, request, ns, name);
  if (!target.ok()) return error_response(target.error());
  const std::string& node_name = target->node;
  const std::string* base = &target->base;
  std::string url = *base + "/containerLogs/" + ns + "/" + name + "/" + target->container + "?podUID=" + target->pod_uid;
  char sep = '&';
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
  std::list<std::pair<std::shared_ptr<std::atomic<bool>>, std::thread>> threads;
  {
    std::lock_guard lock(impl_->mu);
    threads.swap(impl_->threads);
  }
  for (auto& [flag, t] : threads) t.join();
}

}  // namespace kedge::control

#include "kedge/agent/agent_api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <list>
#include <mutex>
#include <thread>

#include <openssl/evp.h>

#include <boost/json.hpp>

#include "kedge/agent/log_reader.h"
#include "kedge/base/log.h"
#include "kedge/control/api_error.h"
#include "kedge/control/http_server.h"

namespace kedge::agent {

namespace fs = std::filesystem;
using control::ApiError;
using control::HttpRequest;
using control::HttpResponse;

namespace {

HttpResponse error_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.code;
  r.body = boost::json::serialize(e.to_json());
  return r;
}

ApiError not_found_api(std::string message) {
  ApiError e = control::bad_request_error(std::move(message));
  e.code = 404;
  e.reason = "NotFound";
  return e;
}

// Go's strconv.ParseBool, which upstream uses for these parameters.
std::optional<bool> parse_bool(const std::string& s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_int64(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

struct LogQuery {
  LogOptions options;
  bool previous = false;
};

// The query of /containerLogs, validated as upstream's PodLogOptions.
control::ApiResult<LogQuery> parse_log_query(const HttpRequest& req) {
  LogQuery q;
  auto flag = [&](std::string_view key, bool& out) -> std::optional<ApiError> {
    auto v = req.param(key);
    if (!v) return std::nullopt;
    auto b = parse_bool(*v);
    if (!b) return control::bad_request_error("invalid " + std::string(key) + " \"" + *v + "\": not a boolean");
    out = *b;
    return std::nullopt;
  };
  if (auto e = flag("follow", q.options.follow)) return *e;
  if (auto e = flag("timestamps", q.options.timestamps)) return *e;
  if (auto e = flag("previous", q.previous)) return *e;
  auto number = [&](std::string_view key, std::int64_t min,
                    std::optional<std::int64_t>& out) -> std::optional<ApiError> {
    auto v = req.param(key);
    if (!v) return std::nullopt;
    auto n = parse_int64(*v);
    if (!n) return control::bad_request_error("invalid " + std::string(key) + " \"" + *v + "\": not an integer");
    if (*n < min) {
      return control::bad_request_error(std::string(key) + " must be " +
                                        (min == 0 ? "greater than or equal to 0" : "greater than 0"));
    }
    out = *n;
    return std::nullopt;
  };
  std::optional<std::int64_t> since_seconds;
  if (auto e = number("tailLines", 0, q.options.tail_lines)) return *e;
  if (auto e = number("limitBytes", 1, q.options.limit_bytes)) return *e;
  if (auto e = number("sinceSeconds", 1, since_seconds)) return *e;
  auto since_time = req.param("sinceTime");
  if (since_seconds && since_time) {
    return control::bad_request_error("at most one of sinceTime or sinceSeconds may be specified");
  }
  if (since_seconds) {
    q.options.since = std::chrono::system_clock::now() - std::chrono::seconds(*since_seconds);
  } else if (since_time) {
    auto t = parse_rfc3339(*since_time);
    if (!t.ok()) return control::bad_request_error("invalid sinceTime: " + t.status().message());
    q.options.since = *t;
  }
  return q;
}

// "<ns>/<pod>/<container>" → its three parts, or empty.
std::vector<std::string> split_target(std::string_view rest) {
  std::vector<std::string> parts;
  for (std::size_t start = 0; start <= rest.size();) {
    auto slash = rest.find('/', start);
    if (slash == std::string_view::npos) slash = rest.size();
    parts.emplace_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.size() != 3 || std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p.empty(); })) {
    return {};
  }
  return parts;
}

// The running instance of container parts[2] of pod parts[0]/parts[1] (of
// pod UID `uid` when given), by the labels the kubelet sets.
cri::ContainerFilter running_filter(const std::vector<std::string>& parts, const std::string& uid) {
  cri::ContainerFilter filter{.state = cri::ContainerState::kRunning,
                              .label_selector = {{"io.kubernetes.pod.namespace", parts[0]},
                                                 {"io.kubernetes.pod.name", parts[1]},
                                                 {"io.kubernetes.container.name", parts[2]}}};
  if (!uid.empty()) filter.label_selector["io.kubernetes.pod.uid"] = uid;
  return filter;
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

// One log response: reads the file on its own thread into the sink.
class LogStream final : public control::StreamSource, public std::enable_shared_from_this<LogStream> {
 public:
  LogStream(AgentApi::Impl& api, fs::path file, LogOptions options)
      : api_(api), file_(std::move(file)), options_(options) {}
  void start(std::shared_ptr<control::StreamSink> sink) override;
  void cancel() override { cancel_.cancel(); }
  void run(const std::shared_ptr<control::StreamSink>& sink, std::size_t window);
  std::atomic<bool> done{false};

 private:
  AgentApi::Impl& api_;
  const fs::path file_;
  const LogOptions options_;
  LogCancel cancel_;
};

struct AgentApi::Impl {
  AgentApiOptions options;
  std::unique_ptr<control::HttpServer> http;
  std::mutex mu;
  bool stopping = false;  // guarded by mu
  struct Running {
    std::shared_ptr<LogStream> stream;
    std::thread thread;
  };
  std::list<Running> streams;  // guarded by mu

  // Starts `stream`'s thread, first joining streams that already ended.
  void launch(std::shared_ptr<LogStream> stream, std::shared_ptr<control::StreamSink> sink) {
    std::list<Running> finished;
    {
      std::lock_guard lock(mu);
      if (stopping) {
        sink->close();
        return;
      }
      for (auto it = streams.begin(); it != streams.end();) {
        auto next = std::next(it);
        if (it->stream->done) finished.splice(finished.end(), streams, it);
        it = next;
      }
      std::size_t window = options.stream_window_bytes;
      streams.push_back({stream, std::thread([stream, sink, window] { stream->run(sink, window); })});
    }
    for (auto& r : finished) r.thread.join();
  }

  HttpResponse container_logs(const HttpRequest& req, std::string_view rest);
  HttpResponse exec(const HttpRequest& req, std::string_view rest);
  HttpResponse pods();
};

void LogStream::start(std::shared_ptr<control::StreamSink> sink) { api_.launch(shared_from_this(), std::move(sink)); }

void LogStream::run(const std::shared_ptr<control::StreamSink>& sink, std::size_t window) {
  LogSink to_client = [&](std::string_view chunk) {
    if (cancel_.cancelled() || !sink->write(std::string(chunk))) return false;
    // Flow control: read on only once the client has taken most of it. A
    // client that stalls for the whole timeout gets more anyway, and the
    // server's per-connection backlog cap ends it if it never reads.
    return sink->wait_below(window, std::chrono::seconds(30));
  };
  Status s = read_container_log(file_, options_, to_client, &cancel_);
  if (!s.ok()) log::logger("agent-api")->warn("streaming {}: {}", file_.string(), s.message());
  sink->close();
  done = true;
}

HttpResponse AgentApi::Impl::container_logs(const HttpRequest& req, std::string_view rest) {
  auto parts = split_target(rest);
  if (parts.empty()) return error_response(not_found_api("expected /containerLogs/<namespace>/<pod>/<container>"));
  auto q = parse_log_query(req);
  if (!q.ok()) return error_response(q.error());
  // podUID (kedge's addition; edge-control sends it) picks this pod's logs
  // over those of an earlier pod with the same name (StatefulSets).
  auto file = find_container_log(options.pod_log_dir, parts[0], parts[1], parts[2], q.value().previous,
                                 req.param_or("podUID", ""));
  if (!file.ok()) {
    ApiError e = not_found_api(file.status().message());
    if (q.value().previous) {
      e.code = 400;
      e.reason = "BadRequest";
    }
    return error_response(e);
  }
  HttpResponse r;
  r.content_type = "text/plain";
  LogOptions log_options = q.value().options;
  if (log_options.follow && options.runtime != nullptr) {
    // A follow ends with the container, as upstream's: the runtime says
    // whether it still runs (an exit writes nothing to the log).
    cri::ContainerFilter filter = running_filter(parts, req.param_or("podUID", ""));
    cri::RuntimeClient* runtime = options.runtime;
    log_options.container_running = [runtime, filter] {
      auto running = runtime->list_containers(filter);
      return !running.ok() || !running->empty();  // a runtime error keeps the stream
    };
  }
  r.stream = std::make_shared<LogStream>(*this, *file, std::move(log_options));
  return r;
}

HttpResponse AgentApi::Impl::exec(const HttpRequest& req, std::string_view rest) {
  auto parts = split_target(rest);
  if (parts.empty()) return error_response(not_found_api("expected /exec/<namespace>/<pod>/<container>"));
  std::vector<std::string> command;
  for (const auto& [k, v] : req.query) {
    if (k == "command") command.push_back(v);
  }
  if (command.empty()) return error_response(control::bad_request_error("you must specify at least one command"));
  std::int64_t timeout = 600;
  if (auto t = req.param("timeoutSeconds")) {
    auto n = parse_int64(*t);
    if (!n || *n < 1) return error_response(control::bad_request_error("timeoutSeconds must be a positive integer"));
    timeout = *n;
  }
  if (options.runtime == nullptr) {
    ApiError e = control::internal_api_error("this agent has no container runtime connection");
    e.code = 503;
    e.reason = "ServiceUnavailable";
    return error_response(e);
  }
  cri::ContainerFilter filter = running_filter(parts, req.param_or("podUID", ""));
  auto containers = options.runtime->list_containers(filter);
  if (!containers.ok()) return error_response(control::internal_api_error(containers.status().message()));
  if (containers->empty()) {
    return error_response(control::bad_request_error("container " + parts[2] + " in pod " + parts[1] +
                                                     " is not running on this node"));
  }
  auto newest = std::max_element(containers->begin(), containers->end(),
                                 [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  auto result = options.runtime->exec_sync(newest->id, command, std::chrono::seconds(timeout));
  if (!result.ok()) {
    return error_response(control::internal_api_error("exec in container " + parts[2] + ": " +
                                                      result.status().message()));
  }
  HttpResponse r;
  r.body = boost::json::serialize(boost::json::object{{"exitCode", result->exit_code},
                                                      {"stdout", base64(result->stdout_data)},
                                                      {"stderr", base64(result->stderr_data)}});
  return r;
}

HttpResponse AgentApi::Impl::pods() {
  if (!options.list_pods) {
    ApiError e = control::internal_api_error("this agent has no pod source yet");
    e.code = 503;
    e.reason = "ServiceUnavailable";
    return error_response(e);
  }
  auto body = options.list_pods();
  if (!body.ok()) return error_response(control::internal_api_error("listing pods: " + body.status().message()));
  HttpResponse r;
  r.body = std::move(*body);
  return r;
}

AgentApi::AgentApi(AgentApiOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

AgentApi::~AgentApi() { stop(); }

HttpResponse AgentApi::handle(const HttpRequest& req) {
  if (req.path == "/healthz") {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "ok";
    return r;
  }
  if (!req.user.authenticated) return error_response(control::unauthorized_error());
  const auto& groups = req.user.groups;
  if (std::find(groups.begin(), groups.end(), "system:masters") == groups.end()) {
    return error_response(control::forbidden_error("user \"" + req.user.name +
                                                   "\" may not use the agent API (needs group system:masters)"));
  }
  constexpr std::string_view kExec = "/exec/";
  if (req.path.starts_with(kExec)) {
    if (req.method != "POST") return error_response(control::method_not_supported_error("", req.method));
    return impl_->exec(req, std::string_view(req.path).substr(kExec.size()));
  }
  if (req.method != "GET") return error_response(control::method_not_supported_error("", req.method));
  if (req.path == "/pods" || req.path == "/pods/") return impl_->pods();
  constexpr std::string_view kLogs = "/containerLogs/";
  if (req.path.starts_with(kLogs)) return impl_->container_logs(req, std::string_view(req.path).substr(kLogs.size()));
  return error_response(not_found_api("the agent API has no path " + req.path));
}

Status AgentApi::start() {
  auto& o = impl_->options;
  control::HttpServerOptions http{.bind_address = o.bind_address,
                                  .port = o.port,
                                  .cert_file = o.cert_file,
                                  .key_file = o.key_file,
                                  .client_ca_file = o.client_ca_file,
                                  .max_body_bytes = 64 * 1024,
                                  .max_connections = 256,
                                  .io_threads = o.io_threads,
                                  .worker_threads = o.worker_threads};
  impl_->http = std::make_unique<control::HttpServer>(http, [this](const HttpRequest& r) { return handle(r); });
  Status s = impl_->http->start();
  if (!s.ok()) {
    impl_->http.reset();
    return Status(s.code(), "agent API: " + s.message());
  }
  return s;
}

int AgentApi::port() const { return impl_->http ? impl_->http->port() : 0; }

void AgentApi::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  // Closing the connections cancels their streams and wakes their threads.
  if (impl_->http) impl_->http->stop(std::chrono::seconds(2));
  std::list<Impl::Running> all;
  {
    std::lock_guard lock(impl_->mu);
    all.swap(impl_->streams);
  }
  for (auto& r : all) r.stream->cancel();
  for (auto& r : all) r.thread.join();
}

}  // namespace kedge::agent

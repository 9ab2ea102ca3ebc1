#include "kedge/client/rest_client.h"

#include <curl/curl.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace kedge::client {
namespace {

std::once_flag g_curl_init;

void init_curl() {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

curl_blob blob_of(const std::string& pem) {
  return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_NOCOPY};
}

std::size_t append_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Collects Content-Type and Warning headers of the final response.
std::size_t collect_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto colon = line.find(':');
  if (line.starts_with("HTTP/")) {
    response->warnings.clear();  // a new response (after 100-continue or a redirect)
  } else if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "content-type") response->content_type = std::string(value);
    if (name == "warning") response->warnings.emplace_back(value);
  }
  return size * n;
}

Status transport_error(CURLcode code, const std::string& server, const char* detail) {
  std::string m = "request to " + server + " failed: " + curl_easy_strerror(code);
  if (detail != nullptr && *detail != '\0') m += std::string(" (") + detail + ")";
  if (code == CURLE_OPERATION_TIMEDOUT) return deadline_exceeded(std::move(m));
  return unavailable(std::move(m));
}

}  // namespace

struct RestClient::Handle {
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

Status status_from_response(const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) return {};
  std::string message;
  std::string reason;
  boost::system::error_code ec;
  auto body = boost::json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto& o = body.get_object();
    if (auto* m = o.if_contains("message"); m && m->is_string()) message = m->get_string();
    if (auto* r = o.if_contains("reason"); r && r->is_string()) reason = r->get_string();
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(response.status);
    if (!response.body.empty()) message += ": " + response.body.substr(0, 200);
  }
  switch (response.status) {
    case 400:
    case 422: return invalid_argument(std::move(message));
    case 401: return unauthenticated(std::move(message));
    case 403: return permission_denied(std::move(message));
    case 404: return not_found(std::move(message));
    case 409:
      return reason == "AlreadyExists" ? already_exists(std::move(message)) : aborted(std::move(message));
    case 410: return out_of_range(std::move(message));
    case 413:
    case 429: return resource_exhausted(std::move(message));
    default: break;
  }
  if (response.status >= 500) return unavailable(std::move(message));
  return {Code::kUnknown, std::move(message)};
}

Result<std::unique_ptr<RestClient>> RestClient::create(ClientOptions options) {
  if (!options.config.server.starts_with("https://") && !options.config.server.starts_with("http://")) {
    return invalid_argument("server \"" + options.config.server + "\" is not an http(s) URL");
  }
  if (options.config.client_cert_pem.empty() != options.config.client_key_pem.empty()) {
    return invalid_argument("client certificate and key must be given together");
  }
  init_curl();
  return std::unique_ptr<RestClient>(new RestClient(std::move(options)));
}

RestClient::RestClient(ClientOptions options) : options_(std::move(options)) {}
RestClient::~RestClient() = default;

std::unique_ptr<RestClient::Handle> RestClient::borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      curl_easy_reset(h->curl);  // keeps the connection cache
      configure(*h);
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  configure(*h);
  return h;
}

void RestClient::give_back(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(handle));
}

void RestClient::configure(Handle& h) const {
  const auto& c = options_.config;
  CURL* curl = h.curl;
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, h.error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  // The blobs point into options_, which outlives every handle.
  if (!c.ca_pem.empty()) {
    curl_blob ca = blob_of(c.ca_pem);
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  }
  if (!c.client_cert_pem.empty()) {
    curl_blob cert = blob_of(c.client_cert_pem);
    curl_blob key = blob_of(c.client_key_pem);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
  }
  if (c.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

namespace {

// Per-request header list, freed on scope exit.
struct Headers {
  curl_slist* list = nullptr;
  void add(const std::string& h) { list = curl_slist_append(list, h.c_str()); }
  ~Headers() { curl_slist_free_all(list); }
};

void set_method_and_headers(CURL* curl, const HttpRequest& request, const std::string& token,
                            Headers& headers) {
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    headers.add("Content-Type: " + request.content_type);
  }
  headers.add("Accept: " + request.accept);
  headers.add("Expect:");  // no 100-continue round trip
  if (!token.empty()) headers.add("Authorization: Bearer " + token);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
}

}  // namespace

Result<HttpResponse> RestClient::request(const HttpRequest& request) {
  if (options_.local) return options_.local(request);
  auto h = borrow();
  CURL* curl = h->curl;
  const std::string url = options_.config.server + request.path;
  HttpResponse response;
  Headers headers;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  set_method_and_headers(curl, request, options_.config.token, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    Status s = transport_error(rc, options_.config.server, h->error);
    give_back(std::move(h));
    return s;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  give_back(std::move(h));
  return response;
}

Result<boost::json::value> RestClient::get(std::string_view path) {
  return send("GET", path, nullptr);
}

Result<boost::json::value> RestClient::send(std::string_view method, std::string_view path,
                                            const boost::json::value& body,
                                            std::string_view content_type) {
  HttpRequest req{.method = std::string(method), .path = std::string(path),
                  .content_type = std::string(content_type)};
  if (!body.is_null()) req.body = boost::json::serialize(body);
  KEDGE_ASSIGN_OR_RETURN(HttpResponse resp, request(req));
  KEDGE_RETURN_IF_ERROR(status_from_response(resp));
  boost::system::error_code ec;
  auto value = boost::json::parse(resp.body, ec);
  if (ec) {
    return internal_error(std::string(method) + " " + std::string(path) +
                          ": response is not JSON: " + ec.message());
  }
  return value;
}

// ---------------------------------------------------------------------------
// LineStream: one easy handle driven by its own multi handle, so run() can
// sleep in curl_multi_poll and cancel() can wake it with curl_multi_wakeup.

struct LineStream::State {
  RestClient* client = nullptr;
  std::string path;
  std::function<bool(std::string_view)> on_line;
  std::unique_ptr<RestClient::Handle> handle;
  CURLM* multi = nullptr;
  std::atomic<bool> cancelled{false};
  bool stopped_by_callback = false;
  std::string partial;    // bytes after the last newline
  std::string error_body; // a non-2xx body, kept for the Status
  HttpResponse head;

  ~State() {
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

namespace {

std::size_t stream_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<LineStream::State*>(user);
  const std::size_t bytes = size * n;
  long code = 0;
  curl_easy_getinfo(s->handle->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code >= 300) {
    s->error_body.append(data, bytes);
    return bytes;
  }
  s->partial.append(data, bytes);
  std::size_t start = 0;
  for (std::size_t nl; (nl = s->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(s->partial.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!s->on_line(line)) {
      s->stopped_by_callback = true;
      return CURL_WRITEFUNC_ERROR;  // ends the transfer
    }
  }
  s->partial.erase(0, start);
  return bytes;
}

}  // namespace

std::unique_ptr<LineStream> RestClient::stream(std::string path,
                                               std::function<bool(std::string_view)> on_line) {
  return std::unique_ptr<LineStream>(new LineStream(*this, std::move(path), std::move(on_line)));
}

LineStream::LineStream(RestClient& client, std::string path,
                       std::function<bool(std::string_view)> on_line)
    : state_(std::make_unique<State>()) {
  state_->client = &client;
  state_->path = std::move(path);
  state_->on_line = std::move(on_line);
  state_->multi = curl_multi_init();
}

LineStream::~LineStream() {
  if (state_->handle) {
    curl_multi_remove_handle(state_->multi, state_->handle->curl);
    // A half-read stream's connection cannot be reused; drop the handle.
    state_->handle.reset();
  }
}

void LineStream::cancel() {
  state_->cancelled = true;
  curl_multi_wakeup(state_->multi);
}

Status LineStream::run() {
  State& s = *state_;
  RestClient& client = *s.client;
  s.handle = client.borrow();
  CURL* curl = s.handle->curl;
  const std::string url = client.options_.config.server + s.path;
  Headers headers;
  HttpRequest req{.path = s.path};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  set_method_and_headers(curl, req, client.options_.config.token, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s.head);
  curl_multi_add_handle(s.multi, curl);

  CURLcode result = CURLE_OK;
  int running = 1;
  while (running > 0 && !s.cancelled) {
    if (curl_multi_perform(s.multi, &running) != CURLM_OK) break;
    if (running == 0) break;
    // Sleeps until the socket is readable or cancel() wakes us: no timer.
    curl_multi_poll(s.multi, nullptr, 0, 24 * 3600 * 1000, nullptr);
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(s.multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) result = msg->data.result;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status_);
  curl_multi_remove_handle(s.multi, curl);
  const std::string error_text = s.handle->error;
  s.handle.reset();  // never reuse a connection whose response was cut short

  if (s.cancelled) return cancelled("stream " + s.path + " cancelled");
  if (http_status_ != 0 && (http_status_ < 200 || http_status_ >= 300)) {
    HttpResponse r = s.head;
    r.status = http_status_;
    r.body = s.error_body;
    return status_from_response(r);
  }
  if (s.stopped_by_callback) return {};
  if (result != CURLE_OK) return transport_error(result, client.options_.config.server, error_text.c_str());
  if (!s.partial.empty()) {
    std::string_view tail = s.partial;
    s.on_line(tail);
  }
  return {};
}

}  // namespace kedge::client

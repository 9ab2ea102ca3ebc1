// Routing and the generic REST verbs. Discovery documents are in
// discovery.cpp/openapi.cpp, storage in registry*.cpp, watches in
// watch_stream.cpp.
#include "kedge/control/api_handler.h"

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>

#include <boost/json.hpp>

#include "kedge/base/log.h"
#include "kedge/control/discovery.h"
#include "kedge/control/registry.h"
#include "kedge/control/table.h"
#include "kedge/control/watch_cache.h"
#include "object_util.h"
#include "selection.h"
#include "cached_list.h"
#include "watch_stream.h"
#include "kedge/api/protobuf.h"
#include "kedge/api/yaml.h"

namespace kedge::control {

namespace {

HttpResponse json_response(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

HttpResponse error_response(const ApiError& e) { return json_response(e.code, e.to_json()); }

HttpResponse text_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

std::string media_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string mt(content_type.substr(0, semi));
  while (!mt.empty() && mt.back() == ' ') mt.pop_back();
  for (auto& c : mt) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return mt;
}

// What the request addresses under /api/v1 or /apis/<g>/<v>.
struct Target {
  const ResourceInfo* info = nullptr;
  std::string ns;
  std::string name;
  std::string sub;
};

// What a binding writes besides spec.nodeName, as upstream's pod binding
// does: the Binding's annotations, and PodScheduled=True (so the scheduler
// needs no second write to clear an earlier Unschedulable condition).
void bind_pod_status(json::object& pod, const json::object& binding_meta) {
  if (const auto* annotations = find_object(binding_meta, "annotations"); annotations != nullptr) {
    json::object& dest = child_object(child_object(pod, "metadata"), "annotations");
    for (const auto& kv : *annotations) dest[kv.key()] = kv.value();
  }
  json::value& conditions = child_object(pod, "status")["conditions"];
  if (!conditions.is_array()) conditions = json::array{};
  json::object* scheduled = nullptr;
  for (auto& c : conditions.as_array()) {
    if (c.is_object() && get_string(c.as_object(), "type") == "PodScheduled") scheduled = &c.as_object();
  }
  if (scheduled == nullptr) {
    conditions.as_array().push_back(json::object{{"type", "PodScheduled"}});
    scheduled = &conditions.as_array().back().as_object();
  }
  if (get_string(*scheduled, "status") == "True") return;
  (*scheduled)["status"] = "True";
  (*scheduled)["lastProbeTime"] = nullptr;
  (*scheduled)["lastTransitionTime"] = now_rfc3339();
  scheduled->erase("reason");
  scheduled->erase("message");
}

struct Metrics {
  mutable std::mutex mu;
  std::map<std::pair<std::string, int>, std::uint64_t> requests;  // guarded by mu
  std::atomic<std::int64_t> watchers{0};
};

}  // namespace

struct ApiHandler::Impl {
  ApiHandlerOptions options;
  std::unique_ptr<Registry> registry;
  std::map<std::string, std::unique_ptr<WatchCache>> caches;  // by storage prefix; fixed after start
  Metrics metrics;
  std::atomic<bool> ready{false};

  HttpResponse route(const HttpRequest& req, std::string& verb);
  HttpResponse discovery(const HttpRequest& req, const std::vector<std::string>& seg, bool& handled);
  HttpResponse resource(const HttpRequest& req, const Target& t, std::string& verb);
  HttpResponse list_or_watch(const HttpRequest& req, const Target& t, std::string& verb);
  HttpResponse watch(const HttpRequest& req, const Target& t);
  HttpResponse write_response(const HttpRequest& req, const ResourceInfo& info,
                              ApiResult<WriteResult> r, const std::vector<std::string>& warnings = {});
  ApiResult<json::object> decode_body(const HttpRequest& req, const ResourceInfo& info, const WriteOptions& wo,
                                      std::vector<std::string>& warnings);
  ApiResult<WriteOptions> write_options(const HttpRequest& req);
  ApiResult<DeleteOptions> delete_options(const HttpRequest& req);
  ListOptions list_options(const HttpRequest& req);
  HttpResponse object_response(const HttpRequest& req, const ResourceInfo& info, int status,
                               const json::object& obj);
  void bookmark_tick();
};

ApiHandler::ApiHandler(ApiHandlerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->registry = std::make_unique<Registry>(*impl_->options.store);
}

ApiHandler::~ApiHandler() { stop(); }

Status ApiHandler::publish_apiserver_endpoints(std::string_view address, int port) {
  return impl_->registry->publish_apiserver_endpoints(address, port);
}

Status ApiHandler::start() {
  auto* impl = impl_.get();
  impl->registry->set_namespace_terminating_hook([impl](std::string ns) {
    if (impl->options.post) impl->options.post([impl, ns] { impl->registry->finalize_namespace(ns); });
  });
  KEDGE_RETURN_IF_ERROR(impl->registry->bootstrap());
  for (const auto& info : all_resources()) {
    if (info.create_only) continue;
    std::string prefix = Registry::prefix_for(info, "");
    if (impl->caches.contains(prefix)) continue;
    auto cache = std::make_unique<WatchCache>(
        *impl->options.store,
        WatchCacheOptions{.prefix = prefix, .capacity = impl->options.watch_cache_capacity,
                          .post = impl->options.post, .schedule = impl->options.schedule});
    KEDGE_RETURN_IF_ERROR(cache->start());
    impl->caches.emplace(prefix, std::move(cache));
  }
  if (impl->options.schedule) impl->bookmark_tick();
  impl->ready = true;
  return {};
}

void ApiHandler::Impl::bookmark_tick() {
  for (auto& [prefix, cache] : caches) {
    if (cache->watcher_count() > 0) cache->request_progress();
  }
  options.schedule(options.bookmark_interval, [this] {
    if (ready) bookmark_tick();
  });
}

void ApiHandler::stop() {
  if (!impl_) return;
  impl_->ready = false;
  for (auto& [prefix, cache] : impl_->caches) cache->stop();
}

void ApiHandler::count_request(std::string_view verb, int code) const {
  std::lock_guard lock(impl_->metrics.mu);
  ++impl_->metrics.requests[{std::string(verb), code}];
}

std::string ApiHandler::metrics_text() const {
  std::string out =
      "# HELP apiserver_request_total Requests by verb and HTTP code.\n"
      "# TYPE apiserver_request_total counter\n";
  {
    std::lock_guard lock(impl_->metrics.mu);
    for (const auto& [key, n] : impl_->metrics.requests) {
      out += "apiserver_request_total{verb=\"" + key.first + "\",code=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP apiserver_watch_streams Open watch streams.\n# TYPE apiserver_watch_streams gauge\n";
  out += "apiserver_watch_streams " + std::to_string(impl_->metrics.watchers.load()) + "\n";
  out += "# HELP apiserver_watch_cache_revision Newest store revision seen per resource cache.\n"
         "# TYPE apiserver_watch_cache_revision gauge\n";
  for (const auto& [prefix, cache] : impl_->caches) {
    out += "apiserver_watch_cache_revision{prefix=\"" + prefix + "\"} " +
           std::to_string(cache->revision()) + "\n";
  }
  return out;
}

HttpResponse ApiHandler::handle(const HttpRequest& request) {
  std::string verb = request.method;
  for (auto& c : verb) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  HttpResponse r;
  try {
    if (request.path == "/metrics" && request.user.authenticated) {
      r = text_response(200, metrics_text());
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
      r = impl_->route(request, verb);
    }
  } catch (const std::exception& e) {
    // Boost.JSON accessors throw on type mismatches in malformed objects;
    // nothing may escape the worker thread.
    log::logger("apiserver")->warn("{} {}: {}", request.method, request.path, e.what());
    r = error_response(internal_api_error(e.what()));
  }
  count_request(verb, r.status);
  return r;
}

HttpResponse ApiHandler::Impl::route(const HttpRequest& req, std::string& verb) {
  const std::string& path = req.path;
  if (path == "/healthz" || path == "/livez") return text_response(200, "ok");
  if (path == "/readyz") return ready ? text_response(200, "ok") : text_response(503, "not ready");
  if (path == "/version" || path == "/version/") return json_response(200, version_document());
  if (!req.user.authenticated) return error_response(unauthorized_error());
  auto seg = split_path(path);
  bool handled = false;
  HttpResponse d = discovery(req, seg, handled);
  if (handled) return d;

  // /api/v1/... or /apis/<g>/<v>/...
  std::string group, version;
  std::size_t i = 0;
  if (seg.size() >= 3 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return error_response(not_found_error("", "", path));
  }
  Target t;
  std::vector<std::string> rest(seg.begin() + static_cast<std::ptrdiff_t>(i), seg.end());
  if (rest.size() >= 3 && rest[0] == "namespaces" && !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  t.info = find_resource(group, version, rest[0]);
  if (t.info == nullptr) {
    auto e = not_found_error("", "", "");
    e.message = "the server could not find the requested resource";
    return error_response(e);
  }
  if (rest.size() > 1) t.name = rest[1];
  if (rest.size() > 2) t.sub = rest[2];
  if (rest.size() > 3 || (!t.info->namespaced && !t.ns.empty())) {
    auto e = not_found_error("", "", "");
    e.message = "the server could not find the requested resource";
    return error_response(e);
  }
  return resource(req, t, verb);
}

HttpResponse ApiHandler::Impl::discovery(const HttpRequest& req, const std::vector<std::string>& seg,
                                         bool& handled) {
  handled = true;
  std::string accept = req.header("accept");
  if (seg.size() == 1 && (seg[0] == "api" || seg[0] == "apis")) {
    bool core = seg[0] == "api";
    if (wants_aggregated_discovery(accept)) {
      HttpResponse r = json_response(200, aggregated_discovery(core));
      r.content_type = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
      return r;
    }
    return json_response(200, core ? legacy_api_versions(options.server_address) : legacy_api_groups());
  }
  if ((seg.size() == 2 && seg[0] == "api") || (seg.size() == 3 && seg[0] == "apis")) {
    auto doc = seg[0] == "api" ? api_resource_list("", seg[1]) : api_resource_list(seg[1], seg[2]);
    if (!doc) {
      auto e = not_found_error("", "", "");
      e.message = "the server could not find the requested resource";
      return error_response(e);
    }
    return json_response(200, *doc);
  }
  if (seg.size() == 2 && seg[0] == "apis") {
    auto groups = legacy_api_groups();
    for (const auto& g : groups.as_object().at("groups").as_array()) {
      if (g.as_object().at("name").as_string() == seg[1]) {
        json::object out = g.as_object();
        out["kind"] = "APIGroup";
        out["apiVersion"] = "v1";
        return json_response(200, out);
      }
    }
    handled = true;
    auto e = not_found_error("", "", "");
    e.message = "the server could not find the requested resource";
    return error_response(e);
  }
  if (!seg.empty() && seg[0] == "openapi") {
    if (seg.size() == 2 && seg[1] == "v3") return json_response(200, openapi_v3_root());
    if (seg.size() > 2 && seg[1] == "v3") {
      std::string gv;
      for (std::size_t i = 2; i < seg.size(); ++i) gv += (i > 2 ? "/" : "") + seg[i];
      if (auto doc = openapi_v3_document(gv)) return json_response(200, *doc);
    }
    auto e = not_found_error("", "", "");
    e.message = "the server could not find the requested resource";
    return error_response(e);
  }
  handled = false;
  return {};
}

ApiResult<WriteOptions> ApiHandler::Impl::write_options(const HttpRequest& req) {
  WriteOptions o;
  if (auto dry = req.param("dryRun")) {
    if (*dry != "All") return bad_request_error("Invalid dry run argument: " + *dry + ": supported values: All");
    o.dry_run = true;
  }
  std::string fv = req.param_or("fieldValidation", "Warn");
  if (fv == "Ignore") o.field_validation = FieldValidation::kIgnore;
  else if (fv == "Warn" || fv.empty()) o.field_validation = FieldValidation::kWarn;
  else if (fv == "Strict") o.field_validation = FieldValidation::kStrict;
  else return bad_request_error("fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got \"" + fv + "\"");
  o.field_manager = req.param_or("fieldManager", "");
  return o;
}

// A Kubernetes protobuf body as the JSON object the client would have sent.
// Fields kedge's schema does not know follow fieldValidation like unknown
// JSON fields: Strict → 400 naming the message and field number, Warn →
// Warning header, Ignore → dropped.
static ApiResult<json::value> decode_protobuf_body(std::string_view body, const std::string& api_version,
                                                   const std::string& kind, FieldValidation mode,
                                                   std::vector<std::string>& warnings) {
  auto d = api::decode_k8s_protobuf(body, api_version, kind);
  if (!d.ok()) return bad_request_error("the body of the request could not be decoded: " + d.status().message());
  if (!d->unknown_fields.empty() && mode == FieldValidation::kStrict) {
    std::string list;
    for (const auto& f : d->unknown_fields) list += (list.empty() ? "" : ", ") + ("unknown field \"" + f + "\"");
    return bad_request_error(kind + " in version \"" + api_version + "\" cannot be handled as a " + kind +
                             ": strict decoding error: " + list);
  }
  if (mode == FieldValidation::kWarn) {
    for (const auto& f : d->unknown_fields) warnings.push_back("unknown field \"" + f + "\"");
  }
  return json::value(std::move(d->object));
}

ApiResult<json::object> ApiHandler::Impl::decode_body(const HttpRequest& req, const ResourceInfo& info,
                                                      const WriteOptions& wo, std::vector<std::string>& warnings) {
  std::string mt = media_type(req.header("content-type"));
  json::value v;
  if (mt == kProtobufMediaType) {
    auto d = decode_protobuf_body(req.body, info.api_version(), std::string(info.kind), wo.field_validation, warnings);
    if (!d.ok()) return d.error();
    v = std::move(*d);
  } else if (mt.empty() || mt == "application/json" || mt == "*/*") {
    boost::system::error_code ec;
    v = json::parse(req.body, ec);
    if (ec) {
      return bad_request_error("the body of the request could not be decoded as JSON: " + ec.message());
    }
  } else if (mt == "application/yaml") {
    auto y = api::yaml_to_json(req.body);
    if (!y.ok()) return bad_request_error("the body of the request could not be decoded as YAML: " + y.status().message());
    v = std::move(*y);
  } else {
    return unsupported_media_type_error(mt);
  }
  if (!v.is_object()) return bad_request_error("the body of the request must be a JSON object");
  auto& obj = v.as_object();
  std::string api_version = get_string(obj, "apiVersion");
  std::string kind = get_string(obj, "kind");
  if (!api_version.empty() && api_version != info.api_version()) {
    return bad_request_error("the API version in the data (" + api_version +
                             ") does not match the expected API version (" + info.api_version() + ")");
  }
  if (!kind.empty() && kind != info.kind) {
    return bad_request_error(kind + " in version \"" + std::string(info.version) +
                             "\" cannot be handled as a " + std::string(info.kind) +
                             ": the kind in the data does not match the resource");
  }
  if (obj.contains("metadata") && !obj.at("metadata").is_object()) {
    return bad_request_error("metadata must be an object");
  }
  obj["apiVersion"] = info.api_version();
  obj["kind"] = info.kind;
  return std::move(obj);
}

// A small body (Scale, Binding, DeleteOptions) as JSON, from JSON or protobuf.
static ApiResult<json::value> parse_body(const HttpRequest& req, const std::string& api_version, const std::string& kind,
                                         FieldValidation mode) {
  if (media_type(req.header("content-type")) == kProtobufMediaType) {
    std::vector<std::string> ignored;
    return decode_protobuf_body(req.body, api_version, kind, mode, ignored);
  }
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) return bad_request_error("the " + kind + " in the body could not be decoded: " + ec.message());
  return v;
}

ApiResult<DeleteOptions> ApiHandler::Impl::delete_options(const HttpRequest& req) {
  DeleteOptions o;
  if (!req.body.empty()) {
    auto parsed = parse_body(req, "meta.k8s.io/v1", "DeleteOptions", FieldValidation::kIgnore);
    if (!parsed.ok()) return parsed.error();
    json::value v = std::move(*parsed);
    if (!v.is_object()) return bad_request_error("the DeleteOptions in the body could not be decoded");
    const auto& b = v.as_object();
    if (b.contains("gracePeriodSeconds")) o.grace_period_seconds = get_int(b, "gracePeriodSeconds", 0);
    o.propagation_policy = get_string(b, "propagationPolicy");
    if (const auto* pre = find_object(b, "preconditions")) {
      if (pre->contains("uid")) o.precondition_uid = get_string(*pre, "uid");
      if (pre->contains("resourceVersion")) o.precondition_resource_version = get_string(*pre, "resourceVersion");
    }
    if (const auto* dry = find_array(b, "dryRun"); dry != nullptr && !dry->empty()) o.dry_run = true;
  }
  if (auto g = req.param("gracePeriodSeconds")) {
    try {
      o.grace_period_seconds = std::stoll(*g);
    } catch (const std::exception&) {
      return bad_request_error("gracePeriodSeconds must be an integer");
    }
  }
  if (auto p = req.param("propagationPolicy")) o.propagation_policy = *p;
  if (!o.propagation_policy.empty() && o.propagation_policy != "Background" &&
      o.propagation_policy != "Foreground" && o.propagation_policy != "Orphan") {
    return bad_request_error("propagationPolicy must be Background, Foreground or Orphan");
  }
  if (auto dry = req.param("dryRun")) {
    if (*dry != "All") return bad_request_error("Invalid dry run argument: " + *dry);
    o.dry_run = true;
  }
  return o;
}

ListOptions ApiHandler::Impl::list_options(const HttpRequest& req) {
  ListOptions o;
  o.label_selector = req.param_or("labelSelector", "");
  o.field_selector = req.param_or("fieldSelector", "");
  o.continue_token = req.param_or("continue", "");
  try {
    o.limit = std::stoll(req.param_or("limit", "0"));
  } catch (const std::exception&) {
    o.limit = 0;
  }
  if (o.limit < 0) o.limit = 0;
  return o;
}

HttpResponse ApiHandler::Impl::object_response(const HttpRequest& req, const ResourceInfo& info,
                                               int status, const json::object& obj) {
  if (wants_table(req.header("accept"))) {
    auto table = make_table(info, {obj}, get_string(metadata_of(obj), "resourceVersion"), "",
                            parse_include_object(req.param_or("includeObject", "Metadata")),
                            static_cast<std::int64_t>(std::time(nullptr)));
    return json_response(status, table);
  }
  return json_response(status, obj);
}

HttpResponse ApiHandler::Impl::write_response(const HttpRequest& req, const ResourceInfo& info,
                                              ApiResult<WriteResult> r, const std::vector<std::string>& warnings) {
  if (!r.ok()) return error_response(r.error());
  HttpResponse resp = object_response(req, info, r->created ? 201 : 200, r->object);
  std::vector<std::string> all = warnings;
  all.insert(all.end(), r->warnings.begin(), r->warnings.end());
  for (const auto& w : all) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') escaped += '\\';
      escaped += c;
    }
    resp.headers.emplace_back("Warning", "299 - \"" + escaped + "\"");
  }
  return resp;
}

HttpResponse ApiHandler::Impl::resource(const HttpRequest& req, const Target& t, std::string& verb) {
  const ResourceInfo& info = *t.info;
  if (info.create_only) {
    verb = "create";
    if (req.method != "POST" || !t.name.empty()) {
      return error_response(method_not_supported_error(info.resource, req.method));
    }
    // SelfSubjectReview: who am I, from the client certificate.
    json::array groups;
    for (const auto& g : req.user.groups) groups.emplace_back(g);
    json::object out{{"kind", "SelfSubjectReview"},
                     {"apiVersion", info.api_version()},
                     {"metadata", json::object{{"creationTimestamp", now_rfc3339()}}},
                     {"status", json::object{{"userInfo", json::object{{"username", req.user.name},
                                                                       {"groups", groups}}}}}};
    return json_response(201, out);
  }
  if (t.name.empty()) {
    if (req.method == "GET") return list_or_watch(req, t, verb);
    if (req.method == "POST") {
      verb = "create";
      auto wo = write_options(req);
      if (!wo.ok()) return error_response(wo.error());
      std::vector<std::string> warnings;
      auto body = decode_body(req, info, *wo, warnings);
      if (!body.ok()) return error_response(body.error());
      return write_response(req, info, registry->create(info, t.ns, std::move(*body), *wo), warnings);
    }
    if (req.method == "DELETE") {
      verb = "deletecollection";
      auto dopt = delete_options(req);
      if (!dopt.ok()) return error_response(dopt.error());
      auto r = registry->remove_collection(info, t.ns, list_options(req), *dopt);
      if (!r.ok()) return error_response(r.error());
      json::array items;
      for (auto& i : r->items) items.push_back(std::move(i));
      return json_response(200, json::object{{"kind", std::string(info.kind) + "List"},
                                             {"apiVersion", info.api_version()},
                                             {"metadata", json::object{{"resourceVersion", std::to_string(r->revision)}}},
                                             {"items", std::move(items)}});
    }
    return error_response(method_not_supported_error(info.resource, req.method));
  }
  const bool status_sub = t.sub == "status";
  if (!t.sub.empty() && !(status_sub && info.has_status) && !(t.sub == "scale" && info.has_scale) &&
      !(t.sub == "binding" && info.kind == "Pod" && info.group.empty())) {
    auto e = not_found_error("", "", "");
    e.message = "the server could not find the requested resource";
    return error_response(e);
  }
  if (t.sub == "scale") {
    if (req.method == "GET") {
      verb = "get";
      auto r = registry->get_scale(info, t.ns, t.name);
      return r.ok() ? json_response(200, *r) : error_response(r.error());
    }
    auto wo = write_options(req);
    if (!wo.ok()) return error_response(wo.error());
    json::object scale;
    if (req.method == "PUT") {
      verb = "update";
      auto v = parse_body(req, "autoscaling/v1", "Scale", wo->field_validation);
      if (!v.ok()) return error_response(v.error());
      if (!v->is_object()) return error_response(bad_request_error("the Scale in the body could not be decoded"));
      scale = std::move(v->as_object());
    } else if (req.method == "PATCH") {
      verb = "patch";
      auto cur = registry->get_scale(info, t.ns, t.name);
      if (!cur.ok()) return error_response(cur.error());
      boost::system::error_code ec;
      json::value p = json::parse(req.body, ec);
      if (ec || !p.is_object()) return error_response(bad_request_error("the patch could not be decoded"));
      // Scale has no lists: merge and strategic patches are the same here.
      json::value merged = *cur;
      const auto* ps = find_object(p.as_object(), "spec");
      if (ps != nullptr && ps->contains("replicas")) merged.as_object()["spec"].as_object()["replicas"] = ps->at("replicas");
      scale = std::move(merged.as_object());
      child_object(scale, "metadata").erase("resourceVersion");
    } else {
      return error_response(method_not_supported_error(info.resource, req.method));
    }
    auto r = registry->update_scale(info, t.ns, t.name, scale, *wo);
    return r.ok() ? json_response(200, *r) : error_response(r.error());
  }
  if (t.sub == "binding") {
    verb = "create";
    auto parsed = parse_body(req, "v1", "Binding", FieldValidation::kIgnore);
    if (!parsed.ok()) return error_response(parsed.error());
    json::value v = std::move(*parsed);
    if (!v.is_object()) return error_response(bad_request_error("the Binding in the body could not be decoded"));
    const auto* target = find_object(v.as_object(), "target");
    std::string node = target != nullptr ? get_string(*target, "name") : "";
    if (node.empty()) {
      return error_response(invalid_error("", "Binding", t.name, {{"FieldValueRequired", "target.name", "Required value"}}));
    }
    const json::object& binding_meta = metadata_of(v.as_object());
    const std::string want_uid = get_string(binding_meta, "uid");
    auto r = registry->modify(
        info, t.ns, t.name,
        [&](const json::object& cur) -> ApiResult<json::object> {
          const std::string uid = get_string(metadata_of(cur), "uid");
          if (!want_uid.empty() && want_uid != uid) {
            // A binding for an older pod of the same name must not land on
            // its successor (upstream: a UID precondition).
            return conflict_error("", "pods", t.name,
                                  "Precondition failed: UID in precondition: " + want_uid + ", UID in object meta: " + uid);
          }
          const auto* spec = find_object(cur, "spec");
          std::string bound = spec != nullptr ? get_string(*spec, "nodeName") : "";
          if (!bound.empty()) {
            return conflict_error("", "pods", t.name,
                                  "pod " + t.name + " is already assigned to node \"" + bound + "\"");
          }
          json::object next = cur;
          child_object(next, "spec")["nodeName"] = node;
          bind_pod_status(next, binding_meta);
          return next;
        },
        // The pod is the stored one plus the server's own fields: nothing to
        // check for unknown fields on this hot path.
        WriteOptions{.field_validation = FieldValidation::kIgnore}, Registry::Scope::kMainAndStatus);
    if (!r.ok()) return error_response(r.error());
    return json_response(201, json::object{{"kind", "Status"}, {"apiVersion", "v1"},
                                           {"metadata", json::object{}}, {"status", "Success"},
                                           {"code", 201}});
  }
  if (req.method == "GET") {
    verb = "get";
    auto r = registry->get(info, t.ns, t.name);
    if (!r.ok()) return error_response(r.error());
    return object_response(req, info, 200, *r);
  }
  if (req.method == "PUT") {
    verb = "update";
    auto wo = write_options(req);
    if (!wo.ok()) return error_response(wo.error());
    std::vector<std::string> warnings;
    auto body = decode_body(req, info, *wo, warnings);
    if (!body.ok()) return error_response(body.error());
    return write_response(req, info, registry->update(info, t.ns, t.name, std::move(*body), *wo, status_sub),
                          warnings);
  }
  if (req.method == "PATCH") {
    verb = "patch";
    std::string mt = media_type(req.header("content-type"));
    PatchType type;
    if (mt == "application/json-patch+json") type = PatchType::kJson;
    else if (mt == "application/merge-patch+json") type = PatchType::kMerge;
    else if (mt == "application/strategic-merge-patch+json") type = PatchType::kStrategic;
    else if (mt == "application/apply-patch+yaml") {
      auto e = unsupported_media_type_error(mt);
      e.message = "server-side apply (application/apply-patch+yaml) is not supported by kedge yet; "
                  "use client-side kubectl apply";
      return error_response(e);
    } else {
      auto e = unsupported_media_type_error(mt);
      e.message = "the body of the request was in an unknown format - accepted media types include: "
                  "application/json-patch+json, application/merge-patch+json, "
                  "application/strategic-merge-patch+json";
      return error_response(e);
    }
    boost::system::error_code ec;
    json::value patch = json::parse(req.body, ec);
    if (ec) return error_response(bad_request_error("the patch could not be decoded as JSON: " + ec.message()));
    auto wo = write_options(req);
    if (!wo.ok()) return error_response(wo.error());
    return write_response(req, info, registry->patch(info, t.ns, t.name, type, patch, *wo, status_sub));
  }
  if (req.method == "DELETE" && t.sub.empty()) {
    verb = "delete";
    auto dopt = delete_options(req);
    if (!dopt.ok()) return error_response(dopt.error());
    bool finished = false;
    auto r = registry->remove(info, t.ns, t.name, *dopt, &finished);
    if (!r.ok()) return error_response(r.error());
    return json_response(finished ? 200 : 202, *r);
  }
  return error_response(method_not_supported_error(info.resource, req.method));
}

HttpResponse ApiHandler::Impl::list_or_watch(const HttpRequest& req, const Target& t, std::string& verb) {
  std::string w = req.param_or("watch", "");
  if (w == "true" || w == "1") {
    verb = "watch";
    return watch(req, t);
  }
  verb = "list";
  auto cache_it = caches.find(Registry::prefix_for(*t.info, ""));
  ListQuery q{.info = t.info,
              .ns = t.ns,
              .options = list_options(req),
              .resource_version = req.param_or("resourceVersion", ""),
              .resource_version_match = req.param_or("resourceVersionMatch", ""),
              .table = wants_table(req.header("accept")),
              .include = parse_include_object(req.param_or("includeObject", "Metadata")),
              .now = static_cast<std::int64_t>(std::time(nullptr))};
  return serve_list(cache_it == caches.end() ? nullptr : cache_it->second.get(), *registry,
                    *options.store, q);
}

HttpResponse ApiHandler::Impl::watch(const HttpRequest& req, const Target& t) {
  const ResourceInfo& info = *t.info;
  auto lo = list_options(req);
  auto sel = Selection::compile(info, lo.label_selector, lo.field_selector);
  if (!sel.ok()) return error_response(sel.error());
  auto cache_it = caches.find(Registry::prefix_for(info, ""));
  if (cache_it == caches.end()) return error_response(internal_api_error("no watch cache"));
  WatchStreamOptions wo;
  wo.info = &info;
  wo.key_prefix = Registry::prefix_for(info, t.ns);
  wo.selection = *sel;
  wo.table = wants_table(req.header("accept"));
  wo.include = parse_include_object(req.param_or("includeObject", "Metadata"));
  wo.bookmarks = req.param_or("allowWatchBookmarks", "") == "true";
  wo.cache = cache_it->second.get();
  std::string rv = req.param_or("resourceVersion", "");
  if (!wo.cache->ready()) return error_response(too_many_requests_error("storage is (re)initializing"));
  if (rv.empty() || rv == "0") {
    // "Get state and start at most recent": the current objects as ADDED;
    // without a resourceVersion, a consistent state (as a list).
    if (rv.empty()) {
      auto fresh = wait_consistent(*wo.cache, *options.store, cache_it->first);
      if (!fresh.ok()) return error_response(fresh.error());
    }
    wo.send_initial = true;
  } else {
    try {
      wo.from_revision = std::stoll(rv);
    } catch (const std::exception&) {
      return error_response(bad_request_error("invalid resource version: " + rv));
    }
  }
  metrics.watchers.fetch_add(1);
  wo.on_finished = [this] { metrics.watchers.fetch_sub(1); };
  auto stream = std::make_shared<WatchStream>(std::move(wo));
  HttpResponse resp;
  resp.status = 200;
  resp.content_type = "application/json";
  resp.stream = stream;
  std::int64_t timeout = 0;
  try {
    timeout = std::stoll(req.param_or("timeoutSeconds", "0"));
  } catch (const std::exception&) {
    timeout = 0;
  }
  if (timeout <= 0) timeout = 1800 + std::rand() % 1800;  // upstream: 30–60 min
  if (options.schedule) {
    std::weak_ptr<WatchStream> weak = stream;
    options.schedule(std::chrono::seconds(timeout), [weak] {
      if (auto s = weak.lock()) s->cancel();
    });
  }
  return resp;
}

}  // namespace kedge::control

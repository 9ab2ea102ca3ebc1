#include "hooks.h"

#include <thread>

#include <boost/json.hpp>

namespace kedge::agent::detail {

namespace json = boost::json;

namespace {

const json::object* handler_of(const api::Container& c, HookKind kind) {
  if (!c.lifecycle.is_object()) return nullptr;
  const auto* h = c.lifecycle.as_object().if_contains(kind == HookKind::kPostStart ? "postStart" : "preStop");
  return h && h->is_object() ? &h->as_object() : nullptr;
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The handler as the probe runner's input: the API server validated its shape.
api::Probe as_probe(const json::object& h, std::chrono::seconds timeout) {
  api::Probe p;
  p.timeout_seconds = static_cast<std::int32_t>(std::max<std::int64_t>(1, timeout.count()));
  if (const auto* exec = object_at(h, "exec")) {
    p.kind = api::Probe::Kind::kExec;
    if (const auto* cmd = exec->if_contains("command"); cmd && cmd->is_array()) {
      for (const auto& a : cmd->as_array()) {
        if (a.is_string()) p.command.emplace_back(a.as_string());
      }
    }
  } else if (const auto* http = object_at(h, "httpGet")) {
    p.kind = api::Probe::Kind::kHttpGet;
    p.path = string_at(*http, "path");
    p.host = string_at(*http, "host");
    if (std::string scheme = string_at(*http, "scheme"); !scheme.empty()) p.scheme = scheme;
    if (const auto* port = http->if_contains("port")) {
      if (port->is_int64()) p.port = api::IntOrString::of(port->as_int64());
      if (port->is_string()) p.port = api::IntOrString::of(std::string(port->as_string()));
    }
    if (const auto* headers = http->if_contains("httpHeaders"); headers && headers->is_array()) {
      for (const auto& e : headers->as_array()) {
        if (!e.is_object()) continue;
        p.http_headers.emplace_back(string_at(e.as_object(), "name"), string_at(e.as_object(), "value"));
      }
    }
  }
  return p;
}

}  // namespace

bool has_hook(const api::Container& container, HookKind kind) { return handler_of(container, kind) != nullptr; }

ProbeOutcome run_hook(HookKind kind, const api::Container& container, const std::string& container_id,
                      const std::string& pod_ip, cri::RuntimeClient& runtime, std::chrono::seconds timeout) {
  const json::object* h = handler_of(container, kind);
  if (h == nullptr) return {true, ""};
  if (const auto* sleep = object_at(*h, "sleep")) {
    std::int64_t seconds = 0;
    if (const auto* s = sleep->if_contains("seconds"); s && s->is_int64()) seconds = s->as_int64();
    std::this_thread::sleep_for(std::min(std::chrono::seconds(std::max<std::int64_t>(seconds, 0)), timeout));
    return {true, ""};
  }
  if (object_at(*h, "tcpSocket") != nullptr) {
    return {false, "tcpSocket is not supported as a lifecycle handler"};
  }
  const api::Probe probe = as_probe(*h, timeout);
  if (probe.kind == api::Probe::Kind::kNone) return {false, "the lifecycle handler names no action"};
  return run_probe(probe, container, container_id, pod_ip, runtime);
}

}  // namespace kedge::agent::detail

#include "kedge/control/local_client.h"

#include <memory>
#include <string>
#include <string_view>

namespace kedge::control {

namespace {

// The identity of the admin kubeconfig the server writes: CN system:admin,
// O system:masters.
UserInfo local_admin() {
  return UserInfo{.name = "system:admin", .groups = {"system:masters", "system:authenticated"}, .authenticated = true};
}

HttpRequest to_server_request(const client::HttpRequest& in) {
  HttpRequest out;
  out.method = in.method;
  std::string_view target = in.path;
  const auto q = target.find('?');
  out.path = percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) out.query = parse_query(target.substr(q + 1));
  if (!in.body.empty()) out.headers["content-type"] = in.content_type;
  out.headers["accept"] = in.accept;
  out.headers["user-agent"] = "kedge-in-process";
  out.body = in.body;
  out.user = local_admin();
  return out;
}

// Collects a finite streamed body (a large list is written in chunks).
class CollectingSink final : public StreamSink {
 public:
  bool write(std::string chunk) override {
    body += chunk;
    return true;
  }
  void close() override { closed = true; }
  std::string body;
  bool closed = false;
};

bool wants_stream(const HttpRequest& r) {
  for (const char* key : {"watch", "follow"}) {
    const std::string v = r.param_or(key, "");
    if (v == "true" || v == "1") return true;
  }
  return false;
}

}  // namespace

client::LocalRoundTrip local_round_trip(ApiServer& server) {
  return [&server](const client::HttpRequest& request) -> Result<client::HttpResponse> {
    HttpRequest req = to_server_request(request);
    if (wants_stream(req)) {
      return unimplemented(request.method + " " + request.path +
                           ": watches and follows are not served in-process (use the network client)");
    }
    HttpResponse resp = server.serve_local(req);
    if (resp.websocket) {
      return unimplemented(request.method + " " + request.path + ": upgrades are not served in-process");
    }
    if (resp.stream) {
      // A finite body written in chunks (a large list): its source writes
      // everything before start() returns.
      auto sink = std::make_shared<CollectingSink>();
      resp.stream->start(sink);
      if (!sink->closed) {
        resp.stream->cancel();
        return internal_error(request.method + " " + request.path + ": streamed answer did not end");
      }
      resp.body = std::move(sink->body);
    }
    client::HttpResponse out{.status = resp.status, .body = std::move(resp.body), .content_type = resp.content_type};
    for (auto& [name, value] : resp.headers) {
      if (name == "Warning" || name == "warning") out.warnings.push_back(std::move(value));
    }
    return out;
  };
}

}  // namespace kedge::control

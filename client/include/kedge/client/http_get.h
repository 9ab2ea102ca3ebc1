// One-off HTTP(S) GETs that only want the status: the kubelet's httpGet
// probes. Same Beast/OpenSSL transport as RestClient, but no pool, no
// keep-alive and no certificate verification: upstream's prober does not
// verify either (a probe asks whether the container answers, not who it is).
//
// Thread-safety: get_status() may be called from any thread concurrently; it
// blocks its caller for at most options.timeout.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::client {

struct GetOptions {
  std::string url;  // http:// or https://; an IPv6 host in brackets
  // Sent on every request; one named Host, User-Agent or Accept replaces the
  // default (URL authority, user_agent, "*/*"). Others may repeat.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "kedge";
  std::chrono::milliseconds timeout{1000};  // the whole exchange, redirects included
  // Redirects to the same host name (any port or scheme) are followed, up
  // to this many; one to another host is not, and its 3xx answer is the
  // result. Both as upstream's prober (followNonLocalRedirects=false).
  int max_redirects = 10;
};

struct GetStatus {
  long status = 0;
  std::string url;  // the URL that gave this answer (after redirects)
};

// The final answer's status; the body is not read. Errors:
// InvalidArgument (bad URL), DeadlineExceeded (timeout), Unavailable
// (resolve, connect, TLS, HTTP or too many redirects), messages like
// "connect: Connection refused".
Result<GetStatus> get_status(const GetOptions& options);

}  // namespace kedge::client

#include "kedge/client/http_get.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <strings.h>

#include <boost/beast/http/empty_body.hpp>

#include "http_connection.h"

namespace kedge::client {

using detail::Clock;
namespace net = detail::net;
namespace beast = detail::beast;
namespace http = detail::http;

namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Created on first use and shared by every probe: verification is off, so
// it holds no CA store, only settings.
net::ssl::context& insecure_context() {
  static net::ssl::context ctx = [] {
    net::ssl::context c(net::ssl::context::tls_client);
    c.set_verify_mode(net::ssl::verify_none);
    return c;
  }();
  return ctx;
}

// `location` (absolute, scheme-relative, absolute-path or relative) against
// the URL that answered with it.
std::string resolve_location(const detail::Url& base, std::string_view location) {
  const std::string scheme = base.tls ? "https:" : "http:";
  if (location.find("://") != std::string_view::npos) return std::string(location);
  if (location.starts_with("//")) return scheme + std::string(location);
  const std::string origin = scheme + "//" + base.authority;
  if (location.starts_with("/")) return origin + std::string(location);
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  if (dir.empty()) dir = "/";
  return origin + dir + std::string(location);
}

Result<GetStatus> get_status_or_throw(const GetOptions& options) {
  const auto deadline = Clock::now() + options.timeout;
  KEDGE_ASSIGN_OR_RETURN(detail::Url url, detail::parse_url(options.url));
  const std::string first_host = url.host;
  std::string current = options.url;
  for (int redirects = 0;; ++redirects) {
    net::io_context ioc{1};
    detail::Connection connection(ioc, url.tls ? &insecure_context() : nullptr, false);
    const char* step = "";
    if (auto ec = connection.open(url, deadline, step)) return detail::step_failure(detail::describe(step, ec, connection), ec, Clock::now() >= deadline);

    http::request<http::string_body> m{http::verb::get, url.target.empty() ? "/" : url.target, 11};
    auto custom = [&](http::field f) {
      return std::any_of(options.headers.begin(), options.headers.end(),
                         [&](const auto& h) { return same_name(h.first, http::to_string(f)); });
    };
    if (!custom(http::field::host)) m.set(http::field::host, url.authority);
    if (!custom(http::field::user_agent)) m.set(http::field::user_agent, options.user_agent);
    if (!custom(http::field::accept)) m.set(http::field::accept, "*/*");
    for (const auto& [name, value] : options.headers) m.insert(name, value);
    m.set(http::field::connection, "close");

    connection.set_deadline(deadline);
    http::response_parser<http::empty_body> parser;
    parser.header_limit(detail::kHeaderLimit);
    step = "write";
    auto ec = connection.write(m);
    if (!ec) {
      step = "read";
      ec = connection.read_header(parser);
    }
    if (ec) return detail::step_failure(detail::describe(step, ec, connection), ec, Clock::now() >= deadline);
    connection.close();

    const long status = static_cast<long>(parser.get().result_int());
    const auto location = parser.get()[http::field::location];
    if (status < 300 || status >= 400 || location.empty()) return GetStatus{.status = status, .url = current};
    std::string next = resolve_location(url, location);
    auto next_url = detail::parse_url(next);
    if (!next_url.ok()) return unavailable("redirect to " + next + ": " + next_url.status().message());
    if (next_url->host != first_host) return GetStatus{.status = status, .url = current};
    if (redirects >= options.max_redirects) {
      return unavailable("stopped after " + std::to_string(options.max_redirects) + " redirects");
    }
    url = std::move(*next_url);
    current = std::move(next);
  }
}

}  // namespace

Result<GetStatus> get_status(const GetOptions& options) {
  try {
    return get_status_or_throw(options);
  } catch (const std::exception& e) {
    // Asio/OpenSSL out of descriptors or memory; see RestClient::request.
    return unavailable(std::string("GET failed: ") + e.what());
  }
}

}  // namespace kedge::client

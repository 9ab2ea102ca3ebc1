#include "kedge/proxy/status_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kedge/base/log.h"

namespace kedge::proxy {
namespace {

// Prometheus label values escape backslash, quote and newline.
std::string label_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string render_metrics(const ProxierStats& st) {
  std::string m;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
         std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + buf + "\n";
  };
  counter("kedge_proxy_syncs_total", "Syncs attempted.", st.syncs);
  counter("kedge_proxy_full_syncs_total", "Syncs that rewrote the whole table.", st.full_syncs);
  counter("kedge_proxy_sync_failures_total", "Syncs the kernel refused or that could not be sent.", st.sync_failures);
  counter("kedge_proxy_invalid_objects_total", "Services/EndpointSlices rejected as invalid.", st.invalid_objects);
  counter("kedge_proxy_conntrack_deleted_total", "Stale UDP conntrack entries deleted.", st.conntrack_deleted);
  m += "# HELP kedge_proxy_sync_duration_seconds Time to build and program one sync.\n"
       "# TYPE kedge_proxy_sync_duration_seconds histogram\n";
  for (std::size_t i = 0; i < kSyncDurationBuckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kSyncDurationBuckets[i]);
    m += std::string("kedge_proxy_sync_duration_seconds_bucket{le=\"") + le + "\"} " +
         std::to_string(st.sync_duration_buckets[i]) + "\n";
  }
  m += "kedge_proxy_sync_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(st.syncs) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.9g", st.sync_duration_sum_seconds);
  m += std::string("kedge_proxy_sync_duration_seconds_sum ") + sum + "\n";
  m += "kedge_proxy_sync_duration_seconds_count " + std::to_string(st.syncs) + "\n";
  gauge("kedge_proxy_chains", "Chains installed by the last successful sync.", static_cast<double>(st.chains));
  gauge("kedge_proxy_rules", "Rules installed by the last successful sync.", static_cast<double>(st.rules));
  gauge("kedge_proxy_elements", "Set and map elements installed by the last successful sync.",
        static_cast<double>(st.elements));
  gauge("kedge_proxy_last_sync_ok", "1 if the last sync succeeded.", st.last_sync_ok ? 1 : 0);
  m += "# HELP kedge_proxy_last_error The last error (sync or invalid object), as a label.\n"
       "# TYPE kedge_proxy_last_error gauge\n";
  m += "kedge_proxy_last_error{error=\"" + label_escape(st.last_error) + "\"} " + (st.last_error.empty() ? "0" : "1") +
       "\n";
  return m;
}

Result<std::unique_ptr<StatusServer>> StatusServer::start(const std::string& address, const Proxier& proxier) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return invalid_argument("status address \"" + address + "\": want host:port");
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port < 0 || port > 65535) {
    return invalid_argument("status address \"" + address + "\": bad port");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *a4;
  } else if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *a6;
  } else {
    return invalid_argument("status address \"" + address + "\": host must be an IP address");
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return internal_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
    int e = errno;
    ::close(fd);
    return unavailable("status address " + address + ": " + std::strerror(e));
  }
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ::close(fd);
    return internal_error("getsockname failed");
  }
  const std::uint16_t bound = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) {
    ::close(fd);
    return internal_error("pipe2 failed");
  }
  return std::unique_ptr<StatusServer>(new StatusServer(fd, wake[0], wake[1], bound, proxier));
}

StatusServer::StatusServer(int listen_fd, int wake_read, int wake_write, std::uint16_t port, const Proxier& proxier)
    : listen_fd_(listen_fd), wake_read_(wake_read), wake_write_(wake_write), port_(port), proxier_(proxier) {
  thread_ = std::thread([this] { serve(); });
}

StatusServer::~StatusServer() {
  stop();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

void StatusServer::stop() {
  if (!thread_.joinable()) return;
  if (::write(wake_write_, "x", 1) < 0) {
  }
  thread_.join();
}

void StatusServer::serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::logger("proxy")->error("status server: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    answer(fd);
    ::close(fd);
  }
}

void StatusServer::answer(int fd) {
  // A local scrape sends its request at once; bound the wait so a silent
  // client cannot hold the thread.
  std::string req;
  char buf[2048];
  while (req.find("\r\n") == std::string::npos && req.size() < 8192) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<std::size_t>(n));
  }
  const auto line_end = req.find("\r\n");
  const std::string line = req.substr(0, line_end);
  std::string path;
  if (line.rfind("GET ", 0) == 0) path = line.substr(4, line.find(' ', 4) - 4);
  int code = 200;
  std::string body, type = "text/plain; charset=utf-8";
  const ProxierStats st = proxier_.stats();
  if (path == "/healthz" || path == "/livez") {
    if (st.last_sync_ok) {
      body = "ok\n";
    } else {
      code = 503;
      body = st.syncs == 0 ? "not synced yet\n" : "last sync failed: " + st.last_error + "\n";
    }
  } else if (path == "/metrics") {
    body = render_metrics(st);
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    code = path.empty() ? 405 : 404;
    body = path.empty() ? "only GET\n" : "not found: " + path + "\n";
  }
  const char* reason = code == 200 ? "OK" : code == 503 ? "Service Unavailable" : code == 404 ? "Not Found" : "Method Not Allowed";
  write_all(fd, "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
}

}  // namespace kedge::proxy

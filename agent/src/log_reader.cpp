#include "kedge/agent/log_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <deque>
#include <vector>

#include "kedge/base/log.h"

namespace kedge::agent {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

constexpr std::size_t kReadBlock = 64 * 1024;
constexpr std::size_t kFlushBytes = 32 * 1024;

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "<n>.log" → n; -1 for anything else (rotated "<n>.log.<time>", .gz, ...).
long restart_number(const std::string& name) {
  if (name.size() < 5 || !name.ends_with(".log")) return -1;
  std::string_view digits(name.data(), name.size() - 4);
  long n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return ec == std::errc() && p == digits.data() + digits.size() ? n : -1;
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { reset(-1); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Turns CRI lines into output entries; owns filtering, tail, limit and the
// output buffer. Single-threaded.
class EntryWriter {
 public:
  EntryWriter(const LogOptions& options, const LogSink& sink) : options_(options), sink_(sink) {
    if (options.tail_lines) tail_mode_ = true;
  }

  // False once output must stop (limit reached or sink refused).
  bool feed_line(std::string_view line) {
    auto parsed = parse_cri_log_line(line);
    if (!parsed) {
      ++malformed_;
      return true;
    }
    if (!has_pending_) {
      pending_ts_.assign(parsed->timestamp);
      pending_content_.clear();
      has_pending_ = true;
    }
    pending_content_.append(parsed->content);
    if (parsed->partial) return true;
    has_pending_ = false;
    return deliver(pending_ts_, pending_content_, true);
  }

  // End of the initial read: the tail window goes out.
  bool end_initial() {
    tail_mode_ = false;
    while (!ring_.empty()) {
      auto& e = ring_.front();
      if (!emit(e.ts, e.content, e.newline)) return false;
      ring_.pop_front();
    }
    return flush();
  }

  // End of a non-followed log: a partial entry with no end goes out as is
  // (before the tail window, which it belongs to).
  bool end_of_log() {
    if (has_pending_) {
      has_pending_ = false;
      if (!deliver(pending_ts_, pending_content_, false)) return false;
    }
    return end_initial();
  }

  bool flush() {
    if (out_.empty()) return !stopped_;
    bool ok = sink_(out_);
    out_.clear();
    if (!ok) stopped_ = true;
    return !stopped_;
  }

  bool stopped() const { return stopped_; }
  std::size_t malformed() const { return malformed_; }
  bool container_stopped() const { return options_.container_running && !options_.container_running(); }
  int wait_timeout_ms() const {
    return options_.container_running ? static_cast<int>(options_.running_check_interval.count()) : -1;
  }

 private:
  bool deliver(const std::string& ts, const std::string& content, bool newline) {
    if (options_.since) {
      auto t = parse_rfc3339(ts);
      if (t.ok() && *t < *options_.since) return true;
    }
    if (tail_mode_) {
      if (*options_.tail_lines <= 0) return true;
      ring_.push_back({ts, content, newline});
      if (static_cast<std::int64_t>(ring_.size()) > *options_.tail_lines) ring_.pop_front();
      return true;
    }
    return emit(ts, content, newline);
  }

  bool emit(std::string_view ts, std::string_view content, bool newline) {
    if (stopped_) return false;
    std::string entry;
    entry.reserve(ts.size() + content.size() + 2);
    if (options_.timestamps) {
      entry.append(ts);
      entry.push_back(' ');
    }
    entry.append(content);
    if (newline) entry.push_back('\n');
    if (options_.limit_bytes) {
      std::int64_t left = *options_.limit_bytes - written_;
      if (left <= 0) return stop_at_limit();
      if (static_cast<std::int64_t>(entry.size()) > left) entry.resize(static_cast<std::size_t>(left));
    }
    written_ += static_cast<std::int64_t>(entry.size());
    out_ += entry;
    if (out_.size() >= kFlushBytes && !flush()) return false;
    if (options_.limit_bytes && written_ >= *options_.limit_bytes) return stop_at_limit();
    return true;
  }

  bool stop_at_limit() {
    flush();
    stopped_ = true;
    return false;
  }

  const LogOptions& options_;
  const LogSink& sink_;
  bool tail_mode_ = false;
  struct Entry {
    std::string ts, content;
    bool newline;
  };
  std::deque<Entry> ring_;
  std::string pending_ts_, pending_content_;
  bool has_pending_ = false;
  std::string out_;
  std::int64_t written_ = 0;
  bool stopped_ = false;
  std::size_t malformed_ = 0;
};

// Reads `fd` from its offset to EOF, feeding whole lines; the bytes after the
// last newline stay in `carry` for the next call.
Status drain(int fd, std::string& carry, EntryWriter& writer) {
  std::vector<char> buf(kReadBlock);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("reading container log", errno);
    }
    if (n == 0) return ok_status();
    carry.append(buf.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (!writer.feed_line(std::string_view(carry).substr(start, nl - start))) return ok_status();
    }
    carry.erase(0, start);
  }
}

struct FollowState {
  bool rotated = false;    // the file was renamed away (log rotation)
  bool ended = false;      // deleted, or a newer restart's log appeared
};

Status read_inotify(int ifd, int file_wd, long current_restart, const std::string& file_name,
                    FollowState& st) {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    ssize_t n = ::read(ifd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return ok_status();
      return errno_status("reading inotify events", errno);
    }
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->wd == file_wd) {
        if (ev->mask & IN_MOVE_SELF) st.rotated = true;
        if (ev->mask & (IN_DELETE_SELF | IN_UNMOUNT)) st.ended = true;
        continue;
      }
      if (ev->len == 0) continue;
      std::string name(ev->name);
      if (name == file_name) {
        // Removed (our open fd keeps the inode, so no IN_DELETE_SELF comes).
        if (ev->mask & IN_DELETE) st.ended = true;
        continue;
      }
      long r = restart_number(name);
      if (r > current_restart) st.ended = true;
    }
  }
}

Status follow(const fs::path& file, int& fd_ref, FdCloser& fd, std::string& carry, EntryWriter& writer,
              const LogCancel& cancel) {
  FdCloser ifd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (ifd.get() < 0) return errno_status("inotify_init1", errno);
  const std::string name = file.filename().string();
  const long restart = restart_number(name);
  int dir_wd = ::inotify_add_watch(ifd.get(), file.parent_path().c_str(), IN_CREATE | IN_MOVED_TO | IN_DELETE);
  if (dir_wd < 0) return errno_status("watching " + file.parent_path().string(), errno);
  int file_wd = ::inotify_add_watch(ifd.get(), file.c_str(), IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF);
  if (file_wd < 0) return errno_status("watching " + file.string(), errno);
  for (;;) {
    // Watches exist before this read, so no append between read and poll is missed.
    KEDGE_RETURN_IF_ERROR(drain(fd_ref, carry, writer));
    if (!writer.flush()) return ok_status();
    if (writer.container_stopped()) {
      KEDGE_RETURN_IF_ERROR(drain(fd_ref, carry, writer));  // what it wrote before it stopped
      writer.end_of_log();
      return ok_status();
    }
    pollfd pfds[2] = {{ifd.get(), POLLIN, 0}, {cancel.fd(), POLLIN, 0}};
    int rc = ::poll(pfds, 2, writer.wait_timeout_ms());
    if (rc < 0) {
      if (errno == EINTR) continue;
      return errno_status("poll", errno);
    }
    if (pfds[1].revents != 0 || cancel.cancelled()) return ok_status();
    FollowState st;
    KEDGE_RETURN_IF_ERROR(read_inotify(ifd.get(), file_wd, restart, name, st));
    if (st.ended) {
      KEDGE_RETURN_IF_ERROR(drain(fd_ref, carry, writer));
      writer.end_of_log();
      return ok_status();
    }
    if (st.rotated) {
      KEDGE_RETURN_IF_ERROR(drain(fd_ref, carry, writer));
      ::inotify_rm_watch(ifd.get(), file_wd);
      // The runtime reopens its log at the same path; until it exists, the
      // directory watch (IN_CREATE) wakes us.
      for (;;) {
        int nfd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (nfd >= 0) {
          fd.reset(nfd);
          fd_ref = nfd;
          carry.clear();
          file_wd = ::inotify_add_watch(ifd.get(), file.c_str(), IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF);
          break;
        }
        pollfd again[2] = {{ifd.get(), POLLIN, 0}, {cancel.fd(), POLLIN, 0}};
        if (::poll(again, 2, -1) < 0 && errno != EINTR) return errno_status("poll", errno);
        if (again[1].revents != 0 || cancel.cancelled()) return ok_status();
        FollowState ignored;
        KEDGE_RETURN_IF_ERROR(read_inotify(ifd.get(), -1, restart, name, ignored));
        if (ignored.ended) return ok_status();
      }
    }
  }
}

}  // namespace

std::optional<CriLogLine> parse_cri_log_line(std::string_view line) {
  CriLogLine out;
  auto sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0) return std::nullopt;
  out.timestamp = line.substr(0, sp);
  line.remove_prefix(sp + 1);
  if (line.starts_with("stdout ")) {
    out.is_stderr = false;
  } else if (line.starts_with("stderr ")) {
    out.is_stderr = true;
  } else {
    return std::nullopt;
  }
  line.remove_prefix(7);
  // The tag is P or F, possibly followed by other ':'-separated tags.
  sp = line.find(' ');
  std::string_view tag = line.substr(0, sp);
  if (tag.empty()) return std::nullopt;
  if (tag[0] == 'P') {
    out.partial = true;
  } else if (tag[0] != 'F') {
    return std::nullopt;
  }
  out.content = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  return out;
}

Result<Clock::time_point> parse_rfc3339(std::string_view s) {
  auto bad = [&] { return invalid_argument("invalid RFC 3339 time \"" + std::string(s) + "\""); };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    return bad();
  }
  std::tm tm{};
  int year, mon, day, hour, min, sec;
  if (!parse_int(s.substr(0, 4), year) || !parse_int(s.substr(5, 2), mon) || !parse_int(s.substr(8, 2), day) ||
      !parse_int(s.substr(11, 2), hour) || !parse_int(s.substr(14, 2), min) ||
      !parse_int(s.substr(17, 2), sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return bad();
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::size_t i = 19;
  std::int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 9) {
        nanos = nanos * 10 + (s[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (digits == 0) return bad();
    for (; digits < 9; ++digits) nanos *= 10;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
    offset = 0;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh, om;
    if (!parse_int(s.substr(i + 1, 2), oh) || !parse_int(s.substr(i + 4, 2), om)) return bad();
    offset = (oh * 3600L + om * 60L) * (s[i] == '-' ? -1 : 1);
  } else {
    return bad();
  }
  std::time_t t = ::timegm(&tm) - offset;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(t) +
                                                                         std::chrono::nanoseconds(nanos)));
}

LogCancel::LogCancel() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

LogCancel::~LogCancel() {
  if (fd_ >= 0) ::close(fd_);
}

void LogCancel::cancel() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

bool LogCancel::cancelled() const {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

Result<fs::path> find_container_log(const fs::path& pod_log_dir, std::string_view ns, std::string_view pod,
                                    std::string_view container, bool previous, std::string_view uid) {
  const std::string prefix = std::string(ns) + "_" + std::string(pod) + "_";
  std::error_code ec;
  fs::path pod_dir;
  fs::file_time_type newest{};
  for (const auto& entry : fs::directory_iterator(pod_log_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix) || !entry.is_directory(ec)) continue;
    if (!uid.empty() && name != prefix + std::string(uid)) continue;
    auto t = entry.last_write_time(ec);
    if (pod_dir.empty() || t > newest) {
      pod_dir = entry.path();
      newest = t;
    }
  }
  if (pod_dir.empty()) {
    return not_found("no logs for pod \"" + std::string(pod) + "\" in namespace \"" + std::string(ns) +
                     "\" on this node (" + (pod_log_dir / (prefix + "*")).string() + ")");
  }
  fs::path dir = pod_dir / std::string(container);
  std::vector<long> restarts;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    long n = restart_number(entry.path().filename().string());
    if (n >= 0) restarts.push_back(n);
  }
  std::sort(restarts.begin(), restarts.end());
  if (restarts.empty()) {
    return not_found("container \"" + std::string(container) + "\" in pod \"" + std::string(pod) +
                     "\" has no logs yet");
  }
  if (previous) {
    if (restarts.size() < 2) {
      return not_found("previous terminated container \"" + std::string(container) + "\" in pod \"" +
                       std::string(pod) + "\" not found");
    }
    return dir / (std::to_string(restarts[restarts.size() - 2]) + ".log");
  }
  return dir / (std::to_string(restarts.back()) + ".log");
}

Status read_container_log(const fs::path& file, const LogOptions& options, const LogSink& sink,
                          const LogCancel* cancel) {
  FdCloser fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_status("opening " + file.string(), errno);
  EntryWriter writer(options, sink);
  std::string carry;
  KEDGE_RETURN_IF_ERROR(drain(fd.get(), carry, writer));
  Status result;
  if (writer.stopped()) {
    // limit reached during the first read
  } else if (options.follow && cancel != nullptr) {
    // The file may grow after drain() saw EOF; follow() drains again once
    // its watches exist, so nothing is lost.
    if (writer.end_initial()) {
      int raw = fd.get();
      result = follow(file, raw, fd, carry, writer, *cancel);
    }
  } else {
    if (!carry.empty() && writer.feed_line(carry)) carry.clear();  // a last line without '\n'
    writer.end_of_log();
  }
  if (writer.malformed() > 0) {
    log::logger("agent-api")->warn("{}: skipped {} lines not in CRI log format", file.string(),
                                   writer.malformed());
  }
  return result;
}

}  // namespace kedge::agent

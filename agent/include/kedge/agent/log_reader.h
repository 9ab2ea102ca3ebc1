// Container logs in the CRI format, as the runtime writes them and the agent
// API serves them (`kubectl logs`).
//
// Layout (upstream's, which log shippers also expect):
//   <pod_log_dir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log
// One line per write: `<RFC3339Nano> <stdout|stderr> <P|F> <content>`. A
// line longer than the runtime's buffer is split into P (partial) pieces
// ended by an F (full) piece; the reader joins them into one entry.
//
// Output: each entry's content plus "\n"; with timestamps, prefixed by the
// entry's (first piece's) timestamp and a space, as `kubectl logs
// --timestamps` prints. Lines that do not parse are skipped (logged once per
// read), so one corrupt line does not hide the rest of the log.
//
// Thread-safety: free functions, reentrant. A LogCancel may be cancelled from
// any thread while a reader on another thread follows the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kedge/base/status.h"

namespace kedge::agent {

struct LogOptions {
  // Keep streaming lines as they are appended until the container's log
  // ends (deleted, or a newer restart's log appears), the sink refuses, or
  // the LogCancel fires. A rotated file (renamed away) is drained and the new
  // file at the same path is followed from its start, as upstream does.
  bool follow = false;
  std::optional<std::int64_t> tail_lines;                        // last N entries
  std::optional<std::chrono::system_clock::time_point> since;   // entries at or after
  bool timestamps = false;
  std::optional<std::int64_t> limit_bytes;  // stop after this many output bytes
  // While following: false once the container stopped, which ends the
  // follow after draining the file (as upstream's kubelet asks its
  // runtime). Asked at every wait and every running_check_interval while
  // idle (an exit writes nothing to the log). Unset: follow until the log
  // ends or the cancel fires.
  std::function<bool()> container_running;
  std::chrono::milliseconds running_check_interval{std::chrono::seconds(2)};
};

struct CriLogLine {
  std::string_view timestamp;  // as written (RFC3339Nano)
  bool is_stderr = false;
  bool partial = false;        // P: continued by the next line of the stream
  std::string_view content;
};

// Parses one line (without its '\n'); nullopt when it is not CRI format.
std::optional<CriLogLine> parse_cri_log_line(std::string_view line);

// RFC 3339 with optional fraction (up to ns) and Z or ±hh:mm.
Result<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// Wakes a following reader so it returns at once. Owns an eventfd.
class LogCancel {
 public:
  LogCancel();
  ~LogCancel();
  LogCancel(const LogCancel&) = delete;
  LogCancel& operator=(const LogCancel&) = delete;
  void cancel();
  bool cancelled() const;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Receives output; returns false to stop reading (the client left).
// Called on the reader's thread, in order, with non-empty chunks.
using LogSink = std::function<bool(std::string_view chunk)>;

// The log file of `container` in pod `ns/pod`: the newest pod directory for
// that name (or the one of `uid` when given), then the highest restart count
// (or, with `previous`, the one before it). NotFound names what is missing:
// the pod's log directory, the container's, or a previous instance.
Result<std::filesystem::path> find_container_log(const std::filesystem::path& pod_log_dir,
                                                 std::string_view ns, std::string_view pod,
                                                 std::string_view container, bool previous,
                                                 std::string_view uid = {});

// Writes `file` to `sink` as `options` say. Blocks while following; returns
// OK when the log ended, the limit was reached, the sink refused or `cancel`
// fired. `cancel` may be null when not following.
Status read_container_log(const std::filesystem::path& file, const LogOptions& options,
                          const LogSink& sink, const LogCancel* cancel = nullptr);

}  // namespace kedge::agent

#include "kedge/agent/containerd_supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

#include "kedge/agent/host.h"
#include "kedge/agent/oci_image.h"
#include "kedge/base/log.h"
#include "kedge/cri/runtime_client.h"

namespace kedge::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> logger() { return log::logger("containerd"); }

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

Status write_file(const fs::path& path, const std::string& content) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << content;
    f.flush();
    if (!f) return internal_error("write " + tmp.string() + ": I/O error");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return internal_error("rename " + tmp.string() + ": " + ec.message());
  return ok_status();
}

std::string describe_exit(int code) {
  if (code > 128) return "was killed by signal " + std::to_string(code - 128);
  return "exited with code " + std::to_string(code);
}

}  // namespace

ContainerdSupervisor::ContainerdSupervisor(ContainerdSupervisorOptions options)
    : options_(std::move(options)),
      paths_{.dir = options_.data_dir / "containerd",
             .config = options_.data_dir / "containerd" / "config.toml",
             .socket = options_.data_dir / "containerd" / "containerd.sock",
             .log = options_.data_dir / "containerd" / "containerd.log",
             .root = options_.data_dir / "containerd" / "root",
             .state = options_.data_dir / "containerd" / "state",
             .cni_conf_dir = options_.data_dir / "agent" / "cni" / "net.d",
             .ipam_dir = options_.cni.ipam_data_dir.empty() ? options_.data_dir / "agent" / "cni" / "ipam"
                                                            : options_.cni.ipam_data_dir} {}

ContainerdSupervisor::~ContainerdSupervisor() { stop(); }

std::string ContainerdSupervisor::endpoint() const { return "unix://" + paths_.socket.string(); }
std::string ContainerdSupervisor::snapshotter() const { return snapshotter_; }
bool ContainerdSupervisor::restricts_oom_score_adj() const { return restrict_oom_; }

bool ContainerdSupervisor::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

pid_t ContainerdSupervisor::pid() const {
  std::lock_guard lock(mu_);
  return pid_;
}

int ContainerdSupervisor::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

Status ContainerdSupervisor::start() {
  if (thread_.joinable() || stop_fd_ >= 0) return failed_precondition("containerd supervisor already started");
  std::error_code ec;
  for (const auto& d : {paths_.dir, paths_.root, paths_.state, paths_.cni_conf_dir, paths_.ipam_dir}) {
    fs::create_directories(d, ec);
    if (ec) return internal_error("create " + d.string() + ": " + ec.message());
  }
  // The socket grants full control of every container: root only.
  fs::permissions(paths_.dir, fs::perms::owner_all, ec);

  KEDGE_ASSIGN_OR_RETURN(auto caps, current_capabilities());
  restrict_oom_ = !caps.has_effective(kCapSysResource);
  if (restrict_oom_) {
    logger()->warn(
        "this process lacks CAP_SYS_RESOURCE, so nothing it starts may lower oom_score_adj: setting "
        "restrict_oom_score_adj = true in containerd's CRI config (otherwise runc fails every "
        "RunPodSandbox with \"can't get final child's PID from pipe\")");
  }

  if (!options_.force_snapshotter.empty()) {
    snapshotter_ = options_.force_snapshotter;
  } else {
    auto overlay = check_overlayfs(paths_.dir / "overlay-check");
    snapshotter_ = overlay.supported ? "overlayfs" : "native";
    if (!overlay.supported) {
      logger()->warn("overlayfs unusable ({}); using the native snapshotter (full copies, slower)", overlay.reason);
    }
  }

  ContainerdConfig config{.root = paths_.root,
                          .state = paths_.state,
                          .address = paths_.socket,
                          .sandbox_image = options_.sandbox_image.empty() ? std::string(kPauseImageName)
                                                                          : options_.sandbox_image,
                          .restrict_oom_score_adj = restrict_oom_,
                          .snapshotter = snapshotter_,
                          .cni_bin_dir = options_.cni_bin_dir,
                          .cni_conf_dir = paths_.cni_conf_dir,
                          .log_level = options_.log_level};
  KEDGE_ASSIGN_OR_RETURN(auto toml, render_containerd_config(config));
  CniConfig cni = options_.cni;
  cni.ipam_data_dir = paths_.ipam_dir;
  KEDGE_ASSIGN_OR_RETURN(auto conflist, render_cni_conflist(cni));
  KEDGE_RETURN_IF_ERROR(write_file(paths_.config, toml));
  // containerd loads the first conflist by name; leave only ours.
  const std::string conflist_name = "10-" + cni.network_name + ".conflist";
  for (const auto& entry : fs::directory_iterator(paths_.cni_conf_dir, ec)) {
    if (entry.path().filename() != conflist_name) fs::remove_all(entry.path(), ec);
  }
  KEDGE_RETURN_IF_ERROR(write_file(paths_.cni_conf_dir / conflist_name, conflist));

  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) return errno_status("eventfd", errno);
  logger()->info("starting containerd: config {}, socket {}, snapshotter {}, pod CIDR {} on bridge {}",
                 paths_.config.string(), paths_.socket.string(), snapshotter_, cni.pod_cidr, cni.bridge);
  thread_ = std::thread([this] { run(); });
  return ok_status();
}

Status ContainerdSupervisor::wait_ready(milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return ready_ || finished_; });
  if (ready_) return ok_status();
  return unavailable("containerd is not ready after " + std::to_string(timeout.count()) + " ms" +
                     (last_error_.empty() ? std::string() : ": " + last_error_) + " (its log: " +
                     paths_.log.string() + ")");
}

void ContainerdSupervisor::stop() {
  std::call_once(stop_once_, [this] {
    if (stop_fd_ >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof(one));
    }
    if (thread_.joinable()) thread_.join();
    if (stop_fd_ >= 0) ::close(stop_fd_);
  });
}

void ContainerdSupervisor::set_error(const std::string& message) {
  logger()->error("{}", message);
  std::lock_guard lock(mu_);
  last_error_ = message;
}

bool ContainerdSupervisor::wait_stop_requested(milliseconds timeout) {
  pollfd p{.fd = stop_fd_, .events = POLLIN, .revents = 0};
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(0, left)));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

Status ContainerdSupervisor::wait_until_answering(ChildProcess& child) {
  const auto start = Clock::now();
  const auto deadline = start + options_.ready_timeout;
  milliseconds interval{25};
  while (true) {
    // Sleep in poll on both the child and the stop request; containerd
    // usually answers within a few hundred milliseconds.
    pollfd fds[2] = {{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                     {.fd = child.pidfd(), .events = POLLIN, .revents = 0}};
    int n = ::poll(fds, 2, static_cast<int>(interval.count()));
    if (n < 0 && errno != EINTR) return errno_status("poll", errno);
    if (n > 0 && (fds[0].revents & POLLIN)) return cancelled("stop requested");
    if (n > 0 && (fds[1].revents & POLLIN)) {
      auto code = child.wait_for(milliseconds(0));
      int c = code.ok() && code->has_value() ? **code : -1;
      return unavailable("containerd " + describe_exit(c) + " before answering on " + paths_.socket.string());
    }
    auto client = cri::connect({.endpoint = endpoint(),
                                .connect_timeout = milliseconds(2000),
                                .request_timeout = milliseconds(5000),
                                .pull_timeout = milliseconds(5000)});
    if (client.ok()) {
      logger()->info("containerd (pid {}) answers CRI Version after {} ms", child.pid(), ms_since(start));
      return ok_status();
    }
    // A missing socket is the normal "still starting"; anything else is worth a debug line.
    if (client.status().code() != Code::kUnavailable) logger()->debug("{}", client.status().message());
    if (Clock::now() >= deadline) {
      return deadline_exceeded("containerd did not answer CRI Version within " +
                               std::to_string(options_.ready_timeout.count()) + " ms: " + client.status().message());
    }
    interval = std::min(interval * 2, milliseconds(500));
  }
}

void ContainerdSupervisor::drain_pods() {
  auto client = cri::connect({.endpoint = endpoint(), .connect_timeout = milliseconds(2000)});
  if (!client.ok()) {
    logger()->error("drain: {}", client.status().message());
    return;
  }
  auto sandboxes = (*client)->list_pod_sandboxes();
  if (!sandboxes.ok()) {
    logger()->error("drain: {}", sandboxes.status().message());
    return;
  }
  int removed = 0;
  for (const auto& s : *sandboxes) {
    Status st = (*client)->stop_pod_sandbox(s.id);
    if (st.ok()) st = (*client)->remove_pod_sandbox(s.id);
    if (st.ok()) {
      ++removed;
    } else {
      logger()->error("drain: pod {}/{}: {}", s.metadata.namespace_name, s.metadata.name, st.message());
    }
  }
  logger()->info("drained {} of {} pod sandboxes", removed, sandboxes->size());
}

void ContainerdSupervisor::shut_down(ChildProcess& child) {
  if (options_.drain_on_stop && ready()) drain_pods();
  {
    std::lock_guard lock(mu_);
    ready_ = false;
  }
  const auto start = Clock::now();
  int code = child.terminate(options_.stop_timeout);
  logger()->info("containerd {} after {} ms (pods {})", describe_exit(code), ms_since(start),
                 options_.drain_on_stop ? "drained" : "left running");
}

ContainerdSupervisor::RunOutcome ContainerdSupervisor::run_once() {
  const auto started = Clock::now();
  auto spawned = spawn({.argv = {options_.containerd_binary, "--config", paths_.config.string()},
                        .output = paths_.log,
                        .parent_death_signal = SIGTERM});
  if (!spawned.ok()) {
    set_error("cannot start containerd: " + spawned.status().message());
    return RunOutcome::kFailed;
  }
  ChildProcess child = std::move(spawned).value();
  {
    std::lock_guard lock(mu_);
    pid_ = child.pid();
  }
  Status answering = wait_until_answering(child);
  if (answering.code() == Code::kCancelled) {
    shut_down(child);
    return RunOutcome::kStopped;
  }
  if (!answering.ok()) {
    set_error(answering.message());
    child.terminate(milliseconds(0));
  } else {
    {
      std::lock_guard lock(mu_);
      ready_ = true;
      last_error_.clear();
    }
    cv_.notify_all();
    // Sleep until containerd exits or stop() is called.
    pollfd fds[2] = {{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                     {.fd = child.pidfd(), .events = POLLIN, .revents = 0}};
    int n;
    do {
      n = ::poll(fds, 2, -1);
    } while (n < 0 && errno == EINTR);
    if (fds[0].revents & POLLIN) {
      shut_down(child);
      return RunOutcome::kStopped;
    }
    auto code = child.wait_for(milliseconds(0));
    set_error("containerd (pid " + std::to_string(pid()) + ") " +
              describe_exit(code.ok() && code->has_value() ? **code : -1) + " after " +
              std::to_string(ms_since(started)) + " ms; see " + paths_.log.string());
  }
  std::lock_guard lock(mu_);
  ready_ = false;
  pid_ = -1;
  return Clock::now() - started >= options_.min_healthy_run ? RunOutcome::kFailedAfterHealthyRun
                                                            : RunOutcome::kFailed;
}

void ContainerdSupervisor::run() {
  milliseconds backoff = options_.initial_backoff;
  while (true) {
    const RunOutcome outcome = run_once();
    if (outcome == RunOutcome::kStopped) break;
    // A containerd that ran long enough counts as healthy: start over.
    if (outcome == RunOutcome::kFailedAfterHealthyRun) backoff = options_.initial_backoff;
    logger()->warn("restarting containerd in {} ms", backoff.count());
    if (wait_stop_requested(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
    std::lock_guard lock(mu_);
    ++restarts_;
  }
  std::lock_guard lock(mu_);
  finished_ = true;
  ready_ = false;
  pid_ = -1;
  cv_.notify_all();
}

}  // namespace kedge::agent

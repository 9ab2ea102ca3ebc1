#include "kedge/agent/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char** environ;

namespace kedge::agent {
namespace {

constexpr std::size_t kMaxCapturedOutput = 1 << 20;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Poll on `fd` for readability for up to `timeout` (negative: forever),
// retrying on EINTR. Returns true when readable.
bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int ms = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Everything the child needs, prepared before fork(): between fork and exec
// in a multi-threaded process only async-signal-safe calls are allowed.
struct ExecPlan {
  std::string path;
  std::vector<std::string> args;
  std::vector<char*> argv;
  int out_fd = -1;
  int parent_death_signal = 0;
  pid_t parent = 0;

  std::vector<std::string> env;
  std::vector<char*> envp;

  void finalize() {
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // containerd finds runc and its shims on PATH; a service manager's
    // minimal PATH may lack the sbin directories runc lives in.
    bool has_path = false;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv(*e);
      if (kv.starts_with("PATH=")) {
        has_path = true;
        for (const char* dir : {"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
          const std::string wrapped = ":" + kv.substr(5) + ":";
          if (wrapped.find(std::string(":") + dir + ":") == std::string::npos) kv += std::string(":") + dir;
        }
      }
      env.push_back(std::move(kv));
    }
    if (!has_path) env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

[[noreturn]] void exec_child(const ExecPlan& plan) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
  ::setpgid(0, 0);
  if (plan.parent_death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, plan.parent_death_signal);
    // The parent may have died before prctl took effect.
    if (::getppid() != plan.parent) ::_exit(126);
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  if (plan.out_fd >= 0) {
    ::dup2(plan.out_fd, STDOUT_FILENO);
    ::dup2(plan.out_fd, STDERR_FILENO);
  }
  // Nothing else of ours may leak into the child: libraries (Asio's
  // acceptors, curl, gRPC) open descriptors without O_CLOEXEC, and a leaked
  // listening socket outlives us in containerd and its shims, holding the
  // API port after kedge has exited.
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);
  }
  ::execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
  static constexpr char kMsg[] = "kedge: exec failed\n";
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  ::_exit(127);
}

Result<ChildProcess> fork_exec(ExecPlan& plan) {
  plan.finalize();
  plan.parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return errno_status("fork", errno);
  if (pid == 0) exec_child(plan);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    Status s = errno_status("pidfd_open", errno);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return s;
  }
  return ChildProcess(pid, pidfd);
}

}  // namespace

Result<std::string> find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return not_found(name + ": not an executable file");
  }
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return not_found("\"" + name + "\" not found on PATH (" + path + ")");
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), pidfd_(other.pidfd_) {
  other.pid_ = -1;
  other.pidfd_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (valid()) terminate(std::chrono::milliseconds(0));
    close_fd();
    pid_ = other.pid_;
    pidfd_ = other.pidfd_;
    other.pid_ = -1;
    other.pidfd_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (valid()) terminate(std::chrono::milliseconds(0));
  close_fd();
}

void ChildProcess::close_fd() {
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

Status ChildProcess::signal(int sig) {
  if (!valid()) return failed_precondition("no child process");
  // pidfd_send_signal cannot hit a recycled pid, unlike kill(2).
  if (::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) != 0) {
    return errno_status("signal child " + std::to_string(pid_), errno);
  }
  return ok_status();
}

Result<std::optional<int>> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  if (!valid()) return failed_precondition("no child process");
  if (!wait_readable(pidfd_, timeout)) return std::optional<int>();
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return errno_status("waitpid " + std::to_string(pid_), errno);
  pid_ = -1;
  close_fd();
  return std::optional<int>(decode_status(status));
}

int ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (!valid()) return -1;
  if (grace.count() > 0) {
    (void)signal(SIGTERM);
    auto r = wait_for(grace);
    if (r.ok() && r->has_value()) return **r;
  }
  (void)signal(SIGKILL);
  auto r = wait_for(std::chrono::milliseconds(-1));
  return r.ok() && r->has_value() ? **r : -1;
}

Result<ChildProcess> spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return invalid_argument("spawn: empty argv");
  ExecPlan plan;
  KEDGE_ASSIGN_OR_RETURN(plan.path, find_executable(options.argv[0]));
  plan.args = options.argv;
  plan.parent_death_signal = options.parent_death_signal;
  int fd = -1;
  if (!options.output.empty()) {
    fd = ::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return errno_status("open " + options.output.string(), errno);
  }
  plan.out_fd = fd;
  auto child = fork_exec(plan);
  if (fd >= 0) ::close(fd);
  return child;
}

Result<CommandOutput> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) return invalid_argument("run: empty argv");
  ExecPlan plan;
  KEDGE_ASSIGN_OR_RETURN(plan.path, find_executable(argv[0]));
  plan.args = argv;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_status("pipe", errno);
  plan.out_fd = pipe_fds[1];
  auto started = fork_exec(plan);
  ::close(pipe_fds[1]);
  if (!started.ok()) {
    ::close(pipe_fds[0]);
    return started.status();
  }
  ChildProcess child = std::move(started).value();
  CommandOutput out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  bool timed_out = false;
  // Read until EOF (every writer closed), then reap.
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(pipe_fds[0], left)) {
      timed_out = true;
      break;
    }
    ssize_t n = ::read(pipe_fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.output.size() < kMaxCapturedOutput) out.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (timed_out) {
    child.terminate(std::chrono::milliseconds(0));
    return deadline_exceeded(argv[0] + " did not finish within " + std::to_string(timeout.count()) +
                             " ms; output so far: " + out.output);
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  KEDGE_ASSIGN_OR_RETURN(auto code, child.wait_for(std::max(left, std::chrono::milliseconds(0))));
  if (!code) {
    child.terminate(std::chrono::milliseconds(0));
    return deadline_exceeded(argv[0] + " closed its output but did not exit in time");
  }
  out.exit_code = *code;
  return out;
}

}  // namespace kedge::agent

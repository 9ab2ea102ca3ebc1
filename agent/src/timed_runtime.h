// TimedRuntime: a RuntimeClient that forwards every call and adds the time
// spent waiting for the runtime to a per-thread counter, so a pod sync can
// tell its own overhead from time inside containerd (bench/agent reports
// both). Two clock reads per call; nothing else.
//
// Thread-safety: as the wrapped client; the counter is thread_local.
#pragma once

#include <chrono>

#include "kedge/cri/runtime_client.h"

namespace kedge::agent::detail {

class TimedRuntime final : public cri::RuntimeClient {
  // Defined first: the forwarding methods below deduce their types from it.
  static std::chrono::nanoseconds& spent() {
    thread_local std::chrono::nanoseconds value{0};
    return value;
  }
  template <typename F>
  auto timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = f();
    spent() += std::chrono::steady_clock::now() - t0;
    return r;
  }

 public:
  explicit TimedRuntime(cri::RuntimeClient& inner) : inner_(inner) {}

  // Time this thread spent in runtime calls since the last take().
  static std::chrono::nanoseconds take() {
    auto t = spent();
    spent() = {};
    return t;
  }

  const std::string& endpoint() const override { return inner_.endpoint(); }
  void cancel_all() override { inner_.cancel_all(); }
  Result<cri::VersionInfo> version() override { return timed([&] { return inner_.version(); }); }
  Result<cri::RuntimeStatus> status(bool verbose) override { return timed([&] { return inner_.status(verbose); }); }
  Result<std::string> run_pod_sandbox(const cri::PodSandboxConfig& c, const std::string& h) override {
    return timed([&] { return inner_.run_pod_sandbox(c, h); });
  }
  Status stop_pod_sandbox(const std::string& id) override { return timed([&] { return inner_.stop_pod_sandbox(id); }); }
  Status remove_pod_sandbox(const std::string& id) override {
    return timed([&] { return inner_.remove_pod_sandbox(id); });
  }
  Result<cri::PodSandboxStatus> pod_sandbox_status(const std::string& id, bool verbose) override {
    return timed([&] { return inner_.pod_sandbox_status(id, verbose); });
  }
  Result<std::vector<cri::PodSandbox>> list_pod_sandboxes(const cri::PodSandboxFilter& f) override {
    return timed([&] { return inner_.list_pod_sandboxes(f); });
  }
  Result<std::string> create_container(const std::string& id, const cri::ContainerConfig& c,
                                       const cri::PodSandboxConfig& s) override {
    return timed([&] { return inner_.create_container(id, c, s); });
  }
  Status start_container(const std::string& id) override { return timed([&] { return inner_.start_container(id); }); }
  Status stop_container(const std::string& id, std::chrono::seconds grace) override {
    return timed([&] { return inner_.stop_container(id, grace); });
  }
  Status remove_container(const std::string& id) override { return timed([&] { return inner_.remove_container(id); }); }
  Result<std::vector<cri::Container>> list_containers(const cri::ContainerFilter& f) override {
    return timed([&] { return inner_.list_containers(f); });
  }
  Result<cri::ContainerStatus> container_status(const std::string& id, bool verbose) override {
    return timed([&] { return inner_.container_status(id, verbose); });
  }
  Status update_container_resources(const std::string& id, const cri::LinuxResources& r) override {
    return timed([&] { return inner_.update_container_resources(id, r); });
  }
  Status reopen_container_log(const std::string& id) override {
    return timed([&] { return inner_.reopen_container_log(id); });
  }
  Result<cri::ExecSyncResult> exec_sync(const std::string& id, const std::vector<std::string>& cmd,
                                        std::chrono::seconds timeout) override {
    return timed([&] { return inner_.exec_sync(id, cmd, timeout); });
  }
  Result<std::string> exec(const std::string& id, const cri::ExecOptions& o) override {
    return timed([&] { return inner_.exec(id, o); });
  }
  Result<std::string> attach(const std::string& id, const cri::AttachOptions& o) override {
    return timed([&] { return inner_.attach(id, o); });
  }
  Result<std::string> port_forward(const std::string& id, const std::vector<std::int32_t>& ports) override {
    return timed([&] { return inner_.port_forward(id, ports); });
  }
  Result<cri::ContainerStats> container_stats(const std::string& id) override {
    return timed([&] { return inner_.container_stats(id); });
  }
  Result<std::vector<cri::ContainerStats>> list_container_stats(const cri::ContainerStatsFilter& f) override {
    return timed([&] { return inner_.list_container_stats(f); });
  }
  Result<std::vector<cri::Image>> list_images() override { return timed([&] { return inner_.list_images(); }); }
  Result<std::optional<cri::Image>> image_status(const std::string& image) override {
    return timed([&] { return inner_.image_status(image); });
  }
  Result<std::string> pull_image(const std::string& image, const cri::AuthConfig& auth,
                                 const cri::PodSandboxConfig* s) override {
    return timed([&] { return inner_.pull_image(image, auth, s); });
  }
  Status remove_image(const std::string& image) override { return timed([&] { return inner_.remove_image(image); }); }
  Result<cri::ImageFsInfo> image_fs_info() override { return timed([&] { return inner_.image_fs_info(); }); }

 private:
  cri::RuntimeClient& inner_;
};

}  // namespace kedge::agent::detail

// The in-memory fake follows the CRI state rules agent tests rely on.
#include <gtest/gtest.h>

#include "kedge/cri/fake_runtime_client.h"

namespace kedge::cri {
namespace {

PodSandboxConfig pod(const std::string& name) {
  return {.metadata = {.name = name, .uid = name + "-uid", .namespace_name = "default"},
          .log_directory = "/var/log/pods/default_" + name,
          .labels = {{"io.kubernetes.pod.name", name}}};
}

TEST(FakeRuntime, PodLifecycleFollowsCriRules) {
  FakeRuntimeClient rt;
  auto sandbox = pod("web");
  auto sb = rt.run_pod_sandbox(sandbox);
  ASSERT_TRUE(sb.ok());
  ContainerConfig c{.metadata = {.name = "app"}, .image = "kedge.local/busybox:latest", .log_path = "app/0.log"};
  EXPECT_EQ(rt.create_container(*sb, c, sandbox).status().code(), Code::kNotFound) << "image not present";
  rt.add_image("kedge.local/busybox:latest", "sha256:cfg");
  auto cid = rt.create_container(*sb, c, sandbox);
  ASSERT_TRUE(cid.ok());
  EXPECT_EQ(rt.container_status(*cid)->state, ContainerState::kCreated);
  EXPECT_EQ(rt.container_status(*cid)->log_path, "/var/log/pods/default_web/app/0.log");
  ASSERT_TRUE(rt.start_container(*cid).ok());
  EXPECT_EQ(rt.start_container(*cid).code(), Code::kFailedPrecondition);
  EXPECT_EQ(rt.exec_sync(*cid, {"exit", "3"}, std::chrono::seconds(1))->exit_code, 3);
  EXPECT_EQ(rt.remove_container(*cid).code(), Code::kFailedPrecondition) << "running";
  ASSERT_TRUE(rt.exit_container(*cid, 0, "Completed").ok());
  EXPECT_EQ(rt.container_status(*cid)->reason, "Completed");

  EXPECT_EQ(rt.list_containers({.state = ContainerState::kRunning})->size(), 0u);
  EXPECT_EQ(rt.list_containers({.pod_sandbox_id = *sb})->size(), 1u);
  EXPECT_EQ(rt.list_pod_sandboxes({.label_selector = {{"io.kubernetes.pod.name", "web"}}})->size(), 1u);
  EXPECT_EQ(rt.list_pod_sandboxes({.label_selector = {{"io.kubernetes.pod.name", "db"}}})->size(), 0u);

  EXPECT_EQ(rt.remove_pod_sandbox(*sb).code(), Code::kFailedPrecondition) << "still ready";
  ASSERT_TRUE(rt.stop_pod_sandbox(*sb).ok());
  ASSERT_TRUE(rt.remove_pod_sandbox(*sb).ok());
  EXPECT_TRUE(rt.list_containers()->empty()) << "removing a sandbox removes its containers";
  EXPECT_TRUE(rt.remove_pod_sandbox(*sb).ok()) << "idempotent";
}

TEST(FakeRuntime, InjectedFailuresHitOnceAndCallsAreCounted) {
  FakeRuntimeClient rt;
  rt.fail_next("RunPodSandbox", unavailable("cni down"));
  EXPECT_EQ(rt.run_pod_sandbox(pod("a")).status().code(), Code::kUnavailable);
  EXPECT_TRUE(rt.run_pod_sandbox(pod("a")).ok());
  EXPECT_EQ(rt.calls("RunPodSandbox"), 2);
  EXPECT_EQ(rt.pull_image("nginx").status().code(), Code::kUnavailable);
  auto host = pod("h");
  host.security.namespaces.network = NamespaceMode::kNode;
  auto id = rt.run_pod_sandbox(host);
  EXPECT_EQ(rt.pod_sandbox_status(*id)->ip, "");
}

}  // namespace
}  // namespace kedge::cri

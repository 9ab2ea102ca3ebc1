// kedge::cri::RuntimeClient against a fake CRI server speaking runtime.v1 on
// a unix socket. The fake records what arrived on the wire, so these tests
// check field numbers and conversions both ways, deadlines, and the errors
// a user sees when the socket is missing or the runtime is wrong.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "kedge/cri/api.grpc.pb.h"
#include "kedge/cri/runtime_client.h"
#include "kedge/testing/process.h"

namespace kedge::cri {
namespace {

namespace pb = ::runtime::v1;
using std::chrono::milliseconds;

class FakeRuntime final : public pb::RuntimeService::Service {
 public:
  std::string api_version = "v1";
  pb::RunPodSandboxRequest last_run;
  pb::CreateContainerRequest last_create;
  milliseconds list_delay{0};

  grpc::Status Version(grpc::ServerContext*, const pb::VersionRequest*, pb::VersionResponse* r) override {
    r->set_version("0.1.0");
    r->set_runtime_name("fake");
    r->set_runtime_version("9.9");
    r->set_runtime_api_version(api_version);
    return grpc::Status::OK;
  }
  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest*, pb::StatusResponse* r) override {
    auto* c = r->mutable_status()->add_conditions();
    c->set_type("RuntimeReady");
    c->set_status(true);
    c = r->mutable_status()->add_conditions();
    c->set_type("NetworkReady");
    c->set_status(false);
    c->set_reason("NetworkPluginNotReady");
    return grpc::Status::OK;
  }
  grpc::Status RunPodSandbox(grpc::ServerContext*, const pb::RunPodSandboxRequest* req,
                             pb::RunPodSandboxResponse* r) override {
    last_run = *req;
    r->set_pod_sandbox_id("sb-1");
    return grpc::Status::OK;
  }
  grpc::Status CreateContainer(grpc::ServerContext*, const pb::CreateContainerRequest* req,
                               pb::CreateContainerResponse* r) override {
    last_create = *req;
    r->set_container_id("c-1");
    return grpc::Status::OK;
  }
  grpc::Status StartContainer(grpc::ServerContext*, const pb::StartContainerRequest* req,
                              pb::StartContainerResponse*) override {
    if (req->container_id() != "c-1") return {grpc::StatusCode::NOT_FOUND, "container not found"};
    return grpc::Status::OK;
  }
  grpc::Status ContainerStatus(grpc::ServerContext*, const pb::ContainerStatusRequest* req,
                               pb::ContainerStatusResponse* r) override {
    auto* s = r->mutable_status();
    s->set_id(req->container_id());
    s->mutable_metadata()->set_name("app");
    s->mutable_metadata()->set_attempt(3);
    s->set_state(pb::CONTAINER_EXITED);
    s->set_exit_code(137);
    s->set_reason("OOMKilled");
    s->set_started_at(1'000);
    s->set_finished_at(2'000);
    s->mutable_image()->set_image("kedge.local/busybox:latest");
    s->set_image_ref("sha256:abc");
    s->set_log_path("/var/log/pods/x/app/3.log");
    (*s->mutable_labels())["io.kubernetes.container.name"] = "app";
    auto* m = s->add_mounts();
    m->set_container_path("/data");
    m->set_host_path("/srv/data");
    m->set_readonly(true);
    return grpc::Status::OK;
  }
  grpc::Status ListContainers(grpc::ServerContext*, const pb::ListContainersRequest* req,
                              pb::ListContainersResponse* r) override {
    std::this_thread::sleep_for(list_delay);
    auto* c = r->add_containers();
    c->set_id("c-1");
    c->set_pod_sandbox_id(req->filter().pod_sandbox_id());
    c->set_state(req->filter().has_state() ? req->filter().state().state() : pb::CONTAINER_UNKNOWN);
    return grpc::Status::OK;
  }
  grpc::Status PodSandboxStatus(grpc::ServerContext*, const pb::PodSandboxStatusRequest* req,
                                pb::PodSandboxStatusResponse* r) override {
    auto* s = r->mutable_status();
    s->set_id(req->pod_sandbox_id());
    s->set_state(pb::SANDBOX_READY);
    s->mutable_network()->set_ip("10.42.0.7");
    s->mutable_network()->add_additional_ips()->set_ip("fd00::7");
    s->mutable_metadata()->set_namespace_("default");
    return grpc::Status::OK;
  }
  grpc::Status ExecSync(grpc::ServerContext* ctx, const pb::ExecSyncRequest* req, pb::ExecSyncResponse* r) override {
    // The client must extend its deadline by the exec timeout.
    auto left = ctx->deadline() - std::chrono::system_clock::now();
    if (left < std::chrono::seconds(req->timeout())) return {grpc::StatusCode::INTERNAL, "deadline too short"};
    r->set_stdout(std::string("out\0put", 7));
    r->set_stderr("err");
    r->set_exit_code(req->cmd_size());
    return grpc::Status::OK;
  }
};

class FakeImages final : public pb::ImageService::Service {
 public:
  grpc::Status ImageStatus(grpc::ServerContext*, const pb::ImageStatusRequest* req,
                           pb::ImageStatusResponse* r) override {
    if (req->image().image() == "present") {
      r->mutable_image()->set_id("sha256:cfg");
      r->mutable_image()->add_repo_tags("docker.io/library/present:latest");
      r->mutable_image()->set_size(42);
      r->mutable_image()->mutable_uid()->set_value(0);
    }
    return grpc::Status::OK;
  }
};

class CriClientTest : public ::testing::Test {
 protected:
  void start(bool with_runtime = true) {
    socket_ = (dir_ / "cri.sock").string();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_, grpc::InsecureServerCredentials());
    if (with_runtime) builder.RegisterService(&runtime_);
    builder.RegisterService(&images_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_) << "cannot listen on " << socket_;
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  Result<std::unique_ptr<RuntimeClient>> client(milliseconds request_timeout = std::chrono::seconds(5)) {
    return connect({.endpoint = "unix://" + socket_,
                    .connect_timeout = std::chrono::seconds(5),
                    .request_timeout = request_timeout});
  }

  testing::TempDir dir_{"kedge-cri"};
  std::string socket_;
  FakeRuntime runtime_;
  FakeImages images_;
  std::unique_ptr<grpc::Server> server_;
};

TEST(CriEndpoint, NormalizesUnixPathsAndRejectsOthers) {
  EXPECT_EQ(*normalize_endpoint("/run/containerd/containerd.sock"), "unix:///run/containerd/containerd.sock");
  EXPECT_EQ(*normalize_endpoint("unix:///run/crio/crio.sock"), "unix:///run/crio/crio.sock");
  for (const char* bad : {"", "relative.sock", "tcp://127.0.0.1:1234", "unix://relative"}) {
    auto r = normalize_endpoint(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST_F(CriClientTest, MissingSocketIsUnavailableAndNamed) {
  auto r = connect({.endpoint = (dir_ / "nope.sock").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find((dir_ / "nope.sock").string()), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos) << r.status().message();
}

TEST_F(CriClientTest, RegularFileIsNotASocket) {
  std::ofstream(dir_ / "file.sock") << "x";
  auto r = connect({.endpoint = (dir_ / "file.sock").string()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not a unix socket"), std::string::npos) << r.status().message();
}

TEST_F(CriClientTest, StaleSocketWithNoListenerIsUnavailable) {
  // A socket file whose owner died: bound once, never listening.
  const std::string path = (dir_ / "stale.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  auto r = connect({.endpoint = path, .connect_timeout = milliseconds(300)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("stale socket"), std::string::npos) << r.status().message();
}

TEST_F(CriClientTest, RuntimeWithoutV1ServiceIsExplained) {
  start(/*with_runtime=*/false);
  auto r = client();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("does not serve CRI runtime.v1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(socket_), std::string::npos);
}

TEST_F(CriClientTest, WrongApiVersionIsRefused) {
  runtime_.api_version = "v1alpha2";
  start();
  auto r = client();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("v1alpha2"), std::string::npos) << r.status().message();
}

TEST_F(CriClientTest, VersionAndStatus) {
  start();
  auto c = client();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto v = (*c)->version();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->runtime_name, "fake");
  EXPECT_EQ(v->runtime_api_version, "v1");
  auto s = (*c)->status();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->runtime_ready());
  EXPECT_FALSE(s->network_ready());
  EXPECT_EQ(s->condition("NetworkReady")->reason, "NetworkPluginNotReady");
  EXPECT_EQ(s->condition("Nope"), nullptr);
}

TEST_F(CriClientTest, SandboxAndContainerConfigsArriveOnTheWire) {
  start();
  auto c = client();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  PodSandboxConfig sandbox{
      .metadata = {.name = "web", .uid = "u-1", .namespace_name = "default", .attempt = 2},
      .hostname = "web",
      .log_directory = "/var/log/pods/default_web_u-1",
      .dns = DnsConfig{.servers = {"10.43.0.10"}, .searches = {"default.svc.cluster.local"}, .options = {"ndots:5"}},
      .port_mappings = {{.protocol = Protocol::kUdp, .container_port = 53, .host_port = 5353, .host_ip = ""}},
      .labels = {{"io.kubernetes.pod.name", "web"}},
      .annotations = {{"a", "b"}},
      .cgroup_parent = "/kubepods/besteffort/podu-1",
      .security = {.namespaces = {.network = NamespaceMode::kNode},
                   .run_as_user = 1000,
                   .seccomp = {.type = SecurityProfile::Type::kUnconfined}},
      .sysctls = {{"net.ipv4.ip_unprivileged_port_start", "0"}},
  };
  auto id = (*c)->run_pod_sandbox(sandbox, "runc");
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  EXPECT_EQ(*id, "sb-1");
  const auto& got = runtime_.last_run;
  EXPECT_EQ(got.runtime_handler(), "runc");
  EXPECT_EQ(got.config().metadata().namespace_(), "default");
  EXPECT_EQ(got.config().metadata().attempt(), 2u);
  EXPECT_EQ(got.config().hostname(), "web");
  EXPECT_EQ(got.config().dns_config().options(0), "ndots:5");
  EXPECT_EQ(got.config().port_mappings(0).protocol(), pb::UDP);
  EXPECT_EQ(got.config().port_mappings(0).host_port(), 5353);
  EXPECT_EQ(got.config().labels().at("io.kubernetes.pod.name"), "web");
  EXPECT_EQ(got.config().linux().cgroup_parent(), "/kubepods/besteffort/podu-1");
  EXPECT_EQ(got.config().linux().security_context().namespace_options().network(), pb::NODE);
  EXPECT_EQ(got.config().linux().security_context().run_as_user().value(), 1000);
  EXPECT_FALSE(got.config().linux().security_context().has_run_as_group());
  EXPECT_EQ(got.config().linux().security_context().seccomp().profile_type(), pb::SecurityProfile::Unconfined);
  EXPECT_EQ(got.config().linux().sysctls().at("net.ipv4.ip_unprivileged_port_start"), "0");

  ContainerConfig container{
      .metadata = {.name = "app", .attempt = 1},
      .image = "kedge.local/busybox:latest",
      .command = {"sh", "-c"},
      .args = {"echo hi"},
      .working_dir = "/tmp",
      .envs = {{.name = "A", .value = "1"}},
      .mounts = {{.container_path = "/data", .host_path = "/srv", .readonly = true,
                  .propagation = MountPropagation::kHostToContainer}},
      .log_path = "app/1.log",
      .resources = {.cpu_quota = 50000, .memory_limit_in_bytes = 64 << 20},
      .security = {.drop_capabilities = {"ALL"}, .run_as_group = 7, .readonly_rootfs = true, .no_new_privs = true},
  };
  auto cid = (*c)->create_container(*id, container, sandbox);
  ASSERT_TRUE(cid.ok()) << cid.status().to_string();
  const auto& cc = runtime_.last_create;
  EXPECT_EQ(cc.pod_sandbox_id(), "sb-1");
  EXPECT_EQ(cc.sandbox_config().metadata().uid(), "u-1");
  EXPECT_EQ(cc.config().image().image(), "kedge.local/busybox:latest");
  EXPECT_EQ(cc.config().args(0), "echo hi");
  EXPECT_EQ(cc.config().envs(0).key(), "A");
  EXPECT_EQ(cc.config().mounts(0).propagation(), pb::PROPAGATION_HOST_TO_CONTAINER);
  EXPECT_EQ(cc.config().log_path(), "app/1.log");
  EXPECT_EQ(cc.config().linux().resources().memory_limit_in_bytes(), 64 << 20);
  EXPECT_EQ(cc.config().linux().security_context().capabilities().drop_capabilities(0), "ALL");
  EXPECT_EQ(cc.config().linux().security_context().run_as_group().value(), 7);
  EXPECT_TRUE(cc.config().linux().security_context().no_new_privs());
}

TEST_F(CriClientTest, StatusesConvertBack) {
  start();
  auto c = client();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto st = (*c)->container_status("c-9");
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  EXPECT_EQ(st->id, "c-9");
  EXPECT_EQ(st->state, ContainerState::kExited);
  EXPECT_EQ(st->exit_code, 137);
  EXPECT_EQ(st->reason, "OOMKilled");
  EXPECT_EQ(st->metadata.attempt, 3u);
  EXPECT_EQ(st->finished_at, 2000);
  EXPECT_EQ(st->image, "kedge.local/busybox:latest");
  EXPECT_EQ(st->labels.at("io.kubernetes.container.name"), "app");
  ASSERT_EQ(st->mounts.size(), 1u);
  EXPECT_TRUE(st->mounts[0].readonly);

  auto sb = (*c)->pod_sandbox_status("sb-1");
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->state, SandboxState::kReady);
  EXPECT_EQ(sb->ip, "10.42.0.7");
  EXPECT_EQ(sb->additional_ips, std::vector<std::string>{"fd00::7"});
  EXPECT_EQ(sb->metadata.namespace_name, "default");

  auto list = (*c)->list_containers({.state = ContainerState::kRunning, .pod_sandbox_id = "sb-1"});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].pod_sandbox_id, "sb-1");
  EXPECT_EQ((*list)[0].state, ContainerState::kRunning);

  auto exec = (*c)->exec_sync("c-1", {"sh", "-c", "x"}, std::chrono::seconds(30));
  ASSERT_TRUE(exec.ok()) << exec.status().to_string();
  EXPECT_EQ(exec->stdout_data, std::string("out\0put", 7));
  EXPECT_EQ(exec->stderr_data, "err");
  EXPECT_EQ(exec->exit_code, 3);

  auto present = (*c)->image_status("present");
  ASSERT_TRUE(present.ok());
  ASSERT_TRUE(present->has_value());
  EXPECT_EQ((*present)->id, "sha256:cfg");
  EXPECT_EQ((*present)->uid, 0);
  auto absent = (*c)->image_status("absent");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST_F(CriClientTest, RuntimeErrorsKeepCodeAndNameMethodAndSocket) {
  start();
  auto c = client();
  ASSERT_TRUE(c.ok());
  Status s = (*c)->start_container("missing");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("StartContainer"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(socket_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("container not found"), std::string::npos) << s.message();
  // Methods the fake does not implement come back as the runtime said.
  auto stats = (*c)->list_container_stats();
  EXPECT_EQ(stats.status().code(), Code::kUnimplemented);
}

TEST_F(CriClientTest, SlowCallsHitTheirDeadline) {
  runtime_.list_delay = milliseconds(1500);
  start();
  auto c = client(milliseconds(200));
  ASSERT_TRUE(c.ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = (*c)->list_containers();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
  EXPECT_LT(took, milliseconds(1200));
}

TEST_F(CriClientTest, CancelAllEndsCallsInFlightAndRefusesLaterOnes) {
  runtime_.list_delay = milliseconds(5000);
  start();
  auto c = client(milliseconds(10000));
  ASSERT_TRUE(c.ok());
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::vector<Container>> r = std::vector<Container>{};
  std::thread caller([&] { r = (*c)->list_containers(); });
  std::this_thread::sleep_for(milliseconds(300));
  (*c)->cancel_all();
  caller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(3000)) << "the call waited out the runtime";
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  auto later = (*c)->version();
  EXPECT_EQ(later.status().code(), Code::kCancelled);
}

}  // namespace
}  // namespace kedge::cri

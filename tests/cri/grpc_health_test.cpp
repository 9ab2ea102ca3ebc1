// check_grpc_health against grpc++'s own grpc.health.v1 service in this
// process: the hand-encoded request/response must match the real service.
#include <chrono>
#include <memory>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "kedge/cri/grpc_health.h"
#include "kedge/testing/process.h"

namespace kedge::cri {
namespace {

using std::chrono::milliseconds;

TEST(GrpcHealth, ReportsTheServersAnswerPerService) {
  grpc::EnableDefaultHealthCheckService(true);
  // grpc++ refuses a server whose only service is the health service (no
  // polled queue): an empty callback service gives it one.
  grpc::CallbackGenericService generic;
  grpc::ServerBuilder builder;
  builder.RegisterCallbackGenericService(&generic);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus("up", true);
  health->SetServingStatus("down", false);
  const std::string target = "127.0.0.1:" + std::to_string(port);

  auto up = check_grpc_health(target, "up", milliseconds(2000));
  ASSERT_TRUE(up.ok()) << up.status().to_string();
  EXPECT_EQ(*up, HealthStatus::kServing);
  auto whole = check_grpc_health(target, "", milliseconds(2000));  // the server as a whole
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  EXPECT_EQ(*whole, HealthStatus::kServing);
  auto down = check_grpc_health(target, "down", milliseconds(2000));
  ASSERT_TRUE(down.ok()) << down.status().to_string();
  EXPECT_EQ(*down, HealthStatus::kNotServing);
  EXPECT_EQ(to_string(*down), "NOT_SERVING");
  auto unknown = check_grpc_health(target, "nobody", milliseconds(2000));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kNotFound) << unknown.status().to_string();

  health->SetServingStatus("up", false);
  auto flipped = check_grpc_health(target, "up", milliseconds(2000));
  ASSERT_TRUE(flipped.ok());
  EXPECT_EQ(*flipped, HealthStatus::kNotServing);
  server->Shutdown();
}

TEST(GrpcHealth, UnreachableServerFailsWithinTheTimeout) {
  const int port = testing::free_port();  // nothing listens there
  const auto start = std::chrono::steady_clock::now();
  auto r = check_grpc_health("127.0.0.1:" + std::to_string(port), "", milliseconds(500));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == Code::kUnavailable || r.status().code() == Code::kDeadlineExceeded)
      << r.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

}  // namespace
}  // namespace kedge::cri

// In-process requests (control/local_client.h): a RestClient whose
// LocalRoundTrip calls ApiServer::serve_local sees what a network client
// sees — defaulting and validation, binding conflicts, error codes, large
// lists — and its writes are visible over HTTPS; watches are refused.
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fake_store.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/control/api_server.h"
#include "kedge/control/local_client.h"
#include "kedge/testing/process.h"

namespace kedge::control {
namespace {

namespace json = boost::json;

json::value pod(const std::string& name) {
  return json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                     R"("},"spec":{"containers":[{"name":"c","image":"busybox"}]}})");
}

class LocalClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiServerOptions o{.data_dir = dir_.path(),
                       .kubeconfig_path = dir_.path() / "kubeconfig.yaml",
                       .store = &store_};
    o.http.bind_address = "127.0.0.1";
    o.http.port = 0;
    server_ = std::make_unique<ApiServer>(std::move(o));
    ASSERT_TRUE(server_->start().ok());
    auto config = client::Kubeconfig::load(server_->kubeconfig_path().string());
    ASSERT_TRUE(config.ok());
    auto local = client::RestClient::create({.config = *config, .local = local_round_trip(*server_)});
    auto remote = client::RestClient::create({.config = *config});
    ASSERT_TRUE(local.ok() && remote.ok());
    local_ = std::move(*local);
    remote_ = std::move(*remote);
  }
  void TearDown() override {
    local_.reset();
    remote_.reset();
    if (server_) server_->stop();
  }

  kedge::testing::TempDir dir_;
  testing::FakeStore store_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<client::RestClient> local_, remote_;
};

TEST_F(LocalClientTest, WritesTakeTheApiPathAndAreVisibleOverHttps) {
  auto created = local_->send("POST", "/api/v1/namespaces/default/pods", pod("p1"));
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  // Defaulted by the server's strategy, as over the network.
  EXPECT_EQ(created->at("spec").at("restartPolicy").as_string(), "Always");
  EXPECT_FALSE(created->at("metadata").at("uid").as_string().empty());

  json::value binding = json::parse(
      R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1"},"target":{"kind":"Node","name":"n1"}})");
  ASSERT_TRUE(local_->send("POST", "/api/v1/namespaces/default/pods/p1/binding", binding).ok());
  auto seen = remote_->get("/api/v1/namespaces/default/pods/p1");
  ASSERT_TRUE(seen.ok()) << seen.status().to_string();
  EXPECT_EQ(seen->at("spec").at("nodeName").as_string(), "n1");

  // A second binding is the registry's conflict, mapped as for HTTPS.
  auto again = local_->send("POST", "/api/v1/namespaces/default/pods/p1/binding", binding);
  EXPECT_EQ(again.status().code(), Code::kAborted) << again.status().to_string();
  EXPECT_NE(again.status().message().find("already assigned"), std::string::npos);
}

// A binding writes what upstream's does: spec.nodeName, the Binding's
// annotations and PodScheduled=True in place of an earlier Unschedulable
// condition; a Binding for another pod UID is refused.
TEST_F(LocalClientTest, BindingSetsPodScheduledAndChecksTheUid) {
  auto created = local_->send("POST", "/api/v1/namespaces/default/pods", pod("p2"));
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  const std::string uid(created->at("metadata").at("uid").as_string());
  json::value status = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p2"},"status":{"conditions":[
      {"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/1 nodes are available"}]}})");
  ASSERT_TRUE(local_->send("PATCH", "/api/v1/namespaces/default/pods/p2/status", status,
                           "application/merge-patch+json").ok());

  json::value stale = json::parse(R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p2","uid":"other"},
      "target":{"kind":"Node","name":"n1"}})");
  auto refused = local_->send("POST", "/api/v1/namespaces/default/pods/p2/binding", stale);
  EXPECT_EQ(refused.status().code(), Code::kAborted) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("UID in precondition"), std::string::npos);

  json::value binding = json::parse(R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"p2","uid":")" + uid +
                                    R"(","annotations":{"example.com/placed-by":"test"}},
      "target":{"kind":"Node","name":"n1"}})");
  ASSERT_TRUE(local_->send("POST", "/api/v1/namespaces/default/pods/p2/binding", binding).ok());
  auto seen = remote_->get("/api/v1/namespaces/default/pods/p2");
  ASSERT_TRUE(seen.ok()) << seen.status().to_string();
  EXPECT_EQ(seen->at("spec").at("nodeName").as_string(), "n1");
  EXPECT_EQ(seen->at("metadata").at("annotations").at("example.com/placed-by").as_string(), "test");
  const auto& conditions = seen->at("status").at("conditions").as_array();
  ASSERT_EQ(conditions.size(), 1u) << json::serialize(conditions);
  const auto& scheduled = conditions[0].as_object();
  EXPECT_EQ(scheduled.at("type").as_string(), "PodScheduled");
  EXPECT_EQ(scheduled.at("status").as_string(), "True");
  EXPECT_FALSE(scheduled.contains("reason"));
  EXPECT_FALSE(scheduled.at("lastTransitionTime").as_string().empty());
}

TEST_F(LocalClientTest, ErrorsAreTheApiErrors) {
  auto missing = local_->get("/api/v1/namespaces/default/pods/nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto invalid = local_->send("POST", "/api/v1/namespaces/default/pods",
                              json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad"},"spec":{}})"));
  EXPECT_EQ(invalid.status().code(), Code::kInvalidArgument) << invalid.status().to_string();
  ASSERT_TRUE(local_->send("POST", "/api/v1/namespaces/default/pods", pod("dup")).ok());
  auto dup = local_->send("POST", "/api/v1/namespaces/default/pods", pod("dup"));
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  auto watch = local_->get("/api/v1/pods?watch=true");
  EXPECT_EQ(watch.status().code(), Code::kUnimplemented);
  // Nothing invalid was stored.
  EXPECT_EQ(remote_->get("/api/v1/namespaces/default/pods/bad").status().code(), Code::kNotFound);
}

TEST_F(LocalClientTest, LargeListArrivesWhole) {
  // Over 1 MiB of pods: the server writes such a list in chunks.
  const std::string filler(4000, 'x');
  for (int i = 0; i < 300; ++i) {
    json::value p = pod("big-" + std::to_string(i));
    p.at("metadata").as_object()["annotations"] = json::object{{"filler", filler}};
    ASSERT_TRUE(local_->send("POST", "/api/v1/namespaces/default/pods", p).ok());
  }
  auto list = local_->get("/api/v1/namespaces/default/pods");
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  EXPECT_EQ(list->at("items").as_array().size(), 300u);
}

}  // namespace
}  // namespace kedge::control

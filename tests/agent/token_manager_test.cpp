// The kubelet side of service-account tokens and in-cluster clients: when a
// projected token is refreshed, and the `kubernetes` Service's environment
// variables every container gets.
#include <gtest/gtest.h>

#include <map>

#include <boost/json.hpp>

#include "../../agent/src/object_source.h"
#include "../../agent/src/token_manager.h"

namespace kedge::agent::detail {
namespace {

TEST(TokenRefresh, AtEightyPercentOfTheLifetimeOrAfterADay) {
  const std::int64_t issued = 1'000'000;
  EXPECT_FALSE(token_needs_refresh(issued, issued + 3607, issued));
  EXPECT_FALSE(token_needs_refresh(issued, issued + 3600, issued + 2879));
  EXPECT_TRUE(token_needs_refresh(issued, issued + 3600, issued + 2880));
  EXPECT_TRUE(token_needs_refresh(issued, issued + 3600, issued + 4000));  // expired
  // A year-long token is still replaced daily.
  EXPECT_FALSE(token_needs_refresh(issued, issued + 365 * 86400, issued + 86399));
  EXPECT_TRUE(token_needs_refresh(issued, issued + 365 * 86400, issued + 86400));
}

TEST(ServiceEnv, KubernetesServiceVariablesAsUpstream) {
  auto svc = boost::json::parse(R"({"metadata":{"name":"kubernetes","namespace":"default"},
      "spec":{"clusterIP":"10.43.0.1","ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":6443}]}})");
  std::map<std::string, std::string> env;
  for (auto& [k, v] : service_env_vars(svc)) env[k] = v;
  std::map<std::string, std::string> want = {
      {"KUBERNETES_SERVICE_HOST", "10.43.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"},
      {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
      {"KUBERNETES_PORT", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP", "tcp://10.43.0.1:443"},
      {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
      {"KUBERNETES_PORT_443_TCP_PORT", "443"},
      {"KUBERNETES_PORT_443_TCP_ADDR", "10.43.0.1"}};
  EXPECT_EQ(env, want);
  // Dashes become underscores; UDP ports keep their protocol.
  auto dns = boost::json::parse(R"({"metadata":{"name":"kube-dns"},
      "spec":{"clusterIP":"10.43.0.10","ports":[{"name":"dns","port":53,"protocol":"UDP"}]}})");
  env.clear();
  for (auto& [k, v] : service_env_vars(dns)) env[k] = v;
  EXPECT_EQ(env["KUBE_DNS_SERVICE_PORT_DNS"], "53");
  EXPECT_EQ(env["KUBE_DNS_PORT_53_UDP"], "udp://10.43.0.10:53");
  // Headless or portless Services give nothing.
  EXPECT_TRUE(service_env_vars(boost::json::parse(R"({"metadata":{"name":"h"},"spec":{"clusterIP":"None",
      "ports":[{"port":80}]}})")).empty());
  EXPECT_TRUE(service_env_vars(boost::json::parse(R"({"metadata":{"name":"h"},"spec":{"clusterIP":"10.43.0.5"}})")).empty());
}

}  // namespace
}  // namespace kedge::agent::detail

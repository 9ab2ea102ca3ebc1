#include <gtest/gtest.h>

#include "kedge/client/rest_client.h"

namespace kedge::client {
namespace {

HttpResponse answer(long code, std::string body) {
  return HttpResponse{.status = code, .body = std::move(body)};
}

TEST(StatusFromResponse, KubernetesStatusBodies) {
  EXPECT_TRUE(status_from_response(answer(201, "{}")).ok());
  auto nf = status_from_response(answer(
      404, R"({"kind":"Status","status":"Failure","message":"pods \"x\" not found","reason":"NotFound","code":404})"));
  EXPECT_EQ(nf.code(), Code::kNotFound);
  EXPECT_EQ(nf.message(), "pods \"x\" not found");
  EXPECT_EQ(status_from_response(answer(409, R"({"reason":"AlreadyExists","message":"m"})")).code(),
            Code::kAlreadyExists);
  EXPECT_EQ(status_from_response(answer(409, R"({"reason":"Conflict","message":"m"})")).code(),
            Code::kAborted);
  EXPECT_EQ(status_from_response(answer(410, R"({"reason":"Expired","message":"too old"})")).code(),
            Code::kOutOfRange);
  EXPECT_EQ(status_from_response(answer(422, "{}")).code(), Code::kInvalidArgument);
  EXPECT_EQ(status_from_response(answer(503, "")).code(), Code::kUnavailable);
}

TEST(StatusFromResponse, NonJsonBodyIsQuoted) {
  auto s = status_from_response(answer(400, "plain text failure"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "HTTP 400: plain text failure");
}

TEST(RestClient, RejectsBadOptions) {
  EXPECT_FALSE(RestClient::create({.config = {.server = "ftp://x"}}).ok());
  EXPECT_FALSE(RestClient::create({.config = {.server = "https://x", .client_cert_pem = "c"}}).ok());
}

TEST(RestClient, RefusedConnectionIsUnavailableAndNamesTheServer) {
  // Port 1 on loopback: nothing listens there on these machines.
  auto client = RestClient::create({.config = {.server = "https://127.0.0.1:1"}});
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("https://127.0.0.1:1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kedge::client

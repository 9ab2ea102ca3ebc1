// ServiceAccount controller against the in-memory API: every namespace gets
// `default` and kube-root-ca.crt, and gets them back when they are deleted.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/serviceaccount.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

class ServiceAccountTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 100 && controller_.process_one(); ++i) {
    }
  }
  void put_namespace(std::string name, std::string phase = "Active") {
    json::value ns = json::object{{"apiVersion", "v1"}, {"kind", "Namespace"},
                                  {"metadata", json::object{{"name", name}}},
                                  {"status", json::object{{"phase", phase}}}};
    t_.put(namespaces_resource(), std::move(ns));
  }

  FakeTransport t_;
  ServiceAccountController controller_{t_, {.root_ca_pem = kPem}};
};

TEST_F(ServiceAccountTest, EveryNamespaceGetsDefaultAccountAndRootCa) {
  put_namespace("default");
  put_namespace("team-a");
  drain();
  for (const char* ns : {"default", "team-a"}) {
    EXPECT_TRUE(t_.get(serviceaccounts_resource(), ns, "default")) << ns;
    auto cm = t_.get(configmaps_resource(), ns, "kube-root-ca.crt");
    ASSERT_TRUE(cm) << ns;
    EXPECT_EQ(cm->at("data").at("ca.crt"), kPem);
    EXPECT_TRUE(api::get_annotation(*cm, "kubernetes.io/description"));
  }
  int creates = t_.writes("create");
  controller_.resync_all();
  drain();
  EXPECT_EQ(t_.writes("create"), creates);  // converged: nothing more
}

TEST_F(ServiceAccountTest, DeletedObjectsAreRecreated) {
  put_namespace("team-a");
  drain();
  ASSERT_TRUE(t_.remove(serviceaccounts_resource(), "team-a", "default", {}).ok());
  ASSERT_TRUE(t_.remove(configmaps_resource(), "team-a", "kube-root-ca.crt", {}).ok());
  drain();
  EXPECT_TRUE(t_.get(serviceaccounts_resource(), "team-a", "default"));
  EXPECT_TRUE(t_.get(configmaps_resource(), "team-a", "kube-root-ca.crt"));
}

TEST_F(ServiceAccountTest, EditedCaDataIsRestored) {
  put_namespace("team-a");
  drain();
  json::value cm = *t_.get(configmaps_resource(), "team-a", "kube-root-ca.crt");
  cm.as_object()["data"] = json::object{{"ca.crt", "forged"}, {"extra", "x"}};
  ASSERT_TRUE(t_.update(configmaps_resource(), cm).ok());
  drain();
  EXPECT_EQ(t_.get(configmaps_resource(), "team-a", "kube-root-ca.crt")->at("data"),
            json::value(json::object{{"ca.crt", kPem}}));
}

TEST_F(ServiceAccountTest, TerminatingNamespaceIsLeftAlone) {
  put_namespace("going", "Terminating");
  drain();
  EXPECT_FALSE(t_.get(serviceaccounts_resource(), "going", "default"));
  EXPECT_FALSE(t_.get(configmaps_resource(), "going", "kube-root-ca.crt"));
}

TEST_F(ServiceAccountTest, ExistingObjectsAreKept) {
  put_namespace("team-a");
  json::value sa = json::parse(R"({"apiVersion": "v1", "kind": "ServiceAccount",
      "metadata": {"name": "default", "namespace": "team-a", "labels": {"mine": "yes"}}})");
  t_.put(serviceaccounts_resource(), sa);
  drain();
  EXPECT_EQ(api::get_label(*t_.get(serviceaccounts_resource(), "team-a", "default"), "mine"), "yes");
}

}  // namespace
}  // namespace kedge::controllers

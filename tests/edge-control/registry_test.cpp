// Registry over an in-memory etcd-semantics store: what a client sees from
// create/get/update/patch/delete/list, resourceVersion and conflicts.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "fake_store.h"
#include "kedge/control/registry.h"
#include "kedge/control/resources.h"

namespace kedge::control {
namespace {

namespace json = boost::json;

json::object parse(std::string_view text) { return json::parse(text).as_object(); }

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(registry_.bootstrap().ok()); }
  const ResourceInfo& res(std::string_view group, std::string_view resource) {
    return *find_resource(group, "v1", resource);
  }
  testing::FakeStore store_;
  Registry registry_{store_};
};

TEST_F(RegistryTest, BootstrapCreatesDefaultNamespacesAndKubernetesService) {
  auto list = registry_.list(res("", "namespaces"), "", {});
  ASSERT_TRUE(list.ok());
  std::vector<std::string> names;
  for (const auto& ns : list->items) names.emplace_back(ns.at("metadata").at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"default", "kube-node-lease", "kube-public", "kube-system"}));
  auto svc = registry_.get(res("", "services"), "default", "kubernetes");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc->at("spec").at("clusterIP").as_string(), "10.43.0.1");
  // Idempotent on restart.
  EXPECT_TRUE(registry_.bootstrap().ok());
}

TEST_F(RegistryTest, KubernetesServicePointsAtThisApiServer) {
  ASSERT_TRUE(registry_.publish_apiserver_endpoints("192.0.2.7", 7443).ok());
  auto eps = registry_.get(res("", "endpoints"), "default", "kubernetes");
  ASSERT_TRUE(eps.ok());
  const auto& subset = eps->at("subsets").at(0);
  EXPECT_EQ(subset.at("addresses").at(0).at("ip").as_string(), "192.0.2.7");
  EXPECT_EQ(subset.at("ports").at(0).at("port").as_int64(), 7443);
  auto slice = registry_.get(*find_resource("discovery.k8s.io", "v1", "endpointslices"), "default", "kubernetes");
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->at("metadata").at("labels").at("kubernetes.io/service-name").as_string(), "kubernetes");
  EXPECT_EQ(slice->at("addressType").as_string(), "IPv4");
  EXPECT_EQ(slice->at("endpoints").at(0).at("addresses").at(0).as_string(), "192.0.2.7");
  EXPECT_EQ(slice->at("ports").at(0).at("port").as_int64(), 7443);
  auto svc = registry_.get(res("", "services"), "default", "kubernetes");
  ASSERT_TRUE(svc.ok());
  EXPECT_EQ(svc->at("spec").at("ports").at(0).at("targetPort").as_int64(), 7443);
  // Same address again writes nothing; a new one replaces the old.
  const auto rv = store_.revision();
  ASSERT_TRUE(registry_.publish_apiserver_endpoints("192.0.2.7", 7443).ok());
  EXPECT_EQ(store_.revision(), rv);
  ASSERT_TRUE(registry_.publish_apiserver_endpoints("2001:db8::1", 6443).ok());
  slice = registry_.get(*find_resource("discovery.k8s.io", "v1", "endpointslices"), "default", "kubernetes");
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->at("addressType").as_string(), "IPv6");
  EXPECT_EQ(slice->at("endpoints").at(0).at("addresses").at(0).as_string(), "2001:db8::1");
}

TEST_F(RegistryTest, CreateSetsSystemFieldsAndRefusesDuplicates) {
  auto cm = parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}})");
  auto r = registry_.create(res("", "configmaps"), "default", cm, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& meta = r->object.at("metadata").as_object();
  EXPECT_EQ(meta.at("namespace").as_string(), "default");
  EXPECT_EQ(meta.at("uid").as_string().size(), 36u);
  EXPECT_FALSE(meta.at("creationTimestamp").as_string().empty());
  EXPECT_EQ(meta.at("resourceVersion").as_string(), std::to_string(store_.revision()));
  auto dup = registry_.create(res("", "configmaps"), "default", cm, {});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, 409);
  EXPECT_EQ(dup.error().reason, "AlreadyExists");
  EXPECT_EQ(dup.error().message, "configmaps \"a\" already exists");
}

TEST_F(RegistryTest, CreateInMissingNamespaceIsNotFound) {
  auto cm = parse(R"({"metadata":{"name":"a"}})");
  auto r = registry_.create(res("", "configmaps"), "nope", cm, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 404);
  EXPECT_EQ(r.error().message, "namespaces \"nope\" not found");
}

TEST_F(RegistryTest, GenerateNameAndInvalidNames) {
  auto r = registry_.create(res("", "configmaps"), "default", parse(R"({"metadata":{"generateName":"x-"}})"), {});
  ASSERT_TRUE(r.ok());
  std::string name(r->object.at("metadata").at("name").as_string());
  EXPECT_EQ(name.size(), 7u);
  EXPECT_EQ(name.substr(0, 2), "x-");
  auto bad = registry_.create(res("", "configmaps"), "default", parse(R"({"metadata":{"name":"Bad_Name"}})"), {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 422);
  EXPECT_EQ(bad.error().reason, "Invalid");
  ASSERT_FALSE(bad.error().causes.empty());
  EXPECT_EQ(bad.error().causes[0].field, "metadata.name");
}

TEST_F(RegistryTest, StaleResourceVersionIsAConflict) {
  auto created = registry_.create(res("", "configmaps"), "default",
                                  parse(R"({"metadata":{"name":"a"},"data":{"k":"1"}})"), {});
  ASSERT_TRUE(created.ok());
  json::object v1 = created->object;
  json::object next = v1;
  next["data"].as_object()["k"] = "2";
  auto updated = registry_.update(res("", "configmaps"), "default", "a", next, {}, false);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_NE(updated->object.at("metadata").at("resourceVersion"), v1.at("metadata").at("resourceVersion"));
  // Writing again with the old resourceVersion is refused.
  v1["data"].as_object()["k"] = "3";
  auto stale = registry_.update(res("", "configmaps"), "default", "a", v1, {}, false);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_EQ(stale.error().reason, "Conflict");
  auto now = registry_.get(res("", "configmaps"), "default", "a");
  EXPECT_EQ(now->at("data").at("k").as_string(), "2");
}

TEST_F(RegistryTest, NoOpUpdateKeepsResourceVersion) {
  auto created = registry_.create(res("", "configmaps"), "default", parse(R"({"metadata":{"name":"a"}})"), {});
  ASSERT_TRUE(created.ok());
  auto same = registry_.update(res("", "configmaps"), "default", "a", created->object, {}, false);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->object.at("metadata").at("resourceVersion"), created->object.at("metadata").at("resourceVersion"));
}

TEST_F(RegistryTest, GenerationFollowsSpecAndStatusIsSeparate) {
  auto dep = parse(R"({"metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},
    "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}},
    "status":{"replicas":9}})");
  auto& deployments = res("apps", "deployments");
  auto created = registry_.create(deployments, "default", dep, {});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->object.at("metadata").at("generation").as_int64(), 1);
  EXPECT_FALSE(created->object.contains("status")) << "clients cannot create status";
  EXPECT_EQ(created->object.at("spec").at("strategy").at("type").as_string(), "RollingUpdate");
  auto st = registry_.patch(deployments, "default", "d", PatchType::kMerge,
                            json::parse(R"({"status":{"replicas":1}})"), {}, true);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->object.at("metadata").at("generation").as_int64(), 1);
  auto sp = registry_.patch(deployments, "default", "d", PatchType::kMerge,
                            json::parse(R"({"spec":{"replicas":3},"status":{"replicas":7}})"), {}, false);
  ASSERT_TRUE(sp.ok());
  EXPECT_EQ(sp->object.at("metadata").at("generation").as_int64(), 2);
  EXPECT_EQ(sp->object.at("status").at("replicas").as_int64(), 1) << "main resource cannot write status";
  auto scale = registry_.get_scale(deployments, "default", "d");
  ASSERT_TRUE(scale.ok());
  EXPECT_EQ(scale->at("spec").at("replicas").as_int64(), 3);
  EXPECT_EQ(scale->at("status").at("selector").as_string(), "app=d");
}

TEST_F(RegistryTest, SelectorMustMatchTemplate) {
  auto dep = parse(R"({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"x"}},
    "template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c"}]}}}})");
  auto r = registry_.create(res("apps", "deployments"), "default", dep, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  std::string fields;
  for (const auto& c : r.error().causes) fields += c.field + ";";
  EXPECT_NE(fields.find("spec.template.metadata.labels"), std::string::npos) << fields;
  EXPECT_NE(fields.find("spec.template.spec.containers[0].image"), std::string::npos) << fields;
}

TEST_F(RegistryTest, ListSelectorsAndPagination) {
  auto& cms = res("", "configmaps");
  for (int i = 0; i < 7; ++i) {
    auto obj = parse(R"({"metadata":{"name":"cm-)" + std::to_string(i) + R"(","labels":{"parity":")" +
                     (i % 2 == 0 ? "even" : "odd") + R"("}}})");
    ASSERT_TRUE(registry_.create(cms, "default", obj, {}).ok());
  }
  auto even = registry_.list(cms, "default", {.label_selector = "parity=even"});
  ASSERT_TRUE(even.ok());
  EXPECT_EQ(even->items.size(), 4u);
  auto notodd = registry_.list(cms, "default", {.label_selector = "parity notin (odd)"});
  EXPECT_EQ(notodd->items.size(), 4u);
  auto byname = registry_.list(cms, "", {.field_selector = "metadata.name=cm-3"});
  ASSERT_TRUE(byname.ok());
  ASSERT_EQ(byname->items.size(), 1u);
  auto badfield = registry_.list(cms, "", {.field_selector = "spec.nodeName=x"});
  ASSERT_FALSE(badfield.ok());
  EXPECT_EQ(badfield.error().code, 400);
  // Pages of 3 at one revision, even while objects change in between.
  std::vector<std::string> seen;
  ListOptions lo{.limit = 3};
  store::Revision rv = 0;
  for (int page = 0; page < 5; ++page) {
    auto r = registry_.list(cms, "default", lo);
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (rv == 0) rv = r->revision;
    EXPECT_EQ(r->revision, rv);
    for (const auto& i : r->items) seen.emplace_back(i.at("metadata").at("name").as_string());
    if (page == 0) {
      ASSERT_TRUE(registry_.create(cms, "default", parse(R"({"metadata":{"name":"cm-late"}})"), {}).ok());
    }
    if (r->continue_token.empty()) break;
    lo.continue_token = r->continue_token;
  }
  EXPECT_EQ(seen.size(), 7u) << "the late object is not in a list started before it";
}

TEST_F(RegistryTest, FinalizersDelayDeletion) {
  auto& cms = res("", "configmaps");
  ASSERT_TRUE(registry_.create(cms, "default", parse(R"({"metadata":{"name":"f","finalizers":["example.com/x"]}})"), {}).ok());
  bool finished = true;
  auto d = registry_.remove(cms, "default", "f", {}, &finished);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(finished);
  EXPECT_TRUE(d->at("metadata").as_object().contains("deletionTimestamp"));
  ASSERT_TRUE(registry_.get(cms, "default", "f").ok());
  auto p = registry_.patch(cms, "default", "f", PatchType::kMerge, json::parse(R"({"metadata":{"finalizers":null}})"), {}, false);
  ASSERT_TRUE(p.ok()) << p.error().message;
  auto gone = registry_.get(cms, "default", "f");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, 404);
}

TEST_F(RegistryTest, DryRunStoresNothing) {
  auto& cms = res("", "configmaps");
  auto rev = store_.revision();
  auto r = registry_.create(cms, "default", parse(R"({"metadata":{"name":"dry"}})"), {.dry_run = true});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(store_.revision(), rev);
  EXPECT_FALSE(registry_.get(cms, "default", "dry").ok());
}

TEST_F(RegistryTest, StrictFieldValidationRefusesUnknownFields) {
  auto& cms = res("", "configmaps");
  auto obj = parse(R"({"metadata":{"name":"u","labelz":{}},"dta":{}})");
  auto strict = registry_.create(cms, "default", obj, {.field_validation = FieldValidation::kStrict});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error().code, 400);
  EXPECT_NE(strict.error().message.find("unknown field \"dta\""), std::string::npos) << strict.error().message;
  EXPECT_NE(strict.error().message.find("unknown field \"metadata.labelz\""), std::string::npos);
  auto warn = registry_.create(cms, "default", obj, {.field_validation = FieldValidation::kWarn});
  ASSERT_TRUE(warn.ok());
  EXPECT_EQ(warn->warnings.size(), 2u);
}

TEST_F(RegistryTest, ServiceAllocationIsUniqueUnderConcurrencyAndReleased) {
  auto& svcs = res("", "services");
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::string> ips;
  std::set<std::int64_t> ports;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto obj = parse(R"({"metadata":{"name":"s)" + std::to_string(t) + "-" + std::to_string(i) +
                         R"("},"spec":{"type":"NodePort","ports":[{"port":80}]}})");
        auto r = registry_.create(svcs, "default", obj, {});
        ASSERT_TRUE(r.ok()) << r.error().message;
        std::lock_guard lock(mu);
        ips.insert(std::string(r->object.at("spec").at("clusterIP").as_string()));
        ports.insert(r->object.at("spec").at("ports").at(0).at("nodePort").as_int64());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ips.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(ports.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_FALSE(ips.contains("10.43.0.1"));
  // A requested IP that is taken is refused; after delete it is free again.
  auto s00 = registry_.get(svcs, "default", "s0-0");
  std::string ip(s00->at("spec").at("clusterIP").as_string());
  auto clash = registry_.create(svcs, "default", parse(R"({"metadata":{"name":"clash"},"spec":{"clusterIP":")" + ip +
                                                       R"(","ports":[{"port":80}]}})"), {});
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, 422);
  ASSERT_TRUE(registry_.remove(svcs, "default", "s0-0", {}).ok());
  auto reuse = registry_.create(svcs, "default", parse(R"({"metadata":{"name":"clash"},"spec":{"clusterIP":")" + ip +
                                                       R"(","ports":[{"port":80}]}})"), {});
  EXPECT_TRUE(reuse.ok()) << reuse.error().message;
  // Out of range.
  auto outside = registry_.create(svcs, "default", parse(R"({"metadata":{"name":"o"},"spec":{"clusterIP":"10.0.0.5","ports":[{"port":80}]}})"), {});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("not in the valid range"), std::string::npos);
}

TEST_F(RegistryTest, NamespaceDeletionTakesItsContents) {
  auto& nss = res("", "namespaces");
  auto& cms = res("", "configmaps");
  std::string terminating;
  registry_.set_namespace_terminating_hook([&](std::string ns) { terminating = ns; });
  ASSERT_TRUE(registry_.create(nss, "", parse(R"({"metadata":{"name":"team"}})"), {}).ok());
  ASSERT_TRUE(registry_.create(cms, "team", parse(R"({"metadata":{"name":"a"}})"), {}).ok());
  auto d = registry_.remove(nss, "", "team", {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->at("status").at("phase").as_string(), "Terminating");
  EXPECT_EQ(terminating, "team");
  auto refused = registry_.create(cms, "team", parse(R"({"metadata":{"name":"b"}})"), {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 403);
  registry_.finalize_namespace("team");
  EXPECT_EQ(registry_.get(cms, "team", "a").error().code, 404);
  EXPECT_EQ(registry_.get(nss, "", "team").error().code, 404);
}

TEST_F(RegistryTest, PodsBoundToANodeTerminateGracefully) {
  auto& pods = res("", "pods");
  auto pod = parse(R"({"metadata":{"name":"p"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox"}]}})");
  auto created = registry_.create(pods, "default", pod, {});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->object.at("status").at("phase").as_string(), "Pending");
  auto d = registry_.remove(pods, "default", "p", {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->at("metadata").at("deletionGracePeriodSeconds").as_int64(), 30);
  ASSERT_TRUE(registry_.get(pods, "default", "p").ok());
  ASSERT_TRUE(registry_.remove(pods, "default", "p", {.grace_period_seconds = 0}).ok());
  EXPECT_EQ(registry_.get(pods, "default", "p").error().code, 404);
}

}  // namespace
}  // namespace kedge::control

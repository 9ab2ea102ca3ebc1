// PersistentVolume controller and the binding rules against the in-memory
// API: smallest fit, selectors, classes and access modes, pre-bound volumes
// and claims, local-path provisioning (Immediate and WaitForFirstConsumer),
// reclaim Retain/Delete, and the pvc-protection finalizer.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/controllers/persistentvolume.h"
#include "kedge/controllers/volume_binding.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

json::value make_pv(const std::string& name, const std::string& size, json::object extra_spec = {},
                    json::object labels = {}) {
  json::object spec{{"capacity", json::object{{"storage", size}}},
                    {"accessModes", json::array{"ReadWriteOnce"}},
                    {"hostPath", json::object{{"path", "/data/" + name}}},
                    {"storageClassName", "manual"}};
  for (auto& [k, v] : extra_spec) spec[k] = v;
  return json::object{{"apiVersion", "v1"}, {"kind", "PersistentVolume"},
                      {"metadata", json::object{{"name", name}, {"labels", labels}}},
                      {"spec", spec},
                      {"status", json::object{{"phase", "Available"}}}};
}

json::value make_pvc(const std::string& name, const std::string& request, json::object extra_spec = {}) {
  json::object spec{{"accessModes", json::array{"ReadWriteOnce"}},
                    {"resources", json::object{{"requests", json::object{{"storage", request}}}}},
                    {"storageClassName", "manual"}};
  for (auto& [k, v] : extra_spec) spec[k] = v;
  return json::object{{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"},
                      {"metadata", json::object{{"name", name}, {"namespace", "default"}}},
                      {"spec", spec},
                      {"status", json::object{{"phase", "Pending"}}}};
}

class PersistentVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 500 && controller_.process_one(); ++i) {
    }
  }
  json::value create(const Resource& r, json::value obj) {
    auto created = t_.create(r, api::get_namespace(obj), obj);
    EXPECT_TRUE(created.ok()) << created.status().to_string();
    return created.ok() ? *created : json::value();
  }
  Object pvc(const std::string& name) { return t_.get(persistentvolumeclaims_resource(), "default", name); }
  Object pv(const std::string& name) { return t_.get(persistentvolumes_resource(), "", name); }
  std::string phase(const Object& o) { return o ? std::string(o->at("status").at("phase").as_string()) : "<gone>"; }
  std::vector<std::string> event_reasons() {
    std::vector<std::string> out;
    for (const auto& e : t_.list(events_resource(), "")) out.emplace_back(e->at("reason").as_string());
    return out;
  }

  FakeTransport t_;
  PersistentVolumeController controller_{
      t_, {.storage_dir = "/var/lib/kedge/storage", .default_node = "server-node", .create_default_class = false}};
};

TEST_F(PersistentVolumeTest, BindsTheSmallestVolumeThatFits) {
  create(persistentvolumes_resource(), make_pv("big", "10Gi"));
  create(persistentvolumes_resource(), make_pv("small", "1Gi"));
  create(persistentvolumes_resource(), make_pv("fits", "2Gi"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1500Mi"));
  drain();
  auto claim = pvc("data");
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->at("spec").at("volumeName"), "fits");
  EXPECT_EQ(phase(claim), "Bound");
  EXPECT_EQ(claim->at("status").at("capacity").at("storage"), "2Gi");
  EXPECT_EQ(claim->at("status").at("accessModes"), (json::array{"ReadWriteOnce"}));
  EXPECT_EQ(api::get_annotation(*claim, "pv.kubernetes.io/bind-completed"), "yes");
  EXPECT_EQ(api::get_annotation(*claim, "pv.kubernetes.io/bound-by-controller"), "yes");
  EXPECT_TRUE(api::has_finalizer(*claim, "kubernetes.io/pvc-protection"));
  auto fits = pv("fits");
  EXPECT_EQ(phase(fits), "Bound");
  EXPECT_EQ(fits->at("spec").at("claimRef").at("name"), "data");
  EXPECT_EQ(fits->at("spec").at("claimRef").at("uid"), claim->at("metadata").at("uid"));
  EXPECT_EQ(api::get_annotation(*fits, "pv.kubernetes.io/bound-by-controller"), "yes");
  EXPECT_TRUE(api::has_finalizer(*fits, "kubernetes.io/pv-protection"));
  EXPECT_EQ(phase(pv("big")), "Available");
  EXPECT_EQ(phase(pv("small")), "Available");
}

TEST_F(PersistentVolumeTest, SelectorClassAccessModesAndVolumeModeMustMatch) {
  create(persistentvolumes_resource(), make_pv("other-class", "1Gi", {{"storageClassName", "fast"}}));
  create(persistentvolumes_resource(), make_pv("rox-only", "1Gi", {{"accessModes", json::array{"ReadOnlyMany"}}}));
  create(persistentvolumes_resource(), make_pv("block", "1Gi", {{"volumeMode", "Block"}}));
  create(persistentvolumes_resource(), make_pv("wrong-label", "1Gi", {}, {{"tier", "cold"}}));
  create(persistentvolumes_resource(), make_pv("right", "5Gi", {}, {{"tier", "hot"}}));
  create(persistentvolumeclaims_resource(),
         make_pvc("data", "1Gi", {{"selector", json::object{{"matchLabels", json::object{{"tier", "hot"}}}}}}));
  drain();
  EXPECT_EQ(pvc("data")->at("spec").at("volumeName"), "right");
}

TEST_F(PersistentVolumeTest, NoMatchStaysPendingWithFailedBinding) {
  create(persistentvolumes_resource(), make_pv("tiny", "100Mi"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1Gi", {{"storageClassName", ""}}));
  drain();
  EXPECT_EQ(phase(pvc("data")), "Pending");
  EXPECT_EQ(event_reasons(), std::vector<std::string>{"FailedBinding"});
  // A fitting volume added later binds it.
  create(persistentvolumes_resource(), make_pv("later", "1Gi", {{"storageClassName", ""}}));
  drain();
  EXPECT_EQ(phase(pvc("data")), "Bound");
}

TEST_F(PersistentVolumeTest, VolumePreBoundByClaimRefOnlyServesThatClaim) {
  create(persistentvolumes_resource(),
         make_pv("reserved", "1Gi", {{"claimRef", json::object{{"namespace", "default"}, {"name", "owner"}}}}));
  create(persistentvolumeclaims_resource(), make_pvc("intruder", "1Gi"));
  drain();
  EXPECT_EQ(phase(pvc("intruder")), "Pending");
  create(persistentvolumeclaims_resource(), make_pvc("owner", "1Gi"));
  drain();
  EXPECT_EQ(pvc("owner")->at("spec").at("volumeName"), "reserved");
  EXPECT_EQ(phase(pv("reserved")), "Bound");
  // Pre-bound by the user: not marked bound-by-controller.
  EXPECT_FALSE(api::get_annotation(*pv("reserved"), "pv.kubernetes.io/bound-by-controller"));
}

TEST_F(PersistentVolumeTest, ClaimPreBoundByVolumeName) {
  create(persistentvolumes_resource(), make_pv("a", "1Gi"));
  create(persistentvolumes_resource(), make_pv("b", "8Gi"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1Gi", {{"volumeName", "b"}}));
  drain();
  auto claim = pvc("data");
  EXPECT_EQ(phase(claim), "Bound");
  EXPECT_EQ(claim->at("spec").at("volumeName"), "b");
  EXPECT_FALSE(api::get_annotation(*claim, "pv.kubernetes.io/bound-by-controller"));
  EXPECT_EQ(pv("b")->at("spec").at("claimRef").at("name"), "data");
  EXPECT_EQ(phase(pv("a")), "Available");
}

TEST_F(PersistentVolumeTest, DeletedClaimReleasesRetainVolume) {
  create(persistentvolumes_resource(), make_pv("keep", "1Gi", {{"persistentVolumeReclaimPolicy", "Retain"}}));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1Gi"));
  drain();
  ASSERT_EQ(phase(pv("keep")), "Bound");
  ASSERT_TRUE(t_.remove(persistentvolumeclaims_resource(), "default", "data", {}).ok());
  drain();
  EXPECT_FALSE(pvc("data"));  // no pod used it: pvc-protection removed
  EXPECT_EQ(phase(pv("keep")), "Released");
  // A Released volume does not bind a new claim (its claimRef names the old one).
  create(persistentvolumeclaims_resource(), make_pvc("next", "1Gi"));
  drain();
  EXPECT_EQ(phase(pvc("next")), "Pending");
  EXPECT_EQ(phase(pv("keep")), "Released");
}

TEST_F(PersistentVolumeTest, ClaimInUseByAPodIsKeptUntilThePodIsGone) {
  create(persistentvolumes_resource(), make_pv("v", "1Gi"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1Gi"));
  json::value pod = json::object{
      {"apiVersion", "v1"}, {"kind", "Pod"},
      {"metadata", json::object{{"name", "user"}, {"namespace", "default"}}},
      {"spec", json::object{{"volumes", json::array{json::object{
                                            {"name", "d"}, {"persistentVolumeClaim", json::object{{"claimName", "data"}}}}}}}},
      {"status", json::object{{"phase", "Running"}}}};
  create(pods_resource(), pod);
  drain();
  ASSERT_TRUE(t_.remove(persistentvolumeclaims_resource(), "default", "data", {}).ok());
  drain();
  ASSERT_TRUE(pvc("data"));
  EXPECT_TRUE(api::get_deletion_timestamp(*pvc("data")));
  EXPECT_EQ(phase(pv("v")), "Bound");
  ASSERT_TRUE(t_.remove(pods_resource(), "default", "user", {}).ok());
  drain();
  EXPECT_FALSE(pvc("data"));
  EXPECT_EQ(phase(pv("v")), "Released");
}

json::value local_path_class(const std::string& mode) {
  return json::object{{"apiVersion", "storage.k8s.io/v1"}, {"kind", "StorageClass"},
                      {"metadata", json::object{{"name", "local-path"}}},
                      {"provisioner", "kedge.io/local-path"}, {"reclaimPolicy", "Delete"},
                      {"volumeBindingMode", mode}};
}

TEST_F(PersistentVolumeTest, WaitForFirstConsumerProvisionsOnTheSelectedNode) {
  t_.put(nodes_resource(), json::object{{"apiVersion", "v1"}, {"kind", "Node"},
                                        {"metadata", json::object{{"name", "node-b"}}}});
  create(storageclasses_resource(), local_path_class("WaitForFirstConsumer"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "2Gi", {{"storageClassName", "local-path"}}));
  drain();
  EXPECT_EQ(phase(pvc("data")), "Pending");
  EXPECT_TRUE(t_.list(persistentvolumes_resource(), "").empty());
  EXPECT_EQ(event_reasons(), std::vector<std::string>{"WaitForFirstConsumer"});
  // The scheduler picked node-b.
  json::value claim = *pvc("data");
  api::set_annotation(claim, "volume.kubernetes.io/selected-node", "node-b");
  ASSERT_TRUE(t_.update(persistentvolumeclaims_resource(), claim).ok());
  drain();
  claim = *pvc("data");
  EXPECT_EQ(phase(pvc("data")), "Bound");
  const std::string pv_name = "pvc-" + std::string(api::get_uid(claim));
  EXPECT_EQ(claim.at("spec").at("volumeName").as_string(), pv_name);
  auto volume = pv(pv_name);
  ASSERT_TRUE(volume);
  EXPECT_EQ(volume->at("spec").at("hostPath").at("path").as_string(), "/var/lib/kedge/storage/" + pv_name);
  EXPECT_EQ(volume->at("spec").at("persistentVolumeReclaimPolicy"), "Delete");
  EXPECT_EQ(volume->at("spec").at("capacity").at("storage"), "2Gi");
  const json::object node_b{{"kubernetes.io/hostname", "node-b"}};
  const json::object node_a{{"kubernetes.io/hostname", "node-a"}};
  EXPECT_TRUE(volumes::node_affinity_matches(*volume, {.name = "node-b", .labels = &node_b}));
  EXPECT_FALSE(volumes::node_affinity_matches(*volume, {.name = "node-a", .labels = &node_a}));
  EXPECT_EQ(api::get_annotation(*volume, "pv.kubernetes.io/provisioned-by"), "kedge.io/local-path");
  EXPECT_EQ(api::get_annotation(claim, "volume.kubernetes.io/storage-provisioner"), "kedge.io/local-path");
  auto reasons = event_reasons();
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "ProvisioningSucceeded"), reasons.end());

  // Reclaim Delete: the claim goes, the PV is deleted and waits only for
  // the node's kubelet (local-path cleanup finalizer).
  ASSERT_TRUE(t_.remove(persistentvolumeclaims_resource(), "default", "data", {}).ok());
  drain();
  volume = pv(pv_name);
  ASSERT_TRUE(volume);
  EXPECT_TRUE(api::get_deletion_timestamp(*volume));
  EXPECT_EQ(api::get_finalizers(*volume), std::vector<std::string>{"kedge.io/local-path-cleanup"});
  // Without the node nobody could remove the directory: the PV goes.
  ASSERT_TRUE(t_.remove(nodes_resource(), "", "node-b", {}).ok());
  controller_.queue().add("volume/" + pv_name);
  drain();
  EXPECT_FALSE(pv(pv_name));
}

TEST_F(PersistentVolumeTest, ImmediateLocalPathProvisionsOnTheServerNode) {
  create(storageclasses_resource(), local_path_class("Immediate"));
  create(persistentvolumeclaims_resource(), make_pvc("data", "1Gi", {{"storageClassName", "local-path"}}));
  drain();
  auto claim = pvc("data");
  EXPECT_EQ(phase(claim), "Bound");
  auto volume = pv(std::string(claim->at("spec").at("volumeName").as_string()));
  ASSERT_TRUE(volume);
  EXPECT_EQ(api::get_annotation(*volume, "volume.kubernetes.io/selected-node"), "server-node");
}

TEST(VolumeBinding, DelayBindingWithoutNodeOnlyTakesPreBoundVolumes) {
  json::value claim = make_pvc("c", "1Gi");
  claim.as_object()["metadata"].as_object()["uid"] = "u1";
  std::vector<Object> vols{std::make_shared<const json::value>(make_pv("free", "1Gi"))};
  EXPECT_EQ(volumes::find_matching_volume(claim, vols, std::nullopt, true), nullptr);
  EXPECT_NE(volumes::find_matching_volume(claim, vols, std::nullopt, false), nullptr);
  vols.push_back(std::make_shared<const json::value>(
      make_pv("mine", "1Gi", {{"claimRef", json::object{{"namespace", "default"}, {"name", "c"}, {"uid", "u1"}}}})));
  const auto* found = volumes::find_matching_volume(claim, vols, std::nullopt, true);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(api::get_name(*found), "mine");
  // Node affinity filters candidates once a node is known.
  json::object aff{{"required", json::object{{"nodeSelectorTerms", json::array{json::object{
                                                 {"matchExpressions", json::array{json::object{
                                                                          {"key", "zone"}, {"operator", "In"},
                                                                          {"values", json::array{"z1"}}}}}}}}}}};
  std::vector<Object> local{std::make_shared<const json::value>(make_pv("z1vol", "1Gi", {{"nodeAffinity", aff}}))};
  const json::object z1{{"zone", "z1"}}, z2{{"zone", "z2"}};
  EXPECT_NE(volumes::find_matching_volume(claim, local, volumes::NodeRef{"n1", &z1}, true), nullptr);
  EXPECT_EQ(volumes::find_matching_volume(claim, local, volumes::NodeRef{"n2", &z2}, true), nullptr);
}

TEST(VolumeBinding, PodClaimNames) {
  json::value pod = json::object{
      {"metadata", json::object{{"name", "web-0"}}},
      {"spec", json::object{{"volumes", json::array{
                                            json::object{{"name", "a"}, {"persistentVolumeClaim", json::object{{"claimName", "data-web-0"}}}},
                                            json::object{{"name", "b"}, {"emptyDir", json::object{}}},
                                            json::object{{"name", "scratch"}, {"ephemeral", json::object{}}}}}}}};
  EXPECT_EQ(volumes::pod_claim_names(pod), (std::vector<std::string>{"data-web-0", "web-0-scratch"}));
}

}  // namespace
}  // namespace kedge::controllers

// EndpointSlice (+ legacy Endpoints) controller against the in-memory API:
// the slices and Endpoints a user (or the service proxy) would read after
// pods come, go and change readiness.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fake_transport.h"
#include "kedge/api/meta.h"
#include "kedge/api/types/service.h"
#include "kedge/controllers/endpointslice.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {
namespace {

namespace json = boost::json;
using testing::FakeTransport;

json::value make_service(std::string_view name = "web", std::string_view target_port = R"("http")") {
  return json::parse(R"({"apiVersion": "v1", "kind": "Service",
    "metadata": {"name": ")" + std::string(name) + R"(", "namespace": "ns", "labels": {"team": "a"}},
    "spec": {"selector": {"app": "web"}, "clusterIP": "10.43.0.20", "type": "ClusterIP",
             "ports": [{"name": "web", "port": 80, "protocol": "TCP", "targetPort": )" +
                     std::string(target_port) + R"(}]}})");
}

class EndpointSliceTest : public ::testing::Test {
 protected:
  void SetUp() override { controller_.register_watches(); }
  void drain() {
    for (int i = 0; i < 1000 && controller_.process_one(); ++i) {
    }
  }
  // A pod as the kubelet reports it.
  void put_pod(std::string name, std::string ip, bool ready, std::string node = "n1", int port = 8080,
               std::string app = "web") {
    json::value pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "ns"},
      "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 0, "protocol": "TCP"}]}]},
      "status": {"phase": "Running"}})");
    api::set_name(pod, name);
    api::set_uid(pod, "uid-" + name);
    api::set_label(pod, "app", app);
    auto& spec = pod.as_object()["spec"].as_object();
    spec["containers"].as_array()[0].as_object()["ports"].as_array()[0].as_object()["containerPort"] = port;
    if (!node.empty()) spec["nodeName"] = node;
    auto& st = pod.as_object()["status"].as_object();
    if (!ip.empty()) {
      st["podIP"] = ip;
      st["podIPs"] = json::array{json::object{{"ip", ip}}};
    }
    st["conditions"] = json::array{json::object{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
    t_.put(pods_resource(), std::move(pod));
  }
  void set_ready(const std::string& name, bool ready) {
    json::value pod = *t_.get(pods_resource(), "ns", name);
    pod.as_object()["status"].as_object()["conditions"] =
        json::array{json::object{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
    t_.put(pods_resource(), std::move(pod));
  }
  std::vector<api::EndpointSlice> slices(std::string_view service = "web") {
    std::vector<api::EndpointSlice> out;
    for (const auto& s : t_.list(endpointslices_resource(), "ns")) {
      auto decoded = api::EndpointSlice::from_json(*s);
      EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
      if (decoded.ok() && decoded->service_name() == service) out.push_back(*decoded);
    }
    return out;
  }
  // address → endpoint, across all slices of the service.
  std::map<std::string, api::Endpoint> endpoints_by_ip() {
    std::map<std::string, api::Endpoint> out;
    for (const auto& s : slices()) {
      for (const auto& e : s.endpoints) out[e.addresses.at(0)] = e;
    }
    return out;
  }

  FakeTransport t_;
  EndpointSliceController controller_{t_, {.max_endpoints_per_slice = 3}};
};

TEST_F(EndpointSliceTest, SliceCarriesReadyPodsNamedPortsLabelsAndOwner) {
  json::value node = json::parse(R"({"apiVersion": "v1", "kind": "Node",
      "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}})");
  t_.put(nodes_resource(), node);
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", true);
  put_pod("p2", "10.42.0.6", false);
  put_pod("pending", "", false);                           // no IP yet: not an endpoint
  put_pod("other", "10.42.0.7", true, "n1", 8080, "db");  // not selected
  drain();
  auto ss = slices();
  ASSERT_EQ(ss.size(), 1u);
  const auto& s = ss[0];
  EXPECT_EQ(s.address_type, "IPv4");
  EXPECT_EQ(s.metadata.name.substr(0, 4), "web-");
  EXPECT_EQ(s.metadata.labels.at("endpointslice.kubernetes.io/managed-by"), "endpointslice-controller.k8s.io");
  EXPECT_EQ(s.metadata.labels.at("team"), "a");
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].name, "web");
  EXPECT_EQ(s.ports[0].port, 8080);  // "http" resolved against the container port
  EXPECT_EQ(s.ports[0].protocol, "TCP");
  auto slice_obj = t_.list(endpointslices_resource(), "ns").at(0);
  auto ref = api::get_controller_ref(*slice_obj);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->kind, "Service");
  EXPECT_EQ(ref->uid, api::get_uid(*t_.get(services_resource(), "ns", "web")));
  auto eps = endpoints_by_ip();
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps["10.42.0.5"].conditions.ready, true);
  EXPECT_EQ(eps["10.42.0.5"].conditions.serving, true);
  EXPECT_EQ(eps["10.42.0.5"].conditions.terminating, false);
  EXPECT_EQ(eps["10.42.0.5"].node_name, "n1");
  EXPECT_EQ(eps["10.42.0.5"].zone, "zone-a");
  ASSERT_TRUE(eps["10.42.0.5"].target_ref);
  EXPECT_EQ(eps["10.42.0.5"].target_ref->name, "p1");
  EXPECT_EQ(eps["10.42.0.6"].conditions.ready, false);
  EXPECT_EQ(eps["10.42.0.6"].conditions.serving, false);
  // Converged: a resync writes nothing.
  int writes = t_.writes("create") + t_.writes("update") + t_.writes("delete");
  controller_.resync_all();
  drain();
  EXPECT_EQ(t_.writes("create") + t_.writes("update") + t_.writes("delete"), writes);
}

TEST_F(EndpointSliceTest, ReadinessChangeIsReflectedOnTheNextSync) {
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", false);
  drain();
  EXPECT_EQ(endpoints_by_ip()["10.42.0.5"].conditions.ready, false);
  set_ready("p1", true);  // the pod event alone enqueues the Service
  drain();
  EXPECT_EQ(endpoints_by_ip()["10.42.0.5"].conditions.ready, true);
  set_ready("p1", false);
  drain();
  EXPECT_EQ(endpoints_by_ip()["10.42.0.5"].conditions.ready, false);
}

TEST_F(EndpointSliceTest, TerminatingPodIsServingButNotReady) {
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", true);
  drain();
  json::value pod = *t_.get(pods_resource(), "ns", "p1");
  api::set_deletion_timestamp(pod, "2026-01-01T00:00:00Z");
  t_.put(pods_resource(), pod);
  drain();
  auto ep = endpoints_by_ip().at("10.42.0.5");
  EXPECT_EQ(ep.conditions.ready, false);
  EXPECT_EQ(ep.conditions.serving, true);
  EXPECT_EQ(ep.conditions.terminating, true);
  // Legacy Endpoints drop terminating pods.
  auto endpoints = t_.get(endpoints_resource(), "ns", "web");
  ASSERT_TRUE(endpoints);
  EXPECT_FALSE(endpoints->as_object().contains("subsets"));
}

TEST_F(EndpointSliceTest, AtMostMaxEndpointsPerSliceAndEmptiedSlicesAreDeleted) {
  t_.put(services_resource(), make_service());
  for (int i = 0; i < 7; ++i) put_pod("p" + std::to_string(i), "10.42.0." + std::to_string(10 + i), true);
  drain();
  auto ss = slices();
  ASSERT_EQ(ss.size(), 3u);  // 3 + 3 + 1 with the limit set to 3
  size_t total = 0;
  for (const auto& s : ss) {
    EXPECT_LE(s.endpoints.size(), 3u);
    total += s.endpoints.size();
  }
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(endpoints_by_ip().size(), 7u);
  // Pods go: slices shrink, empty ones are deleted, one stays as long as
  // endpoints remain.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(t_.remove(pods_resource(), "ns", "p" + std::to_string(i), {}).ok());
  drain();
  EXPECT_EQ(endpoints_by_ip().size(), 1u);
  EXPECT_EQ(slices().size(), 1u);
  // The last goes: one empty placeholder slice remains.
  ASSERT_TRUE(t_.remove(pods_resource(), "ns", "p6", {}).ok());
  drain();
  ss = slices();
  ASSERT_EQ(ss.size(), 1u);
  EXPECT_TRUE(ss[0].endpoints.empty());
}

TEST_F(EndpointSliceTest, NewEndpointsFillExistingSlicesWithoutMovingOthers) {
  t_.put(services_resource(), make_service());
  for (int i = 0; i < 3; ++i) put_pod("p" + std::to_string(i), "10.42.0." + std::to_string(10 + i), true);
  drain();
  ASSERT_EQ(slices().size(), 1u);
  std::string first = slices()[0].metadata.name;
  ASSERT_TRUE(t_.remove(pods_resource(), "ns", "p1", {}).ok());
  put_pod("p9", "10.42.0.99", true);
  drain();
  auto ss = slices();
  ASSERT_EQ(ss.size(), 1u);  // the freed room is reused, no second slice
  EXPECT_EQ(ss[0].metadata.name, first);
  EXPECT_EQ(endpoints_by_ip().count("10.42.0.99"), 1u);
  EXPECT_EQ(endpoints_by_ip().count("10.42.0.11"), 0u);
}

TEST_F(EndpointSliceTest, PodsResolvingPortsDifferentlyGetSeparateSlices) {
  t_.put(services_resource(), make_service());
  put_pod("a", "10.42.0.5", true, "n1", 8080);
  put_pod("b", "10.42.0.6", true, "n1", 9090);
  drain();
  auto ss = slices();
  ASSERT_EQ(ss.size(), 2u);
  std::set<int> ports;
  for (const auto& s : ss) {
    ASSERT_EQ(s.ports.size(), 1u);
    ASSERT_EQ(s.endpoints.size(), 1u);
    ports.insert(*s.ports[0].port);
  }
  EXPECT_EQ(ports, (std::set<int>{8080, 9090}));
}

TEST_F(EndpointSliceTest, LegacyEndpointsSplitReadyAndNotReadyAddresses) {
  t_.put(services_resource(), make_service("web", "8443"));
  put_pod("p2", "10.42.0.9", true);
  put_pod("p1", "10.42.0.5", true);
  put_pod("p3", "10.42.0.7", false);
  drain();
  auto ep = t_.get(endpoints_resource(), "ns", "web");
  ASSERT_TRUE(ep);
  const auto& subsets = ep->at("subsets").as_array();
  ASSERT_EQ(subsets.size(), 1u);
  const auto& s = subsets[0].as_object();
  ASSERT_EQ(s.at("addresses").as_array().size(), 2u);
  EXPECT_EQ(s.at("addresses").at(0).at("ip"), "10.42.0.5");  // sorted by IP
  EXPECT_EQ(s.at("addresses").at(1).at("ip"), "10.42.0.9");
  EXPECT_EQ(s.at("addresses").at(0).at("targetRef").at("name"), "p1");
  EXPECT_EQ(s.at("addresses").at(0).at("nodeName"), "n1");
  EXPECT_EQ(s.at("notReadyAddresses").at(0).at("ip"), "10.42.0.7");
  EXPECT_EQ(s.at("ports").at(0).at("port"), 8443);  // numeric targetPort as is
  EXPECT_EQ(s.at("ports").at(0).at("name"), "web");
  EXPECT_EQ(api::get_label(*ep, "team"), "a");
}

TEST_F(EndpointSliceTest, PublishNotReadyAddressesMarksEveryPodReady) {
  json::value svc = make_service();
  svc.as_object()["spec"].as_object()["publishNotReadyAddresses"] = true;
  t_.put(services_resource(), svc);
  put_pod("p1", "10.42.0.5", false);
  drain();
  EXPECT_EQ(endpoints_by_ip().at("10.42.0.5").conditions.ready, true);
  auto ep = t_.get(endpoints_resource(), "ns", "web");
  EXPECT_EQ(ep->at("subsets").at(0).at("addresses").at(0).at("ip"), "10.42.0.5");
}

TEST_F(EndpointSliceTest, ServicesWithoutSelectorAreLeftAlone) {
  json::value svc = make_service();
  svc.as_object()["spec"].as_object().erase("selector");
  t_.put(services_resource(), svc);
  put_pod("p1", "10.42.0.5", true);
  drain();
  EXPECT_TRUE(t_.list(endpointslices_resource(), "ns").empty());
  EXPECT_FALSE(t_.get(endpoints_resource(), "ns", "web"));
}

TEST_F(EndpointSliceTest, DeletedServiceTakesItsSlicesAndEndpoints) {
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", true);
  drain();
  ASSERT_EQ(slices().size(), 1u);
  ASSERT_TRUE(t_.remove(services_resource(), "ns", "web", {}).ok());
  drain();
  EXPECT_TRUE(slices().empty());
  EXPECT_FALSE(t_.get(endpoints_resource(), "ns", "web"));
}

TEST_F(EndpointSliceTest, SliceEditedByHandIsRestored) {
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", true);
  drain();
  json::value s = *t_.list(endpointslices_resource(), "ns").at(0);
  s.as_object()["endpoints"] = json::array{};
  ASSERT_TRUE(t_.update(endpointslices_resource(), s).ok());
  drain();
  EXPECT_EQ(endpoints_by_ip().size(), 1u);
}

TEST_F(EndpointSliceTest, NoDuplicateSlicesWhileTheCacheLags) {
  t_.put(services_resource(), make_service());
  put_pod("p1", "10.42.0.5", true);
  t_.set_lagging(true);
  ASSERT_TRUE(controller_.sync("ns/web").ok());
  ASSERT_TRUE(controller_.sync("ns/web").ok());
  t_.set_lagging(false);
  t_.catch_up();
  drain();
  EXPECT_EQ(slices().size(), 1u);
}

}  // namespace
}  // namespace kedge::controllers

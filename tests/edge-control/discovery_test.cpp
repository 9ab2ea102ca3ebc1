// Discovery, OpenAPI and Table documents: the shapes kubectl parses.
#include <map>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "kedge/control/discovery.h"
#include "kedge/control/pki.h"
#include "kedge/control/resources.h"
#include "kedge/control/table.h"
#include "kedge/testing/process.h"

namespace kedge::control {
namespace {

namespace json = boost::json;

TEST(Discovery, AggregatedListsEveryServedResourceWithSubresources) {
  auto doc = aggregated_discovery(false).as_object();
  EXPECT_EQ(doc.at("apiVersion").as_string(), "apidiscovery.k8s.io/v2");
  bool found_scale = false;
  for (const auto& g : doc.at("items").as_array()) {
    if (g.at("metadata").at("name").as_string() != "apps") continue;
    for (const auto& r : g.at("versions").at(0).at("resources").as_array()) {
      if (r.at("resource").as_string() != "deployments") continue;
      for (const auto& s : r.at("subresources").as_array()) {
        if (s.at("subresource").as_string() == "scale") found_scale = true;
      }
    }
  }
  EXPECT_TRUE(found_scale);
  auto core = aggregated_discovery(true).as_object();
  ASSERT_EQ(core.at("items").as_array().size(), 1u);
  EXPECT_EQ(core.at("items").at(0).at("metadata").at("name").as_string(), "");
}

TEST(Discovery, AcceptNegotiation) {
  EXPECT_TRUE(wants_aggregated_discovery(
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;"
      "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"));
  EXPECT_FALSE(wants_aggregated_discovery("application/json, */*"));
  EXPECT_FALSE(wants_aggregated_discovery("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"));
  EXPECT_TRUE(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
  EXPECT_FALSE(wants_table("application/json"));
}

TEST(OpenApi, PatchOperationsCarryGvkAndFieldValidation) {
  auto root = openapi_v3_root().as_object();
  ASSERT_TRUE(root.at("paths").as_object().contains("apis/apps/v1"));
  std::string url(root.at("paths").at("apis/apps/v1").at("serverRelativeURL").as_string());
  EXPECT_EQ(url.rfind("/openapi/v3/apis/apps/v1?hash=", 0), 0u) << url;
  auto doc = openapi_v3_document("apis/apps/v1");
  ASSERT_TRUE(doc.has_value());
  const auto& op = doc->at("paths").at("/apis/apps/v1/namespaces/{namespace}/deployments/{name}").at("patch").as_object();
  EXPECT_EQ(op.at("x-kubernetes-group-version-kind").at("kind").as_string(), "Deployment");
  bool field_validation = false;
  for (const auto& p : op.at("parameters").as_array()) {
    if (p.at("name").as_string() == "fieldValidation") field_validation = true;
  }
  EXPECT_TRUE(field_validation);
  EXPECT_FALSE(openapi_v3_document("apis/nope/v1").has_value());
}

TEST(Table, PodColumnsAsKubectlPrintsThem) {
  auto pod = json::parse(R"({"metadata":{"name":"p","creationTimestamp":"2026-01-01T00:00:00Z"},
    "spec":{"nodeName":"n1","containers":[{"name":"a"},{"name":"b"}]},
    "status":{"phase":"Running","podIP":"10.42.0.5","containerStatuses":[{"ready":true,"restartCount":2},{"ready":false,"restartCount":1}]}})").as_object();
  const auto* pods = find_resource("", "v1", "pods");
  auto t = make_table(*pods, {pod}, "7", "", IncludeObject::kMetadata, 1767225600 + 300);
  std::vector<std::string> names;
  for (const auto& c : t.at("columnDefinitions").as_array()) names.emplace_back(c.at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                             "Nominated Node", "Readiness Gates"}));
  const auto& cells = t.at("rows").at(0).at("cells").as_array();
  EXPECT_EQ(cells[1].as_string(), "1/2");
  EXPECT_EQ(cells[2].as_string(), "Running");
  EXPECT_EQ(cells[3].as_string(), "3");
  EXPECT_EQ(cells[4].as_string(), "5m");
  EXPECT_EQ(cells[6].as_string(), "n1");
  EXPECT_EQ(t.at("rows").at(0).at("object").at("kind").as_string(), "PartialObjectMetadata");
}

// The columns `kubectl get` prints for one object of `resource`.
std::map<std::string, std::string> table_row(std::string_view group, std::string_view version,
                                             std::string_view resource, std::string_view object) {
  auto obj = json::parse(object).as_object();
  auto t = make_table(*find_resource(group, version, resource), {obj}, "7", "", IncludeObject::kMetadata,
                      1767225600 + 300);
  std::map<std::string, std::string> row;
  const auto& defs = t.at("columnDefinitions").as_array();
  const auto& cells = t.at("rows").at(0).at("cells").as_array();
  for (std::size_t i = 0; i < defs.size(); ++i) {
    const auto& c = cells[i];
    row[std::string(defs[i].at("name").as_string())] =
        c.is_string() ? std::string(c.as_string()) : json::serialize(c);
  }
  return row;
}

TEST(Table, NodeEndpointsSliceAndCronJobColumnsAsUpstream) {
  auto node = table_row("", "v1", "nodes", R"({"metadata":{"name":"n1","creationTimestamp":"2026-01-01T00:00:00Z"},
    "status":{"addresses":[{"type":"Hostname","address":"n1"},{"type":"InternalIP","address":"192.0.2.5"}],
    "nodeInfo":{"osImage":"Debian GNU/Linux 12","kernelVersion":"6.1.0","containerRuntimeVersion":"containerd://1.6.20"}}})");
  EXPECT_EQ(node["Internal-IP"], "192.0.2.5");
  EXPECT_EQ(node["External-IP"], "<none>");
  EXPECT_EQ(node["OS-Image"], "Debian GNU/Linux 12");
  EXPECT_EQ(node["Kernel-Version"], "6.1.0");
  EXPECT_EQ(node["Container-Runtime"], "containerd://1.6.20");
  auto eps = table_row("", "v1", "endpoints", R"({"metadata":{"name":"web"},"subsets":[
    {"addresses":[{"ip":"10.42.0.3"},{"ip":"10.42.0.4"}],"ports":[{"port":8080},{"port":9090}]}]})");
  EXPECT_EQ(eps["Endpoints"], "10.42.0.3:8080,10.42.0.3:9090,10.42.0.4:8080 + 1 more...");
  auto slice = table_row("discovery.k8s.io", "v1", "endpointslices", R"({"metadata":{"name":"web-x"},
    "addressType":"IPv4","ports":[{"port":8080}],"endpoints":[{"addresses":["10.42.0.3"]},{"addresses":["10.42.0.4"]}]})");
  EXPECT_EQ(slice["AddressType"], "IPv4");
  EXPECT_EQ(slice["Ports"], "8080");
  EXPECT_EQ(slice["Endpoints"], "10.42.0.3,10.42.0.4");
  auto cj = table_row("batch", "v1", "cronjobs", R"({"metadata":{"name":"cj"},
    "spec":{"schedule":"*/5 * * * *","timeZone":"Europe/Berlin"},"status":{"lastScheduleTime":"2026-01-01T00:03:00Z"}})");
  EXPECT_EQ(cj["Schedule"], "*/5 * * * *");
  EXPECT_EQ(cj["TimeZone"], "Europe/Berlin");
  EXPECT_EQ(cj["Last Schedule"], "2m");
}

TEST(Pki, CreatesOnceAndReuses) {
  testing::TempDir dir("kedge-pki");
  auto options = default_pki_options(dir.path() / "tls", {"edge1.example"});
  auto first = ensure_pki(options);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto ca_before = testing::run({"cat", first->ca_cert.string()}).out;
  auto server_before = testing::run({"cat", first->server_cert.string()}).out;
  auto second = ensure_pki(options);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(testing::run({"cat", second->ca_cert.string()}).out, ca_before);
  EXPECT_EQ(testing::run({"cat", second->server_cert.string()}).out, server_before);
  auto text = testing::run({"openssl", "x509", "-in", first->server_cert.string(), "-noout", "-text"}).out;
  for (const char* san : {"DNS:kubernetes.default.svc.cluster.local", "DNS:edge1.example", "IP Address:10.43.0.1",
                          "IP Address:127.0.0.1", "DNS:localhost"}) {
    EXPECT_NE(text.find(san), std::string::npos) << san;
  }
  auto admin = testing::run({"openssl", "x509", "-in", first->admin_cert.string(), "-noout", "-subject"}).out;
  EXPECT_NE(admin.find("O = system:masters"), std::string::npos) << admin;
  auto verify = testing::run({"openssl", "verify", "-CAfile", first->ca_cert.string(), first->server_cert.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto kubeconfig = dir.path() / "kedge.yaml";
  ASSERT_TRUE(write_admin_kubeconfig(*first, "https://127.0.0.1:6443", kubeconfig).ok());
  EXPECT_EQ(std::filesystem::status(kubeconfig).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace
}  // namespace kedge::control

#include "workload.h"

#include <string>

#include <boost/json.hpp>

namespace kedge::bench {

namespace json = boost::json;

namespace {

// Constraint mix, by app index modulo 10.
const char* kKinds[] = {"plain", "plain", "plain", "plain", "nodeSelector", "nodeSelector",
                        "toleration", "antiAffinity", "spread", "preferred"};

}  // namespace

json::value node_json(int i) {
  static const char* zones[] = {"zone-a", "zone-b", "zone-c"};
  json::object labels;
  std::string name = "node-" + std::to_string(i);
  labels["kubernetes.io/hostname"] = name;
  labels["topology.kubernetes.io/zone"] = zones[i % 3];
  labels["disk"] = i % 2 == 0 ? "ssd" : "hdd";
  labels["kubernetes.io/arch"] = "arm64";
  json::array taints;
  if (i % 10 == 0) {
    json::object t;
    t["key"] = "dedicated";
    t["value"] = "edge";
    t["effect"] = "NoSchedule";
    taints.push_back(std::move(t));
  }
  if (i % 7 == 0) {
    json::object t;
    t["key"] = "spot";
    t["effect"] = "PreferNoSchedule";
    taints.push_back(std::move(t));
  }
  json::object alloc;
  alloc["cpu"] = "32";
  alloc["memory"] = "128Gi";
  alloc["pods"] = "110";
  alloc["ephemeral-storage"] = "100Gi";
  json::object ready;
  ready["type"] = "Ready";
  ready["status"] = "True";
  json::array conds;
  conds.push_back(std::move(ready));
  json::object image;
  image["names"] = json::array{"registry.local/app-" + std::to_string(i % 20) + ":v1"};
  image["sizeBytes"] = 300 * 1024 * 1024;
  json::array images;
  images.push_back(std::move(image));
  json::object meta, spec, status, node;
  meta["name"] = name;
  meta["labels"] = std::move(labels);
  spec["taints"] = std::move(taints);
  status["allocatable"] = alloc;
  status["capacity"] = alloc;
  status["conditions"] = std::move(conds);
  status["images"] = std::move(images);
  node["apiVersion"] = "v1";
  node["kind"] = "Node";
  node["metadata"] = std::move(meta);
  node["spec"] = std::move(spec);
  node["status"] = std::move(status);
  return node;
}

json::value pod_json(int i, int replicas_per_app) {
  int app = i / replicas_per_app;
  std::string kind = kKinds[app % 10];
  std::string app_name = "app-" + std::to_string(app);
  json::object labels;
  labels["app"] = app_name;
  labels["tier"] = kind;
  json::object requests;
  requests["cpu"] = std::to_string(100 + 50 * (app % 5)) + "m";
  requests["memory"] = std::to_string(128 * (1 + app % 4)) + "Mi";
  json::object resources;
  resources["requests"] = std::move(requests);
  json::object container;
  container["name"] = "main";
  container["image"] = "registry.local/app-" + std::to_string(app % 20) + ":v1";
  container["resources"] = std::move(resources);
  json::array containers;
  containers.push_back(std::move(container));
  json::object spec;
  spec["containers"] = std::move(containers);
  std::string extra;
  const std::string sel = R"({"matchLabels":{"app":")" + app_name + R"("}})";
  if (kind == "nodeSelector") {
    extra = R"({"nodeSelector":{"disk":"ssd"}})";
  } else if (kind == "toleration") {
    extra = R"({"tolerations":[{"key":"dedicated","operator":"Equal","value":"edge","effect":"NoSchedule"}],
               "affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,
               "preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}}]}}})";
  } else if (kind == "antiAffinity") {
    extra = R"({"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":)" + sel +
            R"(,"topologyKey":"kubernetes.io/hostname"}]}}})";
  } else if (kind == "spread") {
    extra = R"({"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":)" +
            sel + R"(},{"maxSkew":1,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway","labelSelector":)" + sel + "}]}";
  } else if (kind == "preferred") {
    std::string other = "app-" + std::to_string(app - 1);
    extra = R"({"affinity":{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":20,"podAffinityTerm":{
               "labelSelector":{"matchLabels":{"app":")" + other + R"("}},"topologyKey":"topology.kubernetes.io/zone"}}]},
               "podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,"podAffinityTerm":{
               "labelSelector":)" + sel + R"(,"topologyKey":"kubernetes.io/hostname"}}]}}})";
  }
  if (!extra.empty()) {
    const json::value e = json::parse(extra);
    for (const auto& kv : e.as_object()) spec[kv.key()] = kv.value();
  }
  json::object meta, pod;
  meta["name"] = app_name + "-" + std::to_string(i % replicas_per_app);
  meta["namespace"] = "bench";
  meta["uid"] = "uid-" + std::to_string(i);
  meta["labels"] = std::move(labels);
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  pod["metadata"] = std::move(meta);
  pod["spec"] = std::move(spec);
  return pod;
}

}  // namespace kedge::bench

// Builders for Node and Pod JSON shaped like what the API server serves, so
// every test goes through parse_node()/parse_pod() as edge-control will.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "kedge/scheduler/cache.h"
#include "kedge/scheduler/types.h"

namespace kedge::scheduler::testing {

namespace json = boost::json;

inline json::value J(std::string_view text) { return json::parse(text); }

struct NodeOpts {
  std::string cpu = "4";
  std::string memory = "8Gi";
  std::string pods = "110";
  std::vector<std::pair<std::string, std::string>> labels;
  std::string taints = "[]";  // JSON array
  bool unschedulable = false;
  std::string ready = "True";  // "" = no Ready condition
  std::string extra_allocatable = "{}";  // JSON object merged into allocatable
  std::string images = "[]";  // JSON array of {names, sizeBytes}
};

inline json::value node_json(const std::string& name, const NodeOpts& o = {}) {
  // Built by assignment: GCC 12 flags nested json initializer lists with
  // false dangling-pointer warnings.
  json::object labels;
  labels["kubernetes.io/hostname"] = name;
  for (const auto& [k, v] : o.labels) labels[k] = v;
  json::object alloc;
  alloc["cpu"] = o.cpu;
  alloc["memory"] = o.memory;
  alloc["pods"] = o.pods;
  const json::value extra = J(o.extra_allocatable);
  for (const auto& kv : extra.as_object()) alloc[kv.key()] = kv.value();
  json::array conds;
  if (!o.ready.empty()) {
    json::object ready;
    ready["type"] = "Ready";
    ready["status"] = o.ready;
    conds.push_back(std::move(ready));
  }
  json::object meta;
  meta["name"] = name;
  meta["labels"] = std::move(labels);
  json::object spec;
  spec["unschedulable"] = o.unschedulable;
  spec["taints"] = J(o.taints);
  json::object status;
  status["allocatable"] = alloc;
  status["capacity"] = alloc;
  status["conditions"] = std::move(conds);
  status["images"] = J(o.images);
  json::object n;
  n["apiVersion"] = "v1";
  n["kind"] = "Node";
  n["metadata"] = std::move(meta);
  n["spec"] = std::move(spec);
  n["status"] = std::move(status);
  return n;
}

struct PodOpts {
  std::string ns = "default";
  std::string cpu;     // container 0 request, "" = none
  std::string memory;  // container 0 request, "" = none
  std::vector<std::pair<std::string, std::string>> labels;
  std::string node_name;
  std::string image = "busybox:1.36";
  std::string spec = "{}";  // JSON object merged into spec (affinity, tolerations, ...)
  std::string ports = "[]";  // container 0 ports
};

inline json::value pod_json(const std::string& name, const PodOpts& o = {}) {
  json::object requests;
  if (!o.cpu.empty()) requests["cpu"] = o.cpu;
  if (!o.memory.empty()) requests["memory"] = o.memory;
  json::object labels;
  for (const auto& [k, v] : o.labels) labels[k] = v;
  json::object resources;
  resources["requests"] = std::move(requests);
  json::object container;
  container["name"] = "c";
  container["image"] = o.image;
  container["ports"] = J(o.ports);
  container["resources"] = std::move(resources);
  json::array containers;
  containers.push_back(std::move(container));
  json::object spec;
  spec["containers"] = std::move(containers);
  if (!o.node_name.empty()) spec["nodeName"] = o.node_name;
  const json::value extra = J(o.spec);
  for (const auto& kv : extra.as_object()) spec[kv.key()] = kv.value();
  json::object meta;
  meta["name"] = name;
  meta["namespace"] = o.ns;
  meta["uid"] = "uid-" + name;
  meta["labels"] = std::move(labels);
  json::object p;
  p["apiVersion"] = "v1";
  p["kind"] = "Pod";
  p["metadata"] = std::move(meta);
  p["spec"] = std::move(spec);
  return p;
}

inline std::shared_ptr<const PodInfo> pod(const std::string& name, const PodOpts& o = {}) {
  auto r = parse_pod(pod_json(name, o));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : nullptr;
}

inline std::shared_ptr<const NodeInfo> node(const std::string& name, const NodeOpts& o = {}) {
  auto r = parse_node(node_json(name, o));
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : nullptr;
}

// Adds a bound pod to the cache.
inline void bind(Cache& cache, const std::string& name, const std::string& node_name, PodOpts o = {}) {
  o.node_name = node_name;
  auto p = pod(name, o);
  ASSERT_TRUE(p);
  auto st = cache.add_pod(p);
  ASSERT_TRUE(st.ok()) << st.to_string();
}

}  // namespace kedge::scheduler::testing

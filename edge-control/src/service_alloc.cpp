#include "service_alloc.h"

#include <arpa/inet.h>

#include <random>

#include "object_util.h"

namespace kedge::control {

namespace {

store::Compare absent(const std::string& key) {
  return store::Compare{.result = store::Compare::Result::kEqual,
                        .target = store::Compare::Target::kMod,
                        .key = key,
                        .number = 0};
}

store::RequestOp put_op(const std::string& key, const std::string& value) {
  return store::RequestOp{store::PutRequest{.key = key, .value = value}};
}

store::RequestOp delete_op(const std::string& key) {
  return store::RequestOp{store::DeleteRangeRequest{.key = key}};
}

std::string end_of(std::string_view prefix) {
  std::string end(prefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

FieldCause invalid(std::string field, std::string value, std::string why) {
  return FieldCause{"FieldValueInvalid", std::move(field),
                    "Invalid value: \"" + value + "\": " + why};
}

// Node ports of a service spec: (index, port).
std::vector<std::pair<std::size_t, std::int64_t>> node_ports(const json::object& spec) {
  std::vector<std::pair<std::size_t, std::int64_t>> out;
  const auto* ports = find_array(spec, "ports");
  if (ports == nullptr) return out;
  for (std::size_t i = 0; i < ports->size(); ++i) {
    if (!(*ports)[i].is_object()) continue;
    std::int64_t np = get_int((*ports)[i].as_object(), "nodePort", 0);
    if (np != 0) out.emplace_back(i, np);
  }
  return out;
}

bool wants_node_ports(const json::object& spec) {
  std::string type = get_string(spec, "type");
  return type == "NodePort" || type == "LoadBalancer";
}

bool wants_cluster_ip(const json::object& spec) { return get_string(spec, "type") != "ExternalName"; }

}  // namespace

ServiceAllocator::ServiceAllocator(store::Store& store, ServiceNetwork network)
    : store_(store), net_(network) {}

std::string ServiceAllocator::ip_string(std::uint32_t ip) const {
  in_addr a{htonl(ip)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string ServiceAllocator::first_ip() const { return ip_string(net_.cidr_base + 1); }

bool ServiceAllocator::in_range(const std::string& ip) const {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  std::uint32_t v = ntohl(a.s_addr);
  std::uint32_t mask = net_.cidr_bits == 0 ? 0 : ~0u << (32 - net_.cidr_bits);
  std::uint32_t size = ~mask + 1;
  return (v & mask) == net_.cidr_base && v != net_.cidr_base && v != net_.cidr_base + size - 1;
}

ApiResult<std::set<std::string>> ServiceAllocator::allocated(const std::string& prefix) {
  auto r = store_.range(store::RangeRequest{.key = prefix, .range_end = end_of(prefix),
                                            .keys_only = true});
  if (!r.ok()) return from_store_status(r.status());
  std::set<std::string> out;
  for (const auto& kv : r->kvs) out.insert(kv.key.substr(prefix.size()));
  return out;
}

ApiStatus ServiceAllocator::allocate(const json::object* old, json::object& svc,
                                     const std::string& service_key, TxnExtras& extras) {
  auto& spec = child_object(svc, "spec");
  const json::object* old_spec = old != nullptr ? find_object(*old, "spec") : nullptr;
  std::string name = get_string(metadata_of(svc), "name");
  auto fail = [&](FieldCause c) { return invalid_error("", "Service", name, {std::move(c)}); };

  // --- cluster IP ---
  std::string old_ip = old_spec != nullptr ? get_string(*old_spec, "clusterIP") : "";
  std::string ip = get_string(spec, "clusterIP");
  if (!wants_cluster_ip(spec)) {
    if (!ip.empty() && ip != "None") {
      return fail(invalid("spec.clusterIP", ip, "may not be set for ExternalName services"));
    }
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
    if (!old_ip.empty() && old_ip != "None") {
      extras.ops.push_back(delete_op(std::string(kClusterIpPrefix) + old_ip));
    }
  } else if (!old_ip.empty() && (ip.empty() || ip == old_ip)) {
    spec["clusterIP"] = old_ip;
    spec["clusterIPs"] = json::array{json::value(old_ip)};
  } else if (!old_ip.empty()) {
    return fail(invalid("spec.clusterIPs[0]", ip, "may not change once set"));
  } else if (ip == "None") {
    spec["clusterIPs"] = json::array{"None"};
  } else {
    KEDGE_API_ASSIGN(auto taken, allocated(std::string(kClusterIpPrefix)));
    if (!ip.empty()) {
      if (!in_range(ip)) {
        return fail(invalid("spec.clusterIPs", ip,
                            "failed to allocate IP " + ip + ": the provided IP (" + ip +
                                ") is not in the valid range. The range of valid IPs is " +
                                ip_string(net_.cidr_base) + "/" + std::to_string(net_.cidr_bits)));
      }
      if (taken.contains(ip)) {
        return fail(invalid("spec.clusterIPs", ip,
                            "failed to allocate IP " + ip + ": provided IP is already allocated"));
      }
    } else {
      std::uint32_t size = 1u << (32 - net_.cidr_bits);
      thread_local std::mt19937 gen{std::random_device{}()};
      std::uint32_t start = std::uniform_int_distribution<std::uint32_t>(2, size - 2)(gen);
      for (std::uint32_t i = 0; i < size && ip.empty(); ++i) {
        std::uint32_t off = 2 + (start - 2 + i) % (size - 3);  // skip .0, .1 (kubernetes), broadcast
        std::string candidate = ip_string(net_.cidr_base + off);
        if (!taken.contains(candidate)) ip = candidate;
      }
      if (ip.empty()) {
        return internal_api_error("failed to allocate a serviceIP: range is full");
      }
    }
    std::string key = std::string(kClusterIpPrefix) + ip;
    extras.compares.push_back(absent(key));
    extras.ops.push_back(put_op(key, service_key));
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = json::array{json::value(ip)};
  }

  // --- node ports ---
  std::set<std::int64_t> old_ports;
  if (old_spec != nullptr) {
    for (auto [i, p] : node_ports(*old_spec)) old_ports.insert(p);
  }
  std::set<std::int64_t> keep;
  if (wants_node_ports(spec)) {
    std::optional<std::set<std::string>> taken;
    auto* ports = spec.if_contains("ports");
    if (ports != nullptr && ports->is_array()) {
      for (std::size_t i = 0; i < ports->as_array().size(); ++i) {
        auto& pv = ports->as_array()[i];
        if (!pv.is_object()) continue;
        auto& po = pv.as_object();
        std::int64_t np = get_int(po, "nodePort", 0);
        std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
        if (np == 0 && old_spec != nullptr) {
          // Same port number keeps its node port across updates (kubectl apply
          // omits it).
          if (const auto* olds = find_array(*old_spec, "ports")) {
            for (const auto& op : *olds) {
              if (op.is_object() && get_int(op.as_object(), "port", -1) == get_int(po, "port", -2)) {
                np = get_int(op.as_object(), "nodePort", 0);
              }
            }
          }
        }
        if (np != 0 && (np < net_.node_port_min || np > net_.node_port_max)) {
          return fail(invalid(field, std::to_string(np),
                              "provided port is not in the valid range. The range of valid ports is " +
                                  std::to_string(net_.node_port_min) + "-" +
                                  std::to_string(net_.node_port_max)));
        }
        if (np != 0 && (old_ports.contains(np) || keep.contains(np))) {
          if (keep.contains(np)) {
            return fail(invalid(field, std::to_string(np), "provided port is already allocated"));
          }
          keep.insert(np);
          po["nodePort"] = np;
          continue;
        }
        if (!taken) {
          KEDGE_API_ASSIGN(auto t, allocated(std::string(kNodePortPrefix)));
          taken = std::move(t);
        }
        if (np != 0) {
          if (taken->contains(std::to_string(np))) {
            return fail(invalid(field, std::to_string(np), "provided port is already allocated"));
          }
        } else {
          thread_local std::mt19937 gen{std::random_device{}()};
          int span = net_.node_port_max - net_.node_port_min + 1;
          int start = std::uniform_int_distribution<int>(0, span - 1)(gen);
          for (int k = 0; k < span && np == 0; ++k) {
            int candidate = net_.node_port_min + (start + k) % span;
            if (!taken->contains(std::to_string(candidate)) && !keep.contains(candidate)) np = candidate;
          }
          if (np == 0) return internal_api_error("failed to allocate a nodePort: range is full");
        }
        std::string key = std::string(kNodePortPrefix) + std::to_string(np);
        extras.compares.push_back(absent(key));
        extras.ops.push_back(put_op(key, service_key));
        keep.insert(np);
        po["nodePort"] = np;
      }
    }
  } else if (auto* ports = spec.if_contains("ports"); ports != nullptr && ports->is_array()) {
    for (auto& pv : ports->as_array()) {
      if (pv.is_object()) pv.as_object().erase("nodePort");
    }
  }
  for (auto p : old_ports) {
    if (!keep.contains(p)) extras.ops.push_back(delete_op(std::string(kNodePortPrefix) + std::to_string(p)));
  }
  return api_ok();
}

void ServiceAllocator::release(const json::object& svc, TxnExtras& extras) {
  const json::object* spec = find_object(svc, "spec");
  if (spec == nullptr) return;
  std::string ip = get_string(*spec, "clusterIP");
  if (!ip.empty() && ip != "None") extras.ops.push_back(delete_op(std::string(kClusterIpPrefix) + ip));
  for (auto [i, p] : node_ports(*spec)) {
    extras.ops.push_back(delete_op(std::string(kNodePortPrefix) + std::to_string(p)));
  }
}

}  // namespace kedge::control

#include "kedge/controllers/endpointslice.h"

#include <algorithm>
#include <map>
#include <set>

#include "json_path.h"
#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "kedge/api/selectors.h"
#include "kedge/base/log.h"
#include "kedge/controllers/pod_util.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;
using path::array_at;
using path::bool_at;
using path::object_at;
using path::str_at;

namespace {

constexpr char kHeadlessLabel[] = "service.kubernetes.io/headless";

// The Service's selector; nothing() when it has none (or an empty one, which
// the API stores as none).
api::LabelSelector service_selector(const json::value& svc) {
  const json::object* sel = object_at(svc, {"spec", "selector"});
  if (!sel || sel->empty()) return api::LabelSelector::nothing();
  auto parsed = api::LabelSelector::from_map(*sel);
  return parsed.ok() ? *parsed : api::LabelSelector::nothing();
}

bool is_headless(const json::value& svc) { return str_at(svc, {"spec", "clusterIP"}) == "None"; }

// The pod's first IPv4 address (status.podIPs, then status.podIP).
std::string pod_ipv4(const json::value& pod) {
  if (const auto* ips = array_at(pod, {"status", "podIPs"})) {
    for (const auto& e : *ips) {
      std::string_view ip = str_at(e, {"ip"});
      if (!ip.empty() && ip.find(':') == std::string_view::npos) return std::string(ip);
    }
  }
  std::string_view ip = str_at(pod, {"status", "podIP"});
  if (!ip.empty() && ip.find(':') == std::string_view::npos) return std::string(ip);
  return {};
}

bool is_terminal(const json::value& pod) {
  std::string_view phase = str_at(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

// upstream podutil.FindPort: a numeric targetPort as is; a named one from
// the pod's containers (and sidecar init containers) with the same protocol.
std::optional<std::int64_t> find_port(const json::value& pod, const json::value& svc_port) {
  std::string_view protocol = str_at(svc_port, {"protocol"});
  if (protocol.empty()) protocol = "TCP";
  const json::value* target = path::at(svc_port, {"targetPort"});
  if (!target) return path::opt_int_at(svc_port, {"port"});
  if (!target->is_string()) return path::opt_int_at(svc_port, {"targetPort"});
  std::string_view name = target->as_string();
  for (const char* list : {"containers", "initContainers"}) {
    const json::array* containers = array_at(pod, {"spec", list});
    if (!containers) continue;
    for (const auto& c : *containers) {
      const json::array* ports = array_at(c, {"ports"});
      if (!ports) continue;
      for (const auto& p : *ports) {
        std::string_view proto = str_at(p, {"protocol"});
        if (proto.empty()) proto = "TCP";
        if (str_at(p, {"name"}) == name && proto == protocol) return path::opt_int_at(p, {"containerPort"});
      }
    }
  }
  return std::nullopt;
}

// The EndpointSlice ports of `pod` for the Service, in Service port order.
json::array slice_ports(const json::value& svc, const json::value& pod) {
  json::array out;
  const json::array* ports = array_at(svc, {"spec", "ports"});
  if (!ports) return out;
  for (const auto& sp : *ports) {
    auto number = find_port(pod, sp);
    if (!number) continue;
    std::string_view protocol = str_at(sp, {"protocol"});
    json::object p{{"name", str_at(sp, {"name"})},
                   {"port", *number},
                   {"protocol", protocol.empty() ? std::string_view("TCP") : protocol}};
    if (auto app = str_at(sp, {"appProtocol"}); !app.empty()) p["appProtocol"] = app;
    out.push_back(std::move(p));
  }
  return out;
}

json::object target_ref(const json::value& pod) {
  return json::object{{"kind", "Pod"},
                      {"namespace", api::get_namespace(pod)},
                      {"name", api::get_name(pod)},
                      {"uid", api::get_uid(pod)}};
}

bool should_set_hostname(const json::value& pod, const json::value& svc) {
  return !str_at(pod, {"spec", "hostname"}).empty() && str_at(pod, {"spec", "subdomain"}) == api::get_name(svc);
}

// A pod as an EndpointSlice endpoint (upstream podToEndpoint).
json::object pod_endpoint(const json::value& pod, const json::value& svc, const std::string& ip,
                          std::string_view zone) {
  bool publish = bool_at(svc, {"spec", "publishNotReadyAddresses"}, false);
  bool terminating = api::get_deletion_timestamp(pod).has_value();
  bool serving = publish || is_pod_ready(pod);
  bool ready = publish || (serving && !terminating);
  json::object ep{{"addresses", json::array{json::value(ip)}},
                  {"conditions", json::object{{"ready", ready}, {"serving", serving}, {"terminating", terminating}}},
                  {"targetRef", target_ref(pod)}};
  if (auto node = str_at(pod, {"spec", "nodeName"}); !node.empty()) ep["nodeName"] = node;
  if (!zone.empty()) ep["zone"] = zone;
  if (should_set_hostname(pod, svc)) ep["hostname"] = str_at(pod, {"spec", "hostname"});
  return ep;
}

std::string endpoint_key(const json::value& ep) {
  if (auto uid = str_at(ep, {"targetRef", "uid"}); !uid.empty()) return std::string(uid);
  if (const auto* a = array_at(ep, {"addresses"}); a && !a->empty() && a->at(0).is_string()) {
    return std::string(a->at(0).as_string());
  }
  return {};
}

// Endpoints of one port set, keyed by pod uid.
struct PortGroup {
  json::array ports;
  std::map<std::string, json::object> endpoints;
};

std::map<std::string, PortGroup> desired_groups(const json::value& svc, const std::vector<Object>& pods,
                                                const std::function<std::string(std::string_view)>& zone_of) {
  std::map<std::string, PortGroup> groups;
  for (const auto& pod : pods) {
    if (is_terminal(*pod)) continue;
    std::string ip = pod_ipv4(*pod);
    if (ip.empty()) continue;
    json::array ports = slice_ports(svc, *pod);
    std::string gkey = api::json_to_string(ports);
    auto& g = groups[gkey];
    g.ports = std::move(ports);
    g.endpoints[std::string(api::get_uid(*pod))] =
        pod_endpoint(*pod, svc, ip, zone_of(str_at(*pod, {"spec", "nodeName"})));
  }
  return groups;
}

json::object slice_labels(const json::value& svc) {
  json::object labels;
  if (const auto* l = api::get_labels(svc)) labels = *l;
  labels[kServiceNameLabel] = api::get_name(svc);
  labels[kManagedByLabel] = kEndpointSliceControllerName;
  if (is_headless(svc)) {
    labels[kHeadlessLabel] = "";
  } else {
    labels.erase(kHeadlessLabel);
  }
  return labels;
}

api::OwnerReference service_ref(const json::value& svc) {
  return api::OwnerReference{.api_version = "v1",
                             .kind = "Service",
                             .name = std::string(api::get_name(svc)),
                             .uid = std::string(api::get_uid(svc)),
                             .controller = true,
                             .block_owner_deletion = true};
}

bool managed_slice_of(const json::value& slice, std::string_view service) {
  return api::get_label(slice, kManagedByLabel) == kEndpointSliceControllerName &&
         api::get_label(slice, kServiceNameLabel) == service;
}

json::array sorted_endpoints(std::vector<json::object> eps) {
  std::sort(eps.begin(), eps.end(), [](const json::object& a, const json::object& b) {
    return api::json_to_string(a.at("addresses")) < api::json_to_string(b.at("addresses"));
  });
  json::array out;
  for (auto& e : eps) out.push_back(std::move(e));
  return out;
}

// A slice as this controller wants it: the existing one (or a new one) with
// labels, owner, ports and endpoints set.
json::value shape_slice(const json::value* existing, const json::value& svc, const json::array& ports,
                        std::vector<json::object> endpoints) {
  json::value slice = existing ? *existing
                               : json::value(json::object{
                                     {"apiVersion", "discovery.k8s.io/v1"},
                                     {"kind", "EndpointSlice"},
                                     {"metadata", json::object{{"generateName", std::string(api::get_name(svc)) + "-"},
                                                               {"namespace", api::get_namespace(svc)}}}});
  api::mutable_metadata(slice)["labels"] = slice_labels(svc);
  api::set_owner_references(slice, {service_ref(svc)});
  auto& o = slice.as_object();
  o["addressType"] = "IPv4";
  o["ports"] = ports;
  o["endpoints"] = sorted_endpoints(std::move(endpoints));
  return slice;
}

}  // namespace

class EndpointSliceController::ServiceHandler final : public client::InformerHandler {
 public:
  explicit ServiceHandler(EndpointSliceController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(object_key(*obj)); }
  void on_delete(const Object& obj) override { c_.queue().add(object_key(*obj)); }

 private:
  EndpointSliceController& c_;
};

class EndpointSliceController::PodHandler final : public client::InformerHandler {
 public:
  explicit PodHandler(EndpointSliceController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.enqueue_services_selecting(*obj); }
  void on_update(const Object& old_obj, const Object& obj) override {
    c_.enqueue_services_selecting(*obj);
    // Relabelled pods leave the Services that selected them before.
    if (!api::json_equal(json::value(api::get_labels(*old_obj) ? *api::get_labels(*old_obj) : json::object{}),
                         json::value(api::get_labels(*obj) ? *api::get_labels(*obj) : json::object{}))) {
      c_.enqueue_services_selecting(*old_obj);
    }
  }
  void on_delete(const Object& obj) override { c_.enqueue_services_selecting(*obj); }

 private:
  EndpointSliceController& c_;
};

class EndpointSliceController::SliceHandler final : public client::InformerHandler {
 public:
  explicit SliceHandler(EndpointSliceController& c) : c_(c) {}
  void on_add(const Object& obj) override { observe(*obj, true, false); }
  void on_update(const Object&, const Object& obj) override { observe(*obj, false, false); }
  void on_delete(const Object& obj) override { observe(*obj, false, true); }

 private:
  void observe(const json::value& slice, bool added, bool deleted) {
    if (api::get_label(slice, kManagedByLabel) != kEndpointSliceControllerName) return;
    auto service = api::get_label(slice, kServiceNameLabel);
    if (!service) return;
    std::string key = std::string(api::get_namespace(slice)) + "/" + *service;
    if (added) c_.expectations_.creation_observed(key);
    if (deleted) c_.expectations_.deletion_observed(key);
    c_.queue().add(key);
  }
  EndpointSliceController& c_;
};

// Zones come from nodes: a node that appears or changes zone re-syncs the
// Services (rare at edge scale, and cheap).
class EndpointSliceController::NodeHandler final : public client::InformerHandler {
 public:
  explicit NodeHandler(EndpointSliceController& c) : c_(c) {}
  void on_add(const Object&) override {}
  void on_update(const Object& old_obj, const Object& obj) override {
    if (api::get_label(*old_obj, kZoneLabel) != api::get_label(*obj, kZoneLabel)) c_.resync_all();
  }
  void on_delete(const Object&) override {}

 private:
  EndpointSliceController& c_;
};

EndpointSliceController::EndpointSliceController(Transport& transport, EndpointSliceControllerOptions options)
    : Controller("endpointslice", transport, options.queue),
      options_(std::move(options)),
      expectations_(options_.clock),
      service_handler_(std::make_unique<ServiceHandler>(*this)),
      pod_handler_(std::make_unique<PodHandler>(*this)),
      slice_handler_(std::make_unique<SliceHandler>(*this)),
      node_handler_(std::make_unique<NodeHandler>(*this)) {
  if (options_.max_endpoints_per_slice < 1) options_.max_endpoints_per_slice = 100;
}

void EndpointSliceController::register_watches() {
  transport_.watch(services_resource(), service_handler_.get());
  transport_.watch(pods_resource(), pod_handler_.get());
  transport_.watch(endpointslices_resource(), slice_handler_.get());
  transport_.watch(nodes_resource(), node_handler_.get());
  // Endpoints changed or deleted behind our back are written again.
  if (options_.legacy_endpoints) transport_.watch(endpoints_resource(), service_handler_.get());
}

void EndpointSliceController::resync_all() {
  for (const auto& svc : transport_.list(services_resource(), "")) queue().add(object_key(*svc));
}

void EndpointSliceController::enqueue_services_selecting(const json::value& pod) {
  for (const auto& svc : transport_.list(services_resource(), api::get_namespace(pod))) {
    if (service_selector(*svc).matches(api::get_labels(pod))) queue().add(object_key(*svc));
  }
}

Status EndpointSliceController::sync(const std::string& key) {
  auto [ns, name] = split_key(key);
  Object svc = transport_.get(services_resource(), ns, name);
  if (!svc) return delete_all_for(key, ns, name);
  if (api::get_deletion_timestamp(*svc)) return ok_status();
  if (str_at(*svc, {"spec", "type"}) == "ExternalName") return ok_status();
  api::LabelSelector selector = service_selector(*svc);
  if (selector.matches_nothing()) return ok_status();  // endpoints managed by the user
  std::vector<Object> pods;
  for (const auto& pod : transport_.list(pods_resource(), ns)) {
    if (selector.matches(api::get_labels(*pod))) pods.push_back(pod);
  }
  Status slices = ok_status();
  // Until our last creates/deletes show in the cache, a new plan would
  // duplicate them; the slice handler requeues the Service when they do.
  if (expectations_.satisfied(key)) slices = reconcile_slices(key, *svc, pods);
  if (options_.legacy_endpoints) KEDGE_RETURN_IF_ERROR(reconcile_endpoints(*svc, pods));
  return slices;
}

Status EndpointSliceController::delete_all_for(const std::string& key, std::string_view ns, std::string_view name) {
  expectations_.forget(key);
  Status first_error;
  for (const auto& slice : transport_.list(endpointslices_resource(), ns)) {
    if (!managed_slice_of(*slice, name)) continue;
    Status s = transport_.remove(endpointslices_resource(), ns, api::get_name(*slice),
                                 DeleteOptions{.precondition_uid = std::string(api::get_uid(*slice))});
    if (!s.ok() && s.code() != Code::kNotFound && first_error.ok()) first_error = s;
  }
  if (options_.legacy_endpoints && transport_.get(endpoints_resource(), ns, name)) {
    Status s = transport_.remove(endpoints_resource(), ns, name, {});
    if (!s.ok() && s.code() != Code::kNotFound && first_error.ok()) first_error = s;
  }
  return first_error;
}

Status EndpointSliceController::reconcile_slices(const std::string& key, const json::value& svc,
                                                 const std::vector<Object>& pods) {
  const std::string ns(api::get_namespace(svc));
  auto zone_of = [this](std::string_view node) -> std::string {
    if (node.empty()) return {};
    Object n = transport_.get(nodes_resource(), "", node);
    return n ? api::get_label(*n, kZoneLabel).value_or("") : "";
  };
  std::map<std::string, PortGroup> groups = desired_groups(svc, pods, zone_of);
  const auto max = static_cast<std::size_t>(options_.max_endpoints_per_slice);

  // Existing slices keep the endpoints still wanted (updated in place).
  struct Planned {
    Object existing;  // null for a new slice
    std::string group;
    std::vector<json::object> endpoints;
  };
  std::vector<Planned> plan;
  std::vector<Object> stale;
  std::set<std::string> placed;
  std::vector<Object> existing;
  for (const auto& s : transport_.list(endpointslices_resource(), ns)) {
    if (managed_slice_of(*s, api::get_name(svc))) existing.push_back(s);
  }
  std::sort(existing.begin(), existing.end(),
            [](const Object& a, const Object& b) { return api::get_name(*a) < api::get_name(*b); });
  for (const auto& s : existing) {
    auto ref = api::get_controller_ref(*s);
    const json::array* ports = array_at(*s, {"ports"});
    std::string gkey = api::json_to_string(ports ? json::value(*ports) : json::value(json::array{}));
    auto g = groups.find(gkey);
    if (!ref || ref->uid != api::get_uid(svc) || str_at(*s, {"addressType"}) != "IPv4" || g == groups.end()) {
      stale.push_back(s);
      continue;
    }
    Planned p{.existing = s, .group = gkey, .endpoints = {}};
    if (const json::array* eps = array_at(*s, {"endpoints"})) {
      for (const auto& ep : *eps) {
        std::string k = endpoint_key(ep);
        auto want = g->second.endpoints.find(k);
        if (want == g->second.endpoints.end() || placed.contains(k) || p.endpoints.size() >= max) continue;
        p.endpoints.push_back(want->second);
        placed.insert(k);
      }
    }
    plan.push_back(std::move(p));
  }
  // New endpoints fill slices with room, then new slices.
  for (auto& [gkey, group] : groups) {
    for (auto& [k, ep] : group.endpoints) {
      if (placed.contains(k)) continue;
      Planned* target = nullptr;
      for (auto& p : plan) {
        if (p.group == gkey && p.endpoints.size() < max) {
          target = &p;
          break;
        }
      }
      if (!target) {
        plan.push_back(Planned{.existing = nullptr, .group = gkey, .endpoints = {}});
        target = &plan.back();
      }
      target->endpoints.push_back(ep);
      placed.insert(k);
    }
  }
  // Emptied slices go, except one placeholder when there is no endpoint at all.
  std::erase_if(plan, [&](const Planned& p) {
    if (!p.endpoints.empty()) return false;
    if (p.existing) stale.push_back(p.existing);
    return true;
  });
  json::array no_ports;
  if (plan.empty()) {
    Object keep = nullptr;
    if (!stale.empty()) {
      keep = stale.front();
      stale.erase(stale.begin());
    }
    plan.push_back(Planned{.existing = keep, .group = api::json_to_string(no_ports), .endpoints = {}});
    groups[plan.back().group].ports = no_ports;
  }

  int creates = 0;
  for (const auto& p : plan) creates += p.existing ? 0 : 1;
  expectations_.expect(key, creates, static_cast<int>(stale.size()));
  Status first_error;
  auto note = [&](const Status& s) {
    if (!s.ok() && s.code() != Code::kNotFound && first_error.ok()) first_error = s;
  };
  for (const auto& p : plan) {
    json::value want = shape_slice(p.existing.get(), svc, groups[p.group].ports, p.endpoints);
    if (!p.existing) {
      auto r = transport_.create(endpointslices_resource(), ns, want);
      if (!r.ok()) expectations_.creation_observed(key);
      note(r.status());
    } else if (!api::json_equal(want, *p.existing)) {
      note(transport_.update(endpointslices_resource(), want).status());
    }
  }
  for (const auto& s : stale) {
    Status st = transport_.remove(endpointslices_resource(), ns, api::get_name(*s),
                                  DeleteOptions{.precondition_uid = std::string(api::get_uid(*s))});
    if (!st.ok()) expectations_.deletion_observed(key);
    note(st);
  }
  if (!first_error.ok()) return first_error.with_context("endpointslices of service " + key);
  return ok_status();
}

Status EndpointSliceController::reconcile_endpoints(const json::value& svc, const std::vector<Object>& pods) {
  const std::string ns(api::get_namespace(svc));
  const std::string name(api::get_name(svc));
  bool publish = bool_at(svc, {"spec", "publishNotReadyAddresses"}, false);
  struct Subset {
    json::array ports;
    std::vector<json::object> ready, not_ready;
  };
  std::map<std::string, Subset> subsets;
  for (const auto& pod : pods) {
    if (is_terminal(*pod)) continue;
    std::string ip = pod_ipv4(*pod);
    if (ip.empty()) continue;
    bool terminating = api::get_deletion_timestamp(*pod).has_value();
    if (terminating && !publish) continue;
    json::object addr{{"ip", ip}, {"targetRef", target_ref(*pod)}};
    if (auto node = str_at(*pod, {"spec", "nodeName"}); !node.empty()) addr["nodeName"] = node;
    if (should_set_hostname(*pod, svc)) addr["hostname"] = str_at(*pod, {"spec", "hostname"});
    json::array ports;
    for (auto& p : slice_ports(svc, *pod)) {
      auto& po = p.as_object();
      if (po["name"].as_string().empty()) po.erase("name");  // omitempty in core/v1
      ports.push_back(std::move(p));
    }
    if (ports.empty() && !is_headless(svc)) continue;  // no port resolved: nothing to reach
    auto& s = subsets[api::json_to_string(ports)];
    s.ports = std::move(ports);
    (publish || is_pod_ready(*pod) ? s.ready : s.not_ready).push_back(std::move(addr));
  }
  auto by_ip = [](const json::object& a, const json::object& b) {
    return a.at("ip").as_string() < b.at("ip").as_string();
  };
  json::array out;
  for (auto& [k, s] : subsets) {
    std::sort(s.ready.begin(), s.ready.end(), by_ip);
    std::sort(s.not_ready.begin(), s.not_ready.end(), by_ip);
    json::object subset;
    auto to_array = [](std::vector<json::object>& v) {
      json::array a;
      for (auto& o : v) a.push_back(std::move(o));
      return a;
    };
    if (!s.ready.empty()) subset["addresses"] = to_array(s.ready);
    if (!s.not_ready.empty()) subset["notReadyAddresses"] = to_array(s.not_ready);
    if (!s.ports.empty()) subset["ports"] = std::move(s.ports);
    out.push_back(std::move(subset));
  }
  json::object labels;
  if (const auto* l = api::get_labels(svc)) labels = *l;
  if (is_headless(svc)) labels[kHeadlessLabel] = "";

  Object existing = transport_.get(endpoints_resource(), ns, name);
  json::value want = existing ? *existing
                              : json::value(json::object{{"apiVersion", "v1"},
                                                         {"kind", "Endpoints"},
                                                         {"metadata", json::object{{"name", name}, {"namespace", ns}}}});
  if (labels.empty()) {
    api::mutable_metadata(want).erase("labels");
  } else {
    api::mutable_metadata(want)["labels"] = labels;
  }
  if (out.empty()) {
    want.as_object().erase("subsets");
  } else {
    want.as_object()["subsets"] = std::move(out);
  }
  Result<json::value> r = json::value();
  if (!existing) {
    r = transport_.create(endpoints_resource(), ns, want);
  } else if (!api::json_equal(want, *existing)) {
    r = transport_.update(endpoints_resource(), want);
  }
  if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
    return r.status().with_context("endpoints of service " + ns + "/" + name);
  }
  return ok_status();
}

}  // namespace kedge::controllers

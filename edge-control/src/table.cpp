#include "kedge/control/table.h"

#include <functional>
#include <map>

#include "object_util.h"

namespace kedge::control {

namespace {

using Cell = std::function<json::value(const json::object& obj, std::int64_t now)>;

struct Column {
  std::string_view name;
  std::string_view type;  // string | integer | date
  int priority;
  Cell cell;
};

std::string name_of(const json::object& o) { return get_string(metadata_of(o), "name"); }

json::value age(const json::object& o, std::int64_t now) {
  std::int64_t t = parse_rfc3339(get_string(metadata_of(o), "creationTimestamp"));
  if (t < 0) return "<unknown>";
  return json::value(human_age(now - t));
}

const json::object& sub(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const auto* s = find_object(o, key);
  return s != nullptr ? *s : kEmpty;
}

std::string or_none(std::string s) { return s.empty() ? "<none>" : s; }

std::string join_containers(const json::object& pod_spec, std::string_view field) {
  std::string out;
  if (const auto* cs = find_array(pod_spec, "containers")) {
    for (const auto& c : *cs) {
      if (!c.is_object()) continue;
      if (!out.empty()) out += ",";
      out += get_string(c.as_object(), field);
    }
  }
  return out;
}

// The first address of `type` in a Node's status ("<none>" if none).
std::string node_address(const json::object& node, std::string_view type) {
  if (const auto* as = find_array(sub(node, "status"), "addresses")) {
    for (const auto& a : *as) {
      if (a.is_object() && get_string(a.as_object(), "type") == type) return get_string(a.as_object(), "address");
    }
  }
  return "<none>";
}

// "a,b,c + N more..." as upstream's printers shorten lists to three.
std::string first_three(const std::vector<std::string>& items) {
  if (items.empty()) return "<none>";
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < 3; ++i) out += (i ? "," : "") + items[i];
  if (items.size() > 3) out += " + " + std::to_string(items.size() - 3) + " more...";
  return out;
}

std::string selector_string(const json::object& spec) {
  const auto& sel = sub(spec, "selector");
  const json::object* ml = find_object(sel, "matchLabels");
  if (ml == nullptr) ml = &sel;  // Service selectors are a plain map
  std::string out;
  for (const auto& kv : *ml) {
    if (!kv.value().is_string()) continue;
    if (!out.empty()) out += ",";
    out += std::string(kv.key()) + "=" + std::string(kv.value().as_string());
  }
  return or_none(out);
}

// kubectl's pod STATUS column: reason > waiting/terminated reason > phase.
std::string pod_status(const json::object& pod) {
  const auto& status = sub(pod, "status");
  std::string reason = get_string(status, "phase");
  if (!get_string(status, "reason").empty()) reason = get_string(status, "reason");
  if (const auto* cs = find_array(status, "containerStatuses")) {
    for (const auto& c : *cs) {
      if (!c.is_object()) continue;
      const auto& state = sub(c.as_object(), "state");
      if (const auto* w = find_object(state, "waiting"); w != nullptr && !get_string(*w, "reason").empty()) {
        reason = get_string(*w, "reason");
      } else if (const auto* t = find_object(state, "terminated"); t != nullptr) {
        reason = get_string(*t, "reason").empty() ? "Completed" : get_string(*t, "reason");
      }
    }
  }
  if (metadata_of(pod).contains("deletionTimestamp")) reason = "Terminating";
  return reason.empty() ? "Pending" : reason;
}

// Upstream's helper.GetAccessModesAsString: abbreviations in a fixed order.
std::string access_modes(const json::array* modes) {
  std::string out;
  for (const char* m : {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}) {
    bool has = false;
    for (const auto& v : modes != nullptr ? *modes : json::array{}) has = has || (v.is_string() && v.as_string() == m);
    if (!has) continue;
    static const std::map<std::string_view, std::string_view> kShort{
        {"ReadWriteOnce", "RWO"}, {"ReadOnlyMany", "ROX"}, {"ReadWriteMany", "RWX"}, {"ReadWriteOncePod", "RWOP"}};
    out += (out.empty() ? "" : ",") + std::string(kShort.at(m));
  }
  return out;
}

// PersistentVolume, PersistentVolumeClaim and StorageClass columns as
// upstream's printers (kubectl get pv,pvc,sc).
std::vector<Column> storage_columns(const ResourceInfo& info, const Column& name, const Column& age_col) {
  using O = const json::object&;
  auto spec_str = [](std::string_view key, std::string fallback) {
    return [key, fallback](O o, std::int64_t) {
      std::string v = get_string(sub(o, "spec"), key);
      return json::value(v.empty() ? fallback : v);
    };
  };
  Column attrs_class{"VolumeAttributesClass", "string", 0, spec_str("volumeAttributesClassName", "<unset>")};
  Column volume_mode{"VolumeMode", "string", 1, spec_str("volumeMode", "Filesystem")};
  Column storage_class{"StorageClass", "string", 0, spec_str("storageClassName", "")};
  if (info.kind == "PersistentVolume") {
    return {name,
            {"Capacity", "string", 0, [](O o, std::int64_t) { return json::value(get_string(sub(sub(o, "spec"), "capacity"), "storage")); }},
            {"Access Modes", "string", 0, [](O o, std::int64_t) { return json::value(access_modes(find_array(sub(o, "spec"), "accessModes"))); }},
            {"Reclaim Policy", "string", 0, spec_str("persistentVolumeReclaimPolicy", "")},
            {"Status", "string", 0, [](O o, std::int64_t) { return json::value(get_string(sub(o, "status"), "phase")); }},
            {"Claim", "string", 0, [](O o, std::int64_t) {
               const auto* ref = find_object(sub(o, "spec"), "claimRef");
               return json::value(ref == nullptr ? "" : get_string(*ref, "namespace") + "/" + get_string(*ref, "name"));
             }},
            storage_class, attrs_class,
            {"Reason", "string", 0, [](O o, std::int64_t) { return json::value(get_string(sub(o, "status"), "reason")); }},
            age_col, volume_mode};
  }
  if (info.kind == "PersistentVolumeClaim") {
    auto bound = [](O o) { return get_string(sub(o, "status"), "phase") == "Bound"; };
    return {name,
            {"Status", "string", 0, [](O o, std::int64_t) { return json::value(get_string(sub(o, "status"), "phase")); }},
            {"Volume", "string", 0, spec_str("volumeName", "")},
            {"Capacity", "string", 0, [bound](O o, std::int64_t) {
               return json::value(bound(o) ? get_string(sub(sub(o, "status"), "capacity"), "storage") : "");
             }},
            {"Access Modes", "string", 0, [bound](O o, std::int64_t) {
               return json::value(bound(o) ? access_modes(find_array(sub(o, "status"), "accessModes")) : "");
             }},
            storage_class, attrs_class, age_col, volume_mode};
  }
  // StorageClass: " (default)" after the default class's name.
  Column sc_name{"Name", "string", 0, [](O o, std::int64_t) {
                   const auto& ann = sub(metadata_of(o), "annotations");
                   bool is_default = get_string(ann, "storageclass.kubernetes.io/is-default-class") == "true" ||
                                     get_string(ann, "storageclass.beta.kubernetes.io/is-default-class") == "true";
                   return json::value(name_of(o) + (is_default ? " (default)" : ""));
                 }};
  auto top_str = [](std::string_view key, std::string fallback) {
    return [key, fallback](O o, std::int64_t) {
      std::string v = get_string(o, key);
      return json::value(v.empty() ? fallback : v);
    };
  };
  return {sc_name,
          {"Provisioner", "string", 0, top_str("provisioner", "")},
          {"ReclaimPolicy", "string", 0, top_str("reclaimPolicy", "Delete")},
          {"VolumeBindingMode", "string", 0, top_str("volumeBindingMode", "Immediate")},
          {"AllowVolumeExpansion", "string", 0, [](O o, std::int64_t) {
             const auto it = o.find("allowVolumeExpansion");
             return json::value(it != o.end() && it->value().is_bool() && it->value().as_bool() ? "true" : "false");
           }},
          age_col};
}

std::vector<Column> columns_for(const ResourceInfo& info) {
  Column name{"Name", "string", 0, [](const json::object& o, std::int64_t) { return json::value(name_of(o)); }};
  Column age_col{"Age", "string", 0, age};
  auto int_at = [](std::string_view obj_key, std::string_view key) {
    return [obj_key, key](const json::object& o, std::int64_t) {
      return json::value(get_int(sub(o, obj_key), key, 0));
    };
  };
  const auto k = info.kind;
  if (info.group.empty() && k == "Pod") {
    return {name,
            {"Ready", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::int64_t total = 0, ready = 0;
               if (const auto* cs = find_array(sub(o, "spec"), "containers")) total = static_cast<std::int64_t>(cs->size());
               if (const auto* st = find_array(sub(o, "status"), "containerStatuses")) {
                 for (const auto& c : *st) {
                   if (c.is_object() && c.as_object().contains("ready") && c.as_object().at("ready").is_bool() &&
                       c.as_object().at("ready").as_bool()) {
                     ++ready;
                   }
                 }
               }
               return json::value(std::to_string(ready) + "/" + std::to_string(total));
             }},
            {"Status", "string", 0, [](const json::object& o, std::int64_t) { return json::value(pod_status(o)); }},
            {"Restarts", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::int64_t n = 0;
               if (const auto* st = find_array(sub(o, "status"), "containerStatuses")) {
                 for (const auto& c : *st) {
                   if (c.is_object()) n += get_int(c.as_object(), "restartCount", 0);
                 }
               }
               return json::value(std::to_string(n));
             }},
            age_col,
            {"IP", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(o, "status"), "podIP"))); }},
            {"Node", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(o, "spec"), "nodeName"))); }},
            {"Nominated Node", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(o, "status"), "nominatedNodeName"))); }},
            {"Readiness Gates", "string", 1, [](const json::object&, std::int64_t) { return json::value("<none>"); }}};
  }
  if (info.group == "apps" && k == "Deployment") {
    return {name,
            {"Ready", "string", 0,
             [](const json::object& o, std::int64_t) {
               return json::value(std::to_string(get_int(sub(o, "status"), "readyReplicas", 0)) + "/" +
                                  std::to_string(get_int(sub(o, "spec"), "replicas", 0)));
             }},
            {"Up-to-date", "integer", 0, int_at("status", "updatedReplicas")},
            {"Available", "integer", 0, int_at("status", "availableReplicas")},
            age_col,
            {"Containers", "string", 1, [](const json::object& o, std::int64_t) { return json::value(join_containers(sub(sub(sub(o, "spec"), "template"), "spec"), "name")); }},
            {"Images", "string", 1, [](const json::object& o, std::int64_t) { return json::value(join_containers(sub(sub(sub(o, "spec"), "template"), "spec"), "image")); }},
            {"Selector", "string", 1, [](const json::object& o, std::int64_t) { return json::value(selector_string(sub(o, "spec"))); }}};
  }
  if (info.group == "apps" && k == "ReplicaSet") {
    return {name, {"Desired", "integer", 0, int_at("spec", "replicas")},
            {"Current", "integer", 0, int_at("status", "replicas")},
            {"Ready", "integer", 0, int_at("status", "readyReplicas")}, age_col};
  }
  if (info.group == "apps" && k == "DaemonSet") {
    return {name, {"Desired", "integer", 0, int_at("status", "desiredNumberScheduled")},
            {"Current", "integer", 0, int_at("status", "currentNumberScheduled")},
            {"Ready", "integer", 0, int_at("status", "numberReady")},
            {"Up-to-date", "integer", 0, int_at("status", "updatedNumberScheduled")},
            {"Available", "integer", 0, int_at("status", "numberAvailable")}, age_col};
  }
  if (info.group == "apps" && k == "StatefulSet") {
    return {name,
            {"Ready", "string", 0,
             [](const json::object& o, std::int64_t) {
               return json::value(std::to_string(get_int(sub(o, "status"), "readyReplicas", 0)) + "/" +
                                  std::to_string(get_int(sub(o, "spec"), "replicas", 0)));
             }},
            age_col};
  }
  if (info.group.empty() && k == "Service") {
    return {name,
            {"Type", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(sub(o, "spec"), "type")); }},
            {"Cluster-IP", "string", 0, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(o, "spec"), "clusterIP"))); }},
            {"External-IP", "string", 0,
             [](const json::object& o, std::int64_t) {
               const auto& spec = sub(o, "spec");
               if (get_string(spec, "type") == "ExternalName") return json::value(get_string(spec, "externalName"));
               std::string ips;
               if (const auto* e = find_array(spec, "externalIPs")) {
                 for (const auto& ip : *e) {
                   if (!ip.is_string()) continue;
                   if (!ips.empty()) ips += ",";
                   ips += std::string(ip.as_string());
                 }
               }
               if (ips.empty() && get_string(spec, "type") == "LoadBalancer") return json::value("<pending>");
               return json::value(or_none(ips));
             }},
            {"Port(s)", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::string out;
               if (const auto* ps = find_array(sub(o, "spec"), "ports")) {
                 for (const auto& p : *ps) {
                   if (!p.is_object()) continue;
                   const auto& po = p.as_object();
                   if (!out.empty()) out += ",";
                   out += std::to_string(get_int(po, "port", 0));
                   if (get_int(po, "nodePort", 0) != 0) out += ":" + std::to_string(get_int(po, "nodePort", 0));
                   out += "/" + (get_string(po, "protocol").empty() ? std::string("TCP") : get_string(po, "protocol"));
                 }
               }
               return json::value(or_none(out));
             }},
            age_col,
            {"Selector", "string", 1, [](const json::object& o, std::int64_t) { return json::value(selector_string(sub(o, "spec"))); }}};
  }
  if (info.group.empty() && k == "Namespace") {
    return {name, {"Status", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(sub(o, "status"), "phase")); }}, age_col};
  }
  if (info.group.empty() && k == "Node") {
    return {name,
            {"Status", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::string s = "Unknown";
               if (const auto* cs = find_array(sub(o, "status"), "conditions")) {
                 for (const auto& c : *cs) {
                   if (c.is_object() && get_string(c.as_object(), "type") == "Ready") {
                     s = get_string(c.as_object(), "status") == "True" ? "Ready" : "NotReady";
                   }
                 }
               }
               const auto& spec = sub(o, "spec");
               if (spec.contains("unschedulable") && spec.at("unschedulable").is_bool() && spec.at("unschedulable").as_bool()) {
                 s += ",SchedulingDisabled";
               }
               return json::value(s);
             }},
            {"Roles", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::string roles;
               if (const auto* l = find_object(metadata_of(o), "labels")) {
                 for (const auto& kv : *l) {
                   std::string_view key = kv.key();
                   constexpr std::string_view kRole = "node-role.kubernetes.io/";
                   if (key.substr(0, kRole.size()) == kRole) {
                     if (!roles.empty()) roles += ",";
                     roles += std::string(key.substr(kRole.size()));
                   }
                 }
               }
               return json::value(or_none(roles));
             }},
            age_col,
            {"Version", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(sub(sub(o, "status"), "nodeInfo"), "kubeletVersion")); }},
            {"Internal-IP", "string", 1, [](const json::object& o, std::int64_t) { return json::value(node_address(o, "InternalIP")); }},
            {"External-IP", "string", 1, [](const json::object& o, std::int64_t) { return json::value(node_address(o, "ExternalIP")); }},
            {"OS-Image", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(sub(o, "status"), "nodeInfo"), "osImage"))); }},
            {"Kernel-Version", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(sub(o, "status"), "nodeInfo"), "kernelVersion"))); }},
            {"Container-Runtime", "string", 1, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(sub(o, "status"), "nodeInfo"), "containerRuntimeVersion"))); }}};
  }
  if (info.group.empty() && k == "Endpoints") {
    return {name,
            {"Endpoints", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::vector<std::string> eps;
               if (const auto* subsets = find_array(o, "subsets")) {
                 for (const auto& ss : *subsets) {
                   if (!ss.is_object()) continue;
                   const auto* addrs = find_array(ss.as_object(), "addresses");
                   const auto* ports = find_array(ss.as_object(), "ports");
                   if (addrs == nullptr) continue;
                   for (const auto& a : *addrs) {
                     if (!a.is_object()) continue;
                     const std::string ip = get_string(a.as_object(), "ip");
                     if (ports == nullptr || ports->empty()) eps.push_back(ip);
                     else for (const auto& p : *ports) {
                       if (p.is_object()) eps.push_back(ip + ":" + std::to_string(get_int(p.as_object(), "port", 0)));
                     }
                   }
                 }
               }
               return json::value(first_three(eps));
             }},
            age_col};
  }
  if (info.group == "discovery.k8s.io" && k == "EndpointSlice") {
    return {name,
            {"AddressType", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(o, "addressType")); }},
            {"Ports", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::vector<std::string> ports;
               if (const auto* ps = find_array(o, "ports")) {
                 for (const auto& p : *ps) {
                   if (p.is_object()) ports.push_back(std::to_string(get_int(p.as_object(), "port", 0)));
                 }
               }
               return json::value(first_three(ports));
             }},
            {"Endpoints", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::vector<std::string> addrs;
               if (const auto* es = find_array(o, "endpoints")) {
                 for (const auto& e : *es) {
                   if (!e.is_object()) continue;
                   if (const auto* as = find_array(e.as_object(), "addresses")) {
                     for (const auto& a : *as) {
                       if (a.is_string()) addrs.emplace_back(a.as_string());
                     }
                   }
                 }
               }
               return json::value(first_three(addrs));
             }},
            age_col};
  }
  if (info.group.empty() && k == "ConfigMap") {
    return {name,
            {"Data", "integer", 0,
             [](const json::object& o, std::int64_t) {
               return json::value(static_cast<std::int64_t>(sub(o, "data").size() + sub(o, "binaryData").size()));
             }},
            age_col};
  }
  if (info.group.empty() && k == "Secret") {
    return {name, {"Type", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(o, "type")); }},
            {"Data", "integer", 0, [](const json::object& o, std::int64_t) { return json::value(static_cast<std::int64_t>(sub(o, "data").size())); }},
            age_col};
  }
  if (info.group.empty() && k == "ServiceAccount") {
    return {name, {"Secrets", "integer", 0, [](const json::object& o, std::int64_t) {
              const auto* s = find_array(o, "secrets");
              return json::value(static_cast<std::int64_t>(s != nullptr ? s->size() : 0));
            }}, age_col};
  }
  if (k == "Event" && info.group.empty()) {
    return {{"Last Seen", "string", 0,
             [](const json::object& o, std::int64_t now) {
               std::string ts = get_string(o, "lastTimestamp");
               if (ts.empty()) ts = get_string(o, "eventTime");
               std::int64_t t = parse_rfc3339(ts);
               if (t < 0) t = parse_rfc3339(get_string(metadata_of(o), "creationTimestamp"));
               return json::value(t < 0 ? std::string("<unknown>") : human_age(now - t));
             }},
            {"Type", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(o, "type")); }},
            {"Reason", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(o, "reason")); }},
            {"Object", "string", 0,
             [](const json::object& o, std::int64_t) {
               const auto& io = sub(o, "involvedObject");
               std::string kind = get_string(io, "kind");
               for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
               return json::value(kind + "/" + get_string(io, "name"));
             }},
            {"Message", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(o, "message")); }}};
  }
  if (info.group == "batch" && k == "Job") {
    return {name,
            {"Status", "string", 0,
             [](const json::object& o, std::int64_t) {
               std::string s = "Running";
               if (const auto* cs = find_array(sub(o, "status"), "conditions")) {
                 for (const auto& c : *cs) {
                   if (!c.is_object() || get_string(c.as_object(), "status") != "True") continue;
                   std::string t = get_string(c.as_object(), "type");
                   if (t == "Complete") s = "Complete";
                   else if (t == "Failed") s = "Failed";
                   else if (t == "Suspended") s = "Suspended";
                 }
               }
               return json::value(s);
             }},
            {"Completions", "string", 0,
             [](const json::object& o, std::int64_t) {
               return json::value(std::to_string(get_int(sub(o, "status"), "succeeded", 0)) + "/" +
                                  std::to_string(get_int(sub(o, "spec"), "completions", 1)));
             }},
            age_col};
  }
  if (info.group == "batch" && k == "CronJob") {
    return {name, {"Schedule", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(sub(o, "spec"), "schedule")); }},
            {"TimeZone", "string", 0, [](const json::object& o, std::int64_t) { return json::value(or_none(get_string(sub(o, "spec"), "timeZone"))); }},
            {"Suspend", "string", 0, [](const json::object& o, std::int64_t) {
               const auto& s = sub(o, "spec");
               bool v = s.contains("suspend") && s.at("suspend").is_bool() && s.at("suspend").as_bool();
               return json::value(v ? "True" : "False");
             }},
            {"Active", "integer", 0, [](const json::object& o, std::int64_t) {
               const auto* a = find_array(sub(o, "status"), "active");
               return json::value(static_cast<std::int64_t>(a != nullptr ? a->size() : 0));
             }},
            {"Last Schedule", "date", 0, [](const json::object& o, std::int64_t now) {
               std::int64_t t = parse_rfc3339(get_string(sub(o, "status"), "lastScheduleTime"));
               return json::value(t < 0 ? std::string("<none>") : human_age(now - t));
             }},
            age_col};
  }
  if (info.group == "coordination.k8s.io" && k == "Lease") {
    return {name, {"Holder", "string", 0, [](const json::object& o, std::int64_t) { return json::value(get_string(sub(o, "spec"), "holderIdentity")); }}, age_col};
  }
  if (info.group.empty() && (k == "PersistentVolumeClaim" || k == "PersistentVolume")) return storage_columns(info, name, age_col);
  if (info.group == "storage.k8s.io" && k == "StorageClass") return storage_columns(info, name, age_col);
  return {name, age_col};
}

}  // namespace

bool wants_table(std::string_view accept) {
  // The first acceptable entry decides; kubectl lists Table first.
  std::size_t start = 0;
  while (start < accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view entry = accept.substr(start, end - start);
    if (entry.find("as=Table") != std::string_view::npos &&
        entry.find("g=meta.k8s.io") != std::string_view::npos &&
        entry.find("v=v1") != std::string_view::npos && entry.find("v=v1beta1") == std::string_view::npos) {
      return true;
    }
    if (entry.find("as=Table") == std::string_view::npos &&
        (entry.find("application/json") != std::string_view::npos || entry.find("*/*") != std::string_view::npos)) {
      return false;
    }
    start = end + 1;
  }
  return false;
}

IncludeObject parse_include_object(std::string_view value) {
  if (value == "None") return IncludeObject::kNone;
  if (value == "Object") return IncludeObject::kObject;
  return IncludeObject::kMetadata;
}

json::object make_table(const ResourceInfo& info, const std::vector<json::object>& items,
                        std::string_view resource_version, std::string_view continue_token,
                        IncludeObject include, std::int64_t now) {
  auto cols = columns_for(info);
  json::array defs;
  for (const auto& c : cols) {
    json::object d{{"name", c.name}, {"type", c.type}, {"format", c.name == "Name" ? "name" : ""},
                   {"description", ""}, {"priority", c.priority}};
    defs.push_back(std::move(d));
  }
  json::array rows;
  for (const auto& item : items) {
    json::array cells;
    for (const auto& c : cols) cells.push_back(c.cell(item, now));
    json::object row{{"cells", std::move(cells)}};
    if (include == IncludeObject::kObject) {
      row["object"] = item;
    } else if (include == IncludeObject::kMetadata) {
      row["object"] = json::object{{"kind", "PartialObjectMetadata"},
                                   {"apiVersion", "meta.k8s.io/v1"},
                                   {"metadata", metadata_of(item)}};
    }
    rows.push_back(std::move(row));
  }
  json::object meta{{"resourceVersion", resource_version}};
  if (!continue_token.empty()) meta["continue"] = continue_token;
  return json::object{{"kind", "Table"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", std::move(meta)},
                      {"columnDefinitions", std::move(defs)},
                      {"rows", std::move(rows)}};
}

}  // namespace kedge::control

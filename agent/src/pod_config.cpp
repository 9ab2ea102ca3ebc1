#include "pod_config.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <boost/json.hpp>

#include "api_util.h"

namespace kedge::agent::detail {

namespace json = boost::json;

namespace {

// The host's resolv.conf, for dnsPolicy Default.
cri::DnsConfig host_dns(const std::string& path) {
  cri::DnsConfig dns;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, word;
    words >> key;
    if (key == "nameserver" && (words >> word)) dns.servers.push_back(word);
    if (key == "search") {
      while (words >> word) dns.searches.push_back(word);
    }
    if (key == "options") {
      while (words >> word) dns.options.push_back(word);
    }
  }
  return dns;
}

cri::DnsConfig pod_dns(const SandboxSettings& s, const api::Pod& pod) {
  std::string policy = pod.spec.dns_policy;
  // A host-network pod with ClusterFirst uses the node's resolver, as upstream.
  if (policy == "ClusterFirst" && pod.spec.host_network) policy = "Default";
  if (policy == "ClusterFirstWithHostNet") policy = "ClusterFirst";
  cri::DnsConfig dns;
  if (policy == "ClusterFirst" && !s.cluster_dns.empty()) {
    dns.servers = {s.cluster_dns};
    const std::string& ns = pod.metadata.namespace_;
    dns.searches = {ns + ".svc." + s.cluster_domain, "svc." + s.cluster_domain, s.cluster_domain};
    dns.options = {"ndots:5"};
  } else if (policy != "None") {
    dns = host_dns(s.host_resolv_conf);
  }
  // spec.dnsConfig adds to (or, with None, makes up) the result.
  const json::value& extra = pod.spec.dns_config;
  if (extra.is_object()) {
    auto append = [&](std::string_view key, std::vector<std::string>& into) {
      const auto* a = extra.as_object().if_contains(key);
      if (a == nullptr || !a->is_array()) return;
      for (const auto& v : a->as_array()) {
        if (v.is_string() && std::find(into.begin(), into.end(), v.as_string()) == into.end()) {
          into.emplace_back(v.as_string());
        }
      }
    };
    append("nameservers", dns.servers);
    append("searches", dns.searches);
    if (const auto* opts = extra.as_object().if_contains("options"); opts && opts->is_array()) {
      for (const auto& o : opts->as_array()) {
        std::string name = str(o, "name");
        if (name.empty()) continue;
        std::string value = str(o, "value");
        std::erase_if(dns.options, [&](const std::string& x) { return x == name || x.starts_with(name + ":"); });
        dns.options.push_back(value.empty() ? name : name + ":" + value);
      }
    }
  }
  return dns;
}

std::int64_t cpu_milli(const api::ResourceList& list, const char* name) {
  auto it = list.find(name);
  return it == list.end() ? -1 : it->second.milli_value();
}

std::int64_t bytes(const api::ResourceList& list, const char* name) {
  auto it = list.find(name);
  return it == list.end() ? -1 : it->second.value();
}

}  // namespace

std::string pod_log_directory(const SandboxSettings& s, const api::Pod& pod) {
  return (std::filesystem::path(s.pod_log_dir) /
          (pod.metadata.namespace_ + "_" + pod.metadata.name + "_" + pod.metadata.uid))
      .string();
}

std::string pod_cgroup_parent(const SandboxSettings& s, const api::Pod& pod) {
  const std::string qos = api::pod_qos_class(pod.spec);
  std::string parent = s.cgroup_root;
  if (qos == "Burstable") parent += "/burstable";
  if (qos == "BestEffort") parent += "/besteffort";
  return parent + "/pod" + pod.metadata.uid;
}

Result<cri::PodSandboxConfig> make_sandbox_config(const SandboxSettings& s, const api::Pod& pod,
                                                  std::uint32_t attempt) {
  cri::PodSandboxConfig c;
  c.metadata = {.name = pod.metadata.name, .uid = pod.metadata.uid, .namespace_name = pod.metadata.namespace_,
                .attempt = attempt};
  if (!pod.spec.host_network) {
    // A DNS label: at most 63 bytes, as upstream truncates.
    std::string hostname = pod.spec.hostname.empty() ? pod.metadata.name : pod.spec.hostname;
    if (hostname.size() > 63) hostname.resize(63);
    while (!hostname.empty() && (hostname.back() == '-' || hostname.back() == '.')) hostname.pop_back();
    c.hostname = hostname;
  }
  c.log_directory = pod_log_directory(s, pod);
  c.dns = pod_dns(s, pod);
  for (const auto* list : {&pod.spec.init_containers, &pod.spec.containers}) {
    for (const auto& container : *list) {
      for (const auto& port : container.ports) {
        if (port.host_port <= 0) continue;
        cri::Protocol protocol = port.protocol == "UDP" ? cri::Protocol::kUdp
                                 : port.protocol == "SCTP" ? cri::Protocol::kSctp
                                                           : cri::Protocol::kTcp;
        c.port_mappings.push_back({.protocol = protocol, .container_port = port.container_port,
                                   .host_port = port.host_port, .host_ip = port.host_ip});
      }
    }
  }
  for (const auto& [k, v] : pod.metadata.labels) c.labels[k] = v;
  c.labels[kPodNameLabel] = pod.metadata.name;
  c.labels[kPodNamespaceLabel] = pod.metadata.namespace_;
  c.labels[kPodUidLabel] = pod.metadata.uid;
  for (const auto& [k, v] : pod.metadata.annotations) c.annotations[k] = v;
  c.cgroup_parent = pod_cgroup_parent(s, pod);
  c.security.namespaces.network = pod.spec.host_network ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  c.security.namespaces.pid = pod.spec.host_pid ? cri::NamespaceMode::kNode : cri::NamespaceMode::kContainer;
  c.security.namespaces.ipc = pod.spec.host_ipc ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  const json::value& psc = pod.spec.security_context;
  c.security.run_as_user = int_field(psc, "runAsUser");
  c.security.run_as_group = int_field(psc, "runAsGroup");
  return c;
}

Result<std::string> field_ref_value(const api::Pod& pod, const std::string& path, const EnvContext& ctx) {
  const auto& m = pod.metadata;
  if (path == "metadata.name") return m.name;
  if (path == "metadata.namespace") return m.namespace_;
  if (path == "metadata.uid") return m.uid;
  if (path == "spec.nodeName") return pod.spec.node_name;
  if (path == "spec.serviceAccountName") return pod.spec.service_account_name;
  if (path == "status.podIP" || path == "status.podIPs") return ctx.pod_ip;
  if (path == "status.hostIP") return ctx.host_ips.empty() ? std::string() : ctx.host_ips.front();
  if (path == "status.hostIPs") {
    std::string out;
    for (const auto& ip : ctx.host_ips) out += (out.empty() ? "" : ",") + ip;
    return out;
  }
  for (const auto& [prefix, map] : {std::pair{std::string("metadata.labels"), &m.labels},
                                    std::pair{std::string("metadata.annotations"), &m.annotations}}) {
    if (path == prefix) {
      // The whole map as the downward API formats it: key="value" lines.
      std::string out;
      for (const auto& [k, v] : *map) out += k + "=\"" + v + "\"\n";
      return out;
    }
    if (path.starts_with(prefix + "['") && path.ends_with("']")) {
      const std::string key = path.substr(prefix.size() + 2, path.size() - prefix.size() - 4);
      auto it = map->find(key);
      return it == map->end() ? std::string() : it->second;
    }
  }
  return invalid_argument("unsupported fieldRef fieldPath \"" + path + "\"");
}

Result<std::string> resource_field_value(const api::Pod& pod, const std::string& container_name,
                                         const std::string& resource, const std::string& divisor_text,
                                         const EnvContext& ctx) {
  const api::Container* c = nullptr;
  for (const auto* list : {&pod.spec.containers, &pod.spec.init_containers}) {
    for (const auto& x : *list) {
      if (x.name == container_name) c = &x;
    }
  }
  if (c == nullptr) return invalid_argument("resourceFieldRef: no container \"" + container_name + "\"");
  api::Quantity divisor = api::Quantity::from_int(1);
  if (!divisor_text.empty()) {
    KEDGE_ASSIGN_OR_RETURN(divisor, api::Quantity::parse(divisor_text));
  }
  if (divisor.is_zero() || divisor.sign() < 0) return invalid_argument("resourceFieldRef: divisor must be positive");
  const bool is_cpu = resource.ends_with(".cpu");
  const bool is_limit = resource.starts_with("limits.");
  const auto& list = is_limit ? c->resources.limits : c->resources.requests;
  const std::string name = resource.substr(resource.find('.') + 1);
  std::int64_t value_milli;
  if (is_cpu) {
    std::int64_t milli = cpu_milli(list, "cpu");
    if (milli < 0) milli = is_limit ? ctx.node_cpu_milli : 0;
    value_milli = milli;
  } else if (name == "memory" || name == "ephemeral-storage") {
    std::int64_t b = bytes(list, name.c_str());
    if (b < 0) b = is_limit ? ctx.node_memory_bytes : 0;
    value_milli = b * 1000;
  } else {
    return invalid_argument("unsupported resourceFieldRef resource \"" + resource + "\"");
  }
  // Rounded up, as upstream's ExtractContainerResourceValue.
  const std::int64_t d = divisor.milli_value();
  return std::to_string((value_milli + d - 1) / d);
}

Result<std::vector<cri::EnvVar>> resolve_env(const api::Pod& pod, const api::Container& c, const EnvContext& ctx,
                                             ObjectSource& objects) {
  std::vector<cri::EnvVar> out;
  auto set = [&](const std::string& name, std::string value) {
    for (auto& e : out) {
      if (e.name == name) {
        e.value = std::move(value);
        return;
      }
    }
    out.push_back({name, std::move(value)});
  };
  const std::string& ns = pod.metadata.namespace_;
  // Service variables first (the pod's own env overrides them, as upstream);
  // without the API's answer the container starts without them.
  if (auto services = objects.kubernetes_service_env(); services.ok()) {
    for (auto& [k, v] : *services) set(k, std::move(v));
  }
  if (c.env_from.is_array()) {
    for (const auto& source : c.env_from.as_array()) {
      const std::string prefix = str(source, "prefix");
      for (auto [key, kind] : {std::pair{"configMapRef", ObjectKind::kConfigMap},
                               std::pair{"secretRef", ObjectKind::kSecret}}) {
        const auto* ref = source.is_object() ? source.as_object().if_contains(key) : nullptr;
        if (ref == nullptr || !ref->is_object()) continue;
        auto data = objects.get(kind, ns, str(*ref, "name"));
        if (!data.ok()) {
          if (flag(*ref, "optional") && data.status().code() == Code::kNotFound) continue;
          return data.status();
        }
        for (const auto& [k, v] : *data) set(prefix + k, v);
      }
    }
  }
  for (const auto& e : c.env) {
    if (e.value_from.is_null()) {
      // $(VAR) references to earlier variables, as upstream expands them.
      std::string value;
      for (std::size_t i = 0; i < e.value.size(); ++i) {
        if (e.value.compare(i, 2, "$$") == 0) {
          value += '$';
          ++i;
          continue;
        }
        if (e.value.compare(i, 2, "$(") == 0) {
          const auto end = e.value.find(')', i);
          if (end != std::string::npos) {
            const std::string ref = e.value.substr(i + 2, end - i - 2);
            auto it = std::find_if(out.begin(), out.end(), [&](const cri::EnvVar& v) { return v.name == ref; });
            if (it != out.end()) {
              value += it->value;
              i = end;
              continue;
            }
          }
        }
        value += e.value[i];
      }
      set(e.name, value);
      continue;
    }
    const json::value& from = e.value_from;
    const auto& o = from.as_object();
    if (const auto* f = o.if_contains("fieldRef")) {
      KEDGE_ASSIGN_OR_RETURN(auto v, field_ref_value(pod, str(*f, "fieldPath"), ctx));
      set(e.name, std::move(v));
    } else if (const auto* r = o.if_contains("resourceFieldRef")) {
      std::string container = str(*r, "containerName");
      std::string divisor;
      if (const auto* d = r->as_object().if_contains("divisor"); d && d->is_string()) divisor = d->as_string().c_str();
      if (const auto* d = r->as_object().if_contains("divisor"); d && d->is_number()) divisor = json::serialize(*d);
      KEDGE_ASSIGN_OR_RETURN(auto v, resource_field_value(pod, container.empty() ? c.name : container,
                                                          str(*r, "resource"), divisor, ctx));
      set(e.name, std::move(v));
    } else {
      bool handled = false;
      for (auto [key, kind] : {std::pair{"configMapKeyRef", ObjectKind::kConfigMap},
                               std::pair{"secretKeyRef", ObjectKind::kSecret}}) {
        const auto* ref = o.if_contains(key);
        if (ref == nullptr) continue;
        handled = true;
        const std::string name = str(*ref, "name"), k = str(*ref, "key");
        const bool optional = flag(*ref, "optional");
        auto data = objects.get(kind, ns, name);
        if (!data.ok()) {
          if (optional && data.status().code() == Code::kNotFound) break;
          return data.status();
        }
        auto it = data->find(k);
        if (it == data->end()) {
          if (optional) break;
          return not_found("couldn't find key " + k + " in " +
                           (kind == ObjectKind::kConfigMap ? "ConfigMap " : "Secret ") + ns + "/" + name);
        }
        set(e.name, it->second);
      }
      if (!handled) return invalid_argument("env " + e.name + ": unsupported valueFrom");
    }
  }
  return out;
}

Result<cri::ContainerConfig> make_container_config(const api::Pod& pod, const api::Container& c,
                                                   std::uint32_t attempt, std::vector<cri::EnvVar> env,
                                                   const std::map<std::string, std::string>& volume_paths,
                                                   std::int64_t memory_capacity) {
  cri::ContainerConfig cc;
  cc.metadata = {.name = c.name, .attempt = attempt};
  cc.image = c.image;
  cc.command = c.command;
  cc.args = c.args;
  cc.working_dir = c.working_dir;
  cc.envs = std::move(env);
  // $(VAR) in command and args, as upstream expands them.
  auto expand = [&](std::string& s) {
    for (const auto& e : cc.envs) {
      const std::string ref = "$(" + e.name + ")";
      for (auto pos = s.find(ref); pos != std::string::npos; pos = s.find(ref, pos + e.value.size())) {
        s.replace(pos, ref.size(), e.value);
      }
    }
  };
  for (auto& s : cc.command) expand(s);
  for (auto& s : cc.args) expand(s);
  for (const auto& m : c.volume_mounts) {
    auto it = volume_paths.find(m.name);
    if (it == volume_paths.end()) {
      return invalid_argument("container " + c.name + ": volumeMount " + m.name + " names no volume of the pod");
    }
    std::string host = it->second;
    if (!m.sub_path.empty()) {
      if (m.sub_path.starts_with("/") || m.sub_path.find("..") != std::string::npos) {
        return invalid_argument("container " + c.name + ": subPath " + m.sub_path + " must be a relative path inside the volume");
      }
      host = (std::filesystem::path(host) / m.sub_path).string();
      std::error_code ec;
      if (!std::filesystem::exists(host, ec)) std::filesystem::create_directories(host, ec);
    }
    cri::Mount mount{.container_path = m.mount_path, .host_path = host, .readonly = m.read_only};
    if (m.mount_propagation == "HostToContainer") mount.propagation = cri::MountPropagation::kHostToContainer;
    if (m.mount_propagation == "Bidirectional") mount.propagation = cri::MountPropagation::kBidirectional;
    cc.mounts.push_back(std::move(mount));
  }
  cc.labels = {{kPodNameLabel, pod.metadata.name}, {kPodNamespaceLabel, pod.metadata.namespace_},
               {kPodUidLabel, pod.metadata.uid}, {kContainerNameLabel, c.name}};
  cc.annotations = {{kRestartCountAnnotation, std::to_string(attempt)},
                    {"io.kubernetes.pod.terminationGracePeriod", std::to_string(pod.spec.termination_grace_period_seconds)}};
  cc.log_path = c.name + "/" + std::to_string(attempt) + ".log";
  cc.stdin_open = c.stdin;
  cc.stdin_once = c.stdin_once;
  cc.tty = c.tty;

  // Resources as upstream's kuberuntime: shares from the cpu request, CFS
  // quota from the cpu limit, memory limit, oom_score_adj by QoS.
  const std::int64_t req_cpu = cpu_milli(c.resources.requests, "cpu");
  const std::int64_t lim_cpu = cpu_milli(c.resources.limits, "cpu");
  const std::int64_t shares_from = req_cpu >= 0 ? req_cpu : lim_cpu;
  cc.resources.cpu_shares = shares_from <= 0 ? 2 : std::max<std::int64_t>(2, shares_from * 1024 / 1000);
  if (lim_cpu > 0) {
    cc.resources.cpu_period = 100000;
    cc.resources.cpu_quota = std::max<std::int64_t>(1000, lim_cpu * 100000 / 1000);
  }
  const std::int64_t lim_mem = bytes(c.resources.limits, "memory");
  if (lim_mem > 0) cc.resources.memory_limit_in_bytes = lim_mem;
  const std::string qos = api::pod_qos_class(pod.spec);
  if (qos == "Guaranteed") {
    cc.resources.oom_score_adj = -997;
  } else if (qos == "BestEffort") {
    cc.resources.oom_score_adj = 1000;
  } else {
    const std::int64_t req_mem = std::max<std::int64_t>(0, bytes(c.resources.requests, "memory"));
    std::int64_t adj = memory_capacity > 0 ? 1000 - (1000 * req_mem) / memory_capacity : 999;
    cc.resources.oom_score_adj = std::clamp<std::int64_t>(adj, 2, 999);
  }

  // Security: the container's context over the pod's; seccomp RuntimeDefault
  // unless the pod says otherwise (kedge is stricter than upstream here).
  const json::value& psc = pod.spec.security_context;
  auto& sec = cc.security;
  sec.run_as_user = int_field(psc, "runAsUser");
  sec.run_as_group = int_field(psc, "runAsGroup");
  bool run_as_non_root = flag(psc, "runAsNonRoot");
  if (psc.is_object()) {
    if (const auto* groups = psc.as_object().if_contains("supplementalGroups"); groups && groups->is_array()) {
      for (const auto& g : groups->as_array()) {
        if (g.is_int64()) sec.supplemental_groups.push_back(g.as_int64());
      }
    }
    if (const auto* sp = psc.as_object().if_contains("seccompProfile"); sp && str(*sp, "type") == "Unconfined") {
      sec.seccomp.type = cri::SecurityProfile::Type::kUnconfined;
    }
  }
  if (const auto& csc = c.security_context) {
    if (csc->run_as_user) sec.run_as_user = csc->run_as_user;
    if (csc->run_as_group) sec.run_as_group = csc->run_as_group;
    if (csc->run_as_non_root) run_as_non_root = *csc->run_as_non_root;
    sec.privileged = csc->privileged.value_or(false);
    sec.readonly_rootfs = csc->read_only_root_filesystem.value_or(false);
    sec.no_new_privs = !csc->allow_privilege_escalation.value_or(true);
    sec.add_capabilities = csc->capabilities_add;
    sec.drop_capabilities = csc->capabilities_drop;
  }
  if (run_as_non_root && (!sec.run_as_user || *sec.run_as_user == 0)) {
    // kedge does not read the image's USER; without a non-zero runAsUser it
    // cannot prove the container runs as non-root, so it refuses, as upstream
    // does for an image that runs as root.
    return failed_precondition("container " + c.name +
                               " has runAsNonRoot and image will run as root (set a non-zero runAsUser)");
  }
  sec.namespaces.network = pod.spec.host_network ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  sec.namespaces.pid = pod.spec.host_pid ? cri::NamespaceMode::kNode : cri::NamespaceMode::kContainer;
  sec.namespaces.ipc = pod.spec.host_ipc ? cri::NamespaceMode::kNode : cri::NamespaceMode::kPod;
  return cc;
}

}  // namespace kedge::agent::detail

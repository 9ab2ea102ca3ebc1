// Pod spec → CRI configs: the sandbox (namespaces, DNS, hostname, ports,
// cgroup parent, log directory, labels the kubelet reads back) and each
// container (image, command, env with valueFrom/envFrom resolved, mounts,
// resources, security context, log path). Pure functions over values, so
// they are unit-tested without a runtime.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kedge/api/types/pod.h"
#include "kedge/cri/types.h"
#include "object_source.h"

namespace kedge::agent::detail {

// CRI labels and annotations the kubelet sets and reads back (adoption).
inline constexpr const char* kPodNameLabel = "io.kubernetes.pod.name";
inline constexpr const char* kPodNamespaceLabel = "io.kubernetes.pod.namespace";
inline constexpr const char* kPodUidLabel = "io.kubernetes.pod.uid";
inline constexpr const char* kContainerNameLabel = "io.kubernetes.container.name";
inline constexpr const char* kRestartCountAnnotation = "io.kubernetes.container.restartCount";

struct SandboxSettings {
  std::string pod_log_dir = "/var/log/pods";
  std::string cluster_dns;
  std::string cluster_domain = "cluster.local";
  std::string cgroup_root = "/kubepods";
  std::string host_resolv_conf = "/etc/resolv.conf";
};

// <pod_log_dir>/<ns>_<name>_<uid>
std::string pod_log_directory(const SandboxSettings& s, const api::Pod& pod);
// "/kubepods/burstable/pod<uid>" (Guaranteed pods sit directly under the root, as upstream).
std::string pod_cgroup_parent(const SandboxSettings& s, const api::Pod& pod);

Result<cri::PodSandboxConfig> make_sandbox_config(const SandboxSettings& s, const api::Pod& pod, std::uint32_t attempt);

// What env fieldRefs and resourceFieldRefs read that is not in the spec.
struct EnvContext {
  std::string pod_ip;
  std::vector<std::string> host_ips;
  std::int64_t node_cpu_milli = 0;    // limits.cpu when the container sets none
  std::int64_t node_memory_bytes = 0;
};

// The container's environment in order: envFrom first, then env (later
// names win, as upstream). A missing non-optional ConfigMap/Secret or key is
// an error naming it (the pod reports CreateContainerConfigError).
Result<std::vector<cri::EnvVar>> resolve_env(const api::Pod& pod, const api::Container& c, const EnvContext& ctx,
                                             ObjectSource& objects);

// The value of a downward-API fieldRef path ("metadata.name", "status.podIP" ...).
Result<std::string> field_ref_value(const api::Pod& pod, const std::string& path, const EnvContext& ctx);
// The value of a resourceFieldRef ("limits.memory" with divisor "1Mi" ...).
Result<std::string> resource_field_value(const api::Pod& pod, const std::string& container_name,
                                         const std::string& resource, const std::string& divisor,
                                         const EnvContext& ctx);

// Container config for attempt `attempt` (= its restartCount).
// `volume_paths`: pod volume name → host path. `memory_capacity` sizes oom_score_adj.
Result<cri::ContainerConfig> make_container_config(const api::Pod& pod, const api::Container& c, std::uint32_t attempt,
                                                   std::vector<cri::EnvVar> env,
                                                   const std::map<std::string, std::string>& volume_paths,
                                                   std::int64_t memory_capacity);

}  // namespace kedge::agent::detail

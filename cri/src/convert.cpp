#include "convert.h"

namespace kedge::cri::convert {
namespace {

template <typename ProtoMap>
void copy_map(const StringMap& in, ProtoMap* out) {
  for (const auto& [k, v] : in) (*out)[k] = v;
}

template <typename ProtoMap>
StringMap to_map(const ProtoMap& in) {
  return StringMap(in.begin(), in.end());
}

template <typename Repeated>
std::vector<std::string> to_strings(const Repeated& in) {
  return std::vector<std::string>(in.begin(), in.end());
}

template <typename Repeated, typename T>
void copy_list(const std::vector<T>& in, Repeated* out) {
  for (const auto& v : in) out->Add(T(v));
}

void to_proto(const NamespaceOptions& in, pb::NamespaceOption* out) {
  out->set_network(static_cast<pb::NamespaceMode>(in.network));
  out->set_pid(static_cast<pb::NamespaceMode>(in.pid));
  out->set_ipc(static_cast<pb::NamespaceMode>(in.ipc));
  out->set_target_id(in.target_id);
}

void to_proto(const SecurityProfile& in, pb::SecurityProfile* out) {
  out->set_profile_type(static_cast<pb::SecurityProfile::ProfileType>(in.type));
  out->set_localhost_ref(in.localhost_ref);
}

void to_proto(const PodSandboxMetadata& in, pb::PodSandboxMetadata* out) {
  out->set_name(in.name);
  out->set_uid(in.uid);
  out->set_namespace_(in.namespace_name);
  out->set_attempt(in.attempt);
}

PodSandboxMetadata from_proto(const pb::PodSandboxMetadata& in) {
  return {.name = in.name(), .uid = in.uid(), .namespace_name = in.namespace_(), .attempt = in.attempt()};
}

ContainerMetadata from_proto(const pb::ContainerMetadata& in) {
  return {.name = in.name(), .attempt = in.attempt()};
}

Mount from_proto(const pb::Mount& in) {
  return {.container_path = in.container_path(),
          .host_path = in.host_path(),
          .readonly = in.readonly(),
          .selinux_relabel = in.selinux_relabel(),
          .propagation = static_cast<MountPropagation>(in.propagation())};
}

std::optional<std::uint64_t> opt(bool has, const pb::UInt64Value& v) {
  if (!has) return std::nullopt;
  return v.value();
}

}  // namespace

void to_proto(const PodSandboxConfig& in, pb::PodSandboxConfig* out) {
  to_proto(in.metadata, out->mutable_metadata());
  out->set_hostname(in.hostname);
  out->set_log_directory(in.log_directory);
  if (in.dns) {
    auto* dns = out->mutable_dns_config();
    copy_list(in.dns->servers, dns->mutable_servers());
    copy_list(in.dns->searches, dns->mutable_searches());
    copy_list(in.dns->options, dns->mutable_options());
  }
  for (const auto& pm : in.port_mappings) {
    auto* p = out->add_port_mappings();
    p->set_protocol(static_cast<pb::Protocol>(pm.protocol));
    p->set_container_port(pm.container_port);
    p->set_host_port(pm.host_port);
    p->set_host_ip(pm.host_ip);
  }
  copy_map(in.labels, out->mutable_labels());
  copy_map(in.annotations, out->mutable_annotations());
  auto* linux = out->mutable_linux();
  linux->set_cgroup_parent(in.cgroup_parent);
  copy_map(in.sysctls, linux->mutable_sysctls());
  auto* sec = linux->mutable_security_context();
  to_proto(in.security.namespaces, sec->mutable_namespace_options());
  if (in.security.run_as_user) sec->mutable_run_as_user()->set_value(*in.security.run_as_user);
  if (in.security.run_as_group) sec->mutable_run_as_group()->set_value(*in.security.run_as_group);
  sec->set_readonly_rootfs(in.security.readonly_rootfs);
  for (auto g : in.security.supplemental_groups) sec->add_supplemental_groups(g);
  sec->set_privileged(in.security.privileged);
  to_proto(in.security.seccomp, sec->mutable_seccomp());
}

void to_proto(const LinuxResources& in, pb::LinuxContainerResources* out) {
  out->set_cpu_period(in.cpu_period);
  out->set_cpu_quota(in.cpu_quota);
  out->set_cpu_shares(in.cpu_shares);
  out->set_memory_limit_in_bytes(in.memory_limit_in_bytes);
  out->set_oom_score_adj(in.oom_score_adj);
  out->set_cpuset_cpus(in.cpuset_cpus);
  out->set_cpuset_mems(in.cpuset_mems);
  out->set_memory_swap_limit_in_bytes(in.memory_swap_limit_in_bytes);
}

void to_proto(const ContainerConfig& in, pb::ContainerConfig* out) {
  out->mutable_metadata()->set_name(in.metadata.name);
  out->mutable_metadata()->set_attempt(in.metadata.attempt);
  out->mutable_image()->set_image(in.image);
  copy_list(in.command, out->mutable_command());
  copy_list(in.args, out->mutable_args());
  out->set_working_dir(in.working_dir);
  for (const auto& e : in.envs) {
    auto* kv = out->add_envs();
    kv->set_key(e.name);
    kv->set_value(e.value);
  }
  for (const auto& m : in.mounts) {
    auto* pm = out->add_mounts();
    pm->set_container_path(m.container_path);
    pm->set_host_path(m.host_path);
    pm->set_readonly(m.readonly);
    pm->set_selinux_relabel(m.selinux_relabel);
    pm->set_propagation(static_cast<pb::MountPropagation>(m.propagation));
  }
  copy_map(in.labels, out->mutable_labels());
  copy_map(in.annotations, out->mutable_annotations());
  out->set_log_path(in.log_path);
  out->set_stdin(in.stdin_open);
  out->set_stdin_once(in.stdin_once);
  out->set_tty(in.tty);
  auto* linux = out->mutable_linux();
  to_proto(in.resources, linux->mutable_resources());
  auto* sec = linux->mutable_security_context();
  const auto& s = in.security;
  copy_list(s.add_capabilities, sec->mutable_capabilities()->mutable_add_capabilities());
  copy_list(s.drop_capabilities, sec->mutable_capabilities()->mutable_drop_capabilities());
  sec->set_privileged(s.privileged);
  to_proto(s.namespaces, sec->mutable_namespace_options());
  if (s.run_as_user) sec->mutable_run_as_user()->set_value(*s.run_as_user);
  if (s.run_as_group) sec->mutable_run_as_group()->set_value(*s.run_as_group);
  sec->set_run_as_username(s.run_as_username);
  sec->set_readonly_rootfs(s.readonly_rootfs);
  for (auto g : s.supplemental_groups) sec->add_supplemental_groups(g);
  sec->set_no_new_privs(s.no_new_privs);
  copy_list(s.masked_paths, sec->mutable_masked_paths());
  copy_list(s.readonly_paths, sec->mutable_readonly_paths());
  to_proto(s.seccomp, sec->mutable_seccomp());
}

void to_proto(const PodSandboxFilter& in, pb::PodSandboxFilter* out) {
  out->set_id(in.id);
  if (in.state) out->mutable_state()->set_state(static_cast<pb::PodSandboxState>(*in.state));
  copy_map(in.label_selector, out->mutable_label_selector());
}

void to_proto(const ContainerFilter& in, pb::ContainerFilter* out) {
  out->set_id(in.id);
  if (in.state) out->mutable_state()->set_state(static_cast<pb::ContainerState>(*in.state));
  out->set_pod_sandbox_id(in.pod_sandbox_id);
  copy_map(in.label_selector, out->mutable_label_selector());
}

void to_proto(const ContainerStatsFilter& in, pb::ContainerStatsFilter* out) {
  out->set_id(in.id);
  out->set_pod_sandbox_id(in.pod_sandbox_id);
  copy_map(in.label_selector, out->mutable_label_selector());
}

void to_proto(const AuthConfig& in, pb::AuthConfig* out) {
  out->set_username(in.username);
  out->set_password(in.password);
  out->set_auth(in.auth);
  out->set_server_address(in.server_address);
  out->set_identity_token(in.identity_token);
  out->set_registry_token(in.registry_token);
}

VersionInfo from_proto(const pb::VersionResponse& in) {
  return {.version = in.version(),
          .runtime_name = in.runtime_name(),
          .runtime_version = in.runtime_version(),
          .runtime_api_version = in.runtime_api_version()};
}

RuntimeStatus from_proto(const pb::StatusResponse& in) {
  RuntimeStatus out;
  for (const auto& c : in.status().conditions()) {
    out.conditions.push_back(
        {.type = c.type(), .status = c.status(), .reason = c.reason(), .message = c.message()});
  }
  out.info = to_map(in.info());
  return out;
}

PodSandbox from_proto(const pb::PodSandbox& in) {
  return {.id = in.id(),
          .metadata = from_proto(in.metadata()),
          .state = static_cast<SandboxState>(in.state()),
          .created_at = in.created_at(),
          .labels = to_map(in.labels()),
          .annotations = to_map(in.annotations()),
          .runtime_handler = in.runtime_handler()};
}

PodSandboxStatus from_proto(const pb::PodSandboxStatusResponse& in) {
  const auto& s = in.status();
  PodSandboxStatus out{.id = s.id(),
                       .metadata = from_proto(s.metadata()),
                       .state = static_cast<SandboxState>(s.state()),
                       .created_at = s.created_at(),
                       .ip = s.network().ip(),
                       .additional_ips = {},
                       .labels = to_map(s.labels()),
                       .annotations = to_map(s.annotations()),
                       .runtime_handler = s.runtime_handler(),
                       .info = to_map(in.info())};
  for (const auto& ip : s.network().additional_ips()) out.additional_ips.push_back(ip.ip());
  return out;
}

Container from_proto(const pb::Container& in) {
  return {.id = in.id(),
          .pod_sandbox_id = in.pod_sandbox_id(),
          .metadata = from_proto(in.metadata()),
          .image = in.image().image(),
          .image_ref = in.image_ref(),
          .state = static_cast<ContainerState>(in.state()),
          .created_at = in.created_at(),
          .labels = to_map(in.labels()),
          .annotations = to_map(in.annotations())};
}

ContainerStatus from_proto(const pb::ContainerStatusResponse& in) {
  const auto& s = in.status();
  ContainerStatus out{.id = s.id(),
                      .metadata = from_proto(s.metadata()),
                      .state = static_cast<ContainerState>(s.state()),
                      .created_at = s.created_at(),
                      .started_at = s.started_at(),
                      .finished_at = s.finished_at(),
                      .exit_code = s.exit_code(),
                      .image = s.image().image(),
                      .image_ref = s.image_ref(),
                      .reason = s.reason(),
                      .message = s.message(),
                      .labels = to_map(s.labels()),
                      .annotations = to_map(s.annotations()),
                      .mounts = {},
                      .log_path = s.log_path(),
                      .info = to_map(in.info())};
  for (const auto& m : s.mounts()) out.mounts.push_back(from_proto(m));
  return out;
}

FilesystemUsage from_proto(const pb::FilesystemUsage& in) {
  return {.timestamp = in.timestamp(),
          .mountpoint = in.fs_id().mountpoint(),
          .used_bytes = opt(in.has_used_bytes(), in.used_bytes()),
          .inodes_used = opt(in.has_inodes_used(), in.inodes_used())};
}

ContainerStats from_proto(const pb::ContainerStats& in) {
  ContainerStats out{.id = in.attributes().id(),
                     .metadata = from_proto(in.attributes().metadata()),
                     .labels = to_map(in.attributes().labels()),
                     .annotations = to_map(in.attributes().annotations()),
                     .cpu_timestamp = in.cpu().timestamp(),
                     .cpu_usage_core_nanoseconds =
                         opt(in.cpu().has_usage_core_nano_seconds(), in.cpu().usage_core_nano_seconds()),
                     .cpu_usage_nano_cores = opt(in.cpu().has_usage_nano_cores(), in.cpu().usage_nano_cores()),
                     .memory_timestamp = in.memory().timestamp(),
                     .memory_working_set_bytes =
                         opt(in.memory().has_working_set_bytes(), in.memory().working_set_bytes()),
                     .memory_usage_bytes = opt(in.memory().has_usage_bytes(), in.memory().usage_bytes()),
                     .memory_rss_bytes = opt(in.memory().has_rss_bytes(), in.memory().rss_bytes()),
                     .writable_layer = std::nullopt};
  if (in.has_writable_layer()) out.writable_layer = from_proto(in.writable_layer());
  return out;
}

Image from_proto(const pb::Image& in) {
  Image out{.id = in.id(),
            .repo_tags = to_strings(in.repo_tags()),
            .repo_digests = to_strings(in.repo_digests()),
            .size = in.size(),
            .uid = std::nullopt,
            .username = in.username(),
            .pinned = in.pinned()};
  if (in.has_uid()) out.uid = in.uid().value();
  return out;
}

}  // namespace kedge::cri::convert

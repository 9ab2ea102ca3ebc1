// Value types of the Container Runtime Interface (CRI v1) as kedge uses them.
//
// These mirror the runtime.v1 messages kedge sends and reads, as plain C++
// structs, so no generated protobuf header leaks out of cri/. Fields kedge
// does not use are absent; see cri/proto/kedge/cri/api.proto for the wire
// side. Times are nanoseconds since the Unix epoch, as the CRI reports them.
//
// Thread-safety: values; copy and move freely across threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kedge::cri {

using StringMap = std::map<std::string, std::string>;

// ---- runtime -------------------------------------------------------------------

struct VersionInfo {
  std::string version;              // CRI version the runtime speaks ("0.1.0")
  std::string runtime_name;         // "containerd"
  std::string runtime_version;      // "1.6.20~ds1"
  std::string runtime_api_version;  // "v1"
};

struct RuntimeCondition {
  std::string type;  // "RuntimeReady", "NetworkReady"
  bool status = false;
  std::string reason;
  std::string message;
};

struct RuntimeStatus {
  std::vector<RuntimeCondition> conditions;
  StringMap info;  // only with verbose

  // The condition named `type`, or nullptr.
  const RuntimeCondition* condition(const std::string& type) const;
  bool runtime_ready() const;
  bool network_ready() const;
};

// ---- pod sandboxes ---------------------------------------------------------------

enum class Protocol { kTcp = 0, kUdp = 1, kSctp = 2 };

struct PortMapping {
  Protocol protocol = Protocol::kTcp;
  std::int32_t container_port = 0;
  std::int32_t host_port = 0;
  std::string host_ip;
};

struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

// Which namespace a pod or container gets: its own (kPod for the sandbox's
// shared one, kContainer for a private one) or the node's (kNode).
enum class NamespaceMode { kPod = 0, kContainer = 1, kNode = 2, kTarget = 3 };

struct NamespaceOptions {
  NamespaceMode network = NamespaceMode::kPod;
  NamespaceMode pid = NamespaceMode::kContainer;
  NamespaceMode ipc = NamespaceMode::kPod;
  std::string target_id;  // with kTarget
};

struct SecurityProfile {
  enum class Type { kRuntimeDefault = 0, kUnconfined = 1, kLocalhost = 2 };
  Type type = Type::kRuntimeDefault;
  std::string localhost_ref;
};

struct SandboxSecurity {
  NamespaceOptions namespaces;
  std::optional<std::int64_t> run_as_user;
  std::optional<std::int64_t> run_as_group;
  bool readonly_rootfs = false;
  std::vector<std::int64_t> supplemental_groups;
  bool privileged = false;
  SecurityProfile seccomp;
};

struct PodSandboxMetadata {
  std::string name;
  std::string uid;
  std::string namespace_name;  // "namespace" on the wire
  std::uint32_t attempt = 0;
};

struct PodSandboxConfig {
  PodSandboxMetadata metadata;
  // Must stay empty for host-network pods: runc refuses to set a hostname
  // without a private UTS namespace.
  std::string hostname;
  // Directory the runtime puts container logs under (container log paths in
  // ContainerConfig are relative to it): /var/log/pods/<ns>_<name>_<uid>.
  std::string log_directory;
  std::optional<DnsConfig> dns;
  std::vector<PortMapping> port_mappings;
  StringMap labels;
  StringMap annotations;
  std::string cgroup_parent;  // e.g. /kubepods/besteffort/pod<uid>
  SandboxSecurity security;
  StringMap sysctls;
};

enum class SandboxState { kReady = 0, kNotReady = 1 };

struct PodSandbox {
  std::string id;
  PodSandboxMetadata metadata;
  SandboxState state = SandboxState::kNotReady;
  std::int64_t created_at = 0;
  StringMap labels;
  StringMap annotations;
  std::string runtime_handler;
};

struct PodSandboxStatus {
  std::string id;
  PodSandboxMetadata metadata;
  SandboxState state = SandboxState::kNotReady;
  std::int64_t created_at = 0;
  std::string ip;  // empty for host-network pods
  std::vector<std::string> additional_ips;
  StringMap labels;
  StringMap annotations;
  std::string runtime_handler;
  StringMap info;  // only with verbose
};

struct PodSandboxFilter {
  std::string id;
  std::optional<SandboxState> state;
  StringMap label_selector;
};

// ---- containers -------------------------------------------------------------------

enum class MountPropagation { kPrivate = 0, kHostToContainer = 1, kBidirectional = 2 };

struct Mount {
  std::string container_path;
  std::string host_path;
  bool readonly = false;
  bool selinux_relabel = false;
  MountPropagation propagation = MountPropagation::kPrivate;
};

struct LinuxResources {
  std::int64_t cpu_period = 0;
  std::int64_t cpu_quota = 0;
  std::int64_t cpu_shares = 0;
  std::int64_t memory_limit_in_bytes = 0;  // 0 = unlimited
  std::int64_t oom_score_adj = 0;
  std::string cpuset_cpus;
  std::string cpuset_mems;
  std::int64_t memory_swap_limit_in_bytes = 0;
};

struct ContainerSecurity {
  std::vector<std::string> add_capabilities;
  std::vector<std::string> drop_capabilities;
  bool privileged = false;
  NamespaceOptions namespaces;
  std::optional<std::int64_t> run_as_user;
  std::optional<std::int64_t> run_as_group;
  std::string run_as_username;
  bool readonly_rootfs = false;
  std::vector<std::int64_t> supplemental_groups;
  bool no_new_privs = false;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  SecurityProfile seccomp;
};

struct ContainerMetadata {
  std::string name;
  std::uint32_t attempt = 0;
};

struct EnvVar {
  std::string name;
  std::string value;
};

struct ContainerConfig {
  ContainerMetadata metadata;
  std::string image;  // a name or id the runtime already has
  std::vector<std::string> command;  // replaces the image's entrypoint when set
  std::vector<std::string> args;     // replaces the image's cmd when set
  std::string working_dir;
  std::vector<EnvVar> envs;
  std::vector<Mount> mounts;
  StringMap labels;
  StringMap annotations;
  std::string log_path;  // relative to the sandbox's log_directory
  bool stdin_open = false;
  bool stdin_once = false;
  bool tty = false;
  LinuxResources resources;
  ContainerSecurity security;
};

enum class ContainerState { kCreated = 0, kRunning = 1, kExited = 2, kUnknown = 3 };

struct Container {
  std::string id;
  std::string pod_sandbox_id;
  ContainerMetadata metadata;
  std::string image;
  std::string image_ref;
  ContainerState state = ContainerState::kUnknown;
  std::int64_t created_at = 0;
  StringMap labels;
  StringMap annotations;
};

struct ContainerStatus {
  std::string id;
  ContainerMetadata metadata;
  ContainerState state = ContainerState::kUnknown;
  std::int64_t created_at = 0;
  std::int64_t started_at = 0;
  std::int64_t finished_at = 0;
  std::int32_t exit_code = 0;
  std::string image;
  std::string image_ref;
  std::string reason;  // "Completed", "Error", "OOMKilled"
  std::string message;
  StringMap labels;
  StringMap annotations;
  std::vector<Mount> mounts;
  std::string log_path;  // absolute
  StringMap info;        // only with verbose
};

struct ContainerFilter {
  std::string id;
  std::optional<ContainerState> state;
  std::string pod_sandbox_id;
  StringMap label_selector;
};

struct ExecSyncResult {
  std::string stdout_data;
  std::string stderr_data;
  std::int32_t exit_code = 0;
};

struct ExecOptions {
  std::vector<std::string> cmd;
  bool tty = false;
  bool with_stdin = false;
  bool with_stdout = true;
  bool with_stderr = true;
};

struct AttachOptions {
  bool with_stdin = false;
  bool tty = false;
  bool with_stdout = true;
  bool with_stderr = true;
};

// ---- stats ---------------------------------------------------------------------------

struct FilesystemUsage {
  std::int64_t timestamp = 0;
  std::string mountpoint;
  std::optional<std::uint64_t> used_bytes;
  std::optional<std::uint64_t> inodes_used;
};

struct ContainerStats {
  std::string id;
  ContainerMetadata metadata;
  StringMap labels;
  StringMap annotations;
  std::int64_t cpu_timestamp = 0;
  std::optional<std::uint64_t> cpu_usage_core_nanoseconds;
  std::optional<std::uint64_t> cpu_usage_nano_cores;
  std::int64_t memory_timestamp = 0;
  std::optional<std::uint64_t> memory_working_set_bytes;
  std::optional<std::uint64_t> memory_usage_bytes;
  std::optional<std::uint64_t> memory_rss_bytes;
  std::optional<FilesystemUsage> writable_layer;
};

struct ContainerStatsFilter {
  std::string id;
  std::string pod_sandbox_id;
  StringMap label_selector;
};

// ---- images --------------------------------------------------------------------------

struct Image {
  std::string id;  // "sha256:<config digest>"
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  std::uint64_t size = 0;
  std::optional<std::int64_t> uid;
  std::string username;
  bool pinned = false;
};

struct AuthConfig {
  std::string username;
  std::string password;
  std::string auth;
  std::string server_address;
  std::string identity_token;
  std::string registry_token;
};

struct ImageFsInfo {
  std::vector<FilesystemUsage> image_filesystems;
  std::vector<FilesystemUsage> container_filesystems;
};

}  // namespace kedge::cri

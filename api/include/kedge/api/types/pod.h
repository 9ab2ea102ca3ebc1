// core/v1 Pod, decoded into the subset the scheduler and agent act on.
// See types/common.h for the decoding rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/api/types/common.h"

namespace kedge::api {

struct ContainerPort {
  std::string name;
  std::int32_t container_port = 0;
  std::int32_t host_port = 0;
  std::string protocol = "TCP";
  std::string host_ip;
};

struct EnvVar {
  std::string name;
  std::string value;
  boost::json::value value_from;  // raw EnvVarSource, null when absent
};

struct VolumeMount {
  std::string name;
  std::string mount_path;
  std::string sub_path;
  bool read_only = false;
  std::string mount_propagation;
};

struct ResourceRequirements {
  ResourceList requests;
  ResourceList limits;
};

// exec / httpGet / tcpSocket / grpc probe with upstream's defaults.
struct Probe {
  enum class Kind { kNone, kExec, kHttpGet, kTcpSocket, kGrpc };
  Kind kind = Kind::kNone;
  std::vector<std::string> command;  // exec
  std::string path;                  // httpGet
  IntOrString port;                  // httpGet / tcpSocket / grpc
  std::string host;
  std::string scheme = "HTTP";
  std::vector<std::pair<std::string, std::string>> http_headers;
  std::string grpc_service;
  std::int32_t initial_delay_seconds = 0;
  std::int32_t timeout_seconds = 1;
  std::int32_t period_seconds = 10;
  std::int32_t success_threshold = 1;
  std::int32_t failure_threshold = 3;
  std::optional<std::int64_t> termination_grace_period_seconds;
};

struct SecurityContext {
  std::optional<std::int64_t> run_as_user;
  std::optional<std::int64_t> run_as_group;
  std::optional<bool> run_as_non_root;
  std::optional<bool> privileged;
  std::optional<bool> read_only_root_filesystem;
  std::optional<bool> allow_privilege_escalation;
  std::vector<std::string> capabilities_add;
  std::vector<std::string> capabilities_drop;
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string working_dir;
  std::vector<ContainerPort> ports;
  std::vector<EnvVar> env;
  boost::json::value env_from;  // raw list, null when absent
  ResourceRequirements resources;
  std::vector<VolumeMount> volume_mounts;
  std::optional<Probe> liveness_probe;
  std::optional<Probe> readiness_probe;
  std::optional<Probe> startup_probe;
  boost::json::value lifecycle;  // raw, null when absent
  std::string image_pull_policy;  // defaulted by the API server (Always for :latest, else IfNotPresent)
  std::optional<SecurityContext> security_context;
  std::optional<std::string> restart_policy;  // "Always" marks a sidecar init container
  bool stdin = false;
  bool stdin_once = false;
  bool tty = false;
  std::string termination_message_path = "/dev/termination-log";
  std::string termination_message_policy = "File";
};

struct Toleration;
struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
  std::string time_added;
  boost::json::value to_json() const;
};

struct Toleration {
  std::string key;
  std::string op = "Equal";  // "operator": Equal | Exists
  std::string value;
  std::string effect;  // empty matches every effect
  std::optional<std::int64_t> toleration_seconds;
  // upstream's Toleration.ToleratesTaint.
  bool tolerates(const Taint& taint) const;
};

struct Volume {
  enum class Kind { kOther, kEmptyDir, kHostPath, kConfigMap, kSecret, kProjected, kDownwardApi, kPersistentVolumeClaim };
  std::string name;
  Kind kind = Kind::kOther;
  std::string source_field;   // e.g. "emptyDir", "hostPath"
  boost::json::value source;  // the raw source object
};

struct PodSpec {
  std::vector<Container> init_containers;
  std::vector<Container> containers;
  std::vector<Volume> volumes;
  std::string restart_policy = "Always";
  std::int64_t termination_grace_period_seconds = 30;
  std::optional<std::int64_t> active_deadline_seconds;
  std::string dns_policy = "ClusterFirst";
  boost::json::value dns_config;  // raw
  std::map<std::string, std::string> node_selector;
  std::string service_account_name;
  bool automount_service_account_token = true;
  std::string node_name;
  bool host_network = false;
  bool host_pid = false;
  bool host_ipc = false;
  std::string hostname;
  std::string subdomain;
  boost::json::value affinity;          // raw Affinity, null when absent
  boost::json::value security_context;  // raw PodSecurityContext
  std::string scheduler_name = "default-scheduler";
  std::vector<Toleration> tolerations;
  std::vector<std::string> image_pull_secrets;  // names
  std::optional<std::int32_t> priority;
  std::string priority_class_name;
  std::string runtime_class_name;
  boost::json::value host_aliases;  // raw
  bool enable_service_links = true;
};

struct ContainerState {
  enum class Kind { kNone, kWaiting, kRunning, kTerminated };
  Kind kind = Kind::kNone;
  std::string reason;
  std::string message;
  std::string started_at;
  std::string finished_at;
  std::int32_t exit_code = 0;
  std::int32_t signal = 0;
  std::string container_id;
  boost::json::value to_json() const;
};

struct ContainerStatus {
  std::string name;
  ContainerState state;
  ContainerState last_state;
  bool ready = false;
  std::int32_t restart_count = 0;
  std::string image;
  std::string image_id;
  std::string container_id;
  std::optional<bool> started;
  boost::json::value to_json() const;
};

struct PodStatus {
  std::string phase;  // Pending | Running | Succeeded | Failed | Unknown
  std::vector<Condition> conditions;
  std::string message;
  std::string reason;
  std::string nominated_node_name;
  std::string host_ip;
  std::string pod_ip;
  std::vector<std::string> pod_ips;
  std::string start_time;
  std::vector<ContainerStatus> init_container_statuses;
  std::vector<ContainerStatus> container_statuses;
  std::string qos_class;
  // The status subresource body the agent PUTs/PATCHes.
  boost::json::value to_json() const;
};

struct Pod {
  ObjectMeta metadata;
  PodSpec spec;
  PodStatus status;
  static Result<Pod> from_json(const boost::json::value& v);
};

// QoS class by upstream's rules (Guaranteed / Burstable / BestEffort), from
// the containers' cpu and memory requests and limits.
std::string pod_qos_class(const PodSpec& spec);

}  // namespace kedge::api

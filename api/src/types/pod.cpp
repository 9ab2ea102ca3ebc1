#include "kedge/api/types/pod.h"

#include "decode.h"

namespace kedge::api {

namespace json = boost::json;
using namespace decode;  // NOLINT: file-local use of the readers

namespace {

Result<ContainerPort> container_port(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  ContainerPort p;
  if (o == nullptr) return p;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, p.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "containerPort", path, p.container_port));
  KEDGE_RETURN_IF_ERROR(read(*o, "hostPort", path, p.host_port));
  KEDGE_RETURN_IF_ERROR(read(*o, "protocol", path, p.protocol));
  KEDGE_RETURN_IF_ERROR(read(*o, "hostIP", path, p.host_ip));
  return p;
}

Result<EnvVar> env_var(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  EnvVar e;
  if (o == nullptr) return e;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, e.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "value", path, e.value));
  read_raw(*o, "valueFrom", e.value_from);
  return e;
}

Result<VolumeMount> volume_mount(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  VolumeMount m;
  if (o == nullptr) return m;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, m.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "mountPath", path, m.mount_path));
  KEDGE_RETURN_IF_ERROR(read(*o, "subPath", path, m.sub_path));
  KEDGE_RETURN_IF_ERROR(read(*o, "readOnly", path, m.read_only));
  KEDGE_RETURN_IF_ERROR(read(*o, "mountPropagation", path, m.mount_propagation));
  return m;
}

Result<std::pair<std::string, std::string>> http_header(const json::value& e, const std::string& ep) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* h, as_object(e, ep));
  std::pair<std::string, std::string> kv;
  if (h == nullptr) return kv;
  KEDGE_RETURN_IF_ERROR(read(*h, "name", ep, kv.first));
  KEDGE_RETURN_IF_ERROR(read(*h, "value", ep, kv.second));
  return kv;
}

// {"name": x} entries (imagePullSecrets).
Result<std::string> named_ref(const json::value& e, const std::string& p) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* eo, as_object(e, p));
  std::string name;
  if (eo != nullptr) KEDGE_RETURN_IF_ERROR(read(*eo, "name", p, name));
  return name;
}

// {"ip": x} entries (podIPs).
Result<std::string> ip_entry(const json::value& e, const std::string& p) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* eo, as_object(e, p));
  std::string ip;
  if (eo != nullptr) KEDGE_RETURN_IF_ERROR(read(*eo, "ip", p, ip));
  return ip;
}

Status probe_handler(const json::object& o, const std::string& path, Probe& p) {
  if (const json::value* exec = member(o, "exec")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* eo, as_object(*exec, child(path, "exec")));
    p.kind = Probe::Kind::kExec;
    if (eo != nullptr) KEDGE_RETURN_IF_ERROR(read(*eo, "command", child(path, "exec"), p.command));
  } else if (const json::value* http = member(o, "httpGet")) {
    const std::string hp = child(path, "httpGet");
    KEDGE_ASSIGN_OR_RETURN(const json::object* ho, as_object(*http, hp));
    p.kind = Probe::Kind::kHttpGet;
    if (ho != nullptr) {
      KEDGE_RETURN_IF_ERROR(read(*ho, "path", hp, p.path));
      KEDGE_RETURN_IF_ERROR(read(*ho, "port", hp, p.port));
      KEDGE_RETURN_IF_ERROR(read(*ho, "host", hp, p.host));
      KEDGE_RETURN_IF_ERROR(read(*ho, "scheme", hp, p.scheme));
      std::vector<std::pair<std::string, std::string>> headers;
      KEDGE_RETURN_IF_ERROR(read_list(*ho, "httpHeaders", hp, headers, http_header));
      p.http_headers = std::move(headers);
    }
  } else if (const json::value* tcp = member(o, "tcpSocket")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* to, as_object(*tcp, child(path, "tcpSocket")));
    p.kind = Probe::Kind::kTcpSocket;
    if (to != nullptr) {
      KEDGE_RETURN_IF_ERROR(read(*to, "port", child(path, "tcpSocket"), p.port));
      KEDGE_RETURN_IF_ERROR(read(*to, "host", child(path, "tcpSocket"), p.host));
    }
  } else if (const json::value* grpc = member(o, "grpc")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* go, as_object(*grpc, child(path, "grpc")));
    p.kind = Probe::Kind::kGrpc;
    if (go != nullptr) {
      std::int32_t port = 0;
      KEDGE_RETURN_IF_ERROR(read(*go, "port", child(path, "grpc"), port));
      p.port = IntOrString::of(port);
      KEDGE_RETURN_IF_ERROR(read(*go, "service", child(path, "grpc"), p.grpc_service));
    }
  }
  return {};
}

Result<std::optional<Probe>> probe(const json::object& c, std::string_view key, const std::string& cpath) {
  const json::value* v = member(c, key);
  if (v == nullptr) return std::optional<Probe>();
  const std::string path = child(cpath, key);
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(*v, path));
  Probe p;
  KEDGE_RETURN_IF_ERROR(probe_handler(*o, path, p));
  KEDGE_RETURN_IF_ERROR(read(*o, "initialDelaySeconds", path, p.initial_delay_seconds));
  KEDGE_RETURN_IF_ERROR(read(*o, "timeoutSeconds", path, p.timeout_seconds));
  KEDGE_RETURN_IF_ERROR(read(*o, "periodSeconds", path, p.period_seconds));
  KEDGE_RETURN_IF_ERROR(read(*o, "successThreshold", path, p.success_threshold));
  KEDGE_RETURN_IF_ERROR(read(*o, "failureThreshold", path, p.failure_threshold));
  KEDGE_RETURN_IF_ERROR(read(*o, "terminationGracePeriodSeconds", path, p.termination_grace_period_seconds));
  return std::optional<Probe>(std::move(p));
}

Result<std::optional<SecurityContext>> security_context(const json::object& c, const std::string& cpath) {
  const json::value* v = member(c, "securityContext");
  if (v == nullptr) return std::optional<SecurityContext>();
  const std::string path = child(cpath, "securityContext");
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(*v, path));
  SecurityContext s;
  KEDGE_RETURN_IF_ERROR(read(*o, "runAsUser", path, s.run_as_user));
  KEDGE_RETURN_IF_ERROR(read(*o, "runAsGroup", path, s.run_as_group));
  KEDGE_RETURN_IF_ERROR(read(*o, "runAsNonRoot", path, s.run_as_non_root));
  KEDGE_RETURN_IF_ERROR(read(*o, "privileged", path, s.privileged));
  KEDGE_RETURN_IF_ERROR(read(*o, "readOnlyRootFilesystem", path, s.read_only_root_filesystem));
  KEDGE_RETURN_IF_ERROR(read(*o, "allowPrivilegeEscalation", path, s.allow_privilege_escalation));
  if (const json::value* caps = member(*o, "capabilities")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* co, as_object(*caps, child(path, "capabilities")));
    if (co != nullptr) {
      KEDGE_RETURN_IF_ERROR(read(*co, "add", child(path, "capabilities"), s.capabilities_add));
      KEDGE_RETURN_IF_ERROR(read(*co, "drop", child(path, "capabilities"), s.capabilities_drop));
    }
  }
  return std::optional<SecurityContext>(std::move(s));
}

Result<Container> container(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Container c;
  if (o == nullptr) return c;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, c.name));
  KEDGE_RETURN_IF_ERROR(read(*o, "image", path, c.image));
  KEDGE_RETURN_IF_ERROR(read(*o, "command", path, c.command));
  KEDGE_RETURN_IF_ERROR(read(*o, "args", path, c.args));
  KEDGE_RETURN_IF_ERROR(read(*o, "workingDir", path, c.working_dir));
  KEDGE_RETURN_IF_ERROR(read_list(*o, "ports", path, c.ports, container_port));
  KEDGE_RETURN_IF_ERROR(read_list(*o, "env", path, c.env, env_var));
  read_raw(*o, "envFrom", c.env_from);
  if (const json::value* r = member(*o, "resources")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* ro, as_object(*r, child(path, "resources")));
    KEDGE_RETURN_IF_ERROR(read(*ro, "requests", child(path, "resources"), c.resources.requests));
    KEDGE_RETURN_IF_ERROR(read(*ro, "limits", child(path, "resources"), c.resources.limits));
  }
  KEDGE_RETURN_IF_ERROR(read_list(*o, "volumeMounts", path, c.volume_mounts, volume_mount));
  KEDGE_ASSIGN_OR_RETURN(c.liveness_probe, probe(*o, "livenessProbe", path));
  KEDGE_ASSIGN_OR_RETURN(c.readiness_probe, probe(*o, "readinessProbe", path));
  KEDGE_ASSIGN_OR_RETURN(c.startup_probe, probe(*o, "startupProbe", path));
  read_raw(*o, "lifecycle", c.lifecycle);
  KEDGE_RETURN_IF_ERROR(read(*o, "imagePullPolicy", path, c.image_pull_policy));
  KEDGE_ASSIGN_OR_RETURN(c.security_context, security_context(*o, path));
  KEDGE_RETURN_IF_ERROR(read(*o, "restartPolicy", path, c.restart_policy));
  KEDGE_RETURN_IF_ERROR(read(*o, "stdin", path, c.stdin));
  KEDGE_RETURN_IF_ERROR(read(*o, "stdinOnce", path, c.stdin_once));
  KEDGE_RETURN_IF_ERROR(read(*o, "tty", path, c.tty));
  KEDGE_RETURN_IF_ERROR(read(*o, "terminationMessagePath", path, c.termination_message_path));
  KEDGE_RETURN_IF_ERROR(read(*o, "terminationMessagePolicy", path, c.termination_message_policy));
  return c;
}

Result<Toleration> toleration(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Toleration t;
  if (o == nullptr) return t;
  KEDGE_RETURN_IF_ERROR(read(*o, "key", path, t.key));
  KEDGE_RETURN_IF_ERROR(read(*o, "operator", path, t.op));
  KEDGE_RETURN_IF_ERROR(read(*o, "value", path, t.value));
  KEDGE_RETURN_IF_ERROR(read(*o, "effect", path, t.effect));
  KEDGE_RETURN_IF_ERROR(read(*o, "tolerationSeconds", path, t.toleration_seconds));
  return t;
}

Result<Volume> volume(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  Volume vol;
  if (o == nullptr) return vol;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, vol.name));
  static const std::pair<const char*, Volume::Kind> kKinds[] = {
      {"emptyDir", Volume::Kind::kEmptyDir},   {"hostPath", Volume::Kind::kHostPath},
      {"configMap", Volume::Kind::kConfigMap}, {"secret", Volume::Kind::kSecret},
      {"projected", Volume::Kind::kProjected}, {"downwardAPI", Volume::Kind::kDownwardApi},
      {"persistentVolumeClaim", Volume::Kind::kPersistentVolumeClaim}};
  for (const auto& kv : *o) {
    if (kv.key() == "name" || kv.value().is_null()) continue;
    vol.source_field = std::string(kv.key());
    vol.source = kv.value();
    for (const auto& [field, kind] : kKinds) {
      if (kv.key() == field) vol.kind = kind;
    }
    if (!vol.source.is_object()) return type_error(child(path, kv.key()), "an object", vol.source);
    break;
  }
  return vol;
}

Result<ContainerState> container_state(const json::object& o, std::string_view key, const std::string& path) {
  ContainerState s;
  const json::value* v = member(o, key);
  if (v == nullptr) return s;
  const std::string p = child(path, key);
  KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*v, p));
  if (const json::value* w = member(*so, "waiting")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* wo, as_object(*w, child(p, "waiting")));
    s.kind = ContainerState::Kind::kWaiting;
    KEDGE_RETURN_IF_ERROR(read(*wo, "reason", child(p, "waiting"), s.reason));
    KEDGE_RETURN_IF_ERROR(read(*wo, "message", child(p, "waiting"), s.message));
  } else if (const json::value* r = member(*so, "running")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* ro, as_object(*r, child(p, "running")));
    s.kind = ContainerState::Kind::kRunning;
    KEDGE_RETURN_IF_ERROR(read(*ro, "startedAt", child(p, "running"), s.started_at));
  } else if (const json::value* t = member(*so, "terminated")) {
    const std::string tp = child(p, "terminated");
    KEDGE_ASSIGN_OR_RETURN(const json::object* to, as_object(*t, tp));
    s.kind = ContainerState::Kind::kTerminated;
    KEDGE_RETURN_IF_ERROR(read(*to, "exitCode", tp, s.exit_code));
    KEDGE_RETURN_IF_ERROR(read(*to, "signal", tp, s.signal));
    KEDGE_RETURN_IF_ERROR(read(*to, "reason", tp, s.reason));
    KEDGE_RETURN_IF_ERROR(read(*to, "message", tp, s.message));
    KEDGE_RETURN_IF_ERROR(read(*to, "startedAt", tp, s.started_at));
    KEDGE_RETURN_IF_ERROR(read(*to, "finishedAt", tp, s.finished_at));
    KEDGE_RETURN_IF_ERROR(read(*to, "containerID", tp, s.container_id));
  }
  return s;
}

Result<ContainerStatus> container_status(const json::value& v, const std::string& path) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, path));
  ContainerStatus s;
  if (o == nullptr) return s;
  KEDGE_RETURN_IF_ERROR(read(*o, "name", path, s.name));
  KEDGE_ASSIGN_OR_RETURN(s.state, container_state(*o, "state", path));
  KEDGE_ASSIGN_OR_RETURN(s.last_state, container_state(*o, "lastState", path));
  KEDGE_RETURN_IF_ERROR(read(*o, "ready", path, s.ready));
  KEDGE_RETURN_IF_ERROR(read(*o, "restartCount", path, s.restart_count));
  KEDGE_RETURN_IF_ERROR(read(*o, "image", path, s.image));
  KEDGE_RETURN_IF_ERROR(read(*o, "imageID", path, s.image_id));
  KEDGE_RETURN_IF_ERROR(read(*o, "containerID", path, s.container_id));
  KEDGE_RETURN_IF_ERROR(read(*o, "started", path, s.started));
  return s;
}

Status pod_spec(const json::object& o, const std::string& path, PodSpec& s) {
  KEDGE_RETURN_IF_ERROR(read_list(o, "initContainers", path, s.init_containers, container));
  KEDGE_RETURN_IF_ERROR(read_list(o, "containers", path, s.containers, container));
  KEDGE_RETURN_IF_ERROR(read_list(o, "volumes", path, s.volumes, volume));
  KEDGE_RETURN_IF_ERROR(read(o, "restartPolicy", path, s.restart_policy));
  KEDGE_RETURN_IF_ERROR(read(o, "terminationGracePeriodSeconds", path, s.termination_grace_period_seconds));
  KEDGE_RETURN_IF_ERROR(read(o, "activeDeadlineSeconds", path, s.active_deadline_seconds));
  KEDGE_RETURN_IF_ERROR(read(o, "dnsPolicy", path, s.dns_policy));
  read_raw(o, "dnsConfig", s.dns_config);
  KEDGE_RETURN_IF_ERROR(read(o, "nodeSelector", path, s.node_selector));
  KEDGE_RETURN_IF_ERROR(read(o, "serviceAccountName", path, s.service_account_name));
  KEDGE_RETURN_IF_ERROR(read(o, "automountServiceAccountToken", path, s.automount_service_account_token));
  KEDGE_RETURN_IF_ERROR(read(o, "nodeName", path, s.node_name));
  KEDGE_RETURN_IF_ERROR(read(o, "hostNetwork", path, s.host_network));
  KEDGE_RETURN_IF_ERROR(read(o, "hostPID", path, s.host_pid));
  KEDGE_RETURN_IF_ERROR(read(o, "hostIPC", path, s.host_ipc));
  KEDGE_RETURN_IF_ERROR(read(o, "hostname", path, s.hostname));
  KEDGE_RETURN_IF_ERROR(read(o, "subdomain", path, s.subdomain));
  read_raw(o, "affinity", s.affinity);
  read_raw(o, "securityContext", s.security_context);
  KEDGE_RETURN_IF_ERROR(read(o, "schedulerName", path, s.scheduler_name));
  KEDGE_RETURN_IF_ERROR(read_list(o, "tolerations", path, s.tolerations, toleration));
  std::vector<std::string> secrets;
  KEDGE_RETURN_IF_ERROR(read_list(o, "imagePullSecrets", path, secrets, named_ref));
  s.image_pull_secrets = std::move(secrets);
  if (member(o, "priority") != nullptr) {
    std::int32_t prio = 0;
    KEDGE_RETURN_IF_ERROR(read(o, "priority", path, prio));
    s.priority = prio;
  }
  KEDGE_RETURN_IF_ERROR(read(o, "priorityClassName", path, s.priority_class_name));
  KEDGE_RETURN_IF_ERROR(read(o, "runtimeClassName", path, s.runtime_class_name));
  read_raw(o, "hostAliases", s.host_aliases);
  KEDGE_RETURN_IF_ERROR(read(o, "enableServiceLinks", path, s.enable_service_links));
  return {};
}

Status pod_status(const json::object& o, const std::string& path, PodStatus& s) {
  KEDGE_RETURN_IF_ERROR(read(o, "phase", path, s.phase));
  KEDGE_RETURN_IF_ERROR(read_list(o, "conditions", path, s.conditions, condition));
  KEDGE_RETURN_IF_ERROR(read(o, "message", path, s.message));
  KEDGE_RETURN_IF_ERROR(read(o, "reason", path, s.reason));
  KEDGE_RETURN_IF_ERROR(read(o, "nominatedNodeName", path, s.nominated_node_name));
  KEDGE_RETURN_IF_ERROR(read(o, "hostIP", path, s.host_ip));
  KEDGE_RETURN_IF_ERROR(read(o, "podIP", path, s.pod_ip));
  KEDGE_RETURN_IF_ERROR(read_list(o, "podIPs", path, s.pod_ips, ip_entry));
  KEDGE_RETURN_IF_ERROR(read(o, "startTime", path, s.start_time));
  KEDGE_RETURN_IF_ERROR(read_list(o, "initContainerStatuses", path, s.init_container_statuses, container_status));
  KEDGE_RETURN_IF_ERROR(read_list(o, "containerStatuses", path, s.container_statuses, container_status));
  KEDGE_RETURN_IF_ERROR(read(o, "qosClass", path, s.qos_class));
  return {};
}

}  // namespace

Result<Pod> Pod::from_json(const json::value& v) {
  KEDGE_ASSIGN_OR_RETURN(const json::object* o, as_object(v, ""));
  if (o == nullptr) return invalid_argument("pod: expected an object, got null");
  Pod pod;
  if (const json::value* m = member(*o, "metadata")) {
    KEDGE_ASSIGN_OR_RETURN(pod.metadata, ObjectMeta::from_json(*m));
  }
  if (const json::value* s = member(*o, "spec")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*s, "spec"));
    KEDGE_RETURN_IF_ERROR(pod_spec(*so, "spec", pod.spec));
  }
  if (const json::value* s = member(*o, "status")) {
    KEDGE_ASSIGN_OR_RETURN(const json::object* so, as_object(*s, "status"));
    KEDGE_RETURN_IF_ERROR(pod_status(*so, "status", pod.status));
  }
  return pod;
}

bool Toleration::tolerates(const Taint& taint) const {
  if (!effect.empty() && effect != taint.effect) return false;
  if (!key.empty() && key != taint.key) return false;
  // An empty key with operator Exists matches every taint.
  if (op == "Exists") return true;
  if (op == "Equal" || op.empty()) return value == taint.value;
  return false;
}

json::value Taint::to_json() const {
  json::object o{{"key", key}, {"effect", effect}};
  if (!value.empty()) o["value"] = value;
  if (!time_added.empty()) o["timeAdded"] = time_added;
  return o;
}

json::value ContainerState::to_json() const {
  json::object o;
  switch (kind) {
    case Kind::kNone:
      break;
    case Kind::kWaiting: {
      json::object w;
      if (!reason.empty()) w["reason"] = reason;
      if (!message.empty()) w["message"] = message;
      o["waiting"] = std::move(w);
      break;
    }
    case Kind::kRunning:
      o["running"] = json::object{{"startedAt", started_at}};
      break;
    case Kind::kTerminated: {
      json::object t{{"exitCode", exit_code}};
      if (signal != 0) t["signal"] = signal;
      if (!reason.empty()) t["reason"] = reason;
      if (!message.empty()) t["message"] = message;
      t["startedAt"] = started_at.empty() ? json::value(nullptr) : json::value(started_at);
      t["finishedAt"] = finished_at.empty() ? json::value(nullptr) : json::value(finished_at);
      if (!container_id.empty()) t["containerID"] = container_id;
      o["terminated"] = std::move(t);
      break;
    }
  }
  return o;
}

json::value ContainerStatus::to_json() const {
  json::object o{{"name", name}, {"state", state.to_json()}, {"lastState", last_state.to_json()},
                 {"ready", ready}, {"restartCount", restart_count}, {"image", image}, {"imageID", image_id}};
  if (!container_id.empty()) o["containerID"] = container_id;
  if (started) o["started"] = *started;
  return o;
}

json::value PodStatus::to_json() const {
  json::object o;
  if (!phase.empty()) o["phase"] = phase;
  if (!conditions.empty()) {
    json::array a;
    for (const auto& c : conditions) a.push_back(c.to_json());
    o["conditions"] = std::move(a);
  }
  if (!message.empty()) o["message"] = message;
  if (!reason.empty()) o["reason"] = reason;
  if (!nominated_node_name.empty()) o["nominatedNodeName"] = nominated_node_name;
  if (!host_ip.empty()) {
    o["hostIP"] = host_ip;
    o["hostIPs"] = json::array{json::object{{"ip", host_ip}}};
  }
  if (!pod_ip.empty()) o["podIP"] = pod_ip;
  if (!pod_ips.empty()) {
    json::array a;
    for (const auto& ip : pod_ips) a.push_back(json::object{{"ip", ip}});
    o["podIPs"] = std::move(a);
  }
  if (!start_time.empty()) o["startTime"] = start_time;
  auto statuses = [](const std::vector<ContainerStatus>& list) {
    json::array a;
    for (const auto& s : list) a.push_back(s.to_json());
    return a;
  };
  if (!init_container_statuses.empty()) o["initContainerStatuses"] = statuses(init_container_statuses);
  if (!container_statuses.empty()) o["containerStatuses"] = statuses(container_statuses);
  if (!qos_class.empty()) o["qosClass"] = qos_class;
  return o;
}

std::string pod_qos_class(const PodSpec& spec) {
  // upstream (pkg/apis/core/v1/helper/qos): only cpu and memory count; a
  // limit without a request implies request = limit.
  bool any = false;
  bool guaranteed = true;
  auto visit = [&](const Container& c) {
    for (const char* r : {"cpu", "memory"}) {
      auto req = c.resources.requests.find(r);
      auto lim = c.resources.limits.find(r);
      const bool has_req = req != c.resources.requests.end() && !req->second.is_zero();
      const bool has_lim = lim != c.resources.limits.end() && !lim->second.is_zero();
      if (has_req || has_lim) any = true;
      if (!has_lim) {
        guaranteed = false;
      } else if (has_req && req->second != lim->second) {
        guaranteed = false;
      }
    }
  };
  for (const auto& c : spec.init_containers) visit(c);
  for (const auto& c : spec.containers) visit(c);
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

}  // namespace kedge::api

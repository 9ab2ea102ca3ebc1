#include "pod_sync.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include <boost/json.hpp>

#include "api_util.h"
#include "hooks.h"
#include "kedge/base/log.h"
#include "probes.h"
#include "timed_runtime.h"

namespace kedge::agent::detail {

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

namespace {

// What one container name has in the runtime: the newest instance and the
// one before it (for lastState).
struct Instances {
  std::optional<cri::ContainerStatus> current;
  std::optional<cri::ContainerStatus> previous;
};

// Per container, what the kubelet remembers between syncs.
struct ContainerMemory {
  std::chrono::milliseconds backoff{0};
  std::string waiting_reason;  // why it could not be started (ErrImagePull ...)
  std::string waiting_message;
  std::string probed_id;  // the instance the probe states below belong to
  ProbeState readiness, liveness, startup;
};

// A postStart hook may run this long before the container counts as failed
// (upstream has no bound; a hook that never returns would hold a pod worker).
constexpr seconds kPostStartTimeout{120};
// Upstream's minimumGracePeriodInSeconds: what SIGTERM still gets after a
// preStop hook used up the grace period.
constexpr std::int64_t kMinimumGraceSeconds = 2;

const api::Container* container_spec(const api::Pod& pod, const std::string& name) {
  for (const auto* list : {&pod.spec.containers, &pod.spec.init_containers}) {
    for (const auto& c : *list) {
      if (c.name == name) return &c;
    }
  }
  return nullptr;
}

bool restartable(const std::string& policy, std::int32_t exit_code) {
  return policy == "Always" || (policy == "OnFailure" && exit_code != 0);
}

Clock::time_point steady_from_nanos(std::int64_t nanos) {
  const auto wall = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(nanos)));
  return Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::system_clock::now() - wall);
}

std::string default_pull_policy(const api::Container& c) {
  if (!c.image_pull_policy.empty()) return c.image_pull_policy;
  const auto slash = c.image.rfind('/');
  const auto colon = c.image.rfind(':');
  const bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (c.image.find('@') != std::string::npos) return "IfNotPresent";
  return !tagged || c.image.substr(colon + 1) == "latest" ? "Always" : "IfNotPresent";
}

api::ContainerState terminated_state(const cri::ContainerStatus& s, const std::string& scheme) {
  api::ContainerState t;
  t.kind = api::ContainerState::Kind::kTerminated;
  t.exit_code = s.exit_code;
  t.reason = !s.reason.empty() ? s.reason : (s.exit_code == 0 ? "Completed" : "Error");
  t.message = s.message;
  t.started_at = rfc3339_from_nanos(s.started_at);
  t.finished_at = rfc3339_from_nanos(s.finished_at);
  t.container_id = scheme + "://" + s.id;
  return t;
}

}  // namespace

struct PodSyncer::PodState : PodRuntimeState {
  std::map<std::string, ContainerMemory> containers;
  std::string start_time;
  std::string terminal_phase;  // Succeeded/Failed once reached: never left
  bool sandbox_stopped = false;
  bool seen_sandbox = false;  // false until a sync found or made the sandbox
  // Start latency: from the first sync to the first Running status, and the
  // part of it spent inside runtime calls (TimedRuntime).
  Clock::time_point first_sync{};
  std::chrono::nanoseconds in_runtime{0};
  bool start_reported = false;
  bool qos_reported = false;  // its CPU requests are counted in the QoS cgroups
};

struct PodSyncer::StatusInputs {
  std::map<std::string, Instances>& have;
  bool initialized = true;
  bool init_failed = false;
  const std::vector<std::string>& uninitialized;
  const std::string& sandbox_id;
  const std::string& pod_ip;
  const std::string& pod_message;
  const std::string& pod_waiting_reason;
};

SyncResult PodSyncer::sync(SyncRequest& request) {
  auto logger = log::logger("kubelet");
  std::optional<api::Pod> pod;
  if (request.pod) {
    auto decoded = api::Pod::from_json(*request.pod);
    if (!decoded.ok()) {
      logger->error("pod uid {}: cannot decode: {}", request.uid, decoded.status().to_string());
      if (!request.deleted) return {.phase = request.phase};
    } else {
      pod = std::move(decoded).value();
    }
  }
  if (request.deleted || !pod || pod->metadata.deletion_timestamp) {
    if (request.phase == WorkerPhase::kTerminated && !request.deleted) return {.phase = WorkerPhase::kTerminated};
    return terminate(request.uid, pod ? &*pod : nullptr, request.deleted);
  }
  if (!request.state) request.state = std::make_unique<PodState>();
  return sync_running(*pod, *request.pod, static_cast<PodState&>(*request.state));
}

SyncResult PodSyncer::terminate(const std::string& uid, const api::Pod* pod, bool deleted) {
  auto logger = log::logger("kubelet");
  // Grace: what the deletion asked for; a pod that vanished without one
  // (force delete, orphan) gets upstream's minimum of 2 s.
  std::int64_t grace = 2;
  if (pod && pod->metadata.deletion_grace_period_seconds) grace = *pod->metadata.deletion_grace_period_seconds;
  const std::string who = pod ? pod->metadata.namespace_ + "/" + pod->metadata.name : "uid " + uid;
  const cri::StringMap selector{{kPodUidLabel, uid}};
  auto containers = runtime_.list_containers({.label_selector = selector});
  if (!containers.ok()) {
    logger->warn("terminating pod {}: {}", who, containers.status().to_string());
    return {.phase = WorkerPhase::kTerminating, .requeue_at = Clock::now() + seconds(1)};
  }
  // Containers stop in parallel, each with the whole grace period, as upstream.
  std::vector<std::future<Status>> stops;
  for (const auto& c : *containers) {
    if (c.state != cri::ContainerState::kRunning) continue;
    if (pod) events_.event(*pod, "spec.containers{" + c.metadata.name + "}", "Normal", "Killing",
                           "Stopping container " + c.metadata.name);
    stops.push_back(std::async(std::launch::async, [this, pod, id = c.id, name = c.metadata.name,
                                                    sandbox = c.pod_sandbox_id, grace] {
      return stop_container(pod, name, id, sandbox, grace);
    }));
  }
  bool failed = false;
  for (auto& f : stops) {
    if (Status st = f.get(); !st.ok()) {
      logger->warn("terminating pod {}: {}", who, st.to_string());
      failed = true;
    }
  }
  for (const auto& c : *containers) {
    if (Status st = runtime_.remove_container(c.id); !st.ok()) failed = true;
  }
  auto sandboxes = runtime_.list_pod_sandboxes({.label_selector = selector});
  if (sandboxes.ok()) {
    for (const auto& sb : *sandboxes) {
      if (!runtime_.stop_pod_sandbox(sb.id).ok() || !runtime_.remove_pod_sandbox(sb.id).ok()) failed = true;
    }
  } else {
    failed = true;
  }
  if (failed) return {.phase = WorkerPhase::kTerminating, .requeue_at = Clock::now() + seconds(2)};
  volumes_.cleanup(uid);
  if (s_.qos != nullptr) {
    if (Status q = s_.qos->forget_pod(uid); !q.ok()) logger->warn("pod {}: QoS cgroups: {}", who, q.to_string());
  }
  if (pod) {
    // runc creates the pod cgroup's parents but never removes them.
    const std::string cgroup = pod_cgroup_parent(s_.sandbox, *pod);
    std::error_code ec;
    for (const auto& controller : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      ::rmdir((controller.path() / cgroup.substr(1)).c_str());
    }
  }
  logger->info("pod {} terminated: containers and sandbox removed", who);
  if (!deleted && pod) {
    // Confirm to the API that the pod is gone from the node.
    json::value options = json::object{{"apiVersion", "v1"},
                                       {"kind", "DeleteOptions"},
                                       {"gracePeriodSeconds", 0},
                                       {"preconditions", json::object{{"uid", uid}}}};
    auto gone = api_.send("DELETE", pod_path(pod->metadata.namespace_, pod->metadata.name), options);
    if (!gone.ok() && gone.status().code() != Code::kNotFound) {
      logger->warn("deleting pod {}: {}", who, gone.status().to_string());
      return {.phase = WorkerPhase::kTerminating, .requeue_at = Clock::now() + seconds(2)};
    }
    return {.phase = WorkerPhase::kTerminated};
  }
  statuses_.forget(uid);
  return {.phase = WorkerPhase::kTerminated, .forget = true};
}

Status PodSyncer::stop_container(const api::Pod* pod, const std::string& name, const std::string& id,
                                 const std::string& sandbox_id, std::int64_t grace) {
  grace = std::max<std::int64_t>(grace, 0);
  const api::Container* spec = pod ? container_spec(*pod, name) : nullptr;
  if (spec && has_hook(*spec, HookKind::kPreStop) && grace > 0) {
    // preStop runs inside the grace period; SIGTERM gets what is left (at
    // least 2 s), as upstream's killContainer.
    std::string pod_ip = pod->spec.host_network && !s_.node_ips.empty() ? s_.node_ips.front() : "";
    if (pod_ip.empty()) {
      if (auto sst = runtime_.pod_sandbox_status(sandbox_id); sst.ok()) pod_ip = sst->ip;
    }
    const auto start = Clock::now();
    const ProbeOutcome hook = run_hook(HookKind::kPreStop, *spec, id, pod_ip, runtime_, seconds(grace));
    if (!hook.success) {
      log::logger("kubelet")->warn("pod {}/{} container {}: preStop hook failed: {}", pod->metadata.namespace_,
                                   pod->metadata.name, name, hook.message);
      events_.event(*pod, "spec.containers{" + name + "}", "Warning", "FailedPreStopHook",
                    "PreStopHook failed: " + hook.message);
    }
    const auto used = std::chrono::duration_cast<seconds>(Clock::now() - start).count();
    grace = std::max(grace - used, kMinimumGraceSeconds);
  }
  return runtime_.stop_container(id, seconds(grace));
}

SyncResult PodSyncer::sync_running(const api::Pod& pod, const json::value& raw, PodState& st) {
  auto logger = log::logger("kubelet");
  const auto now = Clock::now();
  Clock::time_point requeue = now + s_.resync_interval;
  auto want_at = [&](Clock::time_point t) { requeue = std::min(requeue, std::max(t, now)); };
  const std::string& uid = pod.metadata.uid;
  const std::string who = pod.metadata.namespace_ + "/" + pod.metadata.name;
  const cri::StringMap selector{{kPodUidLabel, uid}};
  (void)TimedRuntime::take();
  if (st.first_sync == Clock::time_point{}) st.first_sync = now;
  if (st.start_time.empty()) {
    if (const auto* status = raw.as_object().if_contains("status"); status && status->is_object()) {
      if (const auto* t = status->as_object().if_contains("startTime"); t && t->is_string()) st.start_time = t->as_string().c_str();
    }
    if (st.start_time.empty()) st.start_time = rfc3339_now();
  }
  EnvContext env_ctx{.host_ips = s_.node_ips, .node_cpu_milli = s_.node_cpu_milli,
                     .node_memory_bytes = s_.node_memory_bytes};
  std::string pod_message;
  std::string pod_waiting_reason = "ContainerCreating";

  // ---- volumes, then the sandbox
  auto volume_paths = volumes_.prepare(pod, env_ctx);
  std::string sandbox_id;
  cri::PodSandboxConfig sandbox_config;
  if (!volume_paths.ok()) {
    pod_message = volume_paths.status().message();
    events_.event(pod, "", "Warning", "FailedMount", pod_message);
    want_at(now + seconds(5));
  } else {
    auto sandboxes = runtime_.list_pod_sandboxes({.label_selector = selector});
    if (!sandboxes.ok()) {
      logger->warn("pod {}: {}", who, sandboxes.status().to_string());
      return {.requeue_at = now + seconds(2)};
    }
    const cri::PodSandbox* ready = nullptr;
    for (const auto& sb : *sandboxes) {
      if (sb.state == cri::SandboxState::kReady && (!ready || sb.created_at > ready->created_at)) ready = &sb;
    }
    auto config = make_sandbox_config(s_.sandbox, pod, static_cast<std::uint32_t>(sandboxes->size()));
    if (!config.ok()) {
      pod_message = config.status().message();
    } else if (ready) {
      if (!st.seen_sandbox) {
        logger->info("pod {}: adopted running sandbox {} (agent restart)", who, ready->id.substr(0, 12));
      }
      sandbox_id = ready->id;
      config->metadata.attempt = ready->metadata.attempt;
      sandbox_config = std::move(config).value();
    } else if (st.terminal_phase.empty()) {
      std::error_code ec;
      fs::create_directories(config->log_directory, ec);
      auto id = runtime_.run_pod_sandbox(*config);
      if (id.ok()) {
        sandbox_id = *id;
        sandbox_config = std::move(config).value();
      } else {
        pod_message = "Failed to create pod sandbox: " + id.status().message();
        events_.event(pod, "", "Warning", "FailedCreatePodSandBox", pod_message);
        want_at(now + seconds(5));
      }
    }
  }
  if (!sandbox_id.empty()) {
    st.seen_sandbox = true;
    if (s_.qos != nullptr && !st.qos_reported) {
      std::int64_t cpu_milli = 0;
      for (const auto& c : pod.spec.containers) {
        auto it = c.resources.requests.find("cpu");
        if (it != c.resources.requests.end()) cpu_milli += it->second.milli_value();
      }
      if (Status q = s_.qos->set_pod(uid, api::pod_qos_class(pod.spec), cpu_milli); q.ok()) {
        st.qos_reported = true;
      } else {
        logger->warn("pod {}: QoS cgroups: {}", who, q.to_string());
      }
    }
    if (auto sst = runtime_.pod_sandbox_status(sandbox_id); sst.ok()) env_ctx.pod_ip = sst->ip;
  }
  if (pod.spec.host_network && !s_.node_ips.empty()) env_ctx.pod_ip = s_.node_ips.front();

  // ---- what the runtime has, per container name
  // Containers of every sandbox the pod had: a finished pod's sandbox is
  // stopped, but its containers still report how they ended.
  std::map<std::string, Instances> have;
  {
    auto listed = runtime_.list_containers({.label_selector = selector});
    if (!listed.ok()) return {.requeue_at = now + seconds(2)};
    std::map<std::string, std::vector<const cri::Container*>> by_name;
    for (const auto& c : *listed) by_name[c.metadata.name].push_back(&c);
    for (auto& [name, list] : by_name) {
      std::sort(list.begin(), list.end(), [](const cri::Container* a, const cri::Container* b) {
        return std::tie(a->metadata.attempt, a->created_at) > std::tie(b->metadata.attempt, b->created_at);
      });
      if (auto s = runtime_.container_status(list[0]->id); s.ok()) have[name].current = *s;
      if (list.size() > 1) {
        if (auto s = runtime_.container_status(list[1]->id); s.ok()) have[name].previous = *s;
      }
      // Older instances than the previous one are garbage (upstream keeps one dead instance).
      for (std::size_t i = 2; i < list.size(); ++i) (void)runtime_.remove_container(list[i]->id);
    }
  }

  // Starts instance `attempt` of `c`; on failure records why in `mem`.
  auto start_new = [&](const api::Container& c, std::uint32_t attempt, const std::string& field) {
    ContainerMemory& mem = st.containers[c.name];
    auto fail = [&](const std::string& reason, const std::string& message) {
      mem.waiting_reason = reason;
      mem.waiting_message = message;
      events_.event(pod, field, "Warning", "Failed", message);  // upstream's event reason for all of these
      want_at(Clock::now() + std::max<std::chrono::milliseconds>(mem.backoff, seconds(5)));
    };
    const std::string policy = default_pull_policy(c);
    auto present = runtime_.image_status(c.image);
    const bool have_image = present.ok() && present->has_value();
    if (policy == "Never" && !have_image) {
      return fail("ErrImageNeverPull",
                  "Container image \"" + c.image + "\" is not present with pull policy of Never");
    }
    if (policy == "Always" || !have_image) {
      auto pulled = runtime_.pull_image(c.image, {}, &sandbox_config);
      if (pulled.ok()) {
        events_.event(pod, field, "Normal", "Pulled", "Successfully pulled image \"" + c.image + "\"");
      } else if (have_image) {
        // Airgap: with no registry reachable, the imported image is the image.
        logger->debug("pod {}: pulling {} failed ({}); using the image present on the node", who, c.image,
                      pulled.status().message());
        events_.event(pod, field, "Normal", "Pulled",
                      "Container image \"" + c.image + "\" already present on machine");
      } else {
        return fail("ErrImagePull", "Failed to pull image \"" + c.image + "\": " + pulled.status().message());
      }
    } else {
      events_.event(pod, field, "Normal", "Pulled", "Container image \"" + c.image + "\" already present on machine");
    }
    auto env = resolve_env(pod, c, env_ctx, objects_);
    if (!env.ok()) return fail("CreateContainerConfigError", env.status().message());
    auto config = make_container_config(pod, c, attempt, std::move(env).value(), *volume_paths, s_.node_memory_bytes);
    if (!config.ok()) return fail("CreateContainerConfigError", config.status().message());
    std::error_code ec;
    fs::create_directories(fs::path(sandbox_config.log_directory) / c.name, ec);
    auto id = runtime_.create_container(sandbox_id, *config, sandbox_config);
    if (!id.ok()) return fail("CreateContainerError", id.status().message());
    events_.event(pod, field, "Normal", "Created", "Created container " + c.name);
    if (Status started = runtime_.start_container(*id); !started.ok()) {
      return fail("RunContainerError", started.message());
    }
    events_.event(pod, field, "Normal", "Started", "Started container " + c.name);
    if (has_hook(c, HookKind::kPostStart)) {
      // The container is not running for the pod until its postStart hook
      // returned; a failing hook kills it, then the restart policy applies.
      const ProbeOutcome hook = run_hook(HookKind::kPostStart, c, *id, env_ctx.pod_ip, runtime_, kPostStartTimeout);
      if (!hook.success) {
        const std::string message = "PostStartHook failed: " + hook.message;
        logger->warn("pod {} container {}: {}", who, c.name, message);
        events_.event(pod, field, "Warning", "FailedPostStartHook", message);
        events_.event(pod, field, "Normal", "Killing", "FailedPostStartHook");
        (void)stop_container(&pod, c.name, *id, sandbox_id, pod.spec.termination_grace_period_seconds);
        want_at(Clock::now());
        return;
      }
    }
    mem.waiting_reason.clear();
    mem.waiting_message.clear();
    want_at(Clock::now());  // sync again at once to report it running
  };

  // Restarts an exited instance if its backoff allows; returns true if it
  // is waiting in CrashLoopBackOff.
  auto restart_or_wait = [&](const api::Container& c, const cri::ContainerStatus& cur, const std::string& field) {
    ContainerMemory& mem = st.containers[c.name];
    if (cur.finished_at > 0 && cur.started_at > 0 &&
        std::chrono::nanoseconds(cur.finished_at - cur.started_at) >= s_.backoff_reset) {
      mem.backoff = std::chrono::milliseconds(0);
    }
    const auto until = steady_from_nanos(cur.finished_at) + mem.backoff;
    if (mem.backoff.count() > 0 && Clock::now() < until) {
      mem.waiting_reason = "CrashLoopBackOff";
      mem.waiting_message = "back-off " + std::to_string(mem.backoff.count() / 1000) +
                            "s restarting failed container=" + c.name + " pod=" + pod.metadata.name + "_" +
                            pod.metadata.namespace_ + "(" + uid + ")";
      want_at(until);
      return true;
    }
    mem.backoff = mem.backoff.count() == 0 ? s_.backoff_initial : std::min(mem.backoff * 2, s_.backoff_max);
    if (cur.exit_code != 0) {
      events_.event(pod, field, "Warning", "BackOff", "Back-off restarting failed container " + c.name);
    }
    start_new(c, cur.metadata.attempt + 1, field);
    return false;
  };

  const bool can_run = !sandbox_id.empty() && volume_paths.ok() && st.terminal_phase.empty();
  // ---- init containers, in order
  bool initialized = true;
  bool init_failed = false;
  std::vector<std::string> uninitialized;
  for (std::size_t i = 0; i < pod.spec.init_containers.size(); ++i) {
    const auto& c = pod.spec.init_containers[i];
    const std::string field = "spec.initContainers{" + c.name + "}";
    auto& inst = have[c.name];
    if (inst.current && inst.current->state == cri::ContainerState::kExited && inst.current->exit_code == 0) continue;
    initialized = false;
    for (std::size_t j = i; j < pod.spec.init_containers.size(); ++j) uninitialized.push_back(pod.spec.init_containers[j].name);
    if (!can_run) break;
    if (!inst.current) {
      start_new(c, 0, field);
    } else if (inst.current->state == cri::ContainerState::kCreated) {
      (void)runtime_.start_container(inst.current->id);
    } else if (inst.current->state == cri::ContainerState::kExited) {
      if (pod.spec.restart_policy == "Never") {
        init_failed = true;
      } else {
        restart_or_wait(c, *inst.current, field);
      }
    }
    break;
  }

  // ---- containers
  if (initialized && can_run) {
    for (const auto& c : pod.spec.containers) {
      const std::string field = "spec.containers{" + c.name + "}";
      auto& inst = have[c.name];
      ContainerMemory& mem = st.containers[c.name];
      if (!inst.current) {
        start_new(c, 0, field);
        continue;
      }
      const auto& cur = *inst.current;
      if (cur.state == cri::ContainerState::kCreated) {
        (void)runtime_.start_container(cur.id);
        want_at(now + seconds(1));
      } else if (cur.state == cri::ContainerState::kExited) {
        if (restartable(pod.spec.restart_policy, cur.exit_code)) restart_or_wait(c, cur, field);
      } else if (cur.state == cri::ContainerState::kRunning) {
        if (mem.probed_id != cur.id) {
          mem.probed_id = cur.id;
          mem.readiness.reset();
          mem.liveness.reset();
          mem.startup.reset();
          mem.waiting_reason.clear();
        }
        // Probes: startup first; liveness and readiness only after it succeeded.
        auto due = [&](const api::Probe& p, ProbeState& ps) {
          if (ps.next_due == Clock::time_point{}) {
            ps.next_due = steady_from_nanos(cur.started_at) + seconds(p.initial_delay_seconds);
          }
          if (Clock::now() < ps.next_due) {
            want_at(ps.next_due);
            return false;
          }
          ps.next_due = Clock::now() + seconds(std::max(1, p.period_seconds));
          want_at(ps.next_due);
          return true;
        };
        bool started = true;
        if (c.startup_probe && !(mem.startup.have_result && mem.startup.result)) {
          started = false;
          if (due(*c.startup_probe, mem.startup)) {
            mem.startup.record(*c.startup_probe, run_probe(*c.startup_probe, c, cur.id, env_ctx.pod_ip, runtime_));
            started = mem.startup.have_result && mem.startup.result;
          }
        }
        bool kill = c.startup_probe && mem.startup.have_result && !mem.startup.result;
        if (started && c.liveness_probe && due(*c.liveness_probe, mem.liveness)) {
          mem.liveness.record(*c.liveness_probe, run_probe(*c.liveness_probe, c, cur.id, env_ctx.pod_ip, runtime_));
          kill = mem.liveness.have_result && !mem.liveness.result;
        }
        if (started && c.readiness_probe && due(*c.readiness_probe, mem.readiness)) {
          const bool changed = mem.readiness.record(
              *c.readiness_probe, run_probe(*c.readiness_probe, c, cur.id, env_ctx.pod_ip, runtime_));
          if (changed) {
            logger->info("pod {} container {}: readiness probe {}{}", who, c.name,
                         mem.readiness.result ? "succeeded" : "failed: ", mem.readiness.last_message);
          }
          if (changed && !mem.readiness.result) {
            events_.event(pod, field, "Warning", "Unhealthy", "Readiness probe failed: " + mem.readiness.last_message);
          }
        }
        if (kill) {
          const std::string which = mem.liveness.have_result && !mem.liveness.result ? "Liveness" : "Startup";
          const std::string msg = (which == "Liveness" ? mem.liveness : mem.startup).last_message;
          events_.event(pod, field, "Warning", "Unhealthy", which + " probe failed: " + msg);
          events_.event(pod, field, "Normal", "Killing",
                        "Container " + c.name + " failed " + (which == "Liveness" ? "liveness" : "startup") +
                            " probe, will be restarted");
          const api::Probe& failed = which == "Liveness" ? *c.liveness_probe : *c.startup_probe;
          (void)stop_container(&pod, c.name, cur.id, sandbox_id,
                               failed.termination_grace_period_seconds.value_or(
                                   pod.spec.termination_grace_period_seconds));
          mem.probed_id.clear();
          want_at(now);
        }
      }
    }
  }

  const bool terminal = publish_status(pod, raw, st,
                                       {.have = have, .initialized = initialized, .init_failed = init_failed,
                                        .uninitialized = uninitialized, .sandbox_id = sandbox_id,
                                        .pod_ip = env_ctx.pod_ip, .pod_message = pod_message,
                                        .pod_waiting_reason = pod_waiting_reason});
  if (terminal) return {.phase = WorkerPhase::kSyncing};  // nothing left to drive until deletion
  return {.phase = WorkerPhase::kSyncing, .requeue_at = requeue};
}


// The pod's status as upstream computes it, handed to the status manager.
// Returns whether the pod reached a terminal phase.
bool PodSyncer::publish_status(const api::Pod& pod, const json::value& raw, PodState& st, const StatusInputs& in) {
  auto logger = log::logger("kubelet");
  const std::string& uid = pod.metadata.uid;
  const std::string who = pod.metadata.namespace_ + "/" + pod.metadata.name;
  auto& have = in.have;
  const bool initialized = in.initialized;
  const bool init_failed = in.init_failed;
  const auto& uninitialized = in.uninitialized;
  const std::string& sandbox_id = in.sandbox_id;
  const std::string& pod_message = in.pod_message;
  const std::string& pod_waiting_reason = in.pod_waiting_reason;
  // ---- status as upstream reports it
  const std::string scheme = s_.runtime_name;
  int running = 0, waiting = 0, stopped = 0, succeeded = 0;
  std::vector<std::string> unready;
  json::array statuses;
  for (const auto& c : pod.spec.containers) {
    api::ContainerStatus cs;
    cs.name = c.name;
    cs.image = c.image;
    const auto& inst = have[c.name];
    ContainerMemory& mem = st.containers[c.name];
    if (inst.previous && inst.previous->state == cri::ContainerState::kExited) {
      cs.last_state = terminated_state(*inst.previous, scheme);
    }
    if (!inst.current) {
      cs.state.kind = api::ContainerState::Kind::kWaiting;
      cs.state.reason = !mem.waiting_reason.empty() ? mem.waiting_reason : (initialized ? pod_waiting_reason : "PodInitializing");
      cs.state.message = mem.waiting_message;
      cs.started = false;
      ++waiting;
    } else {
      const auto& cur = *inst.current;
      cs.restart_count = static_cast<std::int32_t>(cur.metadata.attempt);
      cs.image_id = cur.image_ref;
      cs.container_id = scheme + "://" + cur.id;
      if (cur.state == cri::ContainerState::kRunning) {
        cs.state.kind = api::ContainerState::Kind::kRunning;
        cs.state.started_at = rfc3339_from_nanos(cur.started_at);
        const bool started = !c.startup_probe || (mem.startup.have_result && mem.startup.result);
        cs.started = started;
        cs.ready = started && (!c.readiness_probe || (mem.readiness.have_result && mem.readiness.result));
        ++running;
      } else if (cur.state == cri::ContainerState::kExited) {
        cs.started = false;
        if (restartable(pod.spec.restart_policy, cur.exit_code) && st.terminal_phase.empty()) {
          cs.last_state = terminated_state(cur, scheme);
          cs.state.kind = api::ContainerState::Kind::kWaiting;
          cs.state.reason = mem.waiting_reason.empty() ? "ContainerCreating" : mem.waiting_reason;
          cs.state.message = mem.waiting_message;
          ++stopped;  // upstream counts a waiting container with a lastState as stopped
        } else {
          cs.state = terminated_state(cur, scheme);
          ++stopped;
          if (cur.exit_code == 0) ++succeeded;
        }
      } else {
        cs.state.kind = api::ContainerState::Kind::kWaiting;
        cs.state.reason = "ContainerCreating";
        cs.started = false;
        ++waiting;
      }
    }
    if (!cs.ready) unready.push_back(c.name);
    statuses.push_back(cs.to_json());
  }
  json::array init_statuses;
  for (const auto& c : pod.spec.init_containers) {
    api::ContainerStatus cs;
    cs.name = c.name;
    cs.image = c.image;
    const auto& inst = have[c.name];
    const ContainerMemory& mem = st.containers[c.name];
    if (!inst.current) {
      cs.state.kind = api::ContainerState::Kind::kWaiting;
      cs.state.reason = mem.waiting_reason.empty() ? "PodInitializing" : mem.waiting_reason;
      cs.state.message = mem.waiting_message;
    } else {
      const auto& cur = *inst.current;
      cs.restart_count = static_cast<std::int32_t>(cur.metadata.attempt);
      cs.image_id = cur.image_ref;
      cs.container_id = scheme + "://" + cur.id;
      if (inst.previous) cs.last_state = terminated_state(*inst.previous, scheme);
      if (cur.state == cri::ContainerState::kRunning) {
        cs.state.kind = api::ContainerState::Kind::kRunning;
        cs.state.started_at = rfc3339_from_nanos(cur.started_at);
      } else if (cur.state == cri::ContainerState::kExited) {
        cs.state = terminated_state(cur, scheme);
        cs.ready = cur.exit_code == 0;
        if (!mem.waiting_reason.empty() && cur.exit_code != 0 && pod.spec.restart_policy != "Never") {
          cs.last_state = cs.state;
          cs.state = api::ContainerState{.kind = api::ContainerState::Kind::kWaiting, .reason = mem.waiting_reason,
                                         .message = mem.waiting_message};
        }
      } else {
        cs.state.kind = api::ContainerState::Kind::kWaiting;
        cs.state.reason = "PodInitializing";
      }
    }
    init_statuses.push_back(cs.to_json());
  }

  // Phase: upstream's getPhase.
  std::string phase;
  if (!st.terminal_phase.empty()) {
    phase = st.terminal_phase;
  } else if (init_failed) {
    phase = "Failed";
  } else if (!initialized) {
    phase = "Pending";
  } else if (waiting > 0) {
    phase = "Pending";
  } else if (running > 0) {
    phase = "Running";
  } else if (stopped > 0) {
    if (pod.spec.restart_policy == "Always") phase = "Running";
    else if (stopped == succeeded) phase = "Succeeded";
    else if (pod.spec.restart_policy == "Never") phase = "Failed";
    else phase = "Running";
  } else {
    phase = "Pending";
  }
  if (!st.start_reported) st.in_runtime += TimedRuntime::take();
  if (!st.start_reported && phase == "Running" && running == static_cast<int>(pod.spec.containers.size())) {
    st.start_reported = true;
    const double total = std::chrono::duration<double, std::milli>(Clock::now() - st.first_sync).count();
    const double cri = std::chrono::duration<double, std::milli>(st.in_runtime).count();
    logger->info("pod {} running: {:.1f} ms after its first sync, {:.1f} ms in runtime calls, {:.1f} ms kedge", who,
                 total, cri, total - cri);
  }
  if ((phase == "Succeeded" || phase == "Failed") && st.terminal_phase.empty()) {
    st.terminal_phase = phase;
    logger->info("pod {} {}", who, phase);
  }
  if (!st.terminal_phase.empty() && !st.sandbox_stopped && !sandbox_id.empty()) {
    // A finished pod keeps its containers (for logs) but not its sandbox.
    if (runtime_.stop_pod_sandbox(sandbox_id).ok()) st.sandbox_stopped = true;
  }

  // Conditions keep their lastTransitionTime while their status holds.
  std::map<std::string, std::pair<std::string, std::string>> previous;  // type → (status, time)
  if (const auto* status = raw.as_object().if_contains("status"); status && status->is_object()) {
    if (const auto* conds = status->as_object().if_contains("conditions"); conds && conds->is_array()) {
      for (const auto& c : conds->as_array()) {
        if (!c.is_object()) continue;
        auto field = [&](const char* k) {
          const auto* f = c.as_object().if_contains(k);
          return f && f->is_string() ? std::string(f->as_string()) : std::string();
        };
        previous[field("type")] = {field("status"), field("lastTransitionTime")};
      }
    }
  }
  const std::string now_text = rfc3339_now();
  json::array conditions;
  auto condition = [&](const std::string& type, bool ok, const std::string& reason, const std::string& message) {
    const std::string status = ok ? "True" : "False";
    std::string transition = now_text;
    if (auto it = previous.find(type); it != previous.end() && it->second.first == status && !it->second.second.empty()) {
      transition = it->second.second;
    }
    json::object c{{"type", type}, {"status", status}, {"lastProbeTime", nullptr}, {"lastTransitionTime", transition}};
    if (!reason.empty()) c["reason"] = reason;
    if (!message.empty()) c["message"] = message;
    conditions.push_back(std::move(c));
  };
  auto join = [](const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
    return "[" + out + "]";
  };
  const bool terminal = phase == "Succeeded" || phase == "Failed";
  const bool sandbox_ready = !sandbox_id.empty() && !st.sandbox_stopped;
  condition("PodReadyToStartContainers", sandbox_ready, "", "");
  if (!initialized && !terminal) {
    condition("Initialized", false, "ContainersNotInitialized", "containers with incomplete status: " + join(uninitialized));
  } else {
    condition("Initialized", true, terminal && phase == "Succeeded" ? "PodCompleted" : "", "");
  }
  const bool all_ready = unready.empty() && !terminal;
  const std::string unready_reason = terminal ? "PodCompleted" : "ContainersNotReady";
  const std::string unready_message = terminal ? "" : "containers with unready status: " + join(unready);
  condition("Ready", all_ready, all_ready ? "" : unready_reason, all_ready ? "" : unready_message);
  condition("ContainersReady", all_ready, all_ready ? "" : unready_reason, all_ready ? "" : unready_message);
  condition("PodScheduled", true, "", "");

  json::object status{{"phase", phase},
                      {"conditions", std::move(conditions)},
                      {"qosClass", api::pod_qos_class(pod.spec)},
                      {"startTime", st.start_time},
                      {"containerStatuses", std::move(statuses)}};
  if (!pod.spec.init_containers.empty()) status["initContainerStatuses"] = std::move(init_statuses);
  if (!s_.node_ips.empty()) {
    status["hostIP"] = s_.node_ips.front();
    json::array ips;
    for (const auto& ip : s_.node_ips) ips.push_back(json::object{{"ip", ip}});
    status["hostIPs"] = std::move(ips);
  }
  if (!in.pod_ip.empty()) {
    status["podIP"] = in.pod_ip;
    status["podIPs"] = json::array{json::object{{"ip", in.pod_ip}}};
  }
  if (!pod_message.empty() && phase == "Pending") status["message"] = pod_message;
  statuses_.set(uid, pod.metadata.namespace_, pod.metadata.name, std::move(status));
  return terminal;
}

}  // namespace kedge::agent::detail

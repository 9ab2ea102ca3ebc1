// Container lifecycle hooks (spec.containers[].lifecycle): postStart, run
// right after StartContainer, and preStop, run before the container is
// stopped. Handlers as upstream: exec (CRI ExecSync in the container),
// httpGet (to the pod IP unless `host` is set; 2xx/3xx succeed) and sleep
// (1.32's lifecycle.sleep). tcpSocket is accepted by the API for backward
// compatibility only and upstream's kubelet refuses it; so does kedge.
//
// Thread-safety: run_hook() is reentrant and blocks for at most `timeout`,
// so it runs on pod worker (or termination) threads only.
#pragma once

#include <chrono>
#include <string>

#include "kedge/api/types/pod.h"
#include "kedge/cri/runtime_client.h"
#include "probes.h"

namespace kedge::agent::detail {

enum class HookKind { kPostStart, kPreStop };

// Whether the container declares this hook.
bool has_hook(const api::Container& container, HookKind kind);

// Runs the container's hook of `kind` (success when it has none). `timeout`
// bounds exec and httpGet; a sleep longer than `timeout` is cut to it.
ProbeOutcome run_hook(HookKind kind, const api::Container& container, const std::string& container_id,
                      const std::string& pod_ip, cri::RuntimeClient& runtime, std::chrono::seconds timeout);

}  // namespace kedge::agent::detail

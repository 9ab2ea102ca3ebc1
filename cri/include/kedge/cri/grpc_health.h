// grpc.health.v1.Health/Check — the call behind a container's `grpc:` probe
// (upstream's kubelet dials the pod IP and asks for the probe's `service`).
// It lives in cri/ because it shares the CRI client's gRPC transport
// (HTTP/2 over libnghttp2, here plaintext h2c over TCP); the messages are two
// one-field protobufs, encoded by hand, so no generated code.
//
// Thread-safety: reentrant; each call opens its own connection and blocks the
// calling thread for at most `timeout` (plus name resolution of a host name).
// Never call it on an event loop.
#pragma once

#include <chrono>
#include <string>

#include "kedge/base/status.h"

namespace kedge::cri {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

std::string to_string(HealthStatus s);

// Asks `target` ("10.42.0.5:9000", "[fd00::5]:9000") over plaintext HTTP/2
// for the health of `service` ("" = the server as a whole). An RPC error
// (unreachable, deadline, UNIMPLEMENTED, NOT_FOUND for an unknown service)
// comes back as the Status, with the gRPC code and message.
Result<HealthStatus> check_grpc_health(const std::string& target, const std::string& service,
                                       std::chrono::milliseconds timeout);

}  // namespace kedge::cri

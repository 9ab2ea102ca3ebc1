#include "kedge/cri/grpc_health.h"

#include "grpc_channel.h"

namespace kedge::cri {

namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(const std::string& in, std::size_t& pos, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// HealthCheckRequest { string service = 1; }
std::string encode_request(const std::string& service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back(0x0a);
  put_varint(out, service.size());
  out += service;
  return out;
}

// HealthCheckResponse { ServingStatus status = 1; }; unknown fields skipped.
Result<HealthStatus> decode_response(const std::string& in) {
  std::uint64_t status = 0;
  for (std::size_t pos = 0; pos < in.size();) {
    std::uint64_t key = 0, value = 0;
    if (!get_varint(in, pos, key)) return data_loss("grpc health: truncated response");
    switch (key & 7) {
      case 0:
        if (!get_varint(in, pos, value)) return data_loss("grpc health: truncated response");
        if (key >> 3 == 1) status = value;
        break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2:
        if (!get_varint(in, pos, value) || value > in.size() - pos) return data_loss("grpc health: truncated response");
        pos += value;
        break;
      default:
        return data_loss("grpc health: malformed response");
    }
  }
  if (status > 3) return HealthStatus::kUnknown;
  return static_cast<HealthStatus>(status);
}

}  // namespace

std::string to_string(HealthStatus s) {
  switch (s) {
    case HealthStatus::kServing: return "SERVING";
    case HealthStatus::kNotServing: return "NOT_SERVING";
    case HealthStatus::kServiceUnknown: return "SERVICE_UNKNOWN";
    case HealthStatus::kUnknown: break;
  }
  return "UNKNOWN";
}

Result<HealthStatus> check_grpc_health(const std::string& target, const std::string& service,
                                       std::chrono::milliseconds timeout) {
  auto fail = [&target](const Status& s) {
    return Status(s.code(), "grpc health check of " + target + " failed: " + s.message());
  };
  // A probe is one call on its own connection: nothing kept between probes
  // (a pod's IP is reused by the next pod), no retries.
  auto channel = GrpcChannel::create({.target = target, .max_receive_bytes = 64 * 1024, .max_idle_connections = 0});
  if (!channel.ok()) return fail(channel.status());
  auto response = (*channel)->call(kCheckMethod, encode_request(service), timeout);
  if (!response.ok()) return fail(response.status());
  return decode_response(*response);
}

}  // namespace kedge::cri

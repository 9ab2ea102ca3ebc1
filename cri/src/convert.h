// Conversions between kedge::cri value types and the generated runtime.v1
// messages. Private to cri/: nothing outside this folder sees protobuf.
#pragma once

#include "kedge/cri/api.pb.h"
#include "kedge/cri/types.h"

namespace kedge::cri::convert {

namespace pb = ::runtime::v1;

void to_proto(const PodSandboxConfig& in, pb::PodSandboxConfig* out);
void to_proto(const ContainerConfig& in, pb::ContainerConfig* out);
void to_proto(const LinuxResources& in, pb::LinuxContainerResources* out);
void to_proto(const PodSandboxFilter& in, pb::PodSandboxFilter* out);
void to_proto(const ContainerFilter& in, pb::ContainerFilter* out);
void to_proto(const ContainerStatsFilter& in, pb::ContainerStatsFilter* out);
void to_proto(const AuthConfig& in, pb::AuthConfig* out);

VersionInfo from_proto(const pb::VersionResponse& in);
RuntimeStatus from_proto(const pb::StatusResponse& in);
PodSandbox from_proto(const pb::PodSandbox& in);
PodSandboxStatus from_proto(const pb::PodSandboxStatusResponse& in);
Container from_proto(const pb::Container& in);
ContainerStatus from_proto(const pb::ContainerStatusResponse& in);
ContainerStats from_proto(const pb::ContainerStats& in);
Image from_proto(const pb::Image& in);
FilesystemUsage from_proto(const pb::FilesystemUsage& in);

}  // namespace kedge::cri::convert

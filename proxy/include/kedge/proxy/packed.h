// Services and EndpointSlices packed into bytes, for the Proxier's
// long-lived state (proxier.h): a packed object is ~60-150 bytes where the
// struct (types.h) is a tree of a dozen small allocations, several times
// larger; a PackedMap (base/packed_map.h) keeps them in one block. At 10k
// services with 5 endpoints each the structs took ~17 MB of heap plus the
// fragmentation their many small blocks pinned, packed ~2 MB
// (bench/README.md, proxy).
// Objects are unpacked only when a sync builds their rules.
//
// Format: the fields in declaration order; integers as LEB128 varints
// (signed ones zigzag-encoded), strings and lists length-prefixed. Packed
// data never leaves the process, so there is no versioning.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "kedge/proxy/types.h"

namespace kedge::proxy::packed {

std::string pack(const Service& service);
std::string pack(const EndpointSlice& slice);
// REQUIRES: `data` came from pack() of the same type.
Service unpack_service(std::string_view data);
EndpointSlice unpack_slice(std::string_view data);
// "namespace/service-name" of a packed slice, without unpacking the rest.
std::string slice_service_key(std::string_view data);

}  // namespace kedge::proxy::packed

// kv row ids: revision in the high bits, change number in the low 20 (a
// single revision may change up to 1,048,576 keys). The kv table's rowid is
// this id, so the table is in revision (event) order.
#pragma once

#include <cstdint>

#include "kedge/store/types.h"

namespace kedge::store::mvcc {

inline constexpr int kChangeBits = 20;
inline constexpr std::int64_t kMaxChangesPerRevision = std::int64_t{1} << kChangeBits;
inline constexpr std::int64_t first_id(Revision revision) { return revision << kChangeBits; }
inline constexpr Revision revision_of(std::int64_t id) { return id >> kChangeBits; }

}  // namespace kedge::store::mvcc

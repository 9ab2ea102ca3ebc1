// Private: the one place the scheduler turns resource quantities into
// integers, through kedge::api's Quantity (upstream's resource.Quantity).
#pragma once

#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::scheduler {

// Quantity.MilliValue() (rounded up), for cpu.
Result<std::int64_t> quantity_milli_value(const boost::json::value& v, const std::string& field);
// Quantity.Value() (rounded up), for memory, storage and counts.
Result<std::int64_t> quantity_value(const boost::json::value& v, const std::string& field);

}  // namespace kedge::scheduler

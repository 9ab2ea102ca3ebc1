#include "quantity.h"

#include "kedge/api/quantity.h"

namespace kedge::scheduler {

namespace {

Result<api::Quantity> parse(const boost::json::value& v, const std::string& field) {
  auto q = api::Quantity::from_json(v);
  if (!q.ok()) return invalid_argument(field + ": " + q.status().message());
  if (q->sign() < 0) return invalid_argument(field + ": Invalid value: \"" + q->to_string() + "\": must be greater than or equal to 0");
  return q;
}

}  // namespace

Result<std::int64_t> quantity_milli_value(const boost::json::value& v, const std::string& field) {
  KEDGE_ASSIGN_OR_RETURN(auto q, parse(v, field));
  return q.milli_value();
}

Result<std::int64_t> quantity_value(const boost::json::value& v, const std::string& field) {
  KEDGE_ASSIGN_OR_RETURN(auto q, parse(v, field));
  return q.value();
}

}  // namespace kedge::scheduler

// List/watch filtering: label and field selectors compiled once per request.
// Parsing and matching of selectors are api/selectors.h's; this adapter adds
// the per-kind field lookup (strategy.h). Internal to edge-control.
#pragma once

#include <memory>
#include <string>

#include <boost/json.hpp>

#include "kedge/control/api_error.h"
#include "kedge/control/resources.h"

namespace kedge::control {

class Selection {
 public:
  // 400 BadRequest for a malformed selector or an unsupported field.
  static ApiResult<std::shared_ptr<const Selection>> compile(const ResourceInfo& info,
                                                             const std::string& label_selector,
                                                             const std::string& field_selector);
  ~Selection();
  bool matches(const boost::json::object& obj) const;
  bool empty() const;
  // metadata.name=<x> when the field selector pins one name (a point read).
  std::string single_name() const;

  struct Impl;

 private:
  explicit Selection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::control

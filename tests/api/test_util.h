// Helpers shared by the kedge::api tests.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

namespace kedge::api::testing {

inline boost::json::value J(std::string_view text) { return boost::json::parse(text); }
inline std::string S(const boost::json::value& v) { return boost::json::serialize(v); }

// Names a parameterized test after its table row's `name` member.
struct CaseName {
  template <typename P>
  std::string operator()(const ::testing::TestParamInfo<P>& row) const {
    return row.param.name;
  }
};

}  // namespace kedge::api::testing

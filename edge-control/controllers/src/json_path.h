// Reading nested fields of objects held as Boost.JSON values by path, for
// the workload and service controllers (DaemonSet, Job, CronJob,
// EndpointSlice, ServiceAccount). A missing or mistyped field reads as
// null / empty / the fallback; the controllers treat such objects as the API
// server would have defaulted them.
//
// Thread-safety: free functions over values; returned pointers and views
// borrow from the argument.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace kedge::controllers::path {

inline const boost::json::value* at(const boost::json::value& v, std::initializer_list<std::string_view> keys) {
  const boost::json::value* cur = &v;
  for (auto key : keys) {
    const auto* obj = cur->if_object();
    if (!obj) return nullptr;
    auto it = obj->find(key);
    if (it == obj->end()) return nullptr;
    cur = &it->value();
  }
  return cur;
}

inline const boost::json::object* object_at(const boost::json::value& v,
                                            std::initializer_list<std::string_view> keys) {
  const auto* p = at(v, keys);
  return p ? p->if_object() : nullptr;
}

inline const boost::json::array* array_at(const boost::json::value& v,
                                          std::initializer_list<std::string_view> keys) {
  const auto* p = at(v, keys);
  return p ? p->if_array() : nullptr;
}

inline std::string_view str_at(const boost::json::value& v, std::initializer_list<std::string_view> keys) {
  const auto* p = at(v, keys);
  if (!p) return {};
  if (const auto* s = p->if_string()) return *s;
  return {};
}

inline std::optional<std::int64_t> opt_int_at(const boost::json::value& v,
                                              std::initializer_list<std::string_view> keys) {
  const auto* p = at(v, keys);
  if (!p) return std::nullopt;
  if (const auto* i = p->if_int64()) return *i;
  if (const auto* u = p->if_uint64()) return static_cast<std::int64_t>(*u);
  if (const auto* d = p->if_double()) return static_cast<std::int64_t>(*d);
  return std::nullopt;
}

inline std::int64_t int_at(const boost::json::value& v, std::initializer_list<std::string_view> keys,
                           std::int64_t fallback) {
  return opt_int_at(v, keys).value_or(fallback);
}

inline bool bool_at(const boost::json::value& v, std::initializer_list<std::string_view> keys, bool fallback) {
  const auto* p = at(v, keys);
  if (!p) return fallback;
  if (const auto* b = p->if_bool()) return *b;
  return fallback;
}

}  // namespace kedge::controllers::path

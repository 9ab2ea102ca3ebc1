// Internal: field readers shared by the typed decoders. Each reads one member
// of a JSON object into a typed out-parameter, treating missing and null as
// "leave the default", and reports a wrong type with the field's path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/api/types/common.h"

namespace kedge::api::decode {

namespace json = boost::json;

inline std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string index(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

Status type_error(const std::string& path, std::string_view want, const json::value& got);

// `v` as an object; nullptr for null. Error for other kinds.
Result<const json::object*> as_object(const json::value& v, const std::string& path);
// Member `key` of `o` or nullptr when missing or null.
const json::value* member(const json::object& o, std::string_view key);

Status read(const json::object& o, std::string_view key, const std::string& path, std::string& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::int64_t& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::int32_t& out);
Status read(const json::object& o, std::string_view key, const std::string& path, bool& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<std::int64_t>& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<bool>& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<std::string>& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::vector<std::string>& out);
Status read(const json::object& o, std::string_view key, const std::string& path,
            std::map<std::string, std::string>& out);
Status read(const json::object& o, std::string_view key, const std::string& path, ResourceList& out);
Status read(const json::object& o, std::string_view key, const std::string& path, IntOrString& out);
Status read(const json::object& o, std::string_view key, const std::string& path, std::optional<IntOrString>& out);
// Raw copy (null when missing).
void read_raw(const json::object& o, std::string_view key, json::value& out);

// A list of objects decoded element by element with `parse(elem, elem_path)`.
template <typename T, typename F>
Status read_list(const json::object& o, std::string_view key, const std::string& path, std::vector<T>& out, F parse) {
  const json::value* v = member(o, key);
  if (v == nullptr) return {};
  const std::string p = child(path, key);
  if (!v->is_array()) return type_error(p, "a list", *v);
  out.clear();
  const json::array& a = v->get_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    KEDGE_ASSIGN_OR_RETURN(T item, parse(a[i], index(p, i)));
    out.push_back(std::move(item));
  }
  return {};
}

Result<Condition> condition(const json::value& v, const std::string& path);

}  // namespace kedge::api::decode

#include "kedge/api/json_util.h"

#include <cmath>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace kedge::api {

namespace json = boost::json;

namespace {

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

bool numbers_equal(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) {
    return a.to_number<double>() == b.to_number<double>();
  }
  if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
  // One signed, one unsigned: equal only when the signed one is non-negative.
  const std::int64_t s = a.is_int64() ? a.get_int64() : b.get_int64();
  const std::uint64_t u = a.is_uint64() ? a.get_uint64() : b.get_uint64();
  return s >= 0 && static_cast<std::uint64_t>(s) == u;
}

}  // namespace

bool json_equal(const json::value& a, const json::value& b) {
  if (is_number(a) && is_number(b)) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case json::kind::object: {
      const auto& oa = a.get_object();
      const auto& ob = b.get_object();
      if (oa.size() != ob.size()) return false;
      for (const auto& kv : oa) {
        const json::value* other = ob.if_contains(kv.key());
        if (other == nullptr || !json_equal(kv.value(), *other)) return false;
      }
      return true;
    }
    case json::kind::array: {
      const auto& aa = a.get_array();
      const auto& ab = b.get_array();
      if (aa.size() != ab.size()) return false;
      for (std::size_t i = 0; i < aa.size(); ++i) {
        if (!json_equal(aa[i], ab[i])) return false;
      }
      return true;
    }
    default:
      return a == b;
  }
}

Result<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 10000;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return invalid_argument("invalid JSON: " + ec.message());
  return v;
}

Result<std::vector<std::string>> parse_json_pointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') {
    return invalid_argument("JSON pointer must be empty or start with a \"/\": \"" +
                            std::string(pointer) + "\"");
  }
  std::string cur;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    char c = pointer[i];
    if (c == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        return invalid_argument("invalid escape in JSON pointer \"" + std::string(pointer) +
                                "\": '~' must be followed by '0' or '1'");
      }
      cur.push_back(pointer[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    cur.push_back(c);
  }
  return tokens;
}

std::string escape_json_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string json_to_string(const json::value& v) { return json::serialize(v); }

}  // namespace kedge::api

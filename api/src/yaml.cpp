#include "kedge/api/yaml.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include <yaml-cpp/yaml.h>

namespace kedge::api {

namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 1000;

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) {
  for (auto v : set) {
    if (s == v) return true;
  }
  return false;
}

// go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool is_yaml_float(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// Go's strconv.ParseInt/ParseUint with base 0 (prefixes 0x, 0o, 0b, 0).
template <typename T>
std::optional<T> parse_go_int(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    if constexpr (std::is_unsigned_v<T>) return std::nullopt;
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 1 && s[0] == '0') {
    if (s[1] == 'x' || s[1] == 'X') {
      base = 16, s.remove_prefix(2);
    } else if (s[1] == 'o' || s[1] == 'O') {
      base = 8, s.remove_prefix(2);
    } else if (s[1] == 'b' || s[1] == 'B') {
      base = 2, s.remove_prefix(2);
    } else {
      base = 8, s.remove_prefix(1);
    }
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t mag = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), mag, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  if constexpr (std::is_unsigned_v<T>) {
    return mag;
  } else {
    if (neg) {
      if (mag > static_cast<std::uint64_t>(INT64_MAX) + 1) return std::nullopt;
      return static_cast<std::int64_t>(0 - mag);
    }
    if (mag > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(mag);
  }
}

// Go marshals float64 without a fraction as an integer; keep that text.
json::value number_from_double(double d) {
  if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return json::value(static_cast<std::int64_t>(d));
  return json::value(d);
}

// Resolves a plain (unquoted, untagged) scalar per go-yaml v2.
Result<json::value> resolve_plain(const std::string& s, int line) {
  if (one_of(s, {"", "~", "null", "Null", "NULL"})) return json::value(nullptr);
  if (one_of(s, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) return json::value(true);
  if (one_of(s, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
    return json::value(false);
  }
  if (one_of(s, {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"})) {
    return invalid_argument("yaml: line " + std::to_string(line) + ": json: unsupported value: " + s);
  }
  const char c = s[0];
  if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
    std::string plain;
    for (char ch : s) {
      if (ch != '_') plain.push_back(ch);
    }
    if (auto i = parse_go_int<std::int64_t>(plain)) return json::value(*i);
    if (auto u = parse_go_int<std::uint64_t>(plain)) return json::value(*u);
    if (is_yaml_float(plain)) return number_from_double(std::strtod(plain.c_str(), nullptr));
    return json::value(s);
  }
  if (c == '.' && is_yaml_float(s)) return number_from_double(std::strtod(s.c_str(), nullptr));
  return json::value(s);
}

std::string key_string(const json::value& k) {
  if (k.is_string()) return std::string(k.get_string());
  if (k.is_bool()) return k.get_bool() ? "true" : "false";
  if (k.is_int64()) return std::to_string(k.get_int64());
  if (k.is_uint64()) return std::to_string(k.get_uint64());
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(k.get_double()));
  return ec == std::errc() ? std::string(buf, p) : std::string("0");
}

class Converter {
 public:
  explicit Converter(const YamlOptions& o) : opts_(o) {}

  Result<json::value> convert(const YAML::Node& n, int depth) {
    const int line = n.Mark().line + 1;
    if (depth > kMaxDepth) return err(line, "document nested too deeply");
    if (++produced_ > opts_.max_values) {
      return err(line, "document expands to more than " + std::to_string(opts_.max_values) + " values");
    }
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json::value(nullptr);
      case YAML::NodeType::Scalar:
        return scalar(n, line);
      case YAML::NodeType::Sequence: {
        json::array arr;
        arr.reserve(n.size());
        for (const auto& child : n) {
          KEDGE_ASSIGN_OR_RETURN(json::value v, convert(child, depth + 1));
          arr.push_back(std::move(v));
        }
        return json::value(std::move(arr));
      }
      case YAML::NodeType::Map:
        return mapping(n, depth);
    }
    return json::value(nullptr);
  }

 private:
  static Status err(int line, const std::string& msg) {
    return invalid_argument("yaml: line " + std::to_string(line) + ": " + msg);
  }

  Result<json::value> scalar(const YAML::Node& n, int line) {
    const std::string& tag = n.Tag();
    const std::string& s = n.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary") return json::value(s);
    if (tag == "tag:yaml.org,2002:null") return json::value(nullptr);
    KEDGE_ASSIGN_OR_RETURN(json::value v, resolve_plain(s, line));
    if (tag == "tag:yaml.org,2002:int" && !(v.is_int64() || v.is_uint64())) {
      return err(line, "cannot decode !!str `" + s + "` as a !!int");
    }
    if (tag == "tag:yaml.org,2002:bool" && !v.is_bool()) return err(line, "cannot decode !!str `" + s + "` as a !!bool");
    if (tag == "tag:yaml.org,2002:float" && !v.is_number()) {
      return err(line, "cannot decode !!str `" + s + "` as a !!float");
    }
    return v;
  }

  static bool is_merge_key(const YAML::Node& k) { return k.IsScalar() && k.Tag() == "?" && k.Scalar() == "<<"; }

  // "<<": a map, or a list of maps where earlier ones win.
  Status merge_into(json::object& out, const YAML::Node& v, int depth) {
    const int line = v.Mark().line + 1;
    auto merge_one = [&](const YAML::Node& m) -> Status {
      if (!m.IsMap()) return err(line, "map merge requires map or sequence of maps as the value");
      KEDGE_ASSIGN_OR_RETURN(json::value mv, convert(m, depth + 1));
      for (auto& kv : mv.get_object()) out[kv.key()] = kv.value();
      return {};
    };
    if (v.IsMap()) return merge_one(v);
    if (!v.IsSequence()) return err(line, "map merge requires map or sequence of maps as the value");
    for (std::size_t i = v.size(); i-- > 0;) KEDGE_RETURN_IF_ERROR(merge_one(v[i]));
    return {};
  }

  Result<json::value> mapping(const YAML::Node& n, int depth) {
    json::object obj;
    for (const auto& kv : n) {
      const YAML::Node& k = kv.first;
      const int line = k.Mark().line + 1;
      if (is_merge_key(k)) {
        KEDGE_RETURN_IF_ERROR(merge_into(obj, kv.second, depth));
        continue;
      }
      json::value key;
      if (k.IsNull()) {
        return err(line, "unsupported map key of type: <nil>");
      } else if (k.IsScalar()) {
        KEDGE_ASSIGN_OR_RETURN(key, scalar(k, line));
        if (key.is_null()) return err(line, "unsupported map key of type: <nil>");
      } else {
        return err(line, "unsupported map key: a map or list cannot be a key");
      }
      std::string ks = key_string(key);
      if (opts_.strict_duplicate_keys && obj.contains(ks)) {
        return invalid_argument("yaml: unmarshal errors:\n  line " + std::to_string(line) + ": key \"" + ks +
                                "\" already set in map");
      }
      KEDGE_ASSIGN_OR_RETURN(json::value v, convert(kv.second, depth + 1));
      obj[ks] = std::move(v);
    }
    return json::value(std::move(obj));
  }

  const YamlOptions& opts_;
  std::size_t produced_ = 0;
};

Result<std::vector<YAML::Node>> load_all(std::string_view text) {
  try {
    return YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return invalid_argument("yaml: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("yaml: ") + e.what());
  }
}

}  // namespace

Result<json::value> yaml_to_json(std::string_view text, const YamlOptions& options) {
  KEDGE_ASSIGN_OR_RETURN(auto docs, load_all(text));
  if (docs.empty()) return json::value(nullptr);
  try {
    Converter c(options);
    return c.convert(docs.front(), 0);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("yaml: ") + e.what());
  }
}

Result<std::vector<json::value>> yaml_documents_to_json(std::string_view text, const YamlOptions& options) {
  KEDGE_ASSIGN_OR_RETURN(auto docs, load_all(text));
  std::vector<json::value> out;
  try {
    for (const auto& d : docs) {
      Converter c(options);
      KEDGE_ASSIGN_OR_RETURN(json::value v, c.convert(d, 0));
      if (!v.is_null()) out.push_back(std::move(v));
    }
  } catch (const std::exception& e) {
    return invalid_argument(std::string("yaml: ") + e.what());
  }
  return out;
}

}  // namespace kedge::api

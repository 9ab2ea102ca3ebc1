#include "kedge/api/validation.h"

#include <algorithm>
#include <cctype>
#include <set>

#include <boost/json/serialize.hpp>

namespace kedge::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr std::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
constexpr std::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr std::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character";
constexpr std::string_view kDns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDns1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character";
constexpr std::string_view kDns1123SubdomainFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr std::string_view kDns1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character";
constexpr std::string_view kDns1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
constexpr std::string_view kDns1035LabelErrMsg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
    "and end with an alphanumeric character";
constexpr std::int64_t kTotalAnnotationSizeLimit = 256 * 1024;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Upstream's RegexError: "<msg> (e.g. 'a',  or 'b', regex used for validation is '<fmt>')".
std::string regex_error(std::string_view msg, std::string_view fmt, std::initializer_list<std::string_view> examples) {
  std::string out(msg);
  if (examples.size() == 0) return out + " (regex used for validation is '" + std::string(fmt) + "')";
  out += " (e.g. ";
  bool first = true;
  for (auto e : examples) {
    if (!first) out += " or ";
    first = false;
    out += "'" + std::string(e) + "', ";
  }
  out += "regex used for validation is '" + std::string(fmt) + "')";
  return out;
}

std::string max_len_error(std::size_t n) { return "must be no more than " + std::to_string(n) + " characters"; }

bool matches_dns1123_label(std::string_view v) {
  if (v.empty() || !is_lower_alnum(v.front()) || !is_lower_alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool matches_dns1123_subdomain(std::string_view v) {
  if (v.empty()) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = v.find('.', start);
    if (!matches_dns1123_label(v.substr(start, dot == std::string_view::npos ? v.npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool matches_qualified_name_part(std::string_view v) {
  if (v.empty() || !is_alnum(v.front()) || !is_alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

void prefix_each(std::vector<std::string>& out, const std::vector<std::string>& msgs, std::string_view prefix) {
  for (const auto& m : msgs) out.push_back(std::string(prefix) + m);
}

std::string mask_trailing_dash(std::string_view name) {
  if (name.size() > 1 && name.back() == '-') return std::string(name.substr(0, name.size() - 2)) + "a";
  return std::string(name);
}

const json::value* member(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::string string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

void validate_annotations(const json::value& annotations, FieldErrors& errs) {
  const std::string path = "metadata.annotations";
  if (!annotations.is_object()) {
    errs.push_back(FieldError::type_invalid(path, "", "must be a map of strings"));
    return;
  }
  std::int64_t total = 0;
  std::vector<std::string> keys;
  for (const auto& kv : annotations.get_object()) keys.emplace_back(kv.key());
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    for (const auto& m : is_qualified_name(lower)) errs.push_back(FieldError::invalid(path, k, m));
    const json::value& v = annotations.get_object().at(k);
    if (!v.is_string()) {
      errs.push_back(FieldError::type_invalid(path + "[" + k + "]", "", "must be a string"));
      continue;
    }
    total += static_cast<std::int64_t>(k.size() + v.get_string().size());
  }
  if (total > kTotalAnnotationSizeLimit) errs.push_back(FieldError::too_long(path, kTotalAnnotationSizeLimit));
}

void validate_owner_references(const json::value& refs, FieldErrors& errs) {
  const std::string path = "metadata.ownerReferences";
  if (!refs.is_array()) {
    errs.push_back(FieldError::type_invalid(path, "", "must be a list of owner references"));
    return;
  }
  std::string first_controller;
  for (const auto& r : refs.get_array()) {
    if (!r.is_object()) {
      errs.push_back(FieldError::type_invalid(path, "", "must be a list of owner references"));
      continue;
    }
    const json::object& o = r.get_object();
    std::string api_version = string_member(o, "apiVersion");
    std::string version = api_version.substr(api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
    if (version.empty()) errs.push_back(FieldError::invalid(path + ".apiVersion", api_version, "version must not be empty"));
    if (string_member(o, "kind").empty()) errs.push_back(FieldError::invalid(path + ".kind", "", "kind must not be empty"));
    if (string_member(o, "name").empty()) errs.push_back(FieldError::invalid(path + ".name", "", "name must not be empty"));
    if (string_member(o, "uid").empty()) errs.push_back(FieldError::invalid(path + ".uid", "", "uid must not be empty"));
    const json::value* controller = member(o, "controller");
    if (controller != nullptr && controller->is_bool() && controller->get_bool()) {
      std::string cur = string_member(o, "kind") + "/" + string_member(o, "name");
      if (!first_controller.empty()) {
        errs.push_back(FieldError::invalid_raw(
            path, "[]v1.OwnerReference",
            "Only one reference can have Controller set to true. Found \"true\" in references for " + first_controller +
                " and " + cur));
      } else {
        first_controller = cur;
      }
    }
  }
}

void validate_finalizers(const json::value& finalizers, FieldErrors& errs) {
  const std::string path = "metadata.finalizers";
  if (!finalizers.is_array()) {
    errs.push_back(FieldError::type_invalid(path, "", "must be a list of strings"));
    return;
  }
  bool orphan = false;
  bool foreground = false;
  for (const auto& f : finalizers.get_array()) {
    if (!f.is_string()) {
      errs.push_back(FieldError::type_invalid(path, "", "must be a list of strings"));
      continue;
    }
    std::string_view name = f.get_string();
    for (const auto& m : is_qualified_name(name)) errs.push_back(FieldError::invalid(path, name, m));
    orphan = orphan || name == "orphan";
    foreground = foreground || name == "foregroundDeletion";
  }
  if (orphan && foreground) {
    errs.push_back(FieldError::invalid_raw(path, json::serialize(finalizers),
                                           "finalizer orphan and foregroundDeletion cannot be both set"));
  }
}

}  // namespace

// ---------------- FieldError ----------------

std::string go_quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

namespace {

std::string_view type_string(FieldError::Type t) {
  switch (t) {
    case FieldError::Type::kRequired: return "Required value";
    case FieldError::Type::kInvalid: return "Invalid value";
    case FieldError::Type::kNotSupported: return "Unsupported value";
    case FieldError::Type::kDuplicate: return "Duplicate value";
    case FieldError::Type::kTooLong: return "Too long";
    case FieldError::Type::kForbidden: return "Forbidden";
    case FieldError::Type::kTypeInvalid: return "Invalid value";
    case FieldError::Type::kNotFound: return "Not found";
    case FieldError::Type::kTooMany: return "Too many";
    case FieldError::Type::kInternal: return "Internal error";
  }
  return "Invalid value";
}

}  // namespace

std::string_view FieldError::reason() const {
  switch (type) {
    case Type::kRequired: return "FieldValueRequired";
    case Type::kInvalid: return "FieldValueInvalid";
    case Type::kNotSupported: return "FieldValueNotSupported";
    case Type::kDuplicate: return "FieldValueDuplicate";
    case Type::kTooLong: return "FieldValueTooLong";
    case Type::kForbidden: return "FieldValueForbidden";
    case Type::kTypeInvalid: return "FieldValueTypeInvalid";
    case Type::kNotFound: return "FieldValueNotFound";
    case Type::kTooMany: return "FieldValueTooMany";
    case Type::kInternal: return "InternalError";
  }
  return "FieldValueInvalid";
}

std::string FieldError::body() const {
  std::string s(type_string(type));
  const bool omit = type == Type::kRequired || type == Type::kForbidden || type == Type::kTooLong ||
                    type == Type::kInternal || value_kind == ValueKind::kOmitted;
  if (!omit) {
    s += ": ";
    s += value_kind == ValueKind::kString ? go_quote(bad_value) : bad_value;
  }
  if (!detail.empty()) s += ": " + detail;
  return s;
}

std::string FieldError::message() const { return field + ": " + body(); }

FieldError FieldError::invalid(std::string f, std::string_view bad, std::string d) {
  return {Type::kInvalid, std::move(f), std::move(d), std::string(bad), ValueKind::kString};
}
FieldError FieldError::invalid_int(std::string f, std::int64_t bad, std::string d) {
  return {Type::kInvalid, std::move(f), std::move(d), std::to_string(bad), ValueKind::kRaw};
}
FieldError FieldError::invalid_raw(std::string f, std::string bad, std::string d) {
  return {Type::kInvalid, std::move(f), std::move(d), std::move(bad), ValueKind::kRaw};
}
FieldError FieldError::required(std::string f, std::string d) {
  return {Type::kRequired, std::move(f), std::move(d), "", ValueKind::kOmitted};
}
FieldError FieldError::not_supported(std::string f, std::string_view bad, const std::vector<std::string>& supported) {
  std::string d;
  if (!supported.empty()) {
    d = "supported values: ";
    for (std::size_t i = 0; i < supported.size(); ++i) {
      if (i > 0) d += ", ";
      d += go_quote(supported[i]);
    }
  }
  return {Type::kNotSupported, std::move(f), std::move(d), std::string(bad), ValueKind::kString};
}
FieldError FieldError::duplicate(std::string f, std::string_view bad) {
  return {Type::kDuplicate, std::move(f), "", std::string(bad), ValueKind::kString};
}
FieldError FieldError::forbidden(std::string f, std::string d) {
  return {Type::kForbidden, std::move(f), std::move(d), "", ValueKind::kOmitted};
}
FieldError FieldError::too_long(std::string f, std::int64_t max_bytes) {
  std::string d = "may not be more than " + std::to_string(max_bytes) + (max_bytes == 1 ? " byte" : " bytes");
  return {Type::kTooLong, std::move(f), std::move(d), "", ValueKind::kOmitted};
}
FieldError FieldError::type_invalid(std::string f, std::string bad, std::string d) {
  return {Type::kTypeInvalid, std::move(f), std::move(d), std::move(bad),
          bad.empty() ? ValueKind::kOmitted : ValueKind::kRaw};
}
FieldError FieldError::not_found(std::string f, std::string_view bad) {
  return {Type::kNotFound, std::move(f), "", std::string(bad), ValueKind::kString};
}

std::string aggregate_message(const FieldErrors& errors) {
  std::set<std::string> seen;
  std::vector<std::string> msgs;
  for (const auto& e : errors) {
    std::string m = e.message();
    if (seen.insert(m).second) msgs.push_back(std::move(m));
  }
  if (msgs.size() == 1) return msgs[0];
  std::string out = "[";
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    if (i > 0) out += ", ";
    out += msgs[i];
  }
  return out + "]";
}

json::value invalid_status(std::string_view qualified_kind, std::string_view name, const FieldErrors& errors) {
  std::string_view kind = qualified_kind;
  std::string_view group;
  if (auto dot = qualified_kind.find('.'); dot != std::string_view::npos) {
    kind = qualified_kind.substr(0, dot);
    group = qualified_kind.substr(dot + 1);
  }
  std::string message = std::string(qualified_kind) + " " + go_quote(name) + " is invalid";
  if (!errors.empty()) message += ": " + aggregate_message(errors);
  json::array causes;
  for (const auto& e : errors) {
    causes.push_back(json::object{{"reason", e.reason()}, {"message", e.body()}, {"field", e.field}});
  }
  json::object details;
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  details["kind"] = kind;
  if (!causes.empty()) details["causes"] = std::move(causes);
  json::object status;
  status["kind"] = "Status";
  status["apiVersion"] = "v1";
  status["metadata"] = json::object();
  status["status"] = "Failure";
  status["message"] = message;
  status["reason"] = "Invalid";
  status["details"] = std::move(details);
  status["code"] = 422;
  return status;
}

// ---------------- string validators ----------------

std::vector<std::string> is_dns1123_label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(max_len_error(63));
  if (!matches_dns1123_label(value)) {
    if (matches_dns1123_subdomain(value)) {
      errs.emplace_back("must not contain dots");
    } else {
      errs.push_back(regex_error(kDns1123LabelErrMsg, kDns1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> is_dns1123_subdomain(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back(max_len_error(253));
  if (!matches_dns1123_subdomain(value)) {
    errs.push_back(regex_error(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> is_dns1035_label(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(max_len_error(63));
  bool ok = !value.empty() && value.front() >= 'a' && value.front() <= 'z' && is_lower_alnum(value.back()) &&
            std::all_of(value.begin(), value.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
  if (!ok) errs.push_back(regex_error(kDns1035LabelErrMsg, kDns1035LabelFmt, {"my-name", "abc-123"}));
  return errs;
}

std::vector<std::string> is_qualified_name(std::string_view value) {
  std::vector<std::string> errs;
  std::string_view name = value;
  const auto slashes = std::count(value.begin(), value.end(), '/');
  if (slashes > 1) {
    errs.push_back("a qualified name " + regex_error(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}) +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    auto slash = value.find('/');
    std::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.emplace_back("prefix part must be non-empty");
    } else {
      prefix_each(errs, is_dns1123_subdomain(prefix), "prefix part ");
    }
  }
  if (name.empty()) {
    errs.emplace_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + max_len_error(63));
  }
  if (!matches_qualified_name_part(name)) {
    errs.push_back("name part " + regex_error(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> is_valid_label_value(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(max_len_error(63));
  if (!value.empty() && !matches_qualified_name_part(value)) {
    errs.push_back(regex_error(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::vector<std::string> is_in_range(std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value >= lo && value <= hi) return {};
  return {"must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", inclusive"};
}

std::vector<std::string> is_valid_port_num(std::int64_t port) { return is_in_range(port, 1, 65535); }

std::vector<std::string> is_valid_port_name(std::string_view port) {
  std::vector<std::string> errs;
  if (port.size() > 15) errs.push_back(max_len_error(15));
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return is_lower_alnum(c) || c == '-'; })) {
    errs.emplace_back("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)");
  }
  if (std::none_of(port.begin(), port.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    errs.emplace_back("must contain at least one letter (a-z)");
  }
  if (port.find("--") != std::string_view::npos) errs.emplace_back("must not contain consecutive hyphens");
  if (!port.empty() && (port.front() == '-' || port.back() == '-')) {
    errs.emplace_back("must not begin or end with a hyphen");
  }
  return errs;
}

std::vector<std::string> name_is_dns_subdomain(std::string_view name, bool prefix) {
  return prefix ? is_dns1123_subdomain(mask_trailing_dash(name)) : is_dns1123_subdomain(name);
}
std::vector<std::string> name_is_dns_label(std::string_view name, bool prefix) {
  return prefix ? is_dns1123_label(mask_trailing_dash(name)) : is_dns1123_label(name);
}
std::vector<std::string> name_is_dns1035_label(std::string_view name, bool prefix) {
  return prefix ? is_dns1035_label(mask_trailing_dash(name)) : is_dns1035_label(name);
}
std::vector<std::string> name_is_path_segment(std::string_view name, bool prefix) {
  if (!prefix) {
    for (std::string_view bad : {".", ".."}) {
      if (name == bad) return {"may not be '" + std::string(bad) + "'"};
    }
  }
  std::vector<std::string> errs;
  for (std::string_view bad : {"/", "%"}) {
    if (name.find(bad) != std::string_view::npos) errs.push_back("may not contain '" + std::string(bad) + "'");
  }
  return errs;
}

// ---------------- object meta ----------------

FieldErrors validate_labels(const json::value& labels, std::string_view field) {
  FieldErrors errs;
  const std::string path(field);
  if (!labels.is_object()) {
    errs.push_back(FieldError::type_invalid(path, "", "must be a map of strings"));
    return errs;
  }
  std::vector<std::string> keys;
  for (const auto& kv : labels.get_object()) keys.emplace_back(kv.key());
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    for (const auto& m : is_qualified_name(k)) errs.push_back(FieldError::invalid(path, k, m));
    const json::value& v = labels.get_object().at(k);
    if (!v.is_string()) {
      errs.push_back(FieldError::type_invalid(path + "[" + k + "]", "", "must be a string"));
      continue;
    }
    for (const auto& m : is_valid_label_value(v.get_string())) {
      errs.push_back(FieldError::invalid(path, v.get_string(), m));
    }
  }
  return errs;
}

FieldErrors validate_object_meta(const json::object& metadata, bool namespaced, const NameValidator& name_validator) {
  FieldErrors errs;
  const std::string generate_name = string_member(metadata, "generateName");
  if (!generate_name.empty()) {
    for (const auto& m : name_validator(generate_name, true)) {
      errs.push_back(FieldError::invalid("metadata.generateName", generate_name, m));
    }
  }
  const std::string name = string_member(metadata, "name");
  if (name.empty()) {
    errs.push_back(FieldError::required("metadata.name", "name or generateName is required"));
  } else {
    for (const auto& m : name_validator(name, false)) errs.push_back(FieldError::invalid("metadata.name", name, m));
  }
  const std::string ns = string_member(metadata, "namespace");
  if (namespaced) {
    if (ns.empty()) {
      errs.push_back(FieldError::required("metadata.namespace"));
    } else {
      for (const auto& m : name_is_dns_label(ns, false)) errs.push_back(FieldError::invalid("metadata.namespace", ns, m));
    }
  } else if (!ns.empty()) {
    errs.push_back(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
  }
  if (const json::value* gen = member(metadata, "generation"); gen != nullptr && gen->is_number()) {
    std::int64_t g = gen->is_int64() ? gen->get_int64() : static_cast<std::int64_t>(gen->to_number<double>());
    if (g < 0) errs.push_back(FieldError::invalid_int("metadata.generation", g, "must be greater than or equal to 0"));
  }
  if (const json::value* l = member(metadata, "labels"); l != nullptr && !l->is_null()) {
    auto le = validate_labels(*l, "metadata.labels");
    errs.insert(errs.end(), le.begin(), le.end());
  }
  if (const json::value* a = member(metadata, "annotations"); a != nullptr && !a->is_null()) validate_annotations(*a, errs);
  if (const json::value* o = member(metadata, "ownerReferences"); o != nullptr && !o->is_null()) {
    validate_owner_references(*o, errs);
  }
  if (const json::value* f = member(metadata, "finalizers"); f != nullptr && !f->is_null()) validate_finalizers(*f, errs);
  return errs;
}

}  // namespace kedge::api

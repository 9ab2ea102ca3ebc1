#include "kedge/api/json_patch.h"

#include <charconv>
#include <string>
#include <vector>

#include "kedge/api/json_util.h"

namespace kedge::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kOps[] = {"add", "remove", "replace", "move", "copy", "test"};

bool known_op(std::string_view op) {
  for (auto k : kOps) {
    if (k == op) return true;
  }
  return false;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Array index per RFC 6901: "0" or digits without a leading zero.
std::optional<std::size_t> parse_index(std::string_view tok) {
  if (tok.empty() || (tok.size() > 1 && tok[0] == '0')) return std::nullopt;
  std::size_t idx = 0;
  auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), idx);
  if (ec != std::errc() || p != tok.data() + tok.size()) return std::nullopt;
  return idx;
}

Status invalid_index(std::string_view tok) {
  return invalid_argument("Unable to access invalid index: " + std::string(tok) +
                          ": invalid index referenced");
}

// Follows `tokens` from `root`; nullptr when some step does not exist.
json::value* lookup(json::value& root, const std::vector<std::string>& tokens, std::size_t count) {
  json::value* cur = &root;
  for (std::size_t i = 0; i < count; ++i) {
    if (cur->is_object()) {
      cur = cur->get_object().if_contains(tokens[i]);
    } else if (cur->is_array()) {
      auto idx = parse_index(tokens[i]);
      if (!idx || *idx >= cur->get_array().size()) return nullptr;
      cur = &cur->get_array()[*idx];
    } else {
      return nullptr;
    }
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

struct Op {
  std::string op;
  std::string path;
  std::vector<std::string> tokens;
  std::string from;
  std::vector<std::string> from_tokens;
  const json::value* value = nullptr;
};

Result<Op> decode_op(const json::value& raw, std::size_t index) {
  const std::string where = "operation " + std::to_string(index);
  if (!raw.is_object()) return invalid_argument(where + ": is not a JSON object");
  const json::object& o = raw.get_object();
  Op op;
  const json::value* v = o.if_contains("op");
  if (v == nullptr || !v->is_string()) return invalid_argument(where + ": missing \"op\" string");
  op.op = std::string(v->get_string());
  if (!known_op(op.op)) return invalid_argument("Unexpected kind: " + op.op);
  v = o.if_contains("path");
  if (v == nullptr || !v->is_string()) {
    return invalid_argument(op.op + " operation: operation missing path field: missing value");
  }
  op.path = std::string(v->get_string());
  auto toks = parse_json_pointer(op.path);
  if (!toks.ok()) return invalid_argument(op.op + " operation: " + toks.status().message());
  op.tokens = std::move(*toks);
  if (op.op == "move" || op.op == "copy") {
    v = o.if_contains("from");
    if (v == nullptr || !v->is_string()) {
      return invalid_argument(op.op + " operation: operation missing from field: missing value");
    }
    op.from = std::string(v->get_string());
    auto ftoks = parse_json_pointer(op.from);
    if (!ftoks.ok()) return invalid_argument(op.op + " operation: " + ftoks.status().message());
    op.from_tokens = std::move(*ftoks);
  }
  if (op.op == "add" || op.op == "replace" || op.op == "test") {
    op.value = o.if_contains("value");
    if (op.value == nullptr) {
      return invalid_argument(op.op + " operation: operation missing value field for path " +
                              quoted(op.path) + ": missing value");
    }
  }
  return op;
}

// Inserts `value` at `tokens` (RFC 6902 "add" semantics).
Status add_at(json::value& doc, const std::vector<std::string>& tokens, json::value value,
              std::string_view op_name, std::string_view path) {
  if (tokens.empty()) {
    doc = std::move(value);
    return {};
  }
  json::value* parent = lookup(doc, tokens, tokens.size() - 1);
  const std::string& last = tokens.back();
  if (parent == nullptr || !(parent->is_object() || parent->is_array())) {
    return invalid_argument(std::string(op_name) + " operation does not apply: doc is missing path: " +
                            quoted(path) + ": missing value");
  }
  if (parent->is_object()) {
    parent->get_object()[last] = std::move(value);
    return {};
  }
  json::array& arr = parent->get_array();
  if (last == "-") {
    arr.push_back(std::move(value));
    return {};
  }
  auto idx = parse_index(last);
  if (!idx || *idx > arr.size()) return invalid_index(last);
  arr.insert(arr.begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
  return {};
}

// Removes and returns the value at `tokens`.
Result<json::value> remove_at(json::value& doc, const std::vector<std::string>& tokens,
                              std::string_view op_name, std::string_view path) {
  auto missing = [&] {
    return invalid_argument(std::string(op_name) + " operation does not apply: doc is missing path: " +
                            quoted(path) + ": missing value");
  };
  if (tokens.empty()) return invalid_argument(std::string(op_name) + " operation: cannot remove the whole document");
  json::value* parent = lookup(doc, tokens, tokens.size() - 1);
  if (parent == nullptr) return missing();
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    json::object& obj = parent->get_object();
    auto it = obj.find(last);
    if (it == obj.end()) {
      return invalid_argument("error in " + std::string(op_name) + " for path: '" + std::string(path) +
                              "': unable to remove nonexistent key: " + last + ": missing value");
    }
    json::value out = std::move(it->value());
    obj.erase(it);
    return out;
  }
  if (parent->is_array()) {
    json::array& arr = parent->get_array();
    auto idx = parse_index(last);
    if (!idx || *idx >= arr.size()) return invalid_index(last);
    json::value out = std::move(arr[*idx]);
    arr.erase(arr.begin() + static_cast<std::ptrdiff_t>(*idx));
    return out;
  }
  return missing();
}

bool is_proper_prefix(const std::vector<std::string>& prefix, const std::vector<std::string>& of) {
  if (prefix.size() >= of.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (prefix[i] != of[i]) return false;
  }
  return true;
}

Status apply_one(json::value& doc, const Op& op) {
  if (op.op == "add") return add_at(doc, op.tokens, *op.value, "add", op.path);
  if (op.op == "remove") return remove_at(doc, op.tokens, "remove", op.path).status();
  if (op.op == "replace") {
    json::value* target = lookup(doc, op.tokens, op.tokens.size());
    if (target == nullptr) {
      return invalid_argument("replace operation does not apply: doc is missing key: " + op.path +
                              ": missing value");
    }
    *target = *op.value;
    return {};
  }
  if (op.op == "test") {
    json::value* target = lookup(doc, op.tokens, op.tokens.size());
    if (target == nullptr) {
      if (op.value->is_null()) {
        // evanphx/json-patch treats a missing member as equal to null.
        if (!op.tokens.empty() && lookup(doc, op.tokens, op.tokens.size() - 1) != nullptr) return {};
      }
      return invalid_argument("testing value " + op.path + " failed: test failed");
    }
    if (!json_equal(*target, *op.value)) {
      return invalid_argument("testing value " + op.path + " failed: test failed");
    }
    return {};
  }
  // move / copy
  json::value* source = lookup(doc, op.from_tokens, op.from_tokens.size());
  if (source == nullptr) {
    return invalid_argument(op.op + " operation does not apply: doc is missing from path: " + op.from +
                            ": missing value");
  }
  if (op.op == "copy") return add_at(doc, op.tokens, *source, "copy", op.path);
  if (op.from_tokens == op.tokens) return {};
  if (is_proper_prefix(op.from_tokens, op.tokens)) {
    return invalid_argument("move operation does not apply: \"from\" " + quoted(op.from) +
                            " is a proper prefix of \"path\" " + quoted(op.path));
  }
  KEDGE_ASSIGN_OR_RETURN(json::value moved, remove_at(doc, op.from_tokens, "move", op.from));
  return add_at(doc, op.tokens, std::move(moved), "move", op.path);
}

Result<std::vector<Op>> decode_patch(const json::value& patch) {
  if (!patch.is_array()) {
    return invalid_argument(std::string("json: cannot unmarshal ") +
                            (patch.is_object() ? "object" : "non-array value") +
                            " into Go value of type jsonpatch.Patch");
  }
  std::vector<Op> ops;
  ops.reserve(patch.get_array().size());
  std::size_t i = 0;
  for (const auto& raw : patch.get_array()) {
    KEDGE_ASSIGN_OR_RETURN(Op op, decode_op(raw, i++));
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

Status check_json_patch(const json::value& patch) { return decode_patch(patch).status(); }

Result<json::value> apply_json_patch(const json::value& doc, const json::value& patch) {
  KEDGE_ASSIGN_OR_RETURN(std::vector<Op> ops, decode_patch(patch));
  json::value out = doc;
  for (const Op& op : ops) {
    KEDGE_RETURN_IF_ERROR(apply_one(out, op));
  }
  return out;
}

}  // namespace kedge::api

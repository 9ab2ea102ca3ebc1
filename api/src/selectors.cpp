#include "kedge/api/selectors.h"

#include <algorithm>
#include <charconv>

#include "kedge/api/validation.h"

namespace kedge::api {

namespace json = boost::json;

namespace {

// ---------------- label selector lexer/parser (labels.Parse) ----------------

enum class Tok {
  kError,
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Tok tok;
  std::string lit;
};

std::optional<Tok> keyword(std::string_view s) {
  if (s == ")") return Tok::kClosedPar;
  if (s == ",") return Tok::kComma;
  if (s == "!") return Tok::kDoesNotExist;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == "=") return Tok::kEquals;
  if (s == ">") return Tok::kGreaterThan;
  if (s == "in") return Tok::kIn;
  if (s == "<") return Tok::kLessThan;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "notin") return Tok::kNotIn;
  if (s == "(") return Tok::kOpenPar;
  return std::nullopt;
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_special(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Item> lex(std::string_view s) {
  std::vector<Item> items;
  std::size_t pos = 0;
  while (true) {
    while (pos < s.size() && is_ws(s[pos])) ++pos;
    if (pos >= s.size()) {
      items.push_back({Tok::kEnd, ""});
      return items;
    }
    if (is_special(s[pos])) {
      // Longest run of special characters that still forms an operator.
      std::string buf;
      std::optional<Item> last;
      while (pos < s.size() && is_special(s[pos])) {
        buf.push_back(s[pos]);
        if (auto k = keyword(buf)) {
          last = Item{*k, buf};
        } else if (last) {
          buf.pop_back();
          break;
        }
        ++pos;
      }
      if (!last) {
        items.push_back({Tok::kError, "error expected: keyword found '" + buf + "'"});
      } else {
        items.push_back(*last);
      }
      continue;
    }
    std::string buf;
    while (pos < s.size() && !is_special(s[pos]) && !is_ws(s[pos])) buf.push_back(s[pos++]);
    auto k = keyword(buf);
    items.push_back({k ? *k : Tok::kIdentifier, buf});
  }
}

enum class Ctx { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(std::string_view s) : items_(lex(s)) {}

  Result<std::vector<LabelSelector::Requirement>> parse() {
    std::vector<LabelSelector::Requirement> reqs;
    while (true) {
      auto [tok, lit] = lookahead(Ctx::kValues);
      switch (tok) {
        case Tok::kIdentifier:
        case Tok::kDoesNotExist: {
          auto r = parse_requirement();
          if (!r.ok()) return invalid_argument("unable to parse requirement: " + r.status().message());
          reqs.push_back(std::move(*r));
          auto [t, l] = consume(Ctx::kValues);
          if (t == Tok::kEnd) return reqs;
          if (t != Tok::kComma) return invalid_argument("found '" + l + "', expected: ',' or 'end of string'");
          auto [t2, l2] = lookahead(Ctx::kValues);
          if (t2 != Tok::kIdentifier && t2 != Tok::kDoesNotExist) {
            return invalid_argument("found '" + l2 + "', expected: identifier after ','");
          }
          break;
        }
        case Tok::kEnd:
          return reqs;
        default:
          return invalid_argument("found '" + lit + "', expected: !, identifier, or 'end of string'");
      }
    }
  }

 private:
  static Tok contextual(Tok t, Ctx ctx) {
    if (ctx == Ctx::kValues && (t == Tok::kIn || t == Tok::kNotIn)) return Tok::kIdentifier;
    return t;
  }
  std::pair<Tok, std::string> lookahead(Ctx ctx) const {
    const Item& it = items_[std::min(pos_, items_.size() - 1)];
    return {contextual(it.tok, ctx), it.lit};
  }
  std::pair<Tok, std::string> consume(Ctx ctx) {
    const Item& it = items_[std::min(pos_, items_.size() - 1)];
    if (pos_ < items_.size()) ++pos_;
    return {contextual(it.tok, ctx), it.lit};
  }

  Result<LabelSelector::Requirement> parse_requirement() {
    LabelSelector::Requirement r;
    auto [tok, lit] = consume(Ctx::kValues);
    bool not_exist = false;
    if (tok == Tok::kDoesNotExist) {
      not_exist = true;
      std::tie(tok, lit) = consume(Ctx::kValues);
    }
    if (tok != Tok::kIdentifier) return invalid_argument("found '" + lit + "', expected: identifier");
    r.key = lit;
    auto [next, unused] = lookahead(Ctx::kValues);
    if (next == Tok::kEnd || next == Tok::kComma || not_exist) {
      // "!key" is complete; "!key=..." is an error at the caller's next token.
      r.op = not_exist ? LabelSelector::Op::kDoesNotExist : LabelSelector::Op::kExists;
      KEDGE_RETURN_IF_ERROR(validate(r));
      return r;
    }
    auto [op_tok, op_lit] = consume(Ctx::kKeyAndOperator);
    switch (op_tok) {
      case Tok::kIn: r.op = LabelSelector::Op::kIn; break;
      case Tok::kNotIn: r.op = LabelSelector::Op::kNotIn; break;
      case Tok::kEquals: r.op = LabelSelector::Op::kEquals; break;
      case Tok::kDoubleEquals: r.op = LabelSelector::Op::kDoubleEquals; break;
      case Tok::kNotEquals: r.op = LabelSelector::Op::kNotEquals; break;
      case Tok::kGreaterThan: r.op = LabelSelector::Op::kGreaterThan; break;
      case Tok::kLessThan: r.op = LabelSelector::Op::kLessThan; break;
      default:
        return invalid_argument("found '" + op_lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
    if (r.op == LabelSelector::Op::kIn || r.op == LabelSelector::Op::kNotIn) {
      KEDGE_ASSIGN_OR_RETURN(r.values, parse_values());
    } else {
      KEDGE_ASSIGN_OR_RETURN(std::string v, parse_exact_value());
      r.values.push_back(std::move(v));
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    KEDGE_RETURN_IF_ERROR(validate(r));
    return r;
  }

  Result<std::vector<std::string>> parse_values() {
    auto [tok, lit] = consume(Ctx::kValues);
    if (tok != Tok::kOpenPar) return invalid_argument("found '" + lit + "' expected: '('");
    std::tie(tok, lit) = lookahead(Ctx::kValues);
    switch (tok) {
      case Tok::kIdentifier:
      case Tok::kComma: {
        KEDGE_ASSIGN_OR_RETURN(auto s, parse_identifiers_list());
        auto [t, unused] = consume(Ctx::kValues);
        if (t != Tok::kClosedPar) return invalid_argument("found '" + lit + "', expected: ')'");
        return s;
      }
      case Tok::kClosedPar:
        consume(Ctx::kValues);
        return std::vector<std::string>{""};
      default:
        return invalid_argument("found '" + lit + "', expected: ',', ')' or identifier");
    }
  }

  Result<std::vector<std::string>> parse_identifiers_list() {
    std::vector<std::string> s;
    while (true) {
      auto [tok, lit] = consume(Ctx::kValues);
      if (tok == Tok::kIdentifier) {
        s.push_back(lit);
        auto [tok2, lit2] = lookahead(Ctx::kValues);
        if (tok2 == Tok::kComma) continue;
        if (tok2 == Tok::kClosedPar) return s;
        return invalid_argument("found '" + lit2 + "', expected: ',' or ')'");
      }
      if (tok == Tok::kComma) {
        if (s.empty()) s.emplace_back("");  // "(,"
        auto [tok2, unused] = lookahead(Ctx::kValues);
        if (tok2 == Tok::kClosedPar) {
          s.emplace_back("");  // ",)"
          return s;
        }
        if (tok2 == Tok::kComma) {
          consume(Ctx::kValues);
          s.emplace_back("");  // ",,"
        }
        continue;
      }
      return invalid_argument("found '" + lit + "', expected: ',', or identifier");
    }
  }

  Result<std::string> parse_exact_value() {
    auto [tok, unused] = lookahead(Ctx::kValues);
    if (tok == Tok::kEnd || tok == Tok::kComma) return std::string();
    auto [t, lit] = consume(Ctx::kValues);
    if (t == Tok::kIdentifier) return lit;
    return invalid_argument("found '" + lit + "', expected: identifier");
  }

 public:
  // NewRequirement's validation, with its field paths ("key", "values[i][key]").
  static Status validate(const LabelSelector::Requirement& r) {
    FieldErrors errs;
    auto key_msgs = is_qualified_name(r.key);
    if (!key_msgs.empty()) {
      std::string joined;
      for (const auto& m : key_msgs) joined += (joined.empty() ? "" : "; ") + m;
      errs.push_back(FieldError::invalid("key", r.key, joined));
    }
    auto values_raw = [&] {
      std::string out = "[]string{";
      for (std::size_t i = 0; i < r.values.size(); ++i) out += (i ? ", " : "") + go_quote(r.values[i]);
      return out + "}";
    };
    using Op = LabelSelector::Op;
    switch (r.op) {
      case Op::kIn:
      case Op::kNotIn:
        if (r.values.empty()) {
          errs.push_back(FieldError::invalid_raw("values", values_raw(), "for 'in', 'notin' operators, values set can't be empty"));
        }
        break;
      case Op::kEquals:
      case Op::kDoubleEquals:
      case Op::kNotEquals:
        if (r.values.size() != 1) {
          errs.push_back(FieldError::invalid_raw("values", values_raw(), "exact-match compatibility requires one single value"));
        }
        break;
      case Op::kExists:
      case Op::kDoesNotExist:
        if (!r.values.empty()) {
          errs.push_back(FieldError::invalid_raw("values", values_raw(), "values set must be empty for exists and does not exist"));
        }
        break;
      case Op::kGreaterThan:
      case Op::kLessThan:
        if (r.values.size() != 1) {
          errs.push_back(FieldError::invalid_raw("values", values_raw(), "for 'Gt', 'Lt' operators, exactly one value is required"));
        }
        for (std::size_t i = 0; i < r.values.size(); ++i) {
          std::int64_t n = 0;
          const auto& v = r.values[i];
          auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
          if (ec != std::errc() || p != v.data() + v.size()) {
            errs.push_back(FieldError::invalid("values[" + std::to_string(i) + "]", v,
                                               "for 'Gt', 'Lt' operators, the value must be an integer"));
          }
        }
        break;
    }
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      auto msgs = is_valid_label_value(r.values[i]);
      if (msgs.empty()) continue;
      std::string joined;
      for (const auto& m : msgs) joined += (joined.empty() ? "" : "; ") + m;
      errs.push_back(FieldError::invalid("values[" + std::to_string(i) + "][" + r.key + "]", r.values[i], joined));
    }
    if (errs.empty()) return {};
    return invalid_argument(aggregate_message(errs));
  }

 private:
  std::vector<Item> items_;
  std::size_t pos_ = 0;
};

void sort_by_key(std::vector<LabelSelector::Requirement>& reqs) {
  std::stable_sort(reqs.begin(), reqs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
}

std::optional<std::int64_t> parse_int(std::string_view v) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

}  // namespace

// ---------------- LabelSelector ----------------

bool LabelSelector::Requirement::matches(const json::object* labels) const {
  const json::value* v = labels != nullptr ? labels->if_contains(key) : nullptr;
  const bool has = v != nullptr && v->is_string();
  std::string_view val = has ? std::string_view(v->get_string()) : std::string_view();
  auto in_values = [&] { return std::binary_search(values.begin(), values.end(), val); };
  switch (op) {
    case Op::kIn:
    case Op::kEquals:
    case Op::kDoubleEquals:
      return has && in_values();
    case Op::kNotIn:
    case Op::kNotEquals:
      return !has || !in_values();
    case Op::kExists:
      return has;
    case Op::kDoesNotExist:
      return !has;
    case Op::kGreaterThan:
    case Op::kLessThan: {
      if (!has || values.size() != 1) return false;
      auto lv = parse_int(val);
      auto rv = parse_int(values[0]);
      if (!lv || !rv) return false;
      return op == Op::kGreaterThan ? *lv > *rv : *lv < *rv;
    }
  }
  return false;
}

std::string LabelSelector::Requirement::to_string() const {
  auto list = [&] {
    std::string out = "(";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + values[i];
    return out + ")";
  };
  switch (op) {
    case Op::kExists: return key;
    case Op::kDoesNotExist: return "!" + key;
    case Op::kEquals: return key + "=" + (values.empty() ? "" : values[0]);
    case Op::kDoubleEquals: return key + "==" + (values.empty() ? "" : values[0]);
    case Op::kNotEquals: return key + "!=" + (values.empty() ? "" : values[0]);
    case Op::kIn: return key + " in " + list();
    case Op::kNotIn: return key + " notin " + list();
    case Op::kGreaterThan: return key + ">" + (values.empty() ? "" : values[0]);
    case Op::kLessThan: return key + "<" + (values.empty() ? "" : values[0]);
  }
  return key;
}

LabelSelector LabelSelector::nothing() {
  LabelSelector s;
  s.nothing_ = true;
  return s;
}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  Parser p(text);
  KEDGE_ASSIGN_OR_RETURN(auto reqs, p.parse());
  sort_by_key(reqs);
  LabelSelector s;
  s.requirements_ = std::move(reqs);
  return s;
}

Result<LabelSelector> LabelSelector::from_map(const json::object& labels) {
  LabelSelector s;
  for (const auto& kv : labels) {
    Requirement r{std::string(kv.key()), Op::kEquals, {}};
    if (!kv.value().is_string()) return invalid_argument("label " + go_quote(kv.key()) + " must have a string value");
    r.values.emplace_back(kv.value().get_string());
    KEDGE_RETURN_IF_ERROR(Parser::validate(r));
    s.requirements_.push_back(std::move(r));
  }
  sort_by_key(s.requirements_);
  return s;
}

Result<LabelSelector> LabelSelector::from_json(const json::value& sel) {
  if (sel.is_null()) return nothing();
  if (!sel.is_object()) return invalid_argument("label selector must be an object");
  const json::object& o = sel.get_object();
  LabelSelector s;
  if (const json::value* ml = o.if_contains("matchLabels"); ml != nullptr && !ml->is_null()) {
    if (!ml->is_object()) return invalid_argument("matchLabels must be a map of strings");
    KEDGE_ASSIGN_OR_RETURN(s, from_map(ml->get_object()));
  }
  if (const json::value* me = o.if_contains("matchExpressions"); me != nullptr && !me->is_null()) {
    if (!me->is_array()) return invalid_argument("matchExpressions must be a list");
    for (const auto& e : me->get_array()) {
      if (!e.is_object()) return invalid_argument("matchExpressions entries must be objects");
      const json::object& eo = e.get_object();
      Requirement r;
      const json::value* key = eo.if_contains("key");
      r.key = key != nullptr && key->is_string() ? std::string(key->get_string()) : std::string();
      const json::value* op = eo.if_contains("operator");
      std::string ops = op != nullptr && op->is_string() ? std::string(op->get_string()) : std::string();
      if (ops == "In") {
        r.op = Op::kIn;
      } else if (ops == "NotIn") {
        r.op = Op::kNotIn;
      } else if (ops == "Exists") {
        r.op = Op::kExists;
      } else if (ops == "DoesNotExist") {
        r.op = Op::kDoesNotExist;
      } else {
        return invalid_argument(go_quote(ops) + " is not a valid label selector operator");
      }
      if (const json::value* vals = eo.if_contains("values"); vals != nullptr && vals->is_array()) {
        for (const auto& v : vals->get_array()) {
          if (!v.is_string()) return invalid_argument("matchExpressions values must be strings");
          r.values.emplace_back(v.get_string());
        }
      }
      std::sort(r.values.begin(), r.values.end());
      r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
      KEDGE_RETURN_IF_ERROR(Parser::validate(r));
      s.requirements_.push_back(std::move(r));
    }
  }
  sort_by_key(s.requirements_);
  return s;
}

bool LabelSelector::matches(const json::object* labels) const {
  if (nothing_) return false;
  return std::all_of(requirements_.begin(), requirements_.end(), [&](const auto& r) { return r.matches(labels); });
}

std::string LabelSelector::to_string() const {
  std::string out;
  for (const auto& r : requirements_) out += (out.empty() ? "" : ",") + r.to_string();
  return out;
}

std::optional<std::string> LabelSelector::requires_exact_match(std::string_view key) const {
  for (const auto& r : requirements_) {
    if (r.key != key) continue;
    if ((r.op == Op::kEquals || r.op == Op::kDoubleEquals || r.op == Op::kIn) && r.values.size() == 1) {
      return r.values[0];
    }
  }
  return std::nullopt;
}

// ---------------- FieldSelector ----------------

namespace {

std::vector<std::string> split_terms(std::string_view s) {
  std::vector<std::string> terms;
  if (s.empty()) return terms;
  std::size_t start = 0;
  bool in_slash = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (in_slash) {
      in_slash = false;
    } else if (s[i] == '\\') {
      in_slash = true;
    } else if (s[i] == ',') {
      terms.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.emplace_back(s.substr(start));
  return terms;
}

Result<std::string> unescape_value(std::string_view s) {
  std::string out;
  bool in_slash = false;
  for (char c : s) {
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        return invalid_argument(std::string("invalid field selector: invalid escape sequence: \\") + c);
      }
      out.push_back(c);
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return invalid_argument(std::string("invalid field selector: unescaped character in value: ") + c);
    } else {
      out.push_back(c);
    }
  }
  if (in_slash) return invalid_argument("invalid field selector: invalid escape sequence: \\");
  return out;
}

}  // namespace

std::string escape_field_selector_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  auto parts = split_terms(text);
  std::sort(parts.begin(), parts.end());
  FieldSelector sel;
  for (const auto& part : parts) {
    if (part.empty()) continue;
    // The first operator occurrence splits; "!=" and "==" are tried before "=".
    std::size_t at = std::string::npos;
    std::size_t op_len = 0;
    bool negated = false;
    for (std::size_t i = 0; i < part.size() && at == std::string::npos; ++i) {
      std::string_view rest = std::string_view(part).substr(i);
      if (rest.starts_with("!=")) {
        at = i, op_len = 2, negated = true;
      } else if (rest.starts_with("==")) {
        at = i, op_len = 2;
      } else if (rest.starts_with("=")) {
        at = i, op_len = 1;
      }
    }
    if (at == std::string::npos) {
      return invalid_argument("invalid selector: '" + std::string(text) + "'; can't understand '" + part + "'");
    }
    KEDGE_ASSIGN_OR_RETURN(std::string value, unescape_value(std::string_view(part).substr(at + op_len)));
    sel.terms_.push_back(Term{part.substr(0, at), std::move(value), negated});
  }
  return sel;
}

bool FieldSelector::matches(const std::function<std::optional<std::string>(std::string_view)>& get) const {
  for (const auto& t : terms_) {
    std::string v = get(t.field).value_or("");
    if ((v == t.value) == t.negated) return false;
  }
  return true;
}

std::vector<std::string> FieldSelector::fields() const {
  std::vector<std::string> out;
  for (const auto& t : terms_) {
    if (std::find(out.begin(), out.end(), t.field) == out.end()) out.push_back(t.field);
  }
  return out;
}

std::optional<std::string> FieldSelector::requires_exact_match(std::string_view field) const {
  for (const auto& t : terms_) {
    if (t.field == field && !t.negated) return t.value;
  }
  return std::nullopt;
}

std::string FieldSelector::to_string() const {
  std::string out;
  for (const auto& t : terms_) {
    if (!out.empty()) out += ",";
    out += t.field + (t.negated ? "!=" : "=") + escape_field_selector_value(t.value);
  }
  return out;
}

}  // namespace kedge::api

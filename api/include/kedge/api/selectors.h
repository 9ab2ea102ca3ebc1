// Label and field selectors, with the syntax, matching rules, canonical
// string form and error messages of k8s.io/apimachinery's labels and fields
// packages (what `kubectl get -l ...` / `--field-selector ...` send).
//
// Label selector grammar (comma = AND; whitespace around tokens ignored):
//   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)
//   key (exists)  !key (does not exist)  key>1  key<1 (integers, rarely used)
// Keys must be qualified names, values valid label values; violations produce
// upstream's message, e.g.
//   unable to parse requirement: values[0][app]: Invalid value: "a b": a valid label must be ...
// != and notin match objects that lack the key, as upstream.
//
// Field selector grammar: term (',' term)*, term = field ('=' | '==' | '!=') value;
// a backslash escapes '\', ',' and '=' in values. Which fields a kind supports is
// the API server's business (see fields()).
//
// Thread-safety: immutable values after construction; const methods may be
// called concurrently.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

class LabelSelector {
 public:
  enum class Op { kIn, kNotIn, kEquals, kDoubleEquals, kNotEquals, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;  // sorted, unique
    bool matches(const boost::json::object* labels) const;
    std::string to_string() const;
  };

  // Matches everything.
  LabelSelector() = default;
  // Matches nothing (a null metav1.LabelSelector).
  static LabelSelector nothing();

  // Parses the query-string form. The empty string matches everything.
  static Result<LabelSelector> parse(std::string_view text);
  // Converts a metav1.LabelSelector {matchLabels, matchExpressions} (as
  // metav1.LabelSelectorAsSelector): null -> nothing(), {} -> everything.
  static Result<LabelSelector> from_json(const boost::json::value& metav1_label_selector);
  // Builds an equality selector from a label map (e.g. a Service's spec.selector).
  static Result<LabelSelector> from_map(const boost::json::object& labels);

  // `labels` may be null (an object without labels).
  bool matches(const boost::json::object* labels) const;
  bool empty() const { return !nothing_ && requirements_.empty(); }
  bool matches_nothing() const { return nothing_; }
  // Canonical form: requirements sorted by key, values sorted ("a=b,x in (1,2)").
  std::string to_string() const;
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // The value `key` must equal, when some requirement pins it (= / == / single-value in).
  std::optional<std::string> requires_exact_match(std::string_view key) const;

 private:
  bool nothing_ = false;
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  struct Term {
    std::string field;
    std::string value;  // unescaped
    bool negated = false;
  };

  // Matches everything.
  FieldSelector() = default;
  static Result<FieldSelector> parse(std::string_view text);

  // `get(field)` returns the object's value for a field; nullopt counts as "".
  bool matches(const std::function<std::optional<std::string>(std::string_view field)>& get) const;
  bool empty() const { return terms_.empty(); }
  // Distinct field names used, in order of appearance after sorting.
  std::vector<std::string> fields() const;
  const std::vector<Term>& terms() const { return terms_; }
  // The value `field` must equal, when a positive term pins it
  // (used to serve `spec.nodeName=<node>` from an index).
  std::optional<std::string> requires_exact_match(std::string_view field) const;
  // Canonical form with values escaped ("metadata.name=a\,b").
  std::string to_string() const;

 private:
  std::vector<Term> terms_;
};

// Escapes '\', ',' and '=' in a field selector value.
std::string escape_field_selector_value(std::string_view value);

}  // namespace kedge::api

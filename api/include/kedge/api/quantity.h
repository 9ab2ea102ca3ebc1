// Kubernetes resource.Quantity: "100m", "1Gi", "1e3", "0.5" ...
//
// Semantics of k8s.io/apimachinery/pkg/api/resource:
//  - suffixes: binary Ki Mi Gi Ti Pi Ei (powers of 1024), decimal n u m "" k M
//    G T P E (powers of 1000), or an exponent e/E<int> ("1e3");
//  - precision: values are rounded up (away from zero) to a multiple of 1n,
//    so "0.1n" becomes "1n" (asking for some resource gets some resource);
//  - binary (Ki..Ei) magnitudes are capped at 2^63-1 units; decimal ones are
//    kept exactly at any size ("1e100" stays "10e99", as upstream prints it);
//  - the canonical string keeps the suffix family the value was written in:
//    "1024Mi" -> "1Gi", "1000" -> "1k", "0.5" -> "500m", "1.5Gi" -> "1536Mi",
//    "1e3" -> "1e3"; binary values below 1024 or with fractions fall back to
//    decimal ("0.5Ki" -> "512");
//  - value()/milli_value() round away from zero, as upstream's Value()/MilliValue().
// Parse errors carry upstream's messages ("quantities must match the regular
// expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'").
// Like upstream, an input that is already "canonical enough" is printed back
// verbatim ("+1", "007", "1.G", "1E3" stay as written; "1000" becomes "1k");
// arithmetic results are always canonical. Not mirrored: for a decimal-SI value whose
// exponent has no suffix (above 10^18, e.g. "1000000000000000000000")
// upstream prints the mantissa alone ("1", a different value); kedge prints
// "1e21". Arithmetic (add/sub) on values beyond 2^63-1 units saturates.
//
// Thread-safety: a value type; copy freely.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

class Quantity {
 public:
  enum class Format { kDecimalExponent, kBinarySI, kDecimalSI };

  Quantity() = default;  // zero, DecimalSI
  static Result<Quantity> parse(std::string_view text);
  // From a JSON value as upstream's UnmarshalJSON: a string (trimmed) or a number.
  static Result<Quantity> from_json(const boost::json::value& v);
  static Quantity from_int(std::int64_t value, Format format = Format::kDecimalSI);
  static Quantity from_milli(std::int64_t milli, Format format = Format::kDecimalSI);

  std::string to_string() const;
  boost::json::value to_json() const { return boost::json::value(to_string()); }

  Format format() const { return format_; }
  bool is_zero() const { return big_digits_.empty() && nano_ == 0; }
  int sign() const;
  // q and q*1000 as integers rounded away from zero; saturate at the int64 range.
  std::int64_t value() const;
  std::int64_t milli_value() const;

  // Sum/difference keep this quantity's format (as upstream Add/Sub).
  Quantity add(const Quantity& other) const;
  Quantity sub(const Quantity& other) const;

  // Compares values, whatever their formats ("1Gi" == "1073741824").
  static int compare(const Quantity& a, const Quantity& b);
  friend bool operator==(const Quantity& a, const Quantity& b) { return compare(a, b) == 0; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    const int c = compare(a, b);
    return c < 0 ? std::strong_ordering::less : (c > 0 ? std::strong_ordering::greater : std::strong_ordering::equal);
  }

 private:
  __extension__ using Nano = __int128;  // value * 10^9, exact
  Quantity(Nano nano, Format f) : nano_(nano), format_(f) {}
  static Nano clamp(Nano n);
  static Quantity big_decimal(std::string digits, long exp, bool negative, Format format);
  Nano saturated_nano() const;

  Nano nano_ = 0;  // the value when big_digits_ is empty
  Format format_ = Format::kDecimalSI;
  // Decimal magnitudes above 2^63-1 units, exactly:
  // (big_negative_ ? -1 : 1) * big_digits_ * 10^big_exp_, digits without
  // leading or trailing zeros.
  std::string big_digits_;
  long big_exp_ = 0;
  bool big_negative_ = false;
  // The input text when upstream would print it back unchanged (its cached
  // string), else empty.
  std::string text_;
};

}  // namespace kedge::api

// Kubernetes resource.Quantity: "100m", "1Gi", "1e3", "0.5" ...
//
// Semantics of k8s.io/apimachinery/pkg/api/resource:
//  - suffixes: binary Ki Mi Gi Ti Pi Ei (powers of 1024), decimal n u m "" k M
//    G T P E (powers of 1000), or an exponent e/E<int> ("1e3");
//  - precision: values are rounded up (away from zero) to a multiple of 1n,
//    so "0.1n" becomes "1n" (asking for some resource gets some resource);
//  - magnitude is capped at 2^63-1 units;
//  - the canonical string keeps the suffix family the value was written in:
//    "1024Mi" -> "1Gi", "1000" -> "1k", "0.5" -> "500m", "1.5Gi" -> "1536Mi",
//    "1e3" -> "1e3"; binary values below 1024 or with fractions fall back to
//    decimal ("0.5Ki" -> "512");
//  - value()/milli_value() round away from zero, as upstream's Value()/MilliValue().
// Parse errors carry upstream's messages ("quantities must match the regular
// expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'").
// Not mirrored: upstream echoes a few non-canonical inputs verbatim ("+1",
// "1E3"); kedge always prints the canonical form.
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
  bool is_zero() const { return nano_ == 0; }
  int sign() const { return nano_ < 0 ? -1 : (nano_ > 0 ? 1 : 0); }
  // q and q*1000 as integers rounded away from zero; saturate at the int64 range.
  std::int64_t value() const;
  std::int64_t milli_value() const;

  // Sum/difference keep this quantity's format (as upstream Add/Sub).
  Quantity add(const Quantity& other) const;
  Quantity sub(const Quantity& other) const;

  friend bool operator==(const Quantity& a, const Quantity& b) { return a.nano_ == b.nano_; }
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    return a.nano_ < b.nano_ ? std::strong_ordering::less
                             : (a.nano_ > b.nano_ ? std::strong_ordering::greater : std::strong_ordering::equal);
  }

 private:
  __extension__ using Nano = __int128;  // value * 10^9, exact
  Quantity(Nano nano, Format f) : nano_(nano), format_(f) {}
  static Nano clamp(Nano n);

  Nano nano_ = 0;
  Format format_ = Format::kDecimalSI;
};

}  // namespace kedge::api

#include "kedge/api/quantity.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace kedge::api {

namespace json = boost::json;

namespace {

__extension__ using I128 = __int128;

constexpr std::string_view kFormatWrong =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
constexpr std::string_view kSuffixWrong = "unable to parse quantity's suffix";
constexpr I128 kNanoPerUnit = 1'000'000'000;
constexpr I128 kMaxUnits = std::numeric_limits<std::int64_t>::max();
constexpr I128 kMaxNano = kMaxUnits * kNanoPerUnit;
// Saturation bound for intermediate arithmetic (well above kMaxNano, well
// below the int128 limit).
constexpr I128 kSat = kMaxNano * 1000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Parts {
  bool positive = true;
  std::string_view num;
  std::string_view denom;
  std::string_view suffix;
};

// upstream's parseQuantityString.
Result<Parts> split(std::string_view s) {
  Parts p;
  std::size_t pos = 0;
  const std::size_t end = s.size();
  if (pos < end && (s[0] == '-' || s[0] == '+')) {
    p.positive = s[0] != '-';
    ++pos;
  }
  while (pos < end && s[pos] == '0') ++pos;
  if (pos >= end) {
    p.num = "0";
    return p;
  }
  std::size_t start = pos;
  while (pos < end && is_digit(s[pos])) ++pos;
  p.num = s.substr(start, pos - start);
  if (p.num.empty()) p.num = "0";
  if (pos < end && s[pos] == '.') {
    ++pos;
    start = pos;
    while (pos < end && is_digit(s[pos])) ++pos;
    p.denom = s.substr(start, pos - start);
  }
  const std::size_t suffix_start = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(s[pos]) != std::string_view::npos) ++pos;
  if (pos < end && (s[pos] == '-' || s[pos] == '+')) ++pos;
  while (pos < end && is_digit(s[pos])) ++pos;
  if (pos != end) return invalid_argument(std::string(kFormatWrong));
  p.suffix = s.substr(suffix_start);
  return p;
}

struct Suffix {
  int base;       // 10 or 2
  long exponent;  // power of base
  Quantity::Format format;
};

Result<Suffix> interpret(std::string_view s) {
  using F = Quantity::Format;
  static constexpr std::pair<std::string_view, int> kDec[] = {{"n", -9}, {"u", -6}, {"m", -3}, {"", 0}, {"k", 3},
                                                             {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  static constexpr std::pair<std::string_view, int> kBin[] = {{"Ki", 10}, {"Mi", 20}, {"Gi", 30},
                                                             {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  for (const auto& [sfx, e] : kDec) {
    if (s == sfx) return Suffix{10, e, F::kDecimalSI};
  }
  for (const auto& [sfx, e] : kBin) {
    if (s == sfx) return Suffix{2, e, F::kBinarySI};
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E')) {
    std::string_view digits = s.substr(1);
    bool neg = false;
    if (digits[0] == '+' || digits[0] == '-') {
      neg = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) {
      return invalid_argument(std::string(kSuffixWrong));
    }
    long e = 0;
    for (char c : digits) e = std::min<long>(e * 10 + (c - '0'), 1'000'000'000L);  // huge is huge
    return Suffix{10, neg ? -e : e, F::kDecimalExponent};
  }
  return invalid_argument(std::string(kSuffixWrong));
}

// upstream's ParseQuantity fast path, which caches the input string when it
// is already canonical for its format (and then prints it back verbatim).
bool keeps_text(const Parts& p, const Suffix& sfx) {
  const std::string shifted = std::string(p.num) + std::string(p.denom);
  if (sfx.format == Quantity::Format::kBinarySI) {
    if (!p.denom.empty()) return false;
    const long precision = 15 - static_cast<long>(p.num.size()) - static_cast<long>(static_cast<float>(sfx.exponent) * 3 / 10) - 1;
    if (precision < 0) return false;
    std::int64_t value = 0;
    for (char c : shifted) value = value * 10 + (c - '0');
    if (sfx.exponent >= 62 || value > (std::numeric_limits<std::int64_t>::max() >> sfx.exponent)) return false;
    return sfx.exponent % 10 == 0 && (value & 0x07) != 0;
  }
  const long precision = 18 - static_cast<long>(shifted.size());
  if (precision < 0) return false;
  const long scale = sfx.exponent - static_cast<long>(p.denom.size());
  if (scale < -9) return false;
  return scale % 3 == 0 && !(shifted.size() >= 3 && shifted.ends_with("000")) && shifted[0] != '0';
}

I128 mul_sat(I128 a, I128 b) {
  if (a == 0 || b == 0) return 0;
  if (a > kSat / b) return kSat;
  return a * b;
}

I128 pow10_sat(long n) {
  I128 r = 1;
  for (long i = 0; i < n; ++i) {
    r *= 10;
    if (r >= kSat) return kSat;
  }
  return r;
}

// digits * 10^shift, rounded up when shift < 0; saturating.
I128 scale_digits(std::string_view digits, long shift) {
  while (!digits.empty() && digits.front() == '0') digits.remove_prefix(1);
  if (digits.empty()) return 0;
  if (shift >= 0) {
    if (static_cast<long>(digits.size()) + shift > 37) return kSat;
    I128 v = 0;
    for (char c : digits) v = v * 10 + (c - '0');
    return mul_sat(v, pow10_sat(shift));
  }
  const long drop = -shift;
  if (drop >= static_cast<long>(digits.size())) return 1;  // non-zero and below 1n
  std::string_view keep = digits.substr(0, digits.size() - static_cast<std::size_t>(drop));
  std::string_view rest = digits.substr(keep.size());
  if (keep.size() > 37) return kSat;
  I128 v = 0;
  for (char c : keep) v = v * 10 + (c - '0');
  if (rest.find_first_not_of('0') != std::string_view::npos) ++v;
  return v;
}

// num.denom * 2^exp in nano units, rounded up. Fractions beyond 18 digits are
// folded into a round-up (only absurd inputs have them).
I128 binary_nano(std::string_view num, std::string_view den, int exp) {
  while (!num.empty() && num.front() == '0') num.remove_prefix(1);
  bool tail = false;
  if (den.size() > 18) {
    tail = den.substr(18).find_first_not_of('0') != std::string_view::npos;
    den = den.substr(0, 18);
  }
  if (num.size() > 20) return kSat;
  I128 n = 0;
  for (char c : num) n = n * 10 + (c - '0');
  I128 nano = mul_sat(mul_sat(n, static_cast<I128>(1) << exp), kNanoPerUnit);
  I128 f = 0;
  for (char c : den) f = f * 10 + (c - '0');
  if (f == 0 && !tail) return nano;
  const I128 fv = f << exp;
  const I128 div = pow10_sat(static_cast<long>(den.size()));
  const I128 q = fv / div;
  const I128 r = fv % div;
  I128 frac = q * kNanoPerUnit + (r * kNanoPerUnit) / div;
  const bool exact = (r * kNanoPerUnit) % div == 0;
  if (!exact || tail) ++frac;
  return std::min(nano + frac, kSat);
}

std::string i128_to_string(I128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  I128 u = neg ? -v : v;  // |v| <= kSat, far from the int128 limit
  std::string out;
  while (u > 0) {
    out.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (neg) out.push_back('-');
  std::reverse(out.begin(), out.end());
  return out;
}

std::string_view decimal_suffix(long exponent, bool& found) {
  found = true;
  switch (exponent) {
    case -9: return "n";
    case -6: return "u";
    case -3: return "m";
    case 0: return "";
    case 3: return "k";
    case 6: return "M";
    case 9: return "G";
    case 12: return "T";
    case 15: return "P";
    case 18: return "E";
    default: found = false; return "";
  }
}

std::int64_t ceil_div_to_i64(I128 nano, I128 divisor) {
  I128 q = nano / divisor;
  if (nano % divisor != 0) q += nano > 0 ? 1 : -1;  // away from zero, as upstream
  if (q > std::numeric_limits<std::int64_t>::max()) return std::numeric_limits<std::int64_t>::max();
  if (q < std::numeric_limits<std::int64_t>::min()) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(q);
}

}  // namespace

Quantity Quantity::big_decimal(std::string digits, long exp, bool negative, Format format) {
  std::size_t lead = digits.find_first_not_of('0');
  digits.erase(0, lead == std::string::npos ? digits.size() : lead);
  if (exp < -9) {
    // Round up (away from zero) to a multiple of 1n, as upstream.
    const std::size_t drop = static_cast<std::size_t>(-9 - exp);
    bool nonzero = drop < digits.size() ? digits.find_first_not_of('0', digits.size() - drop) != std::string::npos : true;
    digits.resize(digits.size() > drop ? digits.size() - drop : 0);
    exp = -9;
    if (nonzero) {
      std::size_t i = digits.size();
      while (i > 0 && digits[i - 1] == '9') digits[--i] = '0';
      if (i == 0) {
        digits.insert(digits.begin(), '1');
      } else {
        ++digits[i - 1];
      }
    }
  }
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++exp;
  }
  Quantity q(0, format);
  q.big_digits_ = std::move(digits);
  q.big_exp_ = exp;
  q.big_negative_ = negative;
  return q;
}

int Quantity::sign() const {
  if (!big_digits_.empty()) return big_negative_ ? -1 : 1;
  return nano_ < 0 ? -1 : (nano_ > 0 ? 1 : 0);
}

int Quantity::compare(const Quantity& a, const Quantity& b) {
  const int sa = a.sign();
  const int sb = b.sign();
  if (sa != sb) return sa < sb ? -1 : 1;
  const bool ba = !a.big_digits_.empty();
  const bool bb = !b.big_digits_.empty();
  if (!ba && !bb) return a.nano_ < b.nano_ ? -1 : (a.nano_ > b.nano_ ? 1 : 0);
  int mag = 0;  // |a| vs |b|; a big magnitude exceeds every normal one
  if (ba && !bb) {
    mag = 1;
  } else if (!ba && bb) {
    mag = -1;
  } else {
    const long la = static_cast<long>(a.big_digits_.size()) + a.big_exp_;
    const long lb = static_cast<long>(b.big_digits_.size()) + b.big_exp_;
    if (la != lb) {
      mag = la < lb ? -1 : 1;
    } else {
      const std::size_t n = std::max(a.big_digits_.size(), b.big_digits_.size());
      std::string da = a.big_digits_ + std::string(n - a.big_digits_.size(), '0');
      std::string db = b.big_digits_ + std::string(n - b.big_digits_.size(), '0');
      mag = da < db ? -1 : (da > db ? 1 : 0);
    }
  }
  return sa < 0 ? -mag : mag;
}

Quantity::Nano Quantity::clamp(Nano n) {
  if (n > kMaxNano) return kMaxNano;
  if (n < -kMaxNano) return -kMaxNano;
  return n;
}

Result<Quantity> Quantity::parse(std::string_view text) {
  if (text.empty()) return invalid_argument(std::string(kFormatWrong));
  KEDGE_ASSIGN_OR_RETURN(Parts p, split(text));
  KEDGE_ASSIGN_OR_RETURN(Suffix sfx, interpret(p.suffix));
  std::string digits = std::string(p.num) + std::string(p.denom);
  const long frac = static_cast<long>(p.denom.size());
  I128 nano = 0;
  if (sfx.base == 10) {
    nano = scale_digits(digits, sfx.exponent - frac + 9);
    if (nano > kMaxNano) return big_decimal(digits, sfx.exponent - frac, !p.positive, sfx.format);
  } else {
    nano = binary_nano(p.num, p.denom, static_cast<int>(sfx.exponent));
  }
  nano = std::min(nano, kMaxNano);
  Quantity q(p.positive ? nano : -nano, sfx.format);
  if (keeps_text(p, sfx)) q.text_ = std::string(text);
  return q;
}

Result<Quantity> Quantity::from_json(const json::value& v) {
  if (v.is_null()) return Quantity();
  if (v.is_string()) {
    std::string_view s = v.get_string();
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return parse(s);
  }
  if (v.is_int64()) return parse(std::to_string(v.get_int64()));
  if (v.is_uint64()) return parse(std::to_string(v.get_uint64()));
  if (v.is_double()) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
    if (ec != std::errc()) return invalid_argument(std::string(kFormatWrong));
    return parse(std::string_view(buf, static_cast<std::size_t>(p - buf)));
  }
  return invalid_argument(std::string(kFormatWrong));
}

Quantity Quantity::from_int(std::int64_t value, Format format) {
  return Quantity(clamp(static_cast<Nano>(value) * kNanoPerUnit), format);
}

Quantity Quantity::from_milli(std::int64_t milli, Format format) {
  return Quantity(clamp(static_cast<Nano>(milli) * 1'000'000), format);
}

std::string Quantity::to_string() const {
  if (!text_.empty()) return text_;
  if (!big_digits_.empty()) {
    std::string mantissa = big_digits_;
    long exponent = big_exp_;
    while (exponent % 3 != 0) {
      mantissa.push_back('0');
      --exponent;
    }
    std::string out = (big_negative_ ? "-" : "") + mantissa;
    if (format_ == Format::kDecimalSI) {
      bool found = false;
      std::string_view sfx = decimal_suffix(exponent, found);
      if (found) return out + std::string(sfx);
    }
    return exponent == 0 ? out : out + "e" + std::to_string(exponent);
  }
  if (nano_ == 0) return "0";
  Format f = format_;
  if (f == Format::kBinarySI) {
    if ((nano_ > -1024 * kNanoPerUnit && nano_ < 1024 * kNanoPerUnit) || nano_ % kNanoPerUnit != 0) {
      f = Format::kDecimalSI;
    }
  }
  if (f == Format::kBinarySI) {
    I128 units = nano_ / kNanoPerUnit;
    int exp = 0;
    const I128 mag = units < 0 ? -units : units;
    I128 m = mag;
    while (m >= 1024 && m % 1024 == 0) {
      m /= 1024;
      ++exp;
    }
    static constexpr std::string_view kBin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    return i128_to_string(units < 0 ? -m : m) + std::string(kBin[exp]);
  }
  I128 mantissa = nano_;
  long exponent = -9;
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  switch (exponent % 3) {
    case 1:
    case -2:
      mantissa *= 10;
      exponent -= 1;
      break;
    case 2:
    case -1:
      mantissa *= 100;
      exponent -= 2;
      break;
    default:
      break;
  }
  std::string out = i128_to_string(mantissa);
  if (f == Format::kDecimalSI) {
    bool found = false;
    std::string_view sfx = decimal_suffix(exponent, found);
    if (found) return out + std::string(sfx);
  }
  if (exponent == 0) return out;
  return out + "e" + std::to_string(exponent);
}

std::int64_t Quantity::value() const {
  if (!big_digits_.empty()) return big_negative_ ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  return ceil_div_to_i64(nano_, kNanoPerUnit);
}

std::int64_t Quantity::milli_value() const {
  if (!big_digits_.empty()) return big_negative_ ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  return ceil_div_to_i64(nano_, 1'000'000);
}

Quantity::Nano Quantity::saturated_nano() const {
  if (!big_digits_.empty()) return big_negative_ ? -kMaxNano : kMaxNano;
  return nano_;
}

Quantity Quantity::add(const Quantity& other) const {
  return Quantity(clamp(saturated_nano() + other.saturated_nano()), format_);
}
Quantity Quantity::sub(const Quantity& other) const {
  return Quantity(clamp(saturated_nano() - other.saturated_nano()), format_);
}

}  // namespace kedge::api

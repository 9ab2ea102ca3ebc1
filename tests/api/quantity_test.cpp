#include "kedge/api/quantity.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace kedge::api {
namespace {

using testing::J;

struct QCase {
  const char* name;
  const char* input;
  const char* canonical;
  std::int64_t milli;
};
void PrintTo(const QCase& c, std::ostream* os) { *os << c.name; }

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

// Canonical forms as the API server writes them back (kubectl get -o yaml).
const QCase kCases[] = {
    {"zero", "0", "0", 0},
    {"zero_binary", "0Mi", "0", 0},
    {"milli_cpu", "100m", "100m", 100},
    {"one", "1", "1", 1000},
    {"thousand_to_k", "1000", "1k", 1000000},
    {"not_multiple_of_1000", "1500", "1500", 1500000},
    {"half", "0.5", "500m", 500},
    {"leading_dot", ".5", "500m", 500},
    {"one_and_half", "1.5", "1500m", 1500},
    {"gibi", "1Gi", "1Gi", 1073741824000},
    {"mebi_to_gibi", "1024Mi", "1Gi", 1073741824000},
    {"mebi_kept", "1536Mi", "1536Mi", 1610612736000},
    {"fractional_gibi", "1.5Gi", "1536Mi", 1610612736000},
    {"half_kibi_is_decimal", "0.5Ki", "512", 512000},
    {"kibi_fraction_not_integral", "1.0001Ki", "1024102400u", 1024103},
    {"small_binary_is_decimal", "100Ki", "100Ki", 102400000},
    {"exponent", "1e3", "1e3", 1000000},
    {"exponent_upper_kept_as_upstream", "1E3", "1E3", 1000000},
    {"exponent_fraction", "1.5e3", "1500", 1500000},
    {"negative_exponent", "1e-3", "1e-3", 1},
    {"nano", "1n", "1n", 1},
    {"micro", "1u", "1u", 1},
    {"round_up_below_nano", "0.1n", "1n", 1},
    {"mega", "1M", "1M", 1000000000},
    {"kilo_to_mega", "1000k", "1M", 1000000000},
    {"tiny_kilo", "0.001k", "1", 1000},
    {"giga", "5G", "5G", 5000000000000},
    {"dot_suffix_kept_as_upstream", "1.G", "1.G", 1000000000000},
    {"negative", "-1", "-1", -1000},
    {"negative_milli", "-100m", "-100m", -100},
    {"negative_binary", "-0.5Gi", "-512Mi", -536870912000},
    {"plus_sign_kept_as_upstream", "+1", "+1", 1000},
    {"leading_zeros_kept_as_upstream", "007", "007", 7000},
    {"decimal_beyond_int64_kept", "12345678901234567890", "12345678901234567890", kMax},
    {"just_beyond_int64", "9223372036854775808", "9223372036854775808", kMax},
    {"int64_max", "9223372036854775807", "9223372036854775807", kMax},
    {"huge_exponent", "1e100", "10e99", kMax},
    {"huge_negative", "-1e30", "-1e30", std::numeric_limits<std::int64_t>::min()},
    {"huge_with_fraction", "12345678901234567890.5", "12345678901234567890500m", kMax},
    {"huge_milli_to_exa", "10000000000000000000000m", "10E", kMax},
    {"huge_kilo", "18446744073709551616000", "18446744073709551616k", kMax},
    {"huge_fraction_rounds_up", "12345678901234567890.0000000001", "12345678901234567890000000001n", kMax},
    {"huge_decimal_si_without_suffix", "1000000000000000000000", "1e21", kMax},
    {"binary_capped", "100Ei", "9223372036854775807", kMax},
    {"tiny_exponent", "1e-100", "1e-9", 1},
    {"exa_binary", "8Ei", "9223372036854775807", kMax},
    {"one_exa_binary", "1Ei", "1Ei", kMax},
};

class QuantityTable : public ::testing::TestWithParam<QCase> {};

TEST_P(QuantityTable, CanonicalAndMilli) {
  const QCase& c = GetParam();
  auto q = Quantity::parse(c.input);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ(q->to_string(), c.canonical);
  EXPECT_EQ(q->milli_value(), c.milli);
  // The canonical form is a fixed point.
  auto again = Quantity::parse(q->to_string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->to_string(), c.canonical);
  EXPECT_EQ(*again, *q);
}

INSTANTIATE_TEST_SUITE_P(Upstream, QuantityTable, ::testing::ValuesIn(kCases), testing::CaseName());

TEST(Quantity, ParseErrors) {
  const std::string format_wrong =
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  for (const char* bad : {"", "abc", "1.5.5", " 1", "1 ", "1Zi", "1Gi5x"}) {
    auto q = Quantity::parse(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(q.status().message(), format_wrong) << bad;
  }
  for (const char* bad : {"1ki", "1i", "1e", "1mi", "--1", "1KiB"}) {
    auto q = Quantity::parse(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().message(), bad == std::string("1KiB") ? format_wrong : "unable to parse quantity's suffix")
        << bad;
  }
}

TEST(Quantity, CompareAndArithmetic) {
  auto a = *Quantity::parse("1Gi");
  auto b = *Quantity::parse("1073741824");
  auto c = *Quantity::parse("1G");
  EXPECT_EQ(a, b);
  EXPECT_GT(a, c);
  EXPECT_LT(*Quantity::parse("100m"), *Quantity::parse("0.2"));
  EXPECT_EQ(*Quantity::parse("500m"), *Quantity::parse("0.5"));
  EXPECT_EQ(Quantity::parse("007")->add(Quantity()).to_string(), "7");  // arithmetic is canonical
  auto sum = Quantity::parse("250m")->add(*Quantity::parse("750m"));
  EXPECT_EQ(sum.to_string(), "1");
  auto mem = Quantity::parse("1Gi")->add(*Quantity::parse("512Mi"));
  EXPECT_EQ(mem.to_string(), "1536Mi");
  EXPECT_EQ(Quantity::parse("1")->sub(*Quantity::parse("1500m")).to_string(), "-500m");
  EXPECT_EQ(Quantity::from_milli(2500).to_string(), "2500m");
  EXPECT_EQ(Quantity::from_int(2048, Quantity::Format::kBinarySI).to_string(), "2Ki");
}

TEST(Quantity, CompareHugeValues) {
  auto q = [](const char* s) { return *Quantity::parse(s); };
  EXPECT_GT(q("1e100"), q("1e99"));
  EXPECT_GT(q("1e20"), q("9223372036854775807"));
  EXPECT_LT(q("-1e20"), q("-9223372036854775807"));
  EXPECT_LT(q("-1e30"), q("-1e20"));
  EXPECT_EQ(q("10000000000000000000000m"), q("10E"));
  EXPECT_EQ(q("1e21"), q("1000000000000000000000"));
  EXPECT_LT(q("12345678901234567890"), q("12345678901234567890.5"));
  EXPECT_EQ(q("1e30").add(q("1")).to_string(), "9223372036854775807");  // saturates
}

TEST(Quantity, ValueRoundsAwayFromZero) {
  EXPECT_EQ(Quantity::parse("100m")->value(), 1);
  EXPECT_EQ(Quantity::parse("1.5")->value(), 2);
  EXPECT_EQ(Quantity::parse("-1.5")->value(), -2);
  EXPECT_EQ(Quantity::parse("2")->value(), 2);
  EXPECT_EQ(Quantity::parse("1n")->milli_value(), 1);
  EXPECT_EQ(Quantity::parse("64Mi")->value(), 67108864);
}

TEST(Quantity, FromJson) {
  EXPECT_EQ(Quantity::from_json(J(R"(" 128Mi ")"))->to_string(), "128Mi");
  EXPECT_EQ(Quantity::from_json(J("2"))->to_string(), "2");
  EXPECT_EQ(Quantity::from_json(J("0.5"))->to_string(), "500m");
  EXPECT_TRUE(Quantity::from_json(J("null"))->is_zero());
  EXPECT_FALSE(Quantity::from_json(J("true")).ok());
  EXPECT_FALSE(Quantity::from_json(J(R"("1 Gi")")).ok());
  EXPECT_EQ(Quantity::parse("1.5Gi")->to_json(), J(R"("1536Mi")"));
}

}  // namespace
}  // namespace kedge::api

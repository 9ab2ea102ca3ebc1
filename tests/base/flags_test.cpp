#include "kedge/base/flags.h"

#include <fstream>

#include <gtest/gtest.h>

#include "kedge/testing/process.h"

namespace kedge::flags {
namespace {

struct Options {
  std::string data_dir = "/var/lib/kedge";
  std::int64_t port = 6443;
  bool disable_agent = false;
  std::vector<std::string> sans = {"localhost"};
};

class FlagsTest : public ::testing::Test {
 protected:
  FlagsTest() { reset(); }
  // A fresh FlagSet and defaults, as a new process would have.
  void reset() {
    o_ = Options{};
    set_ = FlagSet("server", "Run the server.");
    set_.add("data-dir", &o_.data_dir, "where state lives");
    set_.add("https-listen-port", &o_.port, "API port");
    set_.add("disable-agent", &o_.disable_agent, "no local agent");
    set_.add("tls-san", &o_.sans, "extra SANs");
  }
  Result<FlagSet::Outcome> parse(std::vector<std::string> args) {
    reset();
    // Never read the machine's /etc/kedge/config.yaml in a unit test.
    if (std::find_if(args.begin(), args.end(), [](auto& a) { return a.starts_with("--config"); }) ==
        args.end()) {
      args.push_back("--config=" + (dir_ / "absent.yaml").string());
      write_config("");
    }
    return set_.parse(args);
  }
  void write_config(const std::string& text) { std::ofstream(dir_ / "absent.yaml") << text; }

  testing::TempDir dir_;
  Options o_;
  FlagSet set_{"server", ""};
};

TEST_F(FlagsTest, DefaultsStayWithoutFlags) {
  ASSERT_TRUE(parse({}).ok());
  EXPECT_EQ(o_.data_dir, "/var/lib/kedge");
  EXPECT_EQ(o_.port, 6443);
  EXPECT_FALSE(o_.disable_agent);
  EXPECT_EQ(o_.sans, std::vector<std::string>{"localhost"});
}

TEST_F(FlagsTest, ParsesAllForms) {
  ASSERT_TRUE(parse({"--data-dir", "/d", "--https-listen-port=7443", "--disable-agent", "--tls-san=a,b",
                     "--tls-san", "c", "rest"})
                  .ok());
  EXPECT_EQ(o_.data_dir, "/d");
  EXPECT_EQ(o_.port, 7443);
  EXPECT_TRUE(o_.disable_agent);
  EXPECT_EQ(o_.sans, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(set_.positional(), std::vector<std::string>{"rest"});
}

TEST_F(FlagsTest, ErrorsNameTheFlag) {
  auto r = parse({"--https-listen-port=abc"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--https-listen-port=\"abc\""), std::string::npos);
  auto u = parse({"--no-such-flag"});
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("unknown flag --no-such-flag"), std::string::npos);
}

TEST_F(FlagsTest, HelpListsEveryFlagWithDefault) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, FlagSet::Outcome::kHelp);
  const auto usage = set_.usage();
  for (const char* want : {"--data-dir", "(default \"/var/lib/kedge\")", "--https-listen-port",
                           "(default \"6443\")", "--disable-agent", "--tls-san", "--config"}) {
    EXPECT_NE(usage.find(want), std::string::npos) << want << " missing from\n" << usage;
  }
}

TEST_F(FlagsTest, ConfigFileFillsWhatFlagsLeave) {
  const auto cfg = dir_ / "config.yaml";
  std::ofstream(cfg) << "data-dir: /from-config\nhttps-listen-port: 9443\ntls-san: [x, y]\n";
  ASSERT_TRUE(parse({"--config", cfg.string(), "--https-listen-port=1234"}).ok());
  EXPECT_EQ(o_.data_dir, "/from-config");
  EXPECT_EQ(o_.port, 1234);  // the flag wins
  EXPECT_EQ(o_.sans, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(set_.was_set("data-dir"));
}

TEST_F(FlagsTest, ConfigFileErrors) {
  const auto cfg = dir_ / "config.yaml";
  std::ofstream(cfg) << "no-such-key: 1\ndata-dir: /x\n";
  auto r = parse({"--config", cfg.string()});
  ASSERT_TRUE(r.ok());  // another role's key: skipped, with a warning
  EXPECT_EQ(o_.data_dir, "/x");
  ASSERT_EQ(set_.warnings().size(), 1u);
  EXPECT_NE(set_.warnings()[0].find("key \"no-such-key\" is not a flag of kedge server"),
            std::string::npos);

  std::ofstream(cfg) << "data-dir: [a, b]\n";
  EXPECT_FALSE(parse({"--config", cfg.string()}).ok());

  std::ofstream(cfg) << "data-dir: : :\n  - broken";
  EXPECT_FALSE(parse({"--config", cfg.string()}).ok());

  auto missing = parse({"--config", (dir_ / "nope.yaml").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kedge::flags

// Command-line flags with an optional YAML config file underneath.
//
// Each subcommand builds one FlagSet, binds flags to fields of its options
// struct (the field's current value is the default shown in --help), then
// calls parse(). Precedence: command line > config file > default. The config
// file is a YAML map whose keys are flag names without the dashes:
//
//   data-dir: /var/lib/kedge
//   log-level: debug
//   tls-san: [edge1.local, 10.0.0.5]
//
// One config file serves every role on a device (server and agent read the
// same /etc/kedge/config.yaml), so a key that is not a flag of this role is
// skipped and reported through warnings(), not an error.
//
// Thread-safety: none; used from main before threads start. The FlagSet keeps
// raw pointers to the bound fields: they must outlive parse().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kedge/base/status.h"

namespace kedge::flags {

inline constexpr std::string_view kDefaultConfigPath = "/etc/kedge/config.yaml";

class FlagSet {
 public:
  FlagSet(std::string command, std::string summary);

  void add(std::string name, std::string* target, std::string help);
  void add(std::string name, std::int64_t* target, std::string help);
  void add(std::string name, bool* target, std::string help);
  // Repeatable (--x a --x b) or comma-separated (--x a,b); YAML sequence in config.
  void add(std::string name, std::vector<std::string>* target, std::string help);

  enum class Outcome { kRun, kHelp };

  // Parses `args` (everything after the subcommand). Adds --config and --help
  // itself. On kHelp the caller prints usage() and exits 0. Errors name the
  // flag or config key at fault.
  Result<Outcome> parse(std::span<const std::string> args);

  std::string usage() const;
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& config_path() const { return config_path_; }
  // Config keys this role skipped, as log-ready sentences.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // True when `name` was set on the command line or in the config file.
  bool was_set(std::string_view name) const;

 private:
  enum class Kind { kString, kInt, kBool, kList };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    std::string default_text;
    bool set = false;
  };

  Flag* find(std::string_view name);
  Status assign(Flag& flag, std::string_view value, std::string_view source);
  Status apply_config_file(const std::string& path, bool explicit_path);

  std::string command_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  std::vector<std::string> warnings_;
  std::string config_path_{kDefaultConfigPath};
};

}  // namespace kedge::flags

#include "kedge/base/flags.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace kedge::flags {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

void split_append(std::string_view value, std::vector<std::string>& out) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = value.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

FlagSet::FlagSet(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagSet::add(std::string name, std::string* target, std::string help) {
  flags_.push_back({std::move(name), Kind::kString, target, std::move(help), *target});
}
void FlagSet::add(std::string name, std::int64_t* target, std::string help) {
  flags_.push_back({std::move(name), Kind::kInt, target, std::move(help), std::to_string(*target)});
}
void FlagSet::add(std::string name, bool* target, std::string help) {
  flags_.push_back(
      {std::move(name), Kind::kBool, target, std::move(help), *target ? "true" : "false"});
}
void FlagSet::add(std::string name, std::vector<std::string>* target, std::string help) {
  flags_.push_back({std::move(name), Kind::kList, target, std::move(help), join(*target)});
}

FlagSet::Flag* FlagSet::find(std::string_view name) {
  auto it = std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name; });
  return it == flags_.end() ? nullptr : &*it;
}

bool FlagSet::was_set(std::string_view name) const {
  return std::any_of(flags_.begin(), flags_.end(),
                     [&](const Flag& f) { return f.name == name && f.set; });
}

Status FlagSet::assign(Flag& flag, std::string_view value, std::string_view source) {
  auto bad = [&](std::string_view want) {
    return invalid_argument(std::string(source) + ": --" + flag.name + "=\"" + std::string(value) +
                            "\": want " + std::string(want));
  };
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = std::string(value);
      break;
    case Kind::kInt: {
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || ptr != value.data() + value.size()) return bad("an integer");
      *static_cast<std::int64_t*>(flag.target) = v;
      break;
    }
    case Kind::kBool:
      if (value == "true" || value == "1") {
        *static_cast<bool*>(flag.target) = true;
      } else if (value == "false" || value == "0") {
        *static_cast<bool*>(flag.target) = false;
      } else {
        return bad("true or false");
      }
      break;
    case Kind::kList: {
      auto* list = static_cast<std::vector<std::string>*>(flag.target);
      // The first explicit value replaces the default; later ones append.
      if (!flag.set) list->clear();
      split_append(value, *list);
      break;
    }
  }
  flag.set = true;
  return {};
}

Result<FlagSet::Outcome> FlagSet::parse(std::span<const std::string> args) {
  bool explicit_config = false;
  // Command-line values first; remember which flags they set so the config
  // file fills in only the rest.
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) positional_.push_back(args[i]);
      break;
    }
    if (!arg.starts_with("--")) {
      positional_.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "help") return Outcome::kHelp;
    if (name == "config") {
      if (!value) {
        if (i + 1 >= args.size()) return invalid_argument("--config needs a file path");
        value = args[++i];
      }
      config_path_ = std::string(*value);
      explicit_config = true;
      continue;
    }
    Flag* flag = find(name);
    if (!flag) {
      return invalid_argument("unknown flag --" + std::string(name) + " for \"" + command_ +
                              "\" (see kedge " + command_ + " --help)");
    }
    if (!value) {
      if (flag->kind == Kind::kBool) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return invalid_argument("--" + flag->name + " needs a value");
        value = args[++i];
      }
    }
    KEDGE_RETURN_IF_ERROR(assign(*flag, *value, "command line"));
  }
  KEDGE_RETURN_IF_ERROR(apply_config_file(config_path_, explicit_config));
  return Outcome::kRun;
}

Status FlagSet::apply_config_file(const std::string& path, bool explicit_path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (explicit_path) return not_found("config file " + path + " does not exist");
    return {};
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return invalid_argument("config file " + path + ": " + e.what());
  }
  if (root.IsNull()) return {};
  if (!root.IsMap()) return invalid_argument("config file " + path + ": want a map of flag: value");
  std::vector<std::string> cli_set;
  for (const auto& f : flags_) {
    if (f.set) cli_set.push_back(f.name);
  }
  for (const auto& entry : root) {
    const auto key = entry.first.as<std::string>();
    Flag* flag = find(key);
    if (!flag) {
      warnings_.push_back("config file " + path + ": key \"" + key + "\" is not a flag of kedge " +
                          command_ + "; ignored");
      continue;
    }
    if (std::find(cli_set.begin(), cli_set.end(), key) != cli_set.end()) continue;
    const std::string source = "config file " + path;
    if (entry.second.IsSequence()) {
      if (flag->kind != Kind::kList) {
        return invalid_argument(source + ": \"" + key + "\" takes a single value");
      }
      for (const auto& item : entry.second) {
        KEDGE_RETURN_IF_ERROR(assign(*flag, item.as<std::string>(), source));
      }
    } else if (entry.second.IsScalar()) {
      KEDGE_RETURN_IF_ERROR(assign(*flag, entry.second.as<std::string>(), source));
    } else {
      return invalid_argument(source + ": \"" + key + "\" must be a scalar or a list");
    }
  }
  return {};
}

std::string FlagSet::usage() const {
  std::ostringstream out;
  out << "Usage: kedge " << command_ << " [flags]\n\n" << summary_ << "\n\nFlags:\n";
  auto line = [&](const std::string& name, std::string_view kind, const std::string& help,
                  const std::string& def) {
    std::string head = "  --" + name;
    if (!kind.empty()) head += " " + std::string(kind);
    out << head;
    if (head.size() < 34) {
      out << std::string(34 - head.size(), ' ');
    } else {
      out << "\n" << std::string(34, ' ');
    }
    out << help << " (default \"" << def << "\")\n";
  };
  line("config", "FILE", "YAML config file; its keys are flag names, command-line flags win",
       std::string(kDefaultConfigPath));
  for (const auto& f : flags_) {
    std::string_view kind = f.kind == Kind::kString ? "string"
                            : f.kind == Kind::kInt  ? "int"
                            : f.kind == Kind::kList ? "list"
                                                    : "";
    line(f.name, kind, f.help, f.default_text);
  }
  out << "  --help" << std::string(34 - 8, ' ') << "show this help\n";
  return out.str();
}

}  // namespace kedge::flags

// Logging: spdlog loggers tagged with a component name ("store", "apiserver").
//
// init() once from main before any thread starts; logger() is thread-safe
// afterwards and returns a logger that lives until process exit.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "kedge/base/status.h"

namespace kedge::log {

enum class Format { kText, kJson };

struct Options {
  std::string level = "info";  // trace|debug|info|warn|error|critical|off
  Format format = Format::kText;
};

// Parses "--log-level" / "--log-format" values; errors name the bad value.
Result<Options> parse_options(std::string_view level, std::string_view format);

// Installs the sink and pattern for every logger. Safe to call again (tests).
void init(const Options& options);

// The logger for `component`, created on first use with the current settings.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace kedge::log

#include "kedge/base/log.h"

#include <mutex>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace kedge::log {
namespace {

// Guards the shared sink and the current options; loggers are registered in
// spdlog's own (thread-safe) registry.
std::mutex g_mu;
Options g_options;
spdlog::sink_ptr g_sink;

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%fZ %^%L%$ [%n] %v";
// One JSON object per line; %* is the message escaped as a JSON string body
// (component names and level names are plain tokens and need no escaping).
constexpr const char* kJsonPattern =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","msg":"%*"})";

class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : msg.payload) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char esc[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(esc, esc + sizeof esc);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

spdlog::sink_ptr sink_locked() {
  if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  return g_sink;
}

void configure_locked(spdlog::logger& l) {
  l.set_level(spdlog::level::from_str(g_options.level));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonEscapedMessage>('*');
  formatter->set_pattern(g_options.format == Format::kJson ? kJsonPattern : kTextPattern);
  l.set_formatter(std::move(formatter));
  l.flush_on(spdlog::level::warn);
}

}  // namespace

Result<Options> parse_options(std::string_view level, std::string_view format) {
  Options o;
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn",
                                                 "error", "critical", "off"};
  bool known = false;
  for (auto l : kLevels) known = known || l == level;
  if (!known) {
    return invalid_argument("unknown log level \"" + std::string(level) +
                            "\" (want trace|debug|info|warn|error|critical|off)");
  }
  o.level = std::string(level);
  if (format == "text") {
    o.format = Format::kText;
  } else if (format == "json") {
    o.format = Format::kJson;
  } else {
    return invalid_argument("unknown log format \"" + std::string(format) + "\" (want text|json)");
  }
  return o;
}

void init(const Options& options) {
  std::lock_guard lock(g_mu);
  g_options = options;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { configure_locked(*l); });
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  if (auto l = spdlog::get(component)) return l;
  std::lock_guard lock(g_mu);
  if (auto l = spdlog::get(component)) return l;
  auto l = std::make_shared<spdlog::logger>(component, sink_locked());
  configure_locked(*l);
  spdlog::register_logger(l);
  return l;
}

}  // namespace kedge::log

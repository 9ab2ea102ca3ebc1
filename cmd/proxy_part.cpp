// The "proxy" part. Not built yet: the part says so at start instead of
// pretending, and the role runs without it.
#include "kedge/base/log.h"
#include "part.h"

namespace kedge::cmd {
namespace {

class NotBuilt final : public Part {
 public:
  const char* name() const override { return "proxy"; }
  void add_flags(flags::FlagSet&) override {}
  Status start(const NodeEnvironment&) override {
    log::logger("proxy")->warn("the service proxy is not part of this build yet; running without it");
    return ok_status();
  }
  void stop() override {}
};

}  // namespace

std::unique_ptr<Part> make_proxy_part() { return std::make_unique<NotBuilt>(); }

}  // namespace kedge::cmd

// The "agent-api" part. Not built yet: the part says so at start instead of
// pretending, and the role runs without it.
#include "kedge/base/log.h"
#include "part.h"

namespace kedge::cmd {
namespace {

class NotBuilt final : public Part {
 public:
  const char* name() const override { return "agent-api"; }
  void add_flags(flags::FlagSet&) override {}
  Status start(const NodeEnvironment&) override {
    log::logger("agent-api")->warn("the agent API (:10250) is not part of this build yet; running without it");
    return ok_status();
  }
  void stop() override {}
};

}  // namespace

std::unique_ptr<Part> make_agent_api_part() { return std::make_unique<NotBuilt>(); }

}  // namespace kedge::cmd

// The "controllers" part of `kedge server`: the scheduler and the controllers
// (kube-controller-manager's job), talking to this server's API over
// loopback HTTPS with the admin kubeconfig the server wrote, as k3s does.
// That keeps them on the same authenticated, validated write path as every
// other client, and lets the same code run against any API server.
//
// The controllers to run are listed once, in register_controllers(): one
// line per controller. A controller is a controllers::Controller with a
// register_watches() method, constructed from the Transport (and whatever
// else it needs from ControllerContext).
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kedge/base/log.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/controllers/deployment.h"
#include "kedge/controllers/garbage_collector.h"
#include "kedge/controllers/replicaset.h"
#include "kedge/controllers/rest_transport.h"
#include "part.h"

namespace kedge::cmd {
namespace {

// What a controller may use besides the Transport. Constant while it runs.
struct ControllerContext {
  const NodeEnvironment& env;
  client::RestClient& client;  // for requests the Transport has no verb for
};

// The running set: built once per start, torn down in reverse.
class ControllerSet {
 public:
  ControllerSet(controllers::Transport& transport, const ControllerContext& ctx) : transport_(transport), ctx_(ctx) {}

  // Constructs C(transport, args...), registers its watches and keeps it.
  template <typename C, typename... Args>
  void add(const std::string& name, Args&&... args) {
    auto c = std::make_unique<C>(transport_, std::forward<Args>(args)...);
    c->register_watches();
    names_.push_back(name);
    controllers_.push_back(std::move(c));
  }

  const ControllerContext& context() const { return ctx_; }
  void run(int workers) {
    for (auto& c : controllers_) c->run(workers);
  }
  void stop() {
    for (auto it = controllers_.rbegin(); it != controllers_.rend(); ++it) (*it)->stop();
  }
  const std::vector<std::string>& names() const { return names_; }

 private:
  controllers::Transport& transport_;
  const ControllerContext& ctx_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<controllers::Controller>> controllers_;
};

// Every controller kedge server runs, one line each.
void register_controllers(ControllerSet& set) {
  set.add<controllers::ReplicaSetController>("replicaset");
  set.add<controllers::DeploymentController>("deployment");
  set.add<controllers::GarbageCollector>("garbage-collector", controllers::GarbageCollectorOptions{});
}

class ControllersPart final : public Part {
 public:
  const char* name() const override { return "controllers"; }

  void add_flags(flags::FlagSet& set) override {
    set.add("disable-controller-manager", &disable_controllers_, "do not run the controllers");
    set.add("controller-workers", &workers_, "worker threads per controller");
  }

  Status start(const NodeEnvironment& env) override {
    auto logger = log::logger("controllers");
    if (disable_controllers_) {
      logger->info("controllers disabled (--disable-controller-manager)");
      return ok_status();
    }
    if (workers_ < 1 || workers_ > 64) {
      return invalid_argument("--controller-workers=" + std::to_string(workers_) + ": want 1..64");
    }
    env_ = env;
    KEDGE_ASSIGN_OR_RETURN(auto config, client::Kubeconfig::load(env_.kubeconfig));
    KEDGE_ASSIGN_OR_RETURN(client_, client::RestClient::create({.config = config, .user_agent = "kedge-controllers"}));
    transport_ = std::make_unique<controllers::RestTransport>(*client_);
    ctx_ = std::make_unique<ControllerContext>(ControllerContext{.env = env_, .client = *client_});
    set_ = std::make_unique<ControllerSet>(*transport_, *ctx_);
    register_controllers(*set_);
    transport_->start();
    // Informers list in the background; workers start once every cache has
    // listed, on a thread of our own so the role's start is not held up.
    starter_ = std::thread([this, logger] {
      if (!transport_->wait_for_sync()) return;
      set_->run(static_cast<int>(workers_));
      std::string names;
      for (const auto& n : set_->names()) names += (names.empty() ? "" : ", ") + n;
      logger->info("controllers running: {}", names);
    });
    return ok_status();
  }

  void stop() override {
    if (!transport_) return;
    // Unblocks wait_for_sync() before joining the starter.
    transport_->stop();
    if (starter_.joinable()) starter_.join();
    set_->stop();
    set_.reset();
    transport_.reset();
  }

 private:
  bool disable_controllers_ = false;
  std::int64_t workers_ = 2;
  NodeEnvironment env_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<controllers::RestTransport> transport_;
  std::unique_ptr<ControllerContext> ctx_;
  std::unique_ptr<ControllerSet> set_;
  std::thread starter_;
};

}  // namespace

std::unique_ptr<Part> make_controllers_part() { return std::make_unique<ControllersPart>(); }

}  // namespace kedge::cmd

// The "controllers" part of `kedge server`: the scheduler and the controllers
// (kube-controller-manager's job), talking to this server's API as the admin
// of the kubeconfig the server wrote. Requests go in-process
// (NodeEnvironment::local_api → ApiServer::serve_local, on the calling
// thread) and watches over loopback HTTPS; either way they take the same
// authenticated, validated write path as every other client, and the same
// code runs against any API server.
//
// Leader election: servers sharing one datastore compete for the Lease
// kube-system/kedge-controllers (15 s / renew 10 s / retry 2 s, upstream's
// defaults); only the holder runs the scheduler and controllers. A "term"
// (transport, informers, controllers, scheduler) is built when leadership
// is won and torn down when it is lost, so a standby holds no caches.
//
// The controllers to run are listed once, in register_controllers(): one
// line per controller. A controller is a controllers::Controller with a
// register_watches() method, constructed from the Transport (and whatever
// else it needs from ControllerContext).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kedge/base/log.h"
#include "kedge/client/kubeconfig.h"
#include "kedge/client/rest_client.h"
#include "kedge/controllers/cronjob.h"
#include "kedge/controllers/daemonset.h"
#include "kedge/controllers/deployment.h"
#include "kedge/controllers/endpointslice.h"
#include "kedge/controllers/garbage_collector.h"
#include "kedge/controllers/job.h"
#include "kedge/controllers/leader_election.h"
#include "kedge/controllers/node_ipam.h"
#include "kedge/controllers/node_lifecycle.h"
#include "kedge/controllers/persistentvolume.h"
#include "kedge/controllers/replicaset.h"
#include "kedge/controllers/rest_transport.h"
#include "kedge/controllers/serviceaccount.h"
#include "kedge/controllers/statefulset.h"
#include "kedge/controllers/workload_resources.h"
#include "kedge/scheduler/service.h"
#include "part.h"

namespace kedge::cmd {
namespace {

// What a controller may use besides the Transport. Constant while it runs.
struct ControllerContext {
  const NodeEnvironment& env;
  client::RestClient& client;  // for requests the Transport has no verb for
  // Node lifecycle and IPAM settings (flags of this part).
  std::chrono::milliseconds node_monitor_grace_period{50000};
  std::chrono::milliseconds node_monitor_period{5000};
  int node_cidr_mask_size = 24;
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
  const ControllerContext& ctx = set.context();
  set.add<controllers::NodeLifecycleController>(
      "node-lifecycle", controllers::NodeLifecycleOptions{.grace_period = ctx.node_monitor_grace_period,
                                                          .monitor_period = ctx.node_monitor_period});
  set.add<controllers::NodeIpamController>(
      "node-ipam",
      controllers::NodeIpamOptions{.cluster_cidr = ctx.env.cluster_cidr, .node_mask_size = ctx.node_cidr_mask_size});
  set.add<controllers::GarbageCollector>(
      "garbage-collector",
      controllers::GarbageCollectorOptions{.resources = {controllers::pods_resource(), controllers::replicasets_resource(),
                                                         controllers::deployments_resource(),
                                                         controllers::jobs_resource(), controllers::cronjobs_resource(),
                                                         controllers::daemonsets_resource(),
                                                         controllers::statefulsets_resource()}});
  set.add<controllers::EndpointSliceController>("endpointslice");
  // kube-root-ca.crt carries the CA the admin kubeconfig trusts: the cluster CA.
  auto kubeconfig = client::Kubeconfig::load(set.context().env.kubeconfig);
  set.add<controllers::ServiceAccountController>(
      "serviceaccount",
      controllers::ServiceAccountControllerOptions{.root_ca_pem = kubeconfig.ok() ? kubeconfig->ca_pem : ""});
  set.add<controllers::JobController>("job");
  set.add<controllers::CronJobController>("cronjob");
  set.add<controllers::DaemonSetController>("daemonset");
  set.add<controllers::StatefulSetController>("statefulset");
  set.add<controllers::PersistentVolumeController>(
      "persistentvolume", controllers::PersistentVolumeControllerOptions{
                              .storage_dir = (std::filesystem::path(ctx.env.data_dir) / "storage").string(),
                              .default_node = ctx.env.node_name});
}

struct PartFlags {
  bool disable_controllers = false;
  bool disable_scheduler = false;
  bool leader_elect = true;
  std::int64_t workers = 2;
  std::string scheduler_name = "default-scheduler";
  std::int64_t node_monitor_grace_period = 50;  // seconds
  std::int64_t node_monitor_period = 5;         // seconds
  std::int64_t node_cidr_mask_size = 24;
  // Upstream's --leader-elect-* defaults, in seconds.
  std::int64_t lease_duration = 15;
  std::int64_t renew_deadline = 10;
  std::int64_t retry_period = 2;
  bool over_https = false;  // loopback HTTPS even inside kedge server (measurements)
};

// What runs while we lead: one transport (shared informers), the
// controllers and the scheduler.
class Term {
 public:
  Term(client::RestClient& client, const ControllerContext& ctx, const PartFlags& flags)
      : transport_(client), set_(transport_, ctx) {
    if (!flags.disable_controllers) register_controllers(set_);
    if (!flags.disable_scheduler) {
      scheduler::SchedulerServiceOptions so;
      so.scheduler.scheduler_name = flags.scheduler_name;
      scheduler_ = std::make_unique<scheduler::SchedulerService>(transport_, client, std::move(so));
      scheduler_->register_watches();
    }
  }

  void start(int workers) {
    auto logger = log::logger("controllers");
    transport_.start();
    if (scheduler_) scheduler_->run();
    // Controllers act on complete caches only; wait on a thread of our own
    // so that neither the role's start nor lease renewals are held up.
    starter_ = std::thread([this, workers, logger] {
      if (!transport_.wait_for_sync()) return;
      set_.run(workers);
      std::string names;
      for (const auto& n : set_.names()) names += (names.empty() ? "" : ", ") + n;
      if (!names.empty()) logger->info("controllers running: {}", names);
    });
  }

  void stop() {
    transport_.stop();  // also unblocks wait_for_sync()
    if (starter_.joinable()) starter_.join();
    if (scheduler_) scheduler_->stop();
    set_.stop();
  }

 private:
  controllers::RestTransport transport_;
  ControllerSet set_;
  std::unique_ptr<scheduler::SchedulerService> scheduler_;
  std::thread starter_;
};

class ControllersPart final : public Part {
 public:
  const char* name() const override { return "controllers"; }

  void add_flags(flags::FlagSet& set) override {
    set.add("disable-controller-manager", &flags_.disable_controllers, "do not run the controllers");
    set.add("disable-scheduler", &flags_.disable_scheduler, "do not run the scheduler");
    set.add("leader-elect", &flags_.leader_elect,
            "run the scheduler and controllers only while holding the Lease kube-system/kedge-controllers "
            "(several servers on one datastore)");
    set.add("controller-workers", &flags_.workers, "worker threads per controller");
    set.add("leader-elect-lease-duration", &flags_.lease_duration,
            "seconds a standby waits after the leader's last renewal before taking over");
    set.add("leader-elect-renew-deadline", &flags_.renew_deadline,
            "seconds the leader keeps trying to renew before it stops leading");
    set.add("leader-elect-retry-period", &flags_.retry_period, "seconds between lease attempts and renewals");
    set.add("node-monitor-grace-period", &flags_.node_monitor_grace_period,
            "seconds without node status or Lease renewal before a node's Ready becomes Unknown");
    set.add("node-monitor-period", &flags_.node_monitor_period, "seconds between node health checks");
    set.add("node-cidr-mask-size", &flags_.node_cidr_mask_size, "prefix length of each node's podCIDR");
    set.add("controllers-over-https", &flags_.over_https,
            "inside kedge server, send the scheduler's and controllers' requests over loopback HTTPS instead of "
            "in-process (for comparison; watches use HTTPS either way)");
  }

  Status start(const NodeEnvironment& env) override {
    auto logger = log::logger("controllers");
    if (flags_.disable_controllers && flags_.disable_scheduler) {
      logger->info("scheduler and controllers disabled");
      return ok_status();
    }
    if (flags_.workers < 1 || flags_.workers > 64) {
      return invalid_argument("--controller-workers=" + std::to_string(flags_.workers) + ": want 1..64");
    }
    if (flags_.retry_period < 1 || flags_.renew_deadline <= flags_.retry_period ||
        flags_.lease_duration <= flags_.renew_deadline) {
      return invalid_argument(
          "--leader-elect-*: want lease-duration > renew-deadline > retry-period >= 1 second (upstream: 15 > 10 > 2)");
    }
    if (flags_.node_monitor_grace_period < 1 || flags_.node_monitor_period < 1) {
      return invalid_argument("--node-monitor-grace-period and --node-monitor-period: want at least 1 second");
    }
    const controllers::NodeIpamOptions ipam{.cluster_cidr = env.cluster_cidr,
                                            .node_mask_size = static_cast<int>(flags_.node_cidr_mask_size)};
    KEDGE_RETURN_IF_ERROR(controllers::NodeIpamController::validate(ipam));
    env_ = env;
    KEDGE_ASSIGN_OR_RETURN(auto config, client::Kubeconfig::load(env_.kubeconfig));
    client::LocalRoundTrip local = flags_.over_https ? client::LocalRoundTrip{} : env.local_api;
    KEDGE_ASSIGN_OR_RETURN(client_, client::RestClient::create(
                                        {.config = config, .user_agent = "kedge-controllers", .local = std::move(local)}));
    ctx_ = std::make_unique<ControllerContext>(
        ControllerContext{.env = env_,
                          .client = *client_,
                          .node_monitor_grace_period = std::chrono::seconds(flags_.node_monitor_grace_period),
                          .node_monitor_period = std::chrono::seconds(flags_.node_monitor_period),
                          .node_cidr_mask_size = static_cast<int>(flags_.node_cidr_mask_size)});
    if (!flags_.leader_elect) {
      begin_term();
      return ok_status();
    }
    elector_ = std::make_unique<controllers::LeaderElector>(
        *client_, controllers::LeaderElectionOptions{.identity = controllers::leader_identity(env_.node_name),
                                                     .lease_duration = std::chrono::seconds(flags_.lease_duration),
                                                     .renew_deadline = std::chrono::seconds(flags_.renew_deadline),
                                                     .retry_period = std::chrono::seconds(flags_.retry_period),
                                                     .on_started_leading = [this] { begin_term(); },
                                                     .on_stopped_leading = [this] { end_term(); }});
    elector_->run();
    return ok_status();
  }

  void stop() override {
    if (elector_) {
      elector_->stop();  // ends the term (on_stopped_leading) and releases the Lease
      elector_.reset();
    }
    end_term();
    // Closes the keep-alive connections now: the API server drains next and
    // would otherwise wait for them until its drain deadline.
    ctx_.reset();
    client_.reset();
  }

 private:
  void begin_term() {
    term_ = std::make_unique<Term>(*client_, *ctx_, flags_);
    term_->start(static_cast<int>(flags_.workers));
  }
  void end_term() {
    if (!term_) return;
    term_->stop();
    term_.reset();
  }

  PartFlags flags_;
  NodeEnvironment env_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<ControllerContext> ctx_;
  std::unique_ptr<controllers::LeaderElector> elector_;
  std::unique_ptr<Term> term_;  // elector thread (or start/stop without election)
};

}  // namespace

std::unique_ptr<Part> make_controllers_part() { return std::make_unique<ControllersPart>(); }

}  // namespace kedge::cmd

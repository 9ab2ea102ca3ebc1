#include "kedge/agent/kubelet.h"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "api_util.h"
#include "kedge/base/log.h"
#include "kedge/client/informer.h"
#include "object_source.h"
#include "pod_checkpoint.h"
#include "pod_sync.h"
#include "pod_workers.h"
#include "status_manager.h"
#include "timed_runtime.h"
#include "volumes.h"

namespace kedge::agent {

namespace json = boost::json;
using namespace detail;

namespace {

std::string uid_of(const client::Object& obj) {
  if (!obj || !obj->is_object()) return "";
  const auto* m = obj->as_object().if_contains("metadata");
  if (m == nullptr || !m->is_object()) return "";
  const auto* u = m->as_object().if_contains("uid");
  return u && u->is_string() ? std::string(u->as_string()) : "";
}

// Events go out on their own thread, so a slow API never delays a pod.
class AsyncEventSink final : public EventSink {
 public:
  AsyncEventSink(client::RestClient& api, std::string node) : api_(api), node_(std::move(node)) {}
  ~AsyncEventSink() override { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void event(const api::Pod& pod, const std::string& field_path, const std::string& type, const std::string& reason,
             const std::string& message) override {
    const std::string now = rfc3339_now();
    json::object involved{{"kind", "Pod"}, {"namespace", pod.metadata.namespace_}, {"name", pod.metadata.name},
                          {"uid", pod.metadata.uid}, {"apiVersion", "v1"}};
    if (!field_path.empty()) involved["fieldPath"] = field_path;
    static std::atomic<std::uint64_t> seq{0};
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), ".%llx%llx", static_cast<unsigned long long>(::time(nullptr)),
                  static_cast<unsigned long long>(++seq));
    json::value ev = json::object{
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", json::object{{"name", pod.metadata.name + suffix}, {"namespace", pod.metadata.namespace_}}},
        {"involvedObject", std::move(involved)},
        {"reason", reason},
        {"message", message},
        {"type", type},
        {"source", json::object{{"component", "kubelet"}, {"host", node_}}},
        {"firstTimestamp", now},
        {"lastTimestamp", now},
        {"count", 1},
        {"reportingComponent", "kubelet"},
        {"reportingInstance", node_}};
    std::lock_guard lock(mu_);
    if (queue_.size() >= 1000) return;  // a flood of events must not grow memory
    queue_.push_back({pod.metadata.namespace_, std::move(ev)});
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto [ns, ev] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      auto r = api_.send("POST", "/api/v1/namespaces/" + ns + "/events", ev);
      if (!r.ok()) log::logger("kubelet")->debug("event: {}", r.status().to_string());
      lock.lock();
    }
  }
  client::RestClient& api_;
  const std::string node_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<std::pair<std::string, json::value>> queue_;
  std::thread thread_;
};

}  // namespace

struct Kubelet::Impl : client::InformerHandler {
  Impl(client::RestClient& api_in, cri::RuntimeClient& runtime_in, KubeletOptions options)
      : api(api_in), runtime(runtime_in), timed_runtime(runtime_in), o(std::move(options)), objects(api, o.object_cache_ttl),
        volumes(o.root_dir, objects, &api, o.node_name), statuses(api), events(api, o.node_name),
        checkpoint(o.root_dir / "pods" / "checkpoint.json"),
        informer(api, {.path = "/api/v1/pods", .field_selector = "spec.nodeName=" + o.node_name}) {}

  void on_add(const client::Object& obj) override { from_api(obj); }
  void on_update(const client::Object&, const client::Object& obj) override { from_api(obj); }
  void on_delete(const client::Object& obj) override {
    const std::string uid = uid_of(obj);
    workers->update(uid, obj);
    workers->remove(uid);
    if (Status st = checkpoint.erase(uid); !st.ok()) log::logger("kubelet")->warn("{}", st.to_string());
    std::lock_guard lock(mu);
    listed.erase(uid);
  }
  void on_synced() override {
    std::set<std::string> gone;
    {
      std::lock_guard lock(mu);
      synced = true;
      wake.notify_all();
      // Pods started from the checkpoint that the API no longer has (deleted
      // while the node was cut off) end now.
      for (const auto& uid : seeded) {
        if (!listed.contains(uid)) gone.insert(uid);
      }
      seeded.clear();
    }
    for (const auto& uid : gone) {
      log::logger("kubelet")->info("pod uid {} ran from the checkpoint but the API no longer has it: terminating it", uid);
      workers->update(uid, nullptr);
      workers->remove(uid);
      (void)checkpoint.erase(uid);
    }
  }

  void from_api(const client::Object& obj) {
    const std::string uid = uid_of(obj);
    workers->update(uid, obj);
    if (Status st = checkpoint.put(uid, *obj); !st.ok()) log::logger("kubelet")->warn("{}", st.to_string());
    std::lock_guard lock(mu);
    listed.insert(uid);
  }

  // Autonomy: if the API has not listed this node's pods within the grace
  // period (unreachable), the pod workers start from the checkpoint; the
  // first real list later replaces it (on_synced).
  void seed_from_checkpoint(std::vector<client::Object> pods) {
    std::unique_lock lock(mu);
    if (wake.wait_for(lock, o.checkpoint_grace, [&] { return stopping || synced; })) return;
    std::size_t n = 0;
    for (const auto& pod : pods) {
      const std::string uid = uid_of(pod);
      if (uid.empty() || listed.contains(uid)) continue;
      seeded.insert(uid);
      ++n;
      lock.unlock();
      workers->update(uid, pod);
      lock.lock();
    }
    log::logger("kubelet")->warn("the API has not listed this node's pods after {} ms: running {} pods from the checkpoint",
                                 o.checkpoint_grace.count(), n);
  }

  // upstream's PLEG: one relist per period, waking only pods whose
  // containers or sandboxes changed; also terminates orphans.
  void relist_loop() {
    auto logger = log::logger("kubelet");
    std::map<std::string, int> last;  // id → state
    auto next_orphan_check = std::chrono::steady_clock::now();
    std::unique_lock lock(mu);
    while (!stopping) {
      wake.wait_for(lock, o.relist_period, [&] { return stopping; });
      if (stopping) break;
      const bool informer_synced = synced;
      lock.unlock();
      std::map<std::string, int> now_states;
      std::map<std::string, std::string> owner;  // id → pod uid
      auto containers = runtime.list_containers();
      auto sandboxes = runtime.list_pod_sandboxes();
      if (containers.ok() && sandboxes.ok()) {
        for (const auto& c : *containers) {
          now_states[c.id] = static_cast<int>(c.state);
          if (auto it = c.labels.find(kPodUidLabel); it != c.labels.end()) owner[c.id] = it->second;
        }
        for (const auto& s : *sandboxes) {
          now_states[s.id] = 10 + static_cast<int>(s.state);
          if (auto it = s.labels.find(kPodUidLabel); it != s.labels.end()) owner[s.id] = it->second;
        }
        std::set<std::string> changed;
        for (const auto& [id, state] : now_states) {
          auto it = last.find(id);
          if (it == last.end() || it->second != state) changed.insert(owner[id]);
        }
        for (const auto& [id, state] : last) {
          if (!now_states.contains(id)) changed.insert(owner[id]);
        }
        for (const auto& uid : changed) {
          if (!uid.empty()) workers->poke(uid);
        }
        last = std::move(now_states);
        // Orphans: runtime pods whose uid no API pod on this node has.
        if (informer_synced && std::chrono::steady_clock::now() >= next_orphan_check) {
          next_orphan_check = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          const auto known = workers->known_uids();
          std::set<std::string> orphans;
          for (const auto& [id, uid] : owner) {
            if (!uid.empty() && !known.contains(uid)) orphans.insert(uid);
          }
          for (const auto& uid : orphans) {
            logger->info("pod uid {} runs in the runtime but not in the API: terminating it", uid);
            workers->update(uid, nullptr);
            workers->remove(uid);
          }
        }
      } else {
        logger->warn("relist: {}", (containers.ok() ? sandboxes.status() : containers.status()).to_string());
      }
      lock.lock();
    }
  }

  client::RestClient& api;
  cri::RuntimeClient& runtime;
  TimedRuntime timed_runtime;  // what the pod syncer calls: counts time inside the runtime
  const KubeletOptions o;
  ApiObjectSource objects;
  VolumeManager volumes;
  StatusManager statuses;
  AsyncEventSink events;
  detail::PodCheckpoint checkpoint;
  std::unique_ptr<PodSyncer> syncer;
  std::unique_ptr<PodWorkers> workers;
  client::Informer informer;
  std::thread informer_thread;
  std::thread relist_thread;
  std::thread seed_thread;
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mu
  bool synced = false;    // guarded by mu
  std::set<std::string> listed;  // guarded by mu: uids the API has given us
  std::set<std::string> seeded;  // guarded by mu: uids started from the checkpoint, not (yet) listed
  bool started = false;
};

Kubelet::Kubelet(client::RestClient& api, cri::RuntimeClient& runtime, KubeletOptions options)
    : impl_(std::make_unique<Impl>(api, runtime, std::move(options))) {}

Kubelet::~Kubelet() { stop(); }

Status Kubelet::start() {
  auto& i = *impl_;
  SyncSettings s{.sandbox = {.pod_log_dir = i.o.pod_log_dir, .cluster_dns = i.o.cluster_dns,
                             .cluster_domain = i.o.cluster_domain, .cgroup_root = i.o.cgroup_root},
                 .node_ips = i.o.node_ips,
                 .qos = i.o.qos,
                 .runtime_name = i.o.runtime_name,
                 .node_cpu_milli = ::sysconf(_SC_NPROCESSORS_ONLN) * 1000,
                 .node_memory_bytes = static_cast<std::int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE),
                 .resync_interval = i.o.resync_interval,
                 .backoff_initial = i.o.backoff_initial,
                 .backoff_max = i.o.backoff_max};
  i.syncer = std::make_unique<PodSyncer>(std::move(s), i.timed_runtime, i.api, i.statuses, i.volumes, i.objects, i.events);
  i.workers = std::make_unique<PodWorkers>(i.o.workers, [&i](SyncRequest& r) { return i.syncer->sync(r); });
  std::error_code ec;
  std::filesystem::create_directories(i.o.root_dir / "pods", ec);
  if (ec) return internal_error("creating " + (i.o.root_dir / "pods").string() + ": " + ec.message());
  i.statuses.start();
  i.events.start();
  i.volumes.start();
  i.workers->start();
  auto saved = i.checkpoint.load();
  if (!saved.ok()) log::logger("kubelet")->error("{}; starting without it", saved.status().to_string());
  i.informer.add_handler(&i);
  i.informer_thread = std::thread([&i] { (void)i.informer.run(); });
  if (saved.ok() && !saved->empty()) {
    i.seed_thread = std::thread([&i, pods = std::move(*saved)]() mutable { i.seed_from_checkpoint(std::move(pods)); });
  }
  i.relist_thread = std::thread([&i] { i.relist_loop(); });
  i.started = true;
  log::logger("kubelet")->info("kubelet for node {} started ({} pod workers, relist every {} ms)", i.o.node_name,
                               i.o.workers, i.o.relist_period.count());
  return ok_status();
}

void Kubelet::stop() {
  auto& i = *impl_;
  if (!i.started) return;
  i.started = false;
  {
    std::lock_guard lock(i.mu);
    i.stopping = true;
  }
  i.wake.notify_all();
  i.informer.stop();
  if (i.informer_thread.joinable()) i.informer_thread.join();
  if (i.relist_thread.joinable()) i.relist_thread.join();
  if (i.seed_thread.joinable()) i.seed_thread.join();
  i.workers->stop();
  i.volumes.stop();
  i.events.stop();
  i.statuses.stop();
}

std::size_t Kubelet::pod_count() const { return impl_->workers ? impl_->workers->size() : 0; }

}  // namespace kedge::agent

#include "kedge/controllers/leader_election.h"

#include <cinttypes>
#include <cstdio>
#include <random>

#include <boost/json.hpp>

#include "kedge/api/meta.h"
#include "kedge/base/log.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

std::string now_micro() { return api::format_rfc3339_micro(std::chrono::system_clock::now()); }

std::string str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

std::string leader_identity(std::string_view host) {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "_%08x%08x", rd(), rd());
  return std::string(host) + buf;
}

LeaderElector::LeaderElector(client::RestClient& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

LeaderElector::~LeaderElector() { stop(); }

std::string LeaderElector::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases/" + options_.lease_name;
}

void LeaderElector::run() {
  thread_ = std::thread([this] { loop(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::leading() const {
  std::lock_guard lock(mu_);
  return leading_;
}

bool LeaderElector::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, d, [&] { return stopping_; });
}

bool LeaderElector::try_acquire_or_renew() {
  auto logger = log::logger("leader");
  const std::string now = now_micro();
  const auto duration_s = std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count();
  auto current = client_.get(lease_path());
  if (!current.ok()) {
    if (current.status().code() != Code::kNotFound) {
      logger->debug("reading lease {}: {}", options_.lease_name, current.status().to_string());
      return false;
    }
    json::object lease{
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", json::object{{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
        {"spec", json::object{{"holderIdentity", options_.identity},
                              {"leaseDurationSeconds", duration_s},
                              {"acquireTime", now},
                              {"renewTime", now},
                              {"leaseTransitions", 0}}}};
    auto created = client_.send(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/" + options_.lease_namespace + "/leases", lease);
    if (!created.ok()) {
      logger->debug("creating lease {}: {}", options_.lease_name, created.status().to_string());
      return false;
    }
    observed_record_ = json::serialize(created->as_object()["spec"]);
    observed_at_ = Steady::now();
    return true;
  }
  json::value obj = std::move(*current);
  json::object& o = obj.as_object();
  if (!o.contains("spec") || !o["spec"].is_object()) o["spec"] = json::object{};
  json::object& spec = o["spec"].as_object();
  const std::string holder = str(spec, "holderIdentity");
  const std::string record = json::serialize(spec);
  if (record != observed_record_) {
    observed_record_ = record;
    observed_at_ = Steady::now();
  }
  const bool ours = holder == options_.identity;
  if (!ours && !holder.empty()) {
    const auto lease_ms = std::max<std::int64_t>(num(spec, "leaseDurationSeconds"), 1) * 1000;
    if (Steady::now() < observed_at_ + std::chrono::milliseconds(lease_ms)) return false;  // still held
  }
  if (!ours) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = num(spec, "leaseTransitions") + (holder.empty() ? 0 : 1);
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = now;
  auto updated = client_.send("PUT", lease_path(), obj);
  if (!updated.ok()) {
    logger->debug("updating lease {}: {}", options_.lease_name, updated.status().to_string());
    return false;
  }
  observed_record_ = json::serialize(updated->as_object()["spec"]);
  observed_at_ = Steady::now();
  if (!ours) logger->info("took lease {}/{} as {}", options_.lease_namespace, options_.lease_name, options_.identity);
  return true;
}

Status LeaderElector::release() {
  auto current = client_.get(lease_path());
  if (!current.ok()) return current.status();
  json::object& o = current->as_object();
  if (!o.contains("spec") || !o["spec"].is_object()) return ok_status();
  json::object& spec = o["spec"].as_object();
  if (str(spec, "holderIdentity") != options_.identity) return ok_status();
  // client-go's ReleaseOnCancel: no holder, a one-second lease.
  spec["holderIdentity"] = nullptr;
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = now_micro();
  return client_.send("PUT", lease_path(), *current).status();
}

void LeaderElector::loop() {
  auto logger = log::logger("leader");
  for (;;) {
    // Candidate.
    while (!try_acquire_or_renew()) {
      if (!sleep_for(options_.retry_period)) return;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      leading_ = true;
    }
    logger->info("became leader ({}/{})", options_.lease_namespace, options_.lease_name);
    if (options_.on_started_leading) options_.on_started_leading();
    // Leader.
    auto last_renew = Steady::now();
    bool stopping = false;
    for (;;) {
      if (!sleep_for(options_.retry_period)) {
        stopping = true;
        break;
      }
      if (try_acquire_or_renew()) {
        last_renew = Steady::now();
      } else if (Steady::now() - last_renew >= options_.renew_deadline) {
        logger->warn("lost the lease {}/{}: no renewal for {} ms", options_.lease_namespace, options_.lease_name,
                     options_.renew_deadline.count());
        break;
      }
    }
    {
      std::lock_guard lock(mu_);
      leading_ = false;
    }
    if (options_.on_stopped_leading) options_.on_stopped_leading();
    if (stopping) {
      if (Status s = release(); !s.ok()) logger->debug("releasing lease: {}", s.to_string());
      return;
    }
  }
}

}  // namespace kedge::controllers

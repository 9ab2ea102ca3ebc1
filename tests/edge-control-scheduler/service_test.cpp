// SchedulerService and EventRecorder against an in-memory API: informers from
// the controllers' FakeTransport, requests through a RestClient whose
// LocalRoundTrip is a fake API server (bindings, pod status, events) that
// can hold requests to observe how many are in flight together.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "../edge-control-controllers/fake_transport.h"
#include "fixtures.h"
#include "kedge/api/meta.h"
#include "kedge/scheduler/event_recorder.h"
#include "kedge/scheduler/service.h"
#include "kedge/testing/process.h"

namespace kedge::scheduler {
namespace {

namespace json = boost::json;
using controllers::testing::FakeTransport;
using kedge::testing::eventually;

struct EventWrite {
  std::string verb;  // POST / PATCH
  std::string name;
  std::string reason;
  std::int64_t count = 0;
};

// The API side: answers what SchedulerService and EventRecorder send.
class FakeApi {
 public:
  explicit FakeApi(FakeTransport* transport) : transport_(transport) {}

  // Bindings wait until `n` are in flight together (then the gate stays
  // open), events while hold_events() — so a test sees whether writes
  // overlap. release() opens both.
  void hold_until(int n) {
    std::lock_guard lock(mu_);
    hold_ = n;
  }
  void hold_events() {
    std::lock_guard lock(mu_);
    hold_events_ = true;
  }
  void release() {
    std::lock_guard lock(mu_);
    hold_ = 0;
    hold_events_ = false;
    cv_.notify_all();
  }
  void fail_bindings(int n) {
    std::lock_guard lock(mu_);
    fail_bindings_ = n;
  }
  int max_in_flight() const {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  int in_flight() const {
    std::lock_guard lock(mu_);
    return in_flight_;
  }
  int binding_attempts() const {
    std::lock_guard lock(mu_);
    return binding_attempts_;
  }
  std::vector<EventWrite> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

  Result<client::HttpResponse> operator()(const client::HttpRequest& r) {
    const json::value body = r.body.empty() ? json::value() : json::parse(r.body);
    if (r.method == "POST" && r.path.ends_with("/binding")) return bind(body);
    if (r.path.find("/events") != std::string::npos) return event(r.method, r.path, body);
    if (r.method == "PATCH" && r.path.ends_with("/status")) return ok(json::object{});
    return client::HttpResponse{.status = 404, .body = R"({"kind":"Status","code":404,"reason":"NotFound"})"};
  }

 private:
  static client::HttpResponse ok(const json::value& v) {
    return client::HttpResponse{.status = 201, .body = json::serialize(v), .content_type = "application/json"};
  }

  // Counts this request in flight and waits while the test holds it.
  void enter(bool is_event) {
    std::unique_lock lock(mu_);
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    cv_.notify_all();
    // The gate opens for good once `hold_` bindings were in flight together.
    if (!is_event && hold_ > 0 && in_flight_ >= hold_) hold_ = 0;
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return is_event ? !hold_events_ : hold_ == 0; });
    --in_flight_;
  }

  Result<client::HttpResponse> bind(const json::value& body) {
    enter(false);
    {
      std::lock_guard lock(mu_);
      ++binding_attempts_;
      if (fail_bindings_ > 0) {
        --fail_bindings_;
        return client::HttpResponse{
            .status = 409,
            .body = R"({"kind":"Status","code":409,"reason":"Conflict","message":"the object has been modified"})"};
      }
    }
    const auto& md = body.at("metadata");
    std::string ns(md.at("namespace").as_string()), name(md.at("name").as_string());
    auto pod = transport_->get(controllers::pods_resource(), ns, name);
    if (!pod) return client::HttpResponse{.status = 404, .body = R"({"kind":"Status","code":404,"reason":"NotFound"})"};
    json::value bound = *pod;
    bound.at("spec").as_object()["nodeName"] = body.at("target").at("name");
    transport_->put(controllers::pods_resource(), std::move(bound));  // the informer sees the binding
    return ok(json::object{});
  }

  Result<client::HttpResponse> event(const std::string& verb, const std::string& path, const json::value& body) {
    enter(true);
    EventWrite w{.verb = verb};
    if (verb == "POST") {
      w.name = std::string(body.at("metadata").at("name").as_string());
      w.reason = std::string(body.at("reason").as_string());
    } else {
      w.name = path.substr(path.rfind('/') + 1);
    }
    w.count = body.at("count").to_number<std::int64_t>();
    std::lock_guard lock(mu_);
    events_.push_back(w);
    return ok(body);
  }

  FakeTransport* transport_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int hold_ = 0;
  bool hold_events_ = false;
  int fail_bindings_ = 0;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  int binding_attempts_ = 0;
  std::vector<EventWrite> events_;
};

std::unique_ptr<client::RestClient> fake_client(FakeApi& api) {
  client::ClientOptions o{.local = [&api](const client::HttpRequest& r) { return api(r); }};
  o.config.server = "https://api.invalid";
  auto c = client::RestClient::create(std::move(o));
  EXPECT_TRUE(c.ok());
  return std::move(*c);
}

int count_reason(const std::vector<EventWrite>& events, const std::string& reason) {
  int n = 0;
  for (const auto& e : events) n += e.reason == reason ? 1 : 0;
  return n;
}

class SchedulerServiceTest : public ::testing::Test {
 protected:
  void start(int binders) {
    client_ = fake_client(api_);
    service_ = std::make_unique<SchedulerService>(transport_, *client_, SchedulerServiceOptions{.binders = binders});
    service_->register_watches();
    service_->run();
  }
  void TearDown() override {
    api_.release();
    if (service_) service_->stop();
  }
  int bound_pods() const {
    int n = 0;
    for (const auto& p : transport_.list(controllers::pods_resource(), "")) {
      n += p->at("spec").as_object().contains("nodeName") ? 1 : 0;
    }
    return n;
  }

  FakeTransport transport_;
  FakeApi api_{&transport_};
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<SchedulerService> service_;
};

TEST_F(SchedulerServiceTest, KeepsManyBindingsInFlightAndRecordsScheduledEvents) {
  // Every binding waits until 8 are in flight: with one binding at a time
  // (or a loop that waited for each) none would ever finish before the
  // 5 s hold runs out, and max_in_flight would stay 1.
  api_.hold_until(8);
  start(8);
  // FakeTransport replays nothing: objects go in after the watches exist.
  for (int i = 0; i < 4; ++i) transport_.put(controllers::nodes_resource(), testing::node_json("n" + std::to_string(i)));
  for (int i = 0; i < 32; ++i) {
    transport_.put(controllers::pods_resource(), testing::pod_json("p" + std::to_string(i), {.cpu = "10m"}));
  }
  ASSERT_TRUE(eventually([&] { return bound_pods() == 32; }, std::chrono::seconds(20))) << bound_pods();
  EXPECT_EQ(api_.max_in_flight(), 8);
  EXPECT_EQ(service_->bound(), 32);
  ASSERT_TRUE(eventually([&] { return count_reason(api_.events(), "Scheduled") == 32; }));
  EXPECT_EQ(service_->events_dropped(), 0);
}

TEST_F(SchedulerServiceTest, FailedBindingIsForgottenAndRetried) {
  api_.fail_bindings(1);
  start(4);
  transport_.put(controllers::nodes_resource(), testing::node_json("n0"));
  transport_.put(controllers::pods_resource(), testing::pod_json("p0", {.cpu = "10m"}));
  // The retry comes after the 1 s backoff; the pod was forgotten from the
  // cache in between, so it fits again.
  ASSERT_TRUE(eventually([&] { return bound_pods() == 1; }, std::chrono::seconds(10)));
  EXPECT_EQ(api_.binding_attempts(), 2);
  ASSERT_TRUE(eventually([&] { return count_reason(api_.events(), "Scheduled") == 1; }));
}

TEST(EventRecorderTest, FoldsQueuedRepeatsDropsWhenFullAndBumpsWrittenEvents) {
  FakeApi api(nullptr);
  auto client = fake_client(api);
  EventRecorder recorder(*client, {.component = "default-scheduler", .capacity = 2, .writers = 1});
  recorder.start();
  api.hold_events();
  const EventSubject a{.ns = "ns", .name = "a", .uid = "ua"}, b{.ns = "ns", .name = "b", .uid = "ub"},
      c{.ns = "ns", .name = "c", .uid = "uc"}, d{.ns = "ns", .name = "d", .uid = "ud"};
  recorder.record(a, "Warning", "FailedScheduling", "no");
  // The single writer holds a's event; the queue takes two more.
  ASSERT_TRUE(eventually([&] { return api.in_flight() == 1; }));
  recorder.record(b, "Warning", "FailedScheduling", "no");
  recorder.record(b, "Warning", "FailedScheduling", "no");  // folded into the queued one
  recorder.record(c, "Normal", "Scheduled", "yes");
  recorder.record(d, "Normal", "Scheduled", "yes");  // full: dropped, never blocks
  EXPECT_EQ(recorder.dropped(), 1);
  api.release();
  ASSERT_TRUE(eventually([&] { return recorder.written() == 3; }));
  auto events = api.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].count, 1);  // a
  EXPECT_EQ(events[1].count, 2);  // b, twice
  EXPECT_EQ(events[1].verb, "POST");
  EXPECT_EQ(events[2].reason, "Scheduled");
  // A repeat of a written event patches its count, as client-go's correlator.
  recorder.record(b, "Warning", "FailedScheduling", "no");
  ASSERT_TRUE(eventually([&] { return recorder.written() == 4; }));
  events = api.events();
  EXPECT_EQ(events[3].verb, "PATCH");
  EXPECT_EQ(events[3].name, events[1].name);
  EXPECT_EQ(events[3].count, 3);
  recorder.stop();
}

// While held (the scheduler has bindings in flight), queued events stay
// queued; they are written once released, none lost.
TEST(EventRecorderTest, HeldWritersLeaveEventsQueuedUntilReleased) {
  FakeApi api(nullptr);
  auto client = fake_client(api);
  EventRecorder recorder(*client, {.component = "default-scheduler", .capacity = 8, .writers = 2});
  recorder.start();
  recorder.set_held(true);
  for (const char* name : {"a", "b", "c"}) {
    recorder.record({.ns = "ns", .name = name, .uid = std::string("u") + name}, "Normal", "Scheduled", "yes");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(recorder.written(), 0);
  EXPECT_TRUE(api.events().empty());
  recorder.set_held(false);
  ASSERT_TRUE(eventually([&] { return recorder.written() == 3; }));
  EXPECT_EQ(count_reason(api.events(), "Scheduled"), 3);
  EXPECT_EQ(recorder.dropped(), 0);
  recorder.stop();
}

}  // namespace
}  // namespace kedge::scheduler

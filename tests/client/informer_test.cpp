// Informer relists through a LocalRoundTrip (no server): the watch stream
// goes to a closed port, fails, and every failure lists again, so each
// list answer below is one relist the handlers see as adds, updates and
// deletes.
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "kedge/client/informer.h"

namespace kedge::client {
namespace {

namespace json = boost::json;

std::string meta(const Object& obj, const char* field) {
  const auto* m = obj->as_object().if_contains("metadata");
  const auto* f = m ? m->as_object().if_contains(field) : nullptr;
  return f ? std::string(f->as_string()) : std::string("-");
}

struct Recorder final : InformerHandler {
  std::mutex mu;
  std::vector<std::string> events;  // "add ns/name rv", "update old-rv→rv name spec", "delete ns/name rv"
  void on_add(const Object& o) override { note("add " + meta(o, "namespace") + "/" + meta(o, "name") + " " + meta(o, "resourceVersion")); }
  void on_update(const Object& old, const Object& o) override {
    note("update " + meta(old, "resourceVersion") + ">" + meta(o, "resourceVersion") + " old-spec:" +
         std::to_string(old->as_object().contains("spec")) + " new-spec:" + std::to_string(o->as_object().contains("spec")));
  }
  void on_delete(const Object& o) override {
    note("delete " + meta(o, "namespace") + "/" + meta(o, "name") + " " + meta(o, "resourceVersion") +
         " spec:" + std::to_string(o->as_object().contains("spec")));
  }
  void note(std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  }
  std::vector<std::string> take() {
    std::lock_guard lock(mu);
    return std::exchange(events, {});
  }
};

// A port nobody listens on: bound, never listening, so connects are refused.
int closed_port(int& fd) {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

std::string item(const char* ns, const char* name, const char* rv) {
  return std::string(R"({"metadata":{"namespace":")") + ns + R"(","name":")" + name + R"(","resourceVersion":")" +
         rv + R"("},"spec":{"x":1}})";
}

void relists(InformerOptions::Cache cache, const std::vector<std::string>& want_after_second) {
  int fd = -1;
  const int port = closed_port(fd);
  std::atomic<int> lists{0};
  const std::vector<std::string> answers = {
      R"({"metadata":{"resourceVersion":"10"},"items":[)" + item("a", "one", "5") + "," + item("a", "two", "6") + "]}",
      R"({"metadata":{"resourceVersion":"20"},"items":[)" + item("a", "one", "15") + "," + item("b", "three", "16") +
          "]}"};
  ClientOptions o{.config = {.server = "http://127.0.0.1:" + std::to_string(port)},
                  .local = [&](const HttpRequest&) -> Result<HttpResponse> {
                    const int n = lists++;
                    return HttpResponse{.status = 200, .body = answers[std::min<std::size_t>(n, 1)]};
                  }};
  auto client = RestClient::create(o);
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  Informer informer(**client, {.path = "/api/v1/things",
                               .initial_backoff = std::chrono::milliseconds(1),
                               .max_backoff = std::chrono::milliseconds(1),
                               .cache = cache});
  Recorder rec;
  informer.add_handler(&rec);
  std::thread t([&] { (void)informer.run(); });
  for (int i = 0; i < 500 && lists < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  informer.stop();
  t.join();
  ::close(fd);
  auto events = rec.take();
  ASSERT_GE(events.size(), 2u + want_after_second.size());
  EXPECT_EQ(events[0], "add a/one 5");
  EXPECT_EQ(events[1], "add a/two 6");
  const std::vector<std::string> second(events.begin() + 2, events.begin() + 2 + static_cast<long>(want_after_second.size()));
  EXPECT_EQ(second, want_after_second);
  ASSERT_EQ(informer.list().size(), 2u);
  auto one = informer.get("a", "one");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(meta(one, "resourceVersion"), "15");
  EXPECT_EQ(one->as_object().contains("spec"), cache == InformerOptions::Cache::kObjects);
  EXPECT_EQ(informer.get("a", "two"), nullptr);
}

TEST(Informer, RelistTellsHandlersTheDifferenceWithObjectsCached) {
  relists(InformerOptions::Cache::kObjects,
          {"update 5>15 old-spec:1 new-spec:1", "add b/three 16", "delete a/two 6 spec:1"});
}

// Only versions kept: handlers still get whole new objects, and stubs
// naming the object for what went away.
TEST(Informer, RelistTellsHandlersTheDifferenceWithVersionsCached) {
  relists(InformerOptions::Cache::kVersions,
          {"update 5>15 old-spec:0 new-spec:1", "add b/three 16", "delete a/two 6 spec:0"});
}

}  // namespace
}  // namespace kedge::client

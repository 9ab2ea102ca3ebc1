// EventRecorder: core/v1 Events about pods, written off the scheduling path.
//
// record() never blocks and never does I/O: it appends to a bounded queue
// and returns. Writer threads post the events (POST .../events). As in
// client-go's broadcaster and correlator:
//   - a repeat of an event already queued (same pod uid, reason and message)
//     is folded into it (its count grows) instead of taking a slot;
//   - a repeat of an event already written patches count and lastTimestamp of
//     that event rather than creating another;
//   - when the queue is full the event is dropped, counted (dropped()) and
//     logged (the first drop, then every 1,000th), as client-go drops when
//     its channel is full: events are best effort, scheduling never waits.
// Several writers keep several events in flight, so the store's group commit
// puts them in one transaction.
//
// Thread-safety: every method may be called from any thread. Ownership:
// borrows the RestClient (must outlive stop()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kedge/client/rest_client.h"

namespace kedge::scheduler {

struct EventRecorderOptions {
  std::string component = "default-scheduler";  // source.component, reportingComponent
  std::size_t capacity = 4096;                   // distinct events queued at most
  int writers = 2;
  std::size_t correlation_entries = 4096;        // written events remembered for count bumps
};

// The object an event is about (a Pod).
struct EventSubject {
  std::string ns;
  std::string name;
  std::string uid;
};

class EventRecorder {
 public:
  EventRecorder(client::RestClient& client, EventRecorderOptions options);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  void start();
  // Joins the writers; events still queued are dropped (not counted).
  void stop();

  // type "Normal" or "Warning". Never blocks.
  void record(const EventSubject& subject, std::string_view type, std::string_view reason, std::string message);

  // While held, writers leave queued events queued: the scheduler holds the
  // recorder while bindings are in flight, so bindings have the store's write
  // path to themselves (events of a burst wait, and beyond the queue's
  // capacity are dropped, as when writes are slow).
  void set_held(bool held);

  std::int64_t written() const { return written_; }
  std::int64_t dropped() const { return dropped_; }

 private:
  struct Pending {
    EventSubject subject;
    std::string type;
    std::string reason;
    std::string message;
    std::int64_t repeats = 1;  // occurrences folded into this entry
  };
  struct Written {
    std::string name;
    std::int64_t count = 0;
  };

  void writer();
  void write_one(const std::string& key, Pending p);

  client::RestClient& client_;
  const EventRecorderOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                     // guarded by mu_
  bool held_ = false;                         // guarded by mu_
  std::deque<std::string> order_;             // keys in arrival order; guarded by mu_
  std::map<std::string, Pending> pending_;    // key → event; guarded by mu_
  std::map<std::string, Written> written_by_key_;  // guarded by mu_
  std::vector<std::thread> threads_;

  std::atomic<std::int64_t> written_{0};
  std::atomic<std::int64_t> dropped_{0};
};

}  // namespace kedge::scheduler

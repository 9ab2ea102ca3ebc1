// OwnedPodHandler: the pod informer handler of a controller that creates pods
// itself (Job, DaemonSet): each pod event queues the pod's controlling owner
// of that kind and counts toward the owner's expectations.
// OwnerHandler: the same controller's handler for its own objects (Jobs,
// ReplicaSets): each event queues the object; a deletion also drops its
// expectations.
//
// Thread-safety: called on the pod informer's thread; WorkQueue and
// Expectations are thread-safe. Borrows both; they must outlive the handler.
#pragma once

#include <string>

#include "kedge/client/informer.h"
#include "kedge/controllers/expectations.h"
#include "kedge/controllers/transport.h"
#include "kedge/controllers/workqueue.h"

namespace kedge::controllers {

class OwnedPodHandler final : public client::InformerHandler {
 public:
  // `owner_kind`: the kind in the pod's controller ownerReference ("Job").
  OwnedPodHandler(std::string owner_kind, WorkQueue& queue, Expectations& expectations)
      : owner_kind_(std::move(owner_kind)), queue_(queue), expectations_(expectations) {}

  void on_add(const client::Object& obj) override { enqueue(*obj, true, false); }
  void on_update(const client::Object&, const client::Object& obj) override { enqueue(*obj, false, false); }
  void on_delete(const client::Object& obj) override { enqueue(*obj, false, true); }

 private:
  void enqueue(const boost::json::value& pod, bool added, bool deleted);

  const std::string owner_kind_;
  WorkQueue& queue_;
  Expectations& expectations_;
};

class OwnerHandler final : public client::InformerHandler {
 public:
  OwnerHandler(WorkQueue& queue, Expectations& expectations) : queue_(queue), expectations_(expectations) {}

  void on_add(const client::Object& obj) override { queue_.add(object_key(*obj)); }
  void on_update(const client::Object&, const client::Object& obj) override { queue_.add(object_key(*obj)); }
  void on_delete(const client::Object& obj) override {
    expectations_.forget(object_key(*obj));
    queue_.add(object_key(*obj));
  }

 private:
  WorkQueue& queue_;
  Expectations& expectations_;
};

}  // namespace kedge::controllers

// Garbage collector: deletes objects whose owners are gone, and carries out
// the three deletion propagation policies a client can ask for:
//  - Background (kubectl's default): the API server deletes the owner at
//    once; the GC then finds its dependents' ownerReferences dangling and
//    deletes them (and, in turn, their dependents).
//  - Foreground: the API server only marks the owner (deletionTimestamp +
//    `foregroundDeletion` finalizer); the GC deletes its dependents
//    (in foreground too) and removes the finalizer once no dependent with
//    blockOwnerDeletion=true is left, which lets the API server delete it.
//  - Orphan: the owner carries the `orphan` finalizer; the GC removes the
//    owner's reference from every dependent, then the finalizer.
// An owner is only deemed gone after a live GET (not just the cache) says
// NotFound or shows another uid, as upstream does: a cache lagging behind a
// fresh owner must never delete its new dependents.
//
// The dependency graph is derived from the caches on demand (a scan per
// sync): fine for an edge cluster's object counts; an indexed graph is the
// obvious next step for large ones.
// Threads: as Controller.
#pragma once

#include "kedge/controllers/controller.h"

namespace kedge::controllers {

inline constexpr char kForegroundFinalizer[] = "foregroundDeletion";
inline constexpr char kOrphanFinalizer[] = "orphan";

struct GarbageCollectorOptions {
  WorkQueueOptions queue;
  // The resources whose ownerReferences are followed (owners and dependents).
  std::vector<Resource> resources = {pods_resource(), replicasets_resource(), deployments_resource()};
};

class GarbageCollector final : public Controller {
 public:
  GarbageCollector(Transport& transport, GarbageCollectorOptions options = {});
  ~GarbageCollector() override;

  // REQUIRES: before transport.start().
  void register_watches();

  // key: "<resource index>|<ns>/<name>".
  Status sync(const std::string& key) override;
  void resync_all() override;

  std::string key_for(const Resource& resource, const boost::json::value& obj) const;

 private:
  class Handler;
  struct Ref {
    const Resource* resource;
    Object obj;
  };
  std::vector<Ref> dependents_of(std::string_view uid) const;
  const Resource* resource_for(std::string_view api_version, std::string_view kind) const;
  Status sync_deleting_owner(const Resource& r, const boost::json::value& obj);
  Status sync_dependent(const Resource& r, const boost::json::value& obj);
  Status remove_finalizer(const Resource& r, const boost::json::value& obj, std::string_view finalizer);

  GarbageCollectorOptions options_;
  std::vector<std::unique_ptr<client::InformerHandler>> handlers_;
};

}  // namespace kedge::controllers

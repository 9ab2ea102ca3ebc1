// EndpointSlice controller: turns each Service with a selector, and the pods
// it selects, into discovery.k8s.io/v1 EndpointSlices — what the service
// proxy programs — and into the legacy core/v1 Endpoints object of the same
// name (still read by older clients and `kubectl get endpoints`). Upstream
// runs these as two controllers; one sync per Service writing both reads
// the caches once.
//
// One sync(ns/name of a Service):
//  * no Service: delete the slices this controller manages for it and the
//    Endpoints of that name; a Service without selector or of type
//    ExternalName is left alone (its endpoints are the user's);
//  * every selected pod with an IPv4 address that is not terminal becomes an
//    endpoint: conditions ready (ready and not terminating, or
//    publishNotReadyAddresses), serving (ready), terminating
//    (deletionTimestamp set); targetRef, nodeName, zone (the node's
//    topology.kubernetes.io/zone label) and hostname (spec.hostname when
//    spec.subdomain names the Service);
//  * ports: each Service port's targetPort, a name resolved against the
//    pod's container ports of the same protocol (a pod without it gets no
//    endpoint for that port set) — pods resolving to different port numbers
//    land in different slices, as upstream;
//  * at most max_endpoints_per_slice (100) endpoints per slice; existing
//    slices keep their endpoints (no churn for consumers), new endpoints fill
//    slices with room before new slices are created, emptied slices are
//    deleted; a Service with no endpoints keeps one empty placeholder slice;
//  * slices are named generateName "<service>-", labelled
//    kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by:
//    endpointslice-controller.k8s.io (plus the Service's labels and
//    service.kubernetes.io/headless for headless Services), addressType
//    IPv4, and controlled by the Service (ownerReference);
//  * Endpoints: one subset per port set, ready pods in addresses, not-ready
//    (non-terminating) pods in notReadyAddresses, sorted by IP.
// Pod, Service, slice and node changes enqueue the affected Services at
// once, so readiness shows in the slices within one sync.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <memory>
#include <string>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/expectations.h"

namespace kedge::controllers {

inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
inline constexpr char kManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
inline constexpr char kEndpointSliceControllerName[] = "endpointslice-controller.k8s.io";
inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

struct EndpointSliceControllerOptions {
  WorkQueueOptions queue;
  Clock* clock = nullptr;  // expectations' clock; nullptr: real
  int max_endpoints_per_slice = 100;
  bool legacy_endpoints = true;  // also maintain core/v1 Endpoints
};

class EndpointSliceController final : public Controller {
 public:
  EndpointSliceController(Transport& transport, EndpointSliceControllerOptions options = {});
  ~EndpointSliceController() override { stop(); }

  // Registers the Service, Pod, EndpointSlice, Endpoints and Node watches.
  // REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class ServiceHandler;
  class PodHandler;
  class SliceHandler;
  class NodeHandler;

  Status delete_all_for(const std::string& key, std::string_view ns, std::string_view name);
  Status reconcile_slices(const std::string& key, const boost::json::value& svc,
                          const std::vector<Object>& pods);
  Status reconcile_endpoints(const boost::json::value& svc, const std::vector<Object>& pods);
  void enqueue_services_selecting(const boost::json::value& pod);

  EndpointSliceControllerOptions options_;
  Expectations expectations_;
  std::unique_ptr<client::InformerHandler> service_handler_;
  std::unique_ptr<client::InformerHandler> pod_handler_;
  std::unique_ptr<client::InformerHandler> slice_handler_;
  std::unique_ptr<client::InformerHandler> node_handler_;
};

}  // namespace kedge::controllers

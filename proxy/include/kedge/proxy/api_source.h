// ApiSource: feeds a Proxier from the Kubernetes API — Services (v1) and
// EndpointSlices (discovery.k8s.io/v1) through two client::Informers (list,
// then watch; relist when the server answers 410 Gone or the stream breaks).
//
// Threads: start() launches one thread per informer; handlers run there and
// only hand decoded values to the Proxier (which takes its own lock), so
// they never block on the kernel. stop() ends and joins both threads.
// Ownership: borrows the RestClient and the Proxier; both must outlive it.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "kedge/client/informer.h"
#include "kedge/client/rest_client.h"
#include "kedge/proxy/proxier.h"

namespace kedge::proxy {

class ApiSource {
 public:
  ApiSource(client::RestClient& client, Proxier& proxier);
  ~ApiSource();
  ApiSource(const ApiSource&) = delete;
  ApiSource& operator=(const ApiSource&) = delete;

  void start();
  void stop();
  // Both informers have listed at least once (the Proxier may sync).
  bool has_synced() const;

 private:
  class ServiceHandler;
  class SliceHandler;
  void maybe_synced();

  Proxier& proxier_;
  std::unique_ptr<ServiceHandler> service_handler_;
  std::unique_ptr<SliceHandler> slice_handler_;
  client::Informer services_;
  client::Informer slices_;
  std::atomic<bool> services_synced_{false};
  std::atomic<bool> slices_synced_{false};
  std::thread services_thread_;
  std::thread slices_thread_;
};

}  // namespace kedge::proxy

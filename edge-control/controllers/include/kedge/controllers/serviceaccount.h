// ServiceAccount controller: every namespace has a `default` ServiceAccount
// (pods without serviceAccountName run as it) and a `kube-root-ca.crt`
// ConfigMap whose `ca.crt` is the cluster CA in PEM, so workloads can verify
// the API server at kubernetes.default.svc. Upstream runs these as two
// controllers (serviceaccounts-controller, root-ca-cert-publisher); both
// reconcile "this namespace has object X", so kedge keys one sync by
// namespace.
//
// One sync(namespace): nothing for a namespace that is gone or terminating
// (creating into it would fail); otherwise create `default` if missing
// (recreating it after a delete) and create the ConfigMap, or rewrite its
// data when it differs from the CA (a rotated CA reaches every namespace).
// Deleting either object enqueues its namespace.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <memory>
#include <string>

#include "kedge/controllers/controller.h"

namespace kedge::controllers {

inline constexpr char kRootCaConfigMap[] = "kube-root-ca.crt";

struct ServiceAccountControllerOptions {
  WorkQueueOptions queue;
  // The cluster CA certificate (PEM). Empty: no ConfigMap is published.
  std::string root_ca_pem;
};

class ServiceAccountController final : public Controller {
 public:
  ServiceAccountController(Transport& transport, ServiceAccountControllerOptions options = {});
  ~ServiceAccountController() override { stop(); }

  // Registers the Namespace, ServiceAccount and ConfigMap watches.
  // REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class NamespaceHandler;
  class NamespacedHandler;

  Status ensure_service_account(const std::string& ns);
  Status ensure_root_ca(const std::string& ns);

  ServiceAccountControllerOptions options_;
  std::unique_ptr<client::InformerHandler> namespace_handler_;
  std::unique_ptr<client::InformerHandler> service_account_handler_;
  std::unique_ptr<client::InformerHandler> config_map_handler_;
};

}  // namespace kedge::controllers

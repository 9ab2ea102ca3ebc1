#include "kedge/controllers/serviceaccount.h"

#include "kedge/api/json_util.h"
#include "kedge/api/meta.h"
#include "json_path.h"
#include "kedge/controllers/workload_resources.h"

namespace kedge::controllers {

namespace json = boost::json;

namespace {

constexpr char kDefaultServiceAccount[] = "default";
// The description upstream's root-ca-cert-publisher puts on the ConfigMap.
constexpr char kRootCaDescription[] =
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of "
    "Kubernetes clusters.";

}  // namespace

class ServiceAccountController::NamespaceHandler final : public client::InformerHandler {
 public:
  explicit NamespaceHandler(ServiceAccountController& c) : c_(c) {}
  void on_add(const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_update(const Object&, const Object& obj) override { c_.queue().add(std::string(api::get_name(*obj))); }
  void on_delete(const Object&) override {}

 private:
  ServiceAccountController& c_;
};

// ServiceAccounts and ConfigMaps: only the one object of each this
// controller keeps matters, and only when it changes or goes.
class ServiceAccountController::NamespacedHandler final : public client::InformerHandler {
 public:
  NamespacedHandler(ServiceAccountController& c, std::string_view name) : c_(c), name_(name) {}
  void on_add(const Object&) override {}
  void on_update(const Object&, const Object& obj) override { maybe_enqueue(*obj); }
  void on_delete(const Object& obj) override { maybe_enqueue(*obj); }

 private:
  void maybe_enqueue(const json::value& obj) {
    if (api::get_name(obj) == name_) c_.queue().add(std::string(api::get_namespace(obj)));
  }
  ServiceAccountController& c_;
  const std::string_view name_;
};

ServiceAccountController::ServiceAccountController(Transport& transport, ServiceAccountControllerOptions options)
    : Controller("serviceaccount", transport, options.queue),
      options_(std::move(options)),
      namespace_handler_(std::make_unique<NamespaceHandler>(*this)),
      service_account_handler_(std::make_unique<NamespacedHandler>(*this, kDefaultServiceAccount)),
      config_map_handler_(std::make_unique<NamespacedHandler>(*this, kRootCaConfigMap)) {}

void ServiceAccountController::register_watches() {
  transport_.watch(namespaces_resource(), namespace_handler_.get());
  transport_.watch(serviceaccounts_resource(), service_account_handler_.get());
  if (!options_.root_ca_pem.empty()) transport_.watch(configmaps_resource(), config_map_handler_.get());
}

void ServiceAccountController::resync_all() {
  for (const auto& ns : transport_.list(namespaces_resource(), "")) queue().add(std::string(api::get_name(*ns)));
}

Status ServiceAccountController::sync(const std::string& key) {
  Object ns = transport_.get(namespaces_resource(), "", key);
  if (!ns || api::get_deletion_timestamp(*ns) || path::str_at(*ns, {"status", "phase"}) == "Terminating") {
    return ok_status();
  }
  Status sa = ensure_service_account(key);
  Status ca = options_.root_ca_pem.empty() ? ok_status() : ensure_root_ca(key);
  return sa.ok() ? ca : sa;
}

Status ServiceAccountController::ensure_service_account(const std::string& ns) {
  if (transport_.get(serviceaccounts_resource(), ns, kDefaultServiceAccount)) return ok_status();
  json::value sa = json::object{{"apiVersion", "v1"},
                                {"kind", "ServiceAccount"},
                                {"metadata", json::object{{"name", kDefaultServiceAccount}, {"namespace", ns}}}};
  auto r = transport_.create(serviceaccounts_resource(), ns, sa);
  // AlreadyExists: our cache lags a create (ours or someone's); fine.
  if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
    return r.status().with_context("creating serviceaccount " + ns + "/default");
  }
  return ok_status();
}

Status ServiceAccountController::ensure_root_ca(const std::string& ns) {
  json::object data{{"ca.crt", options_.root_ca_pem}};
  Object existing = transport_.get(configmaps_resource(), ns, kRootCaConfigMap);
  if (!existing) {
    json::value cm = json::object{
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", json::object{{"name", kRootCaConfigMap},
                                  {"namespace", ns},
                                  {"annotations", json::object{{"kubernetes.io/description", kRootCaDescription}}}}},
        {"data", std::move(data)}};
    auto r = transport_.create(configmaps_resource(), ns, cm);
    if (!r.ok() && r.status().code() != Code::kAlreadyExists) {
      return r.status().with_context("creating configmap " + ns + "/" + kRootCaConfigMap);
    }
    return ok_status();
  }
  const json::value* have = path::at(*existing, {"data"});
  bool same = have && api::json_equal(*have, json::value(data)) && !existing->as_object().contains("binaryData");
  if (same) return ok_status();
  json::value cm = *existing;
  cm.as_object()["data"] = std::move(data);
  cm.as_object().erase("binaryData");
  auto r = transport_.update(configmaps_resource(), cm);
  if (!r.ok() && r.status().code() != Code::kNotFound) {
    return r.status().with_context("updating configmap " + ns + "/" + kRootCaConfigMap);
  }
  return ok_status();
}

}  // namespace kedge::controllers

#include "kedge/proxy/api_source.h"

#include <boost/json.hpp>

#include "kedge/base/log.h"

namespace kedge::proxy {
namespace {

namespace json = boost::json;

std::string meta_string(const json::value& v, const char* field) {
  const auto* obj = v.if_object();
  const auto* meta = obj ? obj->if_contains("metadata") : nullptr;
  const auto* f = meta && meta->is_object() ? meta->as_object().if_contains(field) : nullptr;
  return f && f->is_string() ? std::string(f->get_string()) : std::string();
}

}  // namespace

// Decoding failures (a port that is not a number, …) count as invalid and
// remove whatever the object programmed before: never half a service.
class ApiSource::ServiceHandler final : public client::InformerHandler {
 public:
  ServiceHandler(ApiSource& owner) : owner_(owner) {}
  void on_add(const client::Object& obj) override { apply(*obj); }
  void on_update(const client::Object&, const client::Object& obj) override { apply(*obj); }
  void on_delete(const client::Object& obj) override {
    owner_.proxier_.delete_service(meta_string(*obj, "namespace"), meta_string(*obj, "name"));
  }
  void on_synced() override {
    owner_.services_synced_ = true;
    owner_.maybe_synced();
  }

 private:
  void apply(const json::value& v) {
    auto s = service_from_json(v);
    if (s.ok()) return owner_.proxier_.update_service(*s);
    owner_.proxier_.record_invalid(s.status());
    owner_.proxier_.delete_service(meta_string(v, "namespace"), meta_string(v, "name"));
  }
  ApiSource& owner_;
};

class ApiSource::SliceHandler final : public client::InformerHandler {
 public:
  SliceHandler(ApiSource& owner) : owner_(owner) {}
  void on_add(const client::Object& obj) override { apply(*obj); }
  void on_update(const client::Object&, const client::Object& obj) override { apply(*obj); }
  void on_delete(const client::Object& obj) override {
    owner_.proxier_.delete_slice(meta_string(*obj, "namespace"), meta_string(*obj, "name"));
  }
  void on_synced() override {
    owner_.slices_synced_ = true;
    owner_.maybe_synced();
  }

 private:
  void apply(const json::value& v) {
    auto s = slice_from_json(v);
    if (s.ok()) return owner_.proxier_.update_slice(*s);
    owner_.proxier_.record_invalid(s.status());
    owner_.proxier_.delete_slice(meta_string(v, "namespace"), meta_string(v, "name"));
  }
  ApiSource& owner_;
};

ApiSource::ApiSource(client::RestClient& client, Proxier& proxier)
    : proxier_(proxier),
      service_handler_(std::make_unique<ServiceHandler>(*this)),
      slice_handler_(std::make_unique<SliceHandler>(*this)),
      // The Proxier keeps its own packed copy of what it uses, and the
      // handlers need only namespace/name on delete: the informers keep
      // versions, not a second copy of every object as JSON.
      services_(client, {.path = "/api/v1/services", .cache = client::InformerOptions::Cache::kVersions}),
      // Only slices that belong to a Service (the label the EndpointSlice
      // controller sets), as upstream kube-proxy watches them.
      slices_(client, {.path = "/apis/discovery.k8s.io/v1/endpointslices",
                       .label_selector = "kubernetes.io/service-name",
                       .cache = client::InformerOptions::Cache::kVersions}) {
  services_.add_handler(service_handler_.get());
  slices_.add_handler(slice_handler_.get());
}

ApiSource::~ApiSource() { stop(); }

void ApiSource::start() {
  services_thread_ = std::thread([this] { (void)services_.run(); });
  slices_thread_ = std::thread([this] { (void)slices_.run(); });
}

void ApiSource::stop() {
  services_.stop();
  slices_.stop();
  if (services_thread_.joinable()) services_thread_.join();
  if (slices_thread_.joinable()) slices_thread_.join();
}

bool ApiSource::has_synced() const { return services_synced_ && slices_synced_; }

void ApiSource::maybe_synced() {
  if (has_synced()) proxier_.set_synced();
}

}  // namespace kedge::proxy

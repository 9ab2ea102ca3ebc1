#include "selection.h"

#include "kedge/api/selectors.h"
#include "object_util.h"
#include "strategy.h"

namespace kedge::control {

struct Selection::Impl {
  const ResourceInfo* info = nullptr;
  api::LabelSelector labels;
  api::FieldSelector fields;
};

Selection::Selection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Selection::~Selection() = default;

ApiResult<std::shared_ptr<const Selection>> Selection::compile(const ResourceInfo& info,
                                                               const std::string& label_selector,
                                                               const std::string& field_selector) {
  auto impl = std::make_unique<Impl>();
  impl->info = &info;
  auto labels = api::LabelSelector::parse(label_selector);
  if (!labels.ok()) return bad_request_error(labels.status().message());
  impl->labels = std::move(*labels);
  auto fields = api::FieldSelector::parse(field_selector);
  if (!fields.ok()) return bad_request_error(fields.status().message());
  impl->fields = std::move(*fields);
  // Unsupported fields are refused up front, with upstream's message.
  json::object probe;
  for (const auto& f : impl->fields.fields()) {
    std::string ignored;
    if (!field_value(info, probe, f, ignored)) {
      return bad_request_error("field label not supported: " + f);
    }
  }
  return std::shared_ptr<const Selection>(new Selection(std::move(impl)));
}

bool Selection::empty() const { return impl_->labels.empty() && impl_->fields.empty(); }

std::string Selection::single_name() const {
  return impl_->fields.requires_exact_match("metadata.name").value_or("");
}

bool Selection::matches(const json::object& obj) const {
  if (!impl_->labels.empty()) {
    const auto* labels = find_object(metadata_of(obj), "labels");
    if (!impl_->labels.matches(labels)) return false;
  }
  if (!impl_->fields.empty()) {
    auto get = [&](std::string_view field) -> std::optional<std::string> {
      std::string v;
      if (!field_value(*impl_->info, obj, field, v)) return std::nullopt;
      return v;
    };
    if (!impl_->fields.matches(get)) return false;
  }
  return true;
}

}  // namespace kedge::control

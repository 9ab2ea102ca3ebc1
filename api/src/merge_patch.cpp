#include "kedge/api/merge_patch.h"

#include "kedge/api/json_util.h"

namespace kedge::api {

namespace json = boost::json;

namespace {

// RFC 7386 MergePatch(Target, Patch), mutating target in place.
void merge_into(json::value& target, const json::value& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  json::object& t = target.get_object();
  for (const auto& kv : patch.get_object()) {
    if (kv.value().is_null()) {
      t.erase(kv.key());
      continue;
    }
    auto it = t.find(kv.key());
    if (it == t.end()) {
      json::value fresh;  // null: merge_into turns it into the patch value, minus nulls
      merge_into(fresh, kv.value());
      t.emplace(kv.key(), std::move(fresh));
    } else {
      merge_into(it->value(), kv.value());
    }
  }
}

}  // namespace

json::value apply_merge_patch(const json::value& doc, const json::value& patch) {
  json::value out = doc;
  merge_into(out, patch);
  return out;
}

json::value create_merge_patch(const json::value& from, const json::value& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json::object patch;
  const json::object& f = from.get_object();
  const json::object& t = to.get_object();
  for (const auto& kv : f) {
    if (!t.contains(kv.key())) patch.emplace(kv.key(), nullptr);
  }
  for (const auto& kv : t) {
    const json::value* old = f.if_contains(kv.key());
    if (old == nullptr) {
      patch.emplace(kv.key(), kv.value());
    } else if (!json_equal(*old, kv.value())) {
      if (old->is_object() && kv.value().is_object()) {
        patch.emplace(kv.key(), create_merge_patch(*old, kv.value()));
      } else {
        patch.emplace(kv.key(), kv.value());
      }
    }
  }
  return patch;
}

}  // namespace kedge::api

#include "kedge/api/strategic_merge.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "kedge/api/json_util.h"
#include "smp_schema.h"

namespace kedge::api {

namespace json = boost::json;
using smp::Field;
using smp::Node;

namespace {

constexpr std::string_view kDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kSetElementOrderPrefix = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitivePrefix = "$deleteFromPrimitiveList/";

Status no_merge_key(const json::value& m, std::string_view key) {
  return invalid_argument("map: " + json_to_string(m) + " does not contain declared merge key: " + std::string(key));
}

Status bad_patch_type(const json::value& type, const json::value& m) {
  return invalid_argument("unknown patch type: " + json_to_string(type) + " in map: " + json_to_string(m));
}

// Kind classes that must agree across a list (Go compares dynamic types).
int kind_class(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return 0;
    case json::kind::array: return 1;
    case json::kind::string: return 2;
    case json::kind::bool_: return 3;
    case json::kind::null: return 4;
    default: return 5;  // numbers
  }
}

Result<int> element_class(const json::array& a, const json::array& b) {
  int cls = -1;
  for (const json::array* arr : {&a, &b}) {
    for (const auto& v : *arr) {
      int c = kind_class(v);
      if (c == 1) return invalid_argument("lists of lists are not supported");
      if (cls == -1) {
        cls = c;
      } else if (cls != c) {
        return invalid_argument("list element types are not identical: " + json_to_string(a) + " " +
                                json_to_string(b));
      }
    }
  }
  return cls;
}

Status merge_map(json::object& original, json::object patch, const Node* schema);
Result<json::array> merge_list(json::array original, const json::array& patch, const Field* field, bool delete_list);

// The value stored for a key (or list element) the original lacks, as
// upstream's removeDirectives(discardNullValuesFromPatch(v)): null members are
// dropped, and a map carrying "$patch" is dropped whole (nullopt). kedge also
// drops the other directive keys, which upstream leaves for its typed decoder
// to discard; kedge stores JSON as is, so they must not reach the store.
std::optional<json::value> clean_value(const json::value& patch) {
  if (patch.is_object()) {
    const json::object& in = patch.get_object();
    if (in.contains(kDirective)) return std::nullopt;
    json::object out;
    for (const auto& kv : in) {
      std::string_view k = kv.key();
      if (kv.value().is_null() || k == kRetainKeys || k.starts_with(kSetElementOrderPrefix) ||
          k.starts_with(kDeleteFromPrimitivePrefix)) {
        continue;
      }
      if (auto c = clean_value(kv.value())) out.emplace(k, std::move(*c));
    }
    return json::value(std::move(out));
  }
  if (patch.is_array()) {
    json::array out;
    for (const auto& v : patch.get_array()) {
      if (auto c = clean_value(v)) out.push_back(std::move(*c));
    }
    return json::value(std::move(out));
  }
  return patch;
}

const json::value* merge_key_of(const json::value& v, std::string_view key) {
  return v.is_object() ? v.get_object().if_contains(key) : nullptr;
}

// Position of `item` in `list`, matching maps by merge key and scalars by value.
long index_in(const json::array& list, const json::value& item, std::string_view merge_key) {
  const json::value* want = merge_key.empty() ? &item : merge_key_of(item, merge_key);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json::value* have = merge_key.empty() ? &list[i] : merge_key_of(list[i], merge_key);
    if (want == nullptr && have == nullptr) return static_cast<long>(i);
    if (want != nullptr && have != nullptr && json_equal(*want, *have)) return static_cast<long>(i);
  }
  return -1;
}

bool is_delete_element(const json::value& v) {
  const json::value* d = merge_key_of(v, kDirective);
  return d != nullptr && d->is_string() && d->get_string() == "delete";
}

// Sorts `items` by their position in `order` (stable); for maps, elements that
// are "$patch: delete" directives go last, as upstream's normalizeSliceOrder.
Result<json::array> sort_by_order(json::array items, const json::array& order, std::string_view merge_key) {
  json::array to_delete;
  if (!merge_key.empty()) {
    for (const json::array* l : {static_cast<const json::array*>(&items), &order}) {
      for (const auto& v : *l) {
        if (!v.is_object()) {
          return invalid_argument("expected a map, but received a " + json_to_string(v));
        }
        if (merge_key_of(v, merge_key) == nullptr) return no_merge_key(v, merge_key);
      }
    }
    json::array keep;
    for (auto& v : items) (is_delete_element(v) ? to_delete : keep).push_back(std::move(v));
    items = std::move(keep);
  }
  std::vector<std::pair<long, json::value>> keyed;
  keyed.reserve(items.size());
  for (auto& v : items) {
    long idx = index_in(order, v, merge_key);
    keyed.emplace_back(idx, std::move(v));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json::array out;
  for (auto& [idx, v] : keyed) out.push_back(std::move(v));
  for (auto& v : to_delete) out.push_back(std::move(v));
  return out;
}

// upstream's mergeSortedSlice: interleaves server-only items (left) into patch
// items (right) keeping both relative orders, using the live list's order.
json::array merge_sorted(const json::array& left, const json::array& right, const json::array& server_order,
                         std::string_view merge_key) {
  json::array out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < left.size() || j < right.size()) {
    if (i >= left.size()) {
      out.push_back(right[j++]);
    } else if (j >= right.size()) {
      out.push_back(left[i++]);
    } else {
      long li = index_in(server_order, left[i], merge_key);
      long ri = index_in(server_order, right[j], merge_key);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push_back(left[i++]);
      } else {
        out.push_back(right[j++]);
      }
    }
  }
  return out;
}

// Splits `merged` into items present in `by` and server-only items, then
// orders them: patch items by `patch_order`, server-only by `server_order`.
Result<json::array> enforce_order(const json::array& merged, const json::array& by, const json::array& patch_order,
                                  const json::array& server_order, std::string_view merge_key) {
  json::array patch_items;
  json::array server_only;
  for (const auto& v : merged) {
    if (!merge_key.empty() && merge_key_of(v, merge_key) == nullptr) return no_merge_key(v, merge_key);
    (index_in(by, v, merge_key) >= 0 ? patch_items : server_only).push_back(v);
  }
  KEDGE_ASSIGN_OR_RETURN(patch_items, sort_by_order(std::move(patch_items), patch_order, merge_key));
  KEDGE_ASSIGN_OR_RETURN(server_only, sort_by_order(std::move(server_only), server_order, merge_key));
  return merge_sorted(server_only, patch_items, server_order, merge_key);
}

Result<json::array> merge_list(json::array original, const json::array& patch, const Field* field, bool delete_list) {
  if (original.empty() && patch.empty()) return original;
  KEDGE_ASSIGN_OR_RETURN(int cls, element_class(original, patch));
  const std::string merge_key = field != nullptr ? field->merge_key : std::string();
  if (cls != 0) {
    if (delete_list) {
      json::array out;
      for (auto& v : original) {
        if (index_in(patch, v, "") < 0) out.push_back(std::move(v));
      }
      return out;
    }
    json::array merged;
    for (const json::array* l : {static_cast<const json::array*>(&original), &patch}) {
      for (const auto& v : *l) {
        if (index_in(merged, v, "") < 0) merged.push_back(v);
      }
    }
    return enforce_order(merged, patch, patch, original, "");
  }
  if (merge_key.empty()) return invalid_argument("cannot merge lists without merge key for type struct");

  // Special elements first: {"$patch":"delete", key: v} and {"$patch":"replace"}.
  json::array plain;
  bool replace = false;
  for (const auto& v : patch) {
    const json::value* d = merge_key_of(v, kDirective);
    if (d == nullptr) {
      plain.push_back(v);
      continue;
    }
    if (d->is_string() && d->get_string() == "delete") {
      const json::value* kv = merge_key_of(v, merge_key);
      if (kv == nullptr) return no_merge_key(v, merge_key);
      json::array kept;
      for (auto& o : original) {
        const json::value* ok = merge_key_of(o, merge_key);
        if (ok == nullptr || !json_equal(*ok, *kv)) kept.push_back(std::move(o));
      }
      original = std::move(kept);
    } else if (d->is_string() && d->get_string() == "replace") {
      replace = true;
    } else if (d->is_string() && d->get_string() == "merge") {
      return invalid_argument("merging lists cannot yet be specified in the patch");
    } else {
      return bad_patch_type(*d, v);
    }
  }
  if (replace) {
    original = json::array();
    for (const auto& v : plain) {
      if (auto c = clean_value(v)) original.push_back(std::move(*c));
    }
    plain.clear();
  }
  const Node* elem = field->node;
  json::array merged = original;
  for (const auto& v : plain) {
    const json::value* kv = merge_key_of(v, merge_key);
    if (kv == nullptr) return no_merge_key(v, merge_key);
    long idx = index_in(merged, v, merge_key);
    if (idx >= 0) {
      json::object& target = merged[static_cast<std::size_t>(idx)].as_object();
      KEDGE_RETURN_IF_ERROR(merge_map(target, v.get_object(), elem));
    } else if (auto c = clean_value(v)) {
      merged.push_back(std::move(*c));
    }
  }
  return enforce_order(merged, plain, plain, original, merge_key);
}

// The part after `prefix/`, or an error naming the directive family.
Result<std::string> directive_target(std::string_view key, std::string_view prefix) {
  std::string_view rest = key.substr(prefix.size());
  if (rest.empty()) {
    return invalid_argument(prefix == kSetElementOrderPrefix ? "invalid patch format of setElementOrder list"
                                                             : "invalid patch format of primitive list");
  }
  return std::string(rest);
}

Status apply_retain_keys(json::object& original, json::object& patch) {
  auto it = patch.find(kRetainKeys);
  if (it == patch.end()) return {};
  json::value keys = std::move(it->value());
  patch.erase(it);
  if (!keys.is_array()) return invalid_argument("invalid patch format of retainKeys");
  const json::array& list = keys.get_array();
  auto listed = [&](std::string_view k) {
    return std::any_of(list.begin(), list.end(), [&](const json::value& v) { return v.is_string() && v.get_string() == k; });
  };
  for (const auto& kv : patch) {
    std::string_view k = kv.key();
    if (kv.value().is_null() || k.starts_with(kDeleteFromPrimitivePrefix) || k.starts_with(kSetElementOrderPrefix)) {
      continue;
    }
    if (!listed(k)) return invalid_argument("invalid patch format of retainKeys");
  }
  std::vector<std::string> drop;
  for (const auto& kv : original) {
    if (!listed(kv.key())) drop.emplace_back(kv.key());
  }
  for (const auto& k : drop) original.erase(k);
  return {};
}

// upstream's validatePatchWithSetOrderList: non-delete patch items must appear
// in the order list in the same relative order.
Status check_order_list(const json::array& patch_list, const json::array& order, std::string_view merge_key) {
  if (order.empty() || patch_list.empty()) return {};
  std::size_t p = 0;
  std::size_t o = 0;
  std::vector<const json::value*> items;
  for (const auto& v : patch_list) {
    if (!merge_key.empty() && is_delete_element(v)) continue;
    items.push_back(&v);
  }
  while (p < items.size() && o < order.size()) {
    if (merge_key_of(*items[p], kDirective) != nullptr) {
      ++p;
      continue;
    }
    bool equal = merge_key.empty() ? json_equal(*items[p], order[o])
                                   : (merge_key_of(*items[p], merge_key) != nullptr &&
                                      merge_key_of(order[o], merge_key) != nullptr &&
                                      json_equal(*merge_key_of(*items[p], merge_key), *merge_key_of(order[o], merge_key)));
    if (equal) ++p;
    ++o;
  }
  if (p < items.size()) {
    return invalid_argument("The order in patch list:\n" + json_to_string(patch_list) +
                            "\n doesn't match $setElementOrder list:\n" + json_to_string(order) + "\n");
  }
  return {};
}

Status apply_set_element_order(json::object& original, json::object& patch, const Node* schema) {
  std::vector<std::string> directive_keys;
  for (const auto& kv : patch) {
    if (kv.key().starts_with(kSetElementOrderPrefix)) directive_keys.emplace_back(kv.key());
  }
  for (const auto& dk : directive_keys) {
    json::value order_v = patch.at(dk);
    patch.erase(dk);
    if (!order_v.is_array()) return invalid_argument("invalid patch format of setElementOrder list");
    const json::array& order = order_v.get_array();
    KEDGE_ASSIGN_OR_RETURN(std::string key, directive_target(dk, kSetElementOrderPrefix));
    const Field* field = schema != nullptr ? schema->find(key) : nullptr;
    const std::string merge_key = field != nullptr ? field->merge_key : std::string();
    json::value* orig_v = original.if_contains(key);
    json::value* patch_v = patch.if_contains(key);
    if (orig_v != nullptr && !orig_v->is_array()) return invalid_argument("expected a list for " + key);
    if (patch_v != nullptr && !patch_v->is_array()) return invalid_argument("expected a list for " + key);
    const json::array empty;
    const json::array& orig_list = orig_v != nullptr ? orig_v->get_array() : empty;
    KEDGE_RETURN_IF_ERROR(check_order_list(patch_v != nullptr ? patch_v->get_array() : empty, order, merge_key));
    json::array merged;
    if (orig_v == nullptr && patch_v == nullptr) continue;
    if (patch_v == nullptr) {
      merged = orig_list;
    } else if (orig_v == nullptr) {
      merged = clean_value(*patch_v)->get_array();
    } else if (field != nullptr && field->merge_list) {
      KEDGE_ASSIGN_OR_RETURN(merged, merge_list(orig_list, patch_v->get_array(), field, false));
    } else {
      merged = patch_v->get_array();
    }
    KEDGE_ASSIGN_OR_RETURN(json::array ordered, enforce_order(merged, order, order, orig_list, merge_key));
    original[key] = std::move(ordered);
    patch.erase(key);
  }
  return {};
}

Status merge_map(json::object& original, json::object patch, const Node* schema) {
  if (const json::value* d = patch.if_contains(kDirective)) {
    if (d->is_string() && d->get_string() == "replace") {
      patch.erase(kDirective);
      json::object replaced;
      KEDGE_RETURN_IF_ERROR(merge_map(replaced, std::move(patch), schema));
      original = std::move(replaced);
      return {};
    }
    if (d->is_string() && d->get_string() == "delete") {
      original.clear();
      return {};
    }
    if (!(d->is_string() && d->get_string() == "merge")) return bad_patch_type(*d, json::value(patch));
    patch.erase(kDirective);
  }
  KEDGE_RETURN_IF_ERROR(apply_retain_keys(original, patch));
  KEDGE_RETURN_IF_ERROR(apply_set_element_order(original, patch, schema));

  for (const auto& kv : patch) {
    std::string key(kv.key());
    const json::value& pv = kv.value();
    if (key.starts_with(kDeleteFromPrimitivePrefix)) {
      KEDGE_ASSIGN_OR_RETURN(key, directive_target(key, kDeleteFromPrimitivePrefix));
      if (!pv.is_array()) return invalid_argument("invalid patch format of primitive list");
      json::value* ov = original.if_contains(key);
      if (ov == nullptr) continue;  // nothing to delete from
      if (!ov->is_array()) return invalid_argument("invalid patch format of primitive list");
      const Field* field = schema != nullptr ? schema->find(key) : nullptr;
      KEDGE_ASSIGN_OR_RETURN(json::array kept, merge_list(ov->get_array(), pv.get_array(), field, true));
      *ov = std::move(kept);
      continue;
    }
    if (pv.is_null()) {
      original.erase(key);
      continue;
    }
    const Field* field = schema != nullptr ? schema->find(key) : nullptr;
    json::value* ov = original.if_contains(key);
    if (ov == nullptr || kind_class(*ov) != kind_class(pv)) {
      if (auto c = clean_value(pv)) {
        original[key] = std::move(*c);
      } else {
        original.erase(key);
      }
      continue;
    }
    if (pv.is_object()) {
      if (field != nullptr && field->replace_map) {
        *ov = clean_value(pv).value_or(json::object());
      } else {
        KEDGE_RETURN_IF_ERROR(merge_map(ov->get_object(), pv.get_object(), field != nullptr ? field->node : nullptr));
      }
    } else if (pv.is_array()) {
      if (field != nullptr && field->merge_list) {
        KEDGE_ASSIGN_OR_RETURN(json::array merged, merge_list(ov->get_array(), pv.get_array(), field, false));
        *ov = std::move(merged);
      } else {
        *ov = pv;
      }
    } else {
      *ov = pv;
    }
  }
  return {};
}

}  // namespace

bool supports_strategic_merge_patch(std::string_view group, std::string_view kind) {
  return smp::kind_schema(group, kind) != nullptr;
}

Result<json::value> apply_strategic_merge_patch(const json::value& original, const json::value& patch,
                                                std::string_view group, std::string_view kind) {
  const Node* schema = smp::kind_schema(group, kind);
  if (schema == nullptr) {
    return unimplemented("strategic merge patch is not supported for " + std::string(kind) +
                         (group.empty() ? "" : "." + std::string(group)) +
                         "; the body of the request was in an unknown format - accepted media types include: "
                         "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
  }
  if (!patch.is_object()) return invalid_argument("invalid JSON document");
  json::object out;
  if (original.is_object()) {
    out = original.get_object();
  } else if (!original.is_null()) {
    return invalid_argument("invalid JSON document");
  }
  KEDGE_RETURN_IF_ERROR(merge_map(out, patch.get_object(), schema));
  return json::value(std::move(out));
}

}  // namespace kedge::api

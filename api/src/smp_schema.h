// Internal: the patch metadata (patchStrategy / patchMergeKey struct tags in
// upstream's Go types) of the built-in kinds, as data.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace kedge::api::smp {

struct Node;

// How one field of an object combines under a strategic merge patch.
struct Field {
  bool merge_list = false;   // patchStrategy "merge" on a list
  std::string merge_key;     // patchMergeKey; empty for lists of primitives
  bool replace_map = false;  // patchStrategy "replace" on a map
  const Node* node = nullptr;  // schema of the map value, or of list elements
};

struct Node {
  std::map<std::string, Field, std::less<>> fields;
  const Field* find(std::string_view name) const {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  }
};

// Root schema of a built-in kind, or nullptr when unknown. The tables are
// built once (thread-safe static initialization) and never change.
const Node* kind_schema(std::string_view group, std::string_view kind);

}  // namespace kedge::api::smp

// Lists served from the resource's WatchCache: resourceVersion semantics
// (consistent reads, "0", NotOlderThan, Exact), limit/continue, selectors,
// and bodies written from the cached bytes — streamed in chunks when large,
// never built as one JSON value. Internal to edge-control.
//
// Thread-safety: free functions; serve_list blocks (store calls, waiting for
// the cache): worker threads only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "kedge/control/http.h"
#include "kedge/control/registry.h"
#include "kedge/control/table.h"
#include "kedge/control/watch_cache.h"
#include "selection.h"

namespace kedge::control {

struct ListQuery {
  const ResourceInfo* info = nullptr;
  std::string ns;
  ListOptions options;
  std::string resource_version;        // "" = consistent read; "0" = any; N
  std::string resource_version_match;  // "" | NotOlderThan | Exact
  bool table = false;
  IncludeObject include = IncludeObject::kMetadata;
  std::int64_t now = 0;  // seconds since epoch (Table AGE)
};

// How long a read waits for the cache to catch up before it reads the store
// (consistent reads) or answers 504 (resourceVersion newer than the cache).
inline constexpr std::chrono::milliseconds kCacheWaitTimeout{3000};

// A list response; `cache` may be null or not ready (the store answers).
HttpResponse serve_list(WatchCache* cache, Registry& registry, store::Store& store, const ListQuery& query);

// Waits until `cache` holds the store's current revision (what a consistent
// read needs). False when it could not within kCacheWaitTimeout.
ApiResult<bool> wait_consistent(WatchCache& cache, store::Store& store, const std::string& prefix);

// The predicate a cache list filters with.
std::function<bool(const CachedObject&)> cache_match(std::shared_ptr<const Selection> selection);

// Upstream's continue token: base64(JSON{v, rv, start}), start relative to
// the list prefix.
std::string make_continue_token(store::Revision rv, const std::string& start);
ApiStatus parse_continue_token(const std::string& token, store::Revision& rv, std::string& start);

}  // namespace kedge::control

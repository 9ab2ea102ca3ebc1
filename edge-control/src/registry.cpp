// Registry: create/get/update/patch/delete over the store with etcd-style
// compare-and-swap on mod_revision. List, collection delete and namespace
// lifecycle are in registry_list.cpp.
#include "kedge/control/registry.h"

#include <boost/json.hpp>

#include "kedge/api/json_patch.h"
#include "kedge/api/json_util.h"
#include "kedge/api/merge_patch.h"
#include "admission.h"
#include "object_util.h"
#include "service_alloc.h"
#include "strategy.h"
#include "kedge/api/strategic_merge.h"

namespace kedge::control {

namespace {

constexpr int kMaxCasRetries = 16;

// The stored form: without metadata.resourceVersion, which is the key's
// mod_revision. Erases it from `obj` in place rather than serializing a copy
// of the whole object (every write took two such copies); callers set it
// again from the revision the write got.
std::string encode(json::object& obj) {
  if (auto* meta = find_object(obj, "metadata"); meta != nullptr) meta->erase("resourceVersion");
  return json::serialize(obj);
}

void set_rv(json::object& obj, store::Revision rv) {
  child_object(obj, "metadata")["resourceVersion"] = std::to_string(rv);
}

store::Compare mod_equals(const std::string& key, store::Revision rev) {
  return store::Compare{.result = store::Compare::Result::kEqual,
                        .target = store::Compare::Target::kMod,
                        .key = key,
                        .number = rev};
}

std::string unknown_list(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += ", ";
    out += "unknown field \"" + f + "\"";
  }
  return out;
}

// Applies fieldValidation to unknown fields: Strict → 400, Warn → warnings.
ApiStatus check_fields(const ResourceInfo& info, const json::object& obj,
                       FieldValidation mode, std::vector<std::string>& warnings) {
  if (mode == FieldValidation::kIgnore) return api_ok();
  auto unknown = unknown_fields(info, obj);
  if (unknown.empty()) return api_ok();
  if (mode == FieldValidation::kStrict) {
    return bad_request_error(std::string(info.kind) + " in version \"" + std::string(info.version) +
                             "\" cannot be handled as a " + std::string(info.kind) +
                             ": strict decoding error: " + unknown_list(unknown));
  }
  for (const auto& f : unknown) warnings.push_back("unknown field \"" + f + "\"");
  return api_ok();
}

bool is_service(const ResourceInfo& info) { return info.group.empty() && info.kind == "Service"; }

}  // namespace

Registry::Registry(store::Store& store)
    : store_(store), services_(std::make_unique<ServiceAllocator>(store)) {}

Registry::~Registry() = default;

std::string Registry::key_for(const ResourceInfo& info, std::string_view ns, std::string_view name) {
  std::string key = "/registry/" + std::string(info.storage) + "/";
  if (info.namespaced) {
    key += ns;
    key += '/';
  }
  key += name;
  return key;
}

std::string Registry::prefix_for(const ResourceInfo& info, std::string_view ns) {
  std::string key = "/registry/" + std::string(info.storage) + "/";
  if (info.namespaced && !ns.empty()) {
    key += ns;
    key += '/';
  }
  return key;
}

ApiResult<json::object> Registry::decode(const store::KeyValue& kv) {
  boost::system::error_code ec;
  json::value v = json::parse(kv.value, ec);
  if (ec || !v.is_object()) return internal_api_error("stored object " + kv.key + " is not JSON");
  set_rv(v.as_object(), kv.mod_revision);
  return std::move(v.as_object());
}

void Registry::set_namespace_terminating_hook(std::function<void(std::string)> hook) {
  std::lock_guard lock(hook_mu_);
  namespace_hook_ = std::move(hook);
}

ApiStatus Registry::check_namespace_writable(const ResourceInfo& info, std::string_view ns) {
  if (!info.namespaced) return api_ok();
  const ResourceInfo* nsinfo = find_resource("", "v1", "namespaces");
  auto r = store_.range(store::RangeRequest{.key = key_for(*nsinfo, "", ns)});
  if (!r.ok()) return from_store_status(r.status());
  if (r->kvs.empty()) return not_found_error("", "namespaces", ns);
  KEDGE_API_ASSIGN(auto obj, decode(r->kvs[0]));
  if (metadata_of(obj).contains("deletionTimestamp")) {
    auto e = forbidden_error(std::string(info.resource) + " \"\" is forbidden: unable to create new "
                             "content in namespace " + std::string(ns) +
                             " because it is being terminated");
    e.reason = "Forbidden";
    return e;
  }
  return api_ok();
}

ApiResult<WriteResult> Registry::create(const ResourceInfo& info, std::string_view ns,
                                        json::object obj, const WriteOptions& options) {
  WriteResult result;
  result.created = true;
  auto& meta = child_object(obj, "metadata");
  std::string name = get_string(meta, "name");
  std::string generate = get_string(meta, "generateName");
  if (name.empty() && generate.empty()) {
    return invalid_error(info.group, info.kind, "",
                         {{"FieldValueRequired", "metadata.name",
                           "Required value: name or generateName is required"}});
  }
  if (info.namespaced) {
    std::string obj_ns = get_string(meta, "namespace");
    if (!obj_ns.empty() && obj_ns != ns) {
      return bad_request_error("the namespace of the provided object does not match the namespace "
                               "sent on the request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  KEDGE_API_RETURN_IF_ERROR(check_fields(info, obj, options.field_validation, result.warnings));
  KEDGE_API_RETURN_IF_ERROR(check_namespace_writable(info, ns));
  if (info.group.empty() && info.kind == "Pod") KEDGE_API_RETURN_IF_ERROR(admit_pod_service_account(*this, ns, obj));
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  for (auto drop : {"resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "selfLink", "managedFields"}) {
    meta.erase(drop);
  }
  if (tracks_generation(info)) meta["generation"] = 1;
  else meta.erase("generation");
  if (info.group.empty() && info.kind == "PersistentVolumeClaim") {
    if (const auto* sc = find_resource("storage.k8s.io", "v1", "storageclasses")) {
      if (auto classes = list(*sc, "", ListOptions{}); classes.ok()) default_storage_class(obj, classes->items);
    }
  }

  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    json::object candidate = obj;
    auto& cmeta = child_object(candidate, "metadata");
    std::string cname = name.empty() ? generate + random_suffix(5) : name;
    cmeta["name"] = cname;
    apply_defaults(info, candidate);
    prepare_for_create(info, candidate);
    auto causes = validate_object(info, candidate, nullptr);
    if (!causes.empty()) return invalid_error(info.group, info.kind, cname, std::move(causes));
    std::string key = key_for(info, ns, cname);
    TxnExtras extras;
    if (is_service(info)) {
      KEDGE_API_RETURN_IF_ERROR(services_->allocate(nullptr, candidate, key, extras));
    }
    if (options.dry_run) {
      result.object = std::move(candidate);
      return result;
    }
    store::TxnRequest txn;
    txn.compare.push_back(mod_equals(key, 0));
    for (auto& c : extras.compares) txn.compare.push_back(std::move(c));
    txn.success.push_back(store::RequestOp{store::PutRequest{.key = key, .value = encode(candidate)}});
    for (auto& op : extras.ops) txn.success.push_back(std::move(op));
    txn.failure.push_back(store::RequestOp{store::RangeRequest{.key = key, .keys_only = true}});
    auto r = store_.txn(txn);
    if (!r.ok()) return from_store_status(r.status());
    if (r->succeeded) {
      set_rv(candidate, r->revision);
      result.object = std::move(candidate);
      return result;
    }
    const auto& range = std::get<store::RangeResponse>(r->responses.at(0).op);
    if (!range.kvs.empty() && !name.empty()) return already_exists_error(info.group, info.resource, name);
    // A generated name collided, or an IP/port was claimed concurrently: retry.
  }
  return already_exists_error(info.group, info.resource,
                              name.empty() ? generate : name);
}

ApiResult<json::object> Registry::get(const ResourceInfo& info, std::string_view ns,
                                      std::string_view name) {
  auto r = store_.range(store::RangeRequest{.key = key_for(info, ns, name)});
  if (!r.ok()) return from_store_status(r.status());
  if (r->kvs.empty()) return not_found_error(info.group, info.resource, name);
  return decode(r->kvs[0]);
}

ApiResult<WriteResult> Registry::modify(const ResourceInfo& info, std::string_view ns,
                                        std::string_view name, const Mutator& mutate,
                                        const WriteOptions& options, Scope scope) {
  const bool status_only = scope == Scope::kStatus;
  const std::string key = key_for(info, ns, name);
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    auto r = store_.range(store::RangeRequest{.key = key});
    if (!r.ok()) return from_store_status(r.status());
    if (r->kvs.empty()) return not_found_error(info.group, info.resource, name);
    const store::KeyValue kv = r->kvs[0];
    KEDGE_API_ASSIGN(json::object current, decode(kv));
    KEDGE_API_ASSIGN(json::object next, mutate(current));
    WriteResult result;
    auto& meta = child_object(next, "metadata");
    const auto& old_meta = metadata_of(current);
    std::string rv = get_string(meta, "resourceVersion");
    if (!rv.empty() && rv != std::to_string(kv.mod_revision)) {
      return conflict_error(info.group, info.resource, name,
                            "the object has been modified; please apply your changes to the "
                            "latest version and try again");
    }
    std::string obj_name = get_string(meta, "name");
    if (!obj_name.empty() && obj_name != name) {
      return bad_request_error("the name of the object (" + obj_name +
                               ") does not match the name on the URL (" + std::string(name) + ")");
    }
    std::string obj_ns = get_string(meta, "namespace");
    if (info.namespaced && !obj_ns.empty() && obj_ns != ns) {
      return bad_request_error("the namespace of the provided object does not match the namespace "
                               "sent on the request");
    }
    meta["name"] = name;
    if (info.namespaced) meta["namespace"] = ns;
    else meta.erase("namespace");
    // System-owned metadata always comes from the stored object.
    for (auto k : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                   "generation"}) {
      auto it = old_meta.find(k);
      if (it != old_meta.end()) meta[k] = it->value();
      else meta.erase(k);
    }
    meta.erase("managedFields");
    meta.erase("selfLink");
    if (!status_only) {
      KEDGE_API_RETURN_IF_ERROR(check_fields(info, next, options.field_validation, result.warnings));
      apply_defaults(info, next);
    }
    if (scope != Scope::kMainAndStatus) {
      prepare_for_update(info, next, current, status_only ? Subresource::kStatus : Subresource::kNone);
    }
    if (tracks_generation(info) && !status_only) {
      const json::object* a = find_object(current, "spec");
      const json::object* b = find_object(next, "spec");
      bool changed = (a == nullptr) != (b == nullptr) ||
                     (a != nullptr && !api::json_equal(*a, *b));
      std::int64_t gen = get_int(old_meta, "generation", 1);
      child_object(next, "metadata")["generation"] = changed ? gen + 1 : gen;
    }
    TxnExtras extras;
    if (is_service(info) && !status_only) {
      KEDGE_API_RETURN_IF_ERROR(services_->allocate(&current, next, key, extras));
    }
    auto causes = validate_object(info, next, &current);
    if (!causes.empty()) return invalid_error(info.group, info.kind, name, std::move(causes));

    const auto& nmeta = metadata_of(next);
    const auto* fins = find_array(nmeta, "finalizers");
    if (nmeta.contains("deletionTimestamp") && (fins == nullptr || fins->empty()) &&
        !(info.group.empty() && info.kind == "Pod") && !(info.group.empty() && info.kind == "Namespace")) {
      // The last finalizer is gone from an object being deleted: delete it.
      if (options.dry_run) {
        result.object = std::move(next);
        return result;
      }
      KEDGE_API_ASSIGN(result.object, delete_now(info, key, kv, std::move(next)));
      return result;
    }
    std::string encoded = encode(next);
    if (encoded == kv.value) {
      result.object = std::move(current);  // no-op: no new revision, as upstream
      return result;
    }
    if (options.dry_run) {
      set_rv(next, kv.mod_revision);
      result.object = std::move(next);
      return result;
    }
    store::TxnRequest txn;
    txn.compare.push_back(mod_equals(key, kv.mod_revision));
    for (auto& c : extras.compares) txn.compare.push_back(std::move(c));
    txn.success.push_back(store::RequestOp{store::PutRequest{.key = key, .value = std::move(encoded)}});
    for (auto& op : extras.ops) txn.success.push_back(std::move(op));
    auto t = store_.txn(txn);
    if (!t.ok()) return from_store_status(t.status());
    if (t->succeeded) {
      set_rv(next, t->revision);
      result.object = std::move(next);
      return result;
    }
    // Lost a race: re-read and re-apply (a client-given resourceVersion now
    // mismatches and turns into a Conflict above).
  }
  return conflict_error(info.group, info.resource, name,
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again");
}

ApiResult<WriteResult> Registry::update(const ResourceInfo& info, std::string_view ns,
                                        std::string_view name, json::object obj,
                                        const WriteOptions& options, bool status_only) {
  return modify(
      info, ns, name,
      [&](const json::object&) -> ApiResult<json::object> { return obj; }, options,
      status_only ? Scope::kStatus : Scope::kMain);
}

ApiResult<WriteResult> Registry::patch(const ResourceInfo& info, std::string_view ns,
                                       std::string_view name, PatchType type,
                                       const json::value& patch, const WriteOptions& options,
                                       bool status_only) {
  auto mutate = [&](const json::object& current) -> ApiResult<json::object> {
    json::value doc = current;
    json::value out;
    switch (type) {
      case PatchType::kJson: {
        auto r = api::apply_json_patch(doc, patch);
        if (!r.ok()) {
          auto e = invalid_error(info.group, info.kind, name, {});
          e.message = r.status().message();
          return e;
        }
        out = std::move(*r);
        break;
      }
      case PatchType::kMerge:
        if (!patch.is_object()) return bad_request_error("a merge patch must be a JSON object");
        out = api::apply_merge_patch(doc, patch);
        break;
      case PatchType::kStrategic: {
        if (!patch.is_object()) return bad_request_error("a strategic merge patch must be a JSON object");
        auto r = api::apply_strategic_merge_patch(doc, patch, info.group, info.kind);
        if (!r.ok()) return bad_request_error(r.status().message());
        out = std::move(*r);
        break;
      }
    }
    if (!out.is_object()) return bad_request_error("the patch did not produce a JSON object");
    return std::move(out.as_object());
  };
  return modify(info, ns, name, mutate, options, status_only ? Scope::kStatus : Scope::kMain);
}

ApiResult<json::object> Registry::get_scale(const ResourceInfo& info, std::string_view ns,
                                            std::string_view name) {
  KEDGE_API_ASSIGN(auto obj, get(info, ns, name));
  const auto& meta = metadata_of(obj);
  const auto* spec = find_object(obj, "spec");
  const auto* status = find_object(obj, "status");
  json::object scale{
      {"kind", "Scale"},
      {"apiVersion", "autoscaling/v1"},
      {"metadata", json::object{{"name", name},
                                {"namespace", ns},
                                {"uid", get_string(meta, "uid")},
                                {"resourceVersion", get_string(meta, "resourceVersion")},
                                {"creationTimestamp", get_string(meta, "creationTimestamp")}}},
      {"spec", json::object{{"replicas", spec != nullptr ? get_int(*spec, "replicas", 0) : 0}}},
      {"status", json::object{{"replicas", status != nullptr ? get_int(*status, "replicas", 0) : 0}}}};
  if (spec != nullptr) {
    if (const auto* sel = find_object(*spec, "selector")) {
      if (const auto* ml = find_object(*sel, "matchLabels")) {
        std::string s;
        for (const auto& kv : *ml) {
          if (!s.empty()) s += ",";
          s += std::string(kv.key()) + "=" + (kv.value().is_string() ? std::string(kv.value().as_string()) : "");
        }
        scale["status"].as_object()["selector"] = s;
      }
    }
  }
  return scale;
}

ApiResult<json::object> Registry::update_scale(const ResourceInfo& info, std::string_view ns,
                                               std::string_view name, const json::object& scale,
                                               const WriteOptions& options) {
  const auto* spec = find_object(scale, "spec");
  std::int64_t replicas = spec != nullptr ? get_int(*spec, "replicas", -1) : -1;
  if (replicas < 0) {
    return invalid_error("autoscaling", "Scale", name,
                         {{"FieldValueInvalid", "spec.replicas",
                           "Invalid value: " + std::to_string(replicas) +
                               ": must be greater than or equal to 0"}});
  }
  std::string rv = get_string(metadata_of(scale), "resourceVersion");
  auto mutate = [&](const json::object& current) -> ApiResult<json::object> {
    json::object next = current;
    if (!rv.empty()) child_object(next, "metadata")["resourceVersion"] = rv;
    child_object(next, "spec")["replicas"] = replicas;
    return next;
  };
  KEDGE_API_RETURN_IF_ERROR(modify(info, ns, name, mutate, options, Scope::kMain));
  return get_scale(info, ns, name);
}

ApiResult<json::object> Registry::delete_now(const ResourceInfo& info, const std::string& key,
                                             const store::KeyValue& kv, json::object obj) {
  store::TxnRequest txn;
  txn.compare.push_back(mod_equals(key, kv.mod_revision));
  txn.success.push_back(store::RequestOp{store::DeleteRangeRequest{.key = key}});
  if (is_service(info)) {
    TxnExtras extras;
    services_->release(obj, extras);
    for (auto& op : extras.ops) txn.success.push_back(std::move(op));
  }
  auto t = store_.txn(txn);
  if (!t.ok()) return from_store_status(t.status());
  if (!t->succeeded) {
    return conflict_error(info.group, info.resource, get_string(metadata_of(obj), "name"),
                          "the object has been modified; please apply your changes to the latest "
                          "version and try again");
  }
  return obj;
}

ApiResult<json::object> Registry::remove(const ResourceInfo& info, std::string_view ns,
                                         std::string_view name, const DeleteOptions& options,
                                         bool* finished) {
  const std::string key = key_for(info, ns, name);
  if (finished != nullptr) *finished = false;
  for (int attempt = 0; attempt < kMaxCasRetries; ++attempt) {
    auto r = store_.range(store::RangeRequest{.key = key});
    if (!r.ok()) return from_store_status(r.status());
    if (r->kvs.empty()) return not_found_error(info.group, info.resource, name);
    const store::KeyValue kv = r->kvs[0];
    KEDGE_API_ASSIGN(json::object current, decode(kv));
    const auto& meta = metadata_of(current);
    if (options.precondition_uid && *options.precondition_uid != get_string(meta, "uid")) {
      return conflict_error(info.group, info.resource, name,
                            "Precondition failed: UID in precondition: " + *options.precondition_uid +
                                ", UID in object meta: " + get_string(meta, "uid"));
    }
    if (options.precondition_resource_version &&
        *options.precondition_resource_version != std::to_string(kv.mod_revision)) {
      return conflict_error(info.group, info.resource, name,
                            "Precondition failed: ResourceVersion in precondition: " +
                                *options.precondition_resource_version +
                                ", ResourceVersion in meta: " + std::to_string(kv.mod_revision));
    }
    json::object next = current;
    auto& nmeta = child_object(next, "metadata");
    bool already_deleting = meta.contains("deletionTimestamp");
    bool graceful = false;
    if (info.group.empty() && info.kind == "Namespace") {
      if (already_deleting) return current;
      nmeta["deletionTimestamp"] = now_rfc3339();
      nmeta["deletionGracePeriodSeconds"] = 0;
      child_object(next, "status")["phase"] = "Terminating";
      graceful = true;
    } else if (info.group.empty() && info.kind == "Pod") {
      // A pod bound to a node is stopped by its agent first, which then
      // deletes it with gracePeriodSeconds=0; an unbound pod goes at once.
      const auto* spec = find_object(current, "spec");
      bool bound = spec != nullptr && !get_string(*spec, "nodeName").empty();
      std::int64_t grace = options.grace_period_seconds.value_or(
          spec != nullptr ? get_int(*spec, "terminationGracePeriodSeconds", 30) : 30);
      if (bound && grace > 0) {
        if (already_deleting) return current;
        nmeta["deletionTimestamp"] = now_rfc3339(grace);
        nmeta["deletionGracePeriodSeconds"] = grace;
        graceful = true;
      }
    }
    // Orphan and Foreground deletion hand the object to the garbage
    // collector through a finalizer, as upstream's registry does.
    if (!already_deleting &&
        (options.propagation_policy == "Orphan" || options.propagation_policy == "Foreground")) {
      const char* fin = options.propagation_policy == "Orphan" ? "orphan" : "foregroundDeletion";
      json::value& nf = nmeta["finalizers"];
      if (!nf.is_array()) nf = json::array{};
      bool has = false;
      for (const auto& f : nf.as_array()) has = has || (f.is_string() && f.as_string() == fin);
      if (!has) nf.as_array().emplace_back(fin);
    }
    const auto* fins = find_array(nmeta, "finalizers");
    if (!graceful && fins != nullptr && !fins->empty()) {
      if (already_deleting) return current;
      nmeta["deletionTimestamp"] = now_rfc3339();
      nmeta["deletionGracePeriodSeconds"] = 0;
      graceful = true;
    }
    if (options.dry_run) return graceful ? next : current;
    if (graceful) {
      store::TxnRequest txn;
      txn.compare.push_back(mod_equals(key, kv.mod_revision));
      txn.success.push_back(store::RequestOp{store::PutRequest{.key = key, .value = encode(next)}});
      auto t = store_.txn(txn);
      if (!t.ok()) return from_store_status(t.status());
      if (!t->succeeded) continue;
      set_rv(next, t->revision);
      if (info.group.empty() && info.kind == "Namespace") {
        std::function<void(std::string)> hook;
        {
          std::lock_guard lock(hook_mu_);
          hook = namespace_hook_;
        }
        if (hook) hook(std::string(name));
      }
      return next;
    }
    auto done = delete_now(info, key, kv, current);
    if (!done.ok() && done.error().code == 409) continue;
    if (done.ok() && finished != nullptr) *finished = true;
    return done;
  }
  return conflict_error(info.group, info.resource, name,
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again");
}

}  // namespace kedge::control

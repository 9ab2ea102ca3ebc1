#include "cached_list.h"

#include <atomic>

#include <boost/json.hpp>

#include "object_util.h"

namespace kedge::control {

namespace {

// Bodies up to this size are sent at once (keep-alive); larger ones stream.
constexpr std::size_t kInlineBytes = 1 << 20;
// A chunk handed to the connection, and how much may wait unsent per list.
constexpr std::size_t kChunkBytes = 64 << 10;
constexpr std::size_t kMaxUnsentBytes = 1 << 20;
constexpr std::size_t kTableBatch = 100;  // objects parsed at a time for Table rows

HttpResponse status_response(const ApiError& e) {
  HttpResponse r;
  r.status = e.code;
  r.body = json::serialize(e.to_json());
  return r;
}

// The body of one list response, written piece by piece from cached bytes.
class ListBody {
 public:
  ListBody(const ListQuery& q, CacheList list, std::string continue_token)
      : info_(*q.info), table_(q.table), include_(q.include), now_(q.now),
        items_(std::move(list.items)), rv_(std::to_string(list.revision)),
        continue_(std::move(continue_token)) {}

  std::size_t size_hint() const {
    std::size_t n = 256;
    for (const auto& i : items_) n += i->json.size() + 1;
    return n;
  }

  // Calls `emit` with pieces of about kChunkBytes; false once emit refused.
  bool produce(const std::function<bool(std::string)>& emit) const {
    std::string buf = head();
    auto flush = [&](bool force) {
      if (buf.empty() || (!force && buf.size() < kChunkBytes)) return true;
      std::string out;
      out.swap(buf);
      buf.reserve(kChunkBytes + (4 << 10));
      return emit(std::move(out));
    };
    if (table_) {
      bool first = true;
      for (std::size_t at = 0; at < items_.size(); at += kTableBatch) {
        for (const auto& row : table_rows(at)) {
          if (!first) buf += ',';
          first = false;
          buf += json::serialize(row);
        }
        if (!flush(false)) return false;
      }
    } else {
      for (std::size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) buf += ',';
        buf += items_[i]->json;
        if (!flush(false)) return false;
      }
    }
    buf += "]}";
    return flush(true);
  }

 private:
  std::string head() const {
    if (table_) {
      // The Table without rows, its closing brace replaced by the rows array.
      json::object t = make_table(info_, {}, rv_, continue_, include_, now_);
      t.erase("rows");
      std::string s = json::serialize(t);
      s.pop_back();
      return s + ",\"rows\":[";
    }
    json::object meta{{"resourceVersion", rv_}};
    if (!continue_.empty()) meta["continue"] = continue_;
    json::object list{{"kind", std::string(info_.kind) + "List"},
                      {"apiVersion", info_.api_version()},
                      {"metadata", std::move(meta)}};
    std::string s = json::serialize(list);
    s.pop_back();
    return s + ",\"items\":[";
  }

  json::array table_rows(std::size_t from) const {
    std::vector<json::object> batch;
    for (std::size_t i = from; i < items_.size() && i < from + kTableBatch; ++i) {
      boost::system::error_code ec;
      json::value v = json::parse(items_[i]->json, ec);
      if (!ec && v.is_object()) batch.push_back(std::move(v.as_object()));
    }
    json::object t = make_table(info_, batch, rv_, continue_, include_, now_);
    auto* rows = t.if_contains("rows");
    return rows != nullptr && rows->is_array() ? std::move(rows->as_array()) : json::array{};
  }

  const ResourceInfo& info_;
  bool table_;
  IncludeObject include_;
  std::int64_t now_;
  std::vector<CachedObjectPtr> items_;
  std::string rv_;
  std::string continue_;
};

// A large list, written on a worker with flow control: at most about
// kMaxUnsentBytes wait for the client at any time.
class ListStream : public StreamSource {
 public:
  explicit ListStream(std::shared_ptr<const ListBody> body) : body_(std::move(body)) {}
  void start(std::shared_ptr<StreamSink> sink) override {
    body_->produce([&](std::string chunk) {
      if (cancelled_ || !sink->write(std::move(chunk))) return false;
      return sink->wait_below(kMaxUnsentBytes, std::chrono::seconds(30)) && !cancelled_;
    });
    sink->close();
    body_.reset();  // the snapshot goes as soon as it is written
  }
  void cancel() override { cancelled_ = true; }

 private:
  std::shared_ptr<const ListBody> body_;
  std::atomic<bool> cancelled_{false};
};

HttpResponse respond(const ListQuery& q, CacheList list, std::string continue_token) {
  auto body = std::make_shared<const ListBody>(q, std::move(list), std::move(continue_token));
  HttpResponse resp;
  resp.status = 200;
  if (body->size_hint() > kInlineBytes) {
    resp.stream = std::make_shared<ListStream>(std::move(body));
    return resp;
  }
  body->produce([&](std::string chunk) {
    resp.body += chunk;
    return true;
  });
  return resp;
}

// The store answers: a continue past the cache's buffer, Exact, or a cache
// that is not ready.
HttpResponse from_store(Registry& registry, const ListQuery& q) {
  auto r = registry.list(*q.info, q.ns, q.options);
  if (!r.ok()) return status_response(r.error());
  CacheList list;
  list.revision = r->revision;
  list.items.reserve(r->items.size());
  for (auto& obj : r->items) {
    auto& meta = child_object(obj, "metadata");
    store::Revision rv = std::stoll(get_string(meta, "resourceVersion"));
    list.items.push_back(CachedObject::make("", json::serialize(obj), rv));
  }
  return respond(q, std::move(list), std::move(r->continue_token));
}

ApiResult<store::Revision> parse_rv(const std::string& text) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 0) return static_cast<store::Revision>(v);
  } catch (const std::exception&) {
  }
  return bad_request_error("invalid resource version: " + text);
}

}  // namespace

std::string make_continue_token(store::Revision rv, const std::string& start) {
  json::object o{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", start}};
  return base64_encode(json::serialize(o));
}

ApiStatus parse_continue_token(const std::string& token, store::Revision& rv, std::string& start) {
  std::string raw;
  auto bad = [] {
    return bad_request_error("continue key is not valid: the continue token is malformed");
  };
  if (!base64_decode(token, raw)) return bad();
  boost::system::error_code ec;
  json::value v = json::parse(raw, ec);
  if (ec || !v.is_object()) return bad();
  const auto& o = v.as_object();
  rv = get_int(o, "rv", 0);
  start = get_string(o, "start");
  if (rv <= 0 || start.find("..") != std::string::npos) return bad();
  return api_ok();
}

std::function<bool(const CachedObject&)> cache_match(std::shared_ptr<const Selection> selection) {
  if (!selection || selection->empty()) return nullptr;
  return [selection](const CachedObject& o) { return selection->matches(o.fields); };
}

ApiResult<bool> wait_consistent(WatchCache& cache, store::Store& store, const std::string& prefix) {
  // A point read of the prefix itself (no object has that key) returns the
  // store's current revision cheaply.
  auto r = store.range(store::RangeRequest{.key = prefix});
  if (!r.ok()) return from_store_status(r.status());
  return cache.wait_for_revision(r->revision, kCacheWaitTimeout);
}

HttpResponse serve_list(WatchCache* cache, Registry& registry, store::Store& store, const ListQuery& q) {
  const ListOptions& o = q.options;
  auto sel = Selection::compile(*q.info, o.label_selector, o.field_selector);
  if (!sel.ok()) return status_response(sel.error());
  const std::string& match = q.resource_version_match;
  if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
    return status_response(bad_request_error("resourceVersionMatch: Unsupported value: \"" + match +
                                             "\": supported values: \"Exact\", \"NotOlderThan\""));
  }
  if (!match.empty() && q.resource_version.empty()) {
    return status_response(
        bad_request_error("resourceVersionMatch is forbidden unless resourceVersion is provided"));
  }
  store::Revision rv = 0;
  if (!q.resource_version.empty() && o.continue_token.empty()) {
    auto parsed = parse_rv(q.resource_version);
    if (!parsed.ok()) return status_response(parsed.error());
    rv = *parsed;
    if (match == "Exact" && rv == 0) {
      return status_response(
          bad_request_error("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\""));
    }
  }
  const std::string prefix = Registry::prefix_for(*q.info, q.ns);
  CacheListOptions co{.prefix = prefix,
                      .limit = o.limit > 0 ? static_cast<std::size_t>(o.limit) : 0,
                      .match = cache_match(*sel)};
  if (!o.continue_token.empty()) {
    std::string rel;
    if (auto st = parse_continue_token(o.continue_token, co.at, rel); !st.ok()) {
      return status_response(st.error());
    }
    co.start = prefix + rel;
  } else if (match == "Exact") {
    ListQuery exact = q;
    exact.options.revision = rv;
    return from_store(registry, exact);
  } else if (cache != nullptr && q.resource_version.empty()) {
    auto fresh = wait_consistent(*cache, store, Registry::prefix_for(*q.info, ""));
    if (!fresh.ok()) return status_response(fresh.error());
    if (!*fresh) return from_store(registry, q);
  } else if (cache != nullptr && rv > 0 && !cache->wait_for_revision(rv, kCacheWaitTimeout)) {
    if (!cache->ready()) return from_store(registry, q);
    return status_response(timeout_error("Too large resource version: " + std::to_string(rv) +
                                         ", current: " + std::to_string(cache->revision())));
  }
  CacheList list;
  if (cache == nullptr || !cache->list(co, list)) return from_store(registry, q);
  std::string next;
  if (list.more && !list.items.empty()) {
    next = make_continue_token(list.revision,
                               list.items.back()->key.substr(prefix.size()) + std::string(1, '\0'));
  }
  return respond(q, std::move(list), std::move(next));
}

}  // namespace kedge::control

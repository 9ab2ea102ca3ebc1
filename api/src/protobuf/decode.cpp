// Kubernetes protobuf → JSON: a wire-format walker driven by the embedded
// schema (schema.h). No generated message classes and no DynamicMessage: the
// bytes are read once and JSON is produced directly, which keeps unknown
// fields visible and the cost to one pass.
#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>

#include <boost/json.hpp>
#include <google/protobuf/descriptor.h>

#include "kedge/api/protobuf.h"
#include "protobuf/schema.h"

namespace kedge::api {
namespace {

namespace json = boost::json;
using detail::FieldInfo;
using detail::MessageInfo;
using detail::Special;
using FD = google::protobuf::FieldDescriptor;

// Deeper than any Kubernetes type nests (JSONSchemaProps is the deepest);
// bounds recursion on hostile input.
constexpr int kMaxDepth = 64;

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

struct Reader {
  const unsigned char* p;
  const unsigned char* end;

  explicit Reader(std::string_view b)
      : p(reinterpret_cast<const unsigned char*>(b.data())), end(p + b.size()) {}
  bool done() const { return p == end; }

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      unsigned char b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes
  }
  bool fixed(int n, std::uint64_t& v) {
    if (end - p < n) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    p += n;
    return true;
  }
  bool bytes(std::string_view& out) {
    std::uint64_t n = 0;
    if (!varint(n) || n > static_cast<std::uint64_t>(end - p)) return false;
    out = std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    p += n;
    return true;
  }
  bool skip(std::uint32_t wt) {
    std::uint64_t v = 0;
    std::string_view s;
    switch (wt) {
      case kVarint: return varint(v);
      case kFixed64: return fixed(8, v);
      case kBytes: return bytes(s);
      case kFixed32: return fixed(4, v);
      default: return false;  // groups are not used by Kubernetes
    }
  }
};

struct Ctx {
  std::vector<std::string> unknown;
};

Status malformed(const MessageInfo& m, std::string_view what) {
  return invalid_argument("protobuf body: " + std::string(what) + " in " + m.full_name);
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  while (p < e) {
    unsigned char c = *p;
    int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (n < 0 || e - p <= n - 1 + 0 || (e - p) < n + 1) return false;
    std::uint32_t cp = n == 0 ? c : c & (0x3f >> n);
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 0x3f]);
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 0x3f]);
    out.push_back(kAlphabet[(v >> 12) & 0x3f]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(v >> 6) & 0x3f] : '=');
    out.push_back('=');
  }
  return out;
}

// Go's time.Duration.String(): "1h2m3.5s", "1.5ms", "0s".
std::string go_duration(std::int64_t d) {
  bool neg = d < 0;
  std::uint64_t u = neg ? 0 - static_cast<std::uint64_t>(d) : static_cast<std::uint64_t>(d);
  auto frac = [](std::uint64_t& v, int prec) {
    std::string digits;
    bool print = false;
    for (int i = 0; i < prec; ++i) {
      auto digit = static_cast<char>(v % 10);
      print = print || digit != 0;
      if (print) digits.insert(digits.begin(), static_cast<char>('0' + digit));
      v /= 10;
    }
    return print ? "." + digits : std::string();
  };
  std::string out;
  if (u == 0) return "0s";
  if (u < 1'000'000'000ULL) {
    int prec = 6;
    std::string unit = "ms";
    if (u < 1'000ULL) prec = 0, unit = "ns";
    else if (u < 1'000'000ULL) prec = 3, unit = "\xc2\xb5s";
    std::string f = frac(u, prec);
    out = std::to_string(u) + f + unit;
  } else {
    std::string f = frac(u, 9);
    out = std::to_string(u % 60) + f + "s";
    u /= 60;
    if (u > 0) {
      out = std::to_string(u % 60) + "m" + out;
      u /= 60;
      if (u > 0) out = std::to_string(u) + "h" + out;
    }
  }
  return neg ? "-" + out : out;
}

Result<std::string> rfc3339(std::int64_t seconds, std::int32_t nanos, bool micro) {
  // Go refuses years outside [0, 9999] in RFC 3339.
  if (seconds < -62167219200LL || seconds > 253402300799LL || nanos < 0 || nanos > 999'999'999) {
    return invalid_argument("protobuf body: time out of range (seconds " + std::to_string(seconds) + ")");
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (micro) {
    char fr[16];
    std::snprintf(fr, sizeof fr, ".%06d", nanos / 1000);
    out += fr;
  }
  return out + "Z";
}

Status decode_into(const MessageInfo& m, std::string_view bytes, json::object& out, Ctx& ctx, int depth);
Result<ProtobufDecoded> decode_envelope(std::string_view body, std::string_view api_version, std::string_view kind,
                                        int depth);

// A special message's JSON value; null means "absent" (zero Time, empty raw).
Result<json::value> decode_special(const MessageInfo& m, std::string_view bytes, Ctx& ctx, int depth) {
  Reader r(bytes);
  std::int64_t i1 = 0;
  std::int64_t i2 = 0;
  std::int64_t i3 = 0;
  std::string_view s1;
  std::string_view s3;
  json::array items;
  while (!r.done()) {
    std::uint64_t tag = 0;
    std::uint64_t v = 0;
    if (!r.varint(tag)) return malformed(m, "truncated tag");
    auto num = static_cast<std::uint32_t>(tag >> 3);
    auto wt = static_cast<std::uint32_t>(tag & 7);
    if (wt == kVarint && (num >= 1 && num <= 3)) {
      if (!r.varint(v)) return malformed(m, "truncated varint");
      (num == 1 ? i1 : num == 2 ? i2 : i3) = static_cast<std::int64_t>(v);
    } else if (wt == kBytes && (num == 1 || num == 3)) {
      std::string_view s;
      if (!r.bytes(s)) return malformed(m, "truncated bytes");
      if (m.special == Special::kJsonArray) {
        if (!valid_utf8(s)) return malformed(m, "invalid UTF-8 in a string");
        items.emplace_back(s);
      } else {
        (num == 1 ? s1 : s3) = s;
      }
    } else {
      ctx.unknown.push_back(m.full_name + " field " + std::to_string(num));
      if (!r.skip(wt)) return malformed(m, "truncated or invalid field");
    }
  }
  switch (m.special) {
    case Special::kTime:
    case Special::kMicroTime: {
      if (i1 == 0 && i2 == 0) return json::value(nullptr);
      auto t = rfc3339(i1, static_cast<std::int32_t>(i2), m.special == Special::kMicroTime);
      if (!t.ok()) return t.status();
      return json::value(*t);
    }
    case Special::kDuration: return json::value(go_duration(i1));
    case Special::kQuantity:
      if (!valid_utf8(s1)) return malformed(m, "invalid UTF-8 in a string");
      return json::value(s1.empty() ? std::string_view("0") : s1);
    case Special::kIntOrString:
      if (i1 == 1) {
        if (!valid_utf8(s3)) return malformed(m, "invalid UTF-8 in a string");
        return json::value(s3);
      }
      return json::value(static_cast<std::int32_t>(i2));
    case Special::kRawJson: {
      if (s1.empty()) return json::value(nullptr);
      if (s1.substr(0, 4) == kProtobufMagic) {
        auto inner = decode_envelope(s1, {}, {}, depth + 1);
        if (!inner.ok()) return inner.status();
        for (auto& u : inner->unknown_fields) ctx.unknown.push_back(std::move(u));
        return json::value(std::move(inner->object));
      }
      boost::system::error_code ec;
      json::value v2 = json::parse(s1, ec);
      if (ec) return malformed(m, "embedded object is not JSON (" + ec.message() + ")");
      return v2;
    }
    case Special::kJsonArray: return json::value(std::move(items));
    case Special::kNone: break;
  }
  return internal_error("not a special message: " + m.full_name);
}

Result<json::value> decode_message(const MessageInfo& m, std::string_view bytes, Ctx& ctx, int depth) {
  if (depth > kMaxDepth) return malformed(m, "nesting deeper than " + std::to_string(kMaxDepth));
  if (m.special != Special::kNone) return decode_special(m, bytes, ctx, depth);
  json::object o;
  KEDGE_RETURN_IF_ERROR(decode_into(m, bytes, o, ctx, depth));
  return json::value(std::move(o));
}

bool is_zero(const json::value& v) {
  switch (v.kind()) {
    case json::kind::bool_: return !v.get_bool();
    case json::kind::int64: return v.get_int64() == 0;
    case json::kind::uint64: return v.get_uint64() == 0;
    case json::kind::double_: return v.get_double() == 0;
    case json::kind::string: return v.get_string().empty();
    default: return false;
  }
}

// One scalar value of `f` read with wire type `wt`.
Result<json::value> read_scalar(const MessageInfo& m, const FD* f, std::uint32_t wt, Reader& r) {
  std::uint64_t v = 0;
  auto need = [&](std::uint32_t want) { return wt == want; };
  switch (f->type()) {
    case FD::TYPE_INT32:
    case FD::TYPE_INT64:
    case FD::TYPE_UINT32:
    case FD::TYPE_UINT64:
    case FD::TYPE_SINT32:
    case FD::TYPE_SINT64:
    case FD::TYPE_BOOL:
    case FD::TYPE_ENUM: {
      if (!need(kVarint)) break;
      if (!r.varint(v)) return malformed(m, "truncated varint");
      switch (f->type()) {
        case FD::TYPE_INT32: return json::value(static_cast<std::int32_t>(v));
        case FD::TYPE_UINT32: return json::value(static_cast<std::uint32_t>(v));
        case FD::TYPE_UINT64: return json::value(v);
        case FD::TYPE_SINT32:
        case FD::TYPE_SINT64: return json::value(static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1)));
        case FD::TYPE_BOOL: return json::value(v != 0);
        default: return json::value(static_cast<std::int64_t>(v));
      }
    }
    case FD::TYPE_FIXED64:
    case FD::TYPE_SFIXED64:
    case FD::TYPE_DOUBLE: {
      if (!need(kFixed64)) break;
      if (!r.fixed(8, v)) return malformed(m, "truncated fixed64");
      if (f->type() == FD::TYPE_DOUBLE) {
        double d = 0;
        std::memcpy(&d, &v, sizeof d);
        return json::value(d);
      }
      if (f->type() == FD::TYPE_FIXED64) return json::value(v);
      return json::value(static_cast<std::int64_t>(v));
    }
    case FD::TYPE_FIXED32:
    case FD::TYPE_SFIXED32:
    case FD::TYPE_FLOAT: {
      if (!need(kFixed32)) break;
      if (!r.fixed(4, v)) return malformed(m, "truncated fixed32");
      if (f->type() == FD::TYPE_FLOAT) {
        float fl = 0;
        auto u32 = static_cast<std::uint32_t>(v);
        std::memcpy(&fl, &u32, sizeof fl);
        return json::value(static_cast<double>(fl));
      }
      if (f->type() == FD::TYPE_FIXED32) return json::value(static_cast<std::uint32_t>(v));
      return json::value(static_cast<std::int32_t>(v));
    }
    case FD::TYPE_STRING:
    case FD::TYPE_BYTES: {
      if (!need(kBytes)) break;
      std::string_view s;
      if (!r.bytes(s)) return malformed(m, "truncated bytes");
      if (f->type() == FD::TYPE_BYTES) return json::value(base64(s));
      if (!valid_utf8(s)) return malformed(m, "invalid UTF-8 in field " + f->name());
      return json::value(s);
    }
    default: break;
  }
  return malformed(m, "field " + f->name() + " has wire type " + std::to_string(wt) + ", not its type's");
}

Status decode_map_entry(const FieldInfo& fi, std::string_view bytes, json::object& target, Ctx& ctx, int depth) {
  const MessageInfo& entry = *fi.message;
  Reader r(bytes);
  std::string key;
  json::value value;
  bool have_value = false;
  while (!r.done()) {
    std::uint64_t tag = 0;
    if (!r.varint(tag)) return malformed(entry, "truncated tag");
    auto num = static_cast<std::uint32_t>(tag >> 3);
    auto wt = static_cast<std::uint32_t>(tag & 7);
    auto it = entry.fields.find(num);
    if (it == entry.fields.end()) {
      ctx.unknown.push_back(entry.full_name + " field " + std::to_string(num));
      if (!r.skip(wt)) return malformed(entry, "truncated or invalid field");
      continue;
    }
    const FieldInfo& sub = it->second;
    json::value v;
    if (sub.message != nullptr) {
      std::string_view s;
      if (wt != kBytes || !r.bytes(s)) return malformed(entry, "bad map value");
      KEDGE_ASSIGN_OR_RETURN(v, decode_message(*sub.message, s, ctx, depth + 1));
    } else {
      KEDGE_ASSIGN_OR_RETURN(v, read_scalar(entry, sub.descriptor, wt, r));
    }
    if (num == 1) {
      if (!v.is_string()) return malformed(entry, "map key is not a string");
      key = std::string(v.get_string());
    } else {
      value = std::move(v);
      have_value = true;
    }
  }
  if (!have_value) {
    const FieldInfo* vf = nullptr;
    if (auto it = entry.fields.find(2); it != entry.fields.end()) vf = &it->second;
    if (vf != nullptr && vf->message != nullptr && vf->message->special == Special::kQuantity) value = "0";
    else if (vf != nullptr && (vf->descriptor->type() == FD::TYPE_STRING || vf->descriptor->type() == FD::TYPE_BYTES)) value = "";
  }
  target[key] = std::move(value);
  return {};
}

Status decode_field(const MessageInfo& m, const FieldInfo& fi, std::uint32_t wt, Reader& r, json::object& out,
                    Ctx& ctx, int depth) {
  const FD* f = fi.descriptor;
  if (fi.message != nullptr) {
    std::string_view s;
    if (wt != kBytes) return malformed(m, "field " + f->name() + " is not length-delimited");
    if (!r.bytes(s)) return malformed(m, "truncated field " + f->name());
    if (fi.message->map_entry) {
      json::value& slot = out[fi.json_name];
      if (!slot.is_object()) slot = json::object();
      return decode_map_entry(fi, s, slot.as_object(), ctx, depth + 1);
    }
    if (fi.inline_ && fi.message->special == Special::kNone) {
      return decode_into(*fi.message, s, out, ctx, depth + 1);
    }
    KEDGE_ASSIGN_OR_RETURN(json::value v, decode_message(*fi.message, s, ctx, depth + 1));
    if (f->is_repeated()) {
      json::value& slot = out[fi.json_name];
      if (!slot.is_array()) slot = json::array();
      slot.as_array().push_back(std::move(v));
    } else if (v.is_null()) {
      out.erase(fi.json_name);
    } else {
      out[fi.json_name] = std::move(v);
    }
    return {};
  }
  if (f->is_repeated()) {
    json::value& slot = out[fi.json_name];
    if (!slot.is_array()) slot = json::array();
    if (wt == kBytes && f->type() != FD::TYPE_STRING && f->type() != FD::TYPE_BYTES) {
      std::string_view packed;
      if (!r.bytes(packed)) return malformed(m, "truncated packed field " + f->name());
      Reader pr(packed);
      std::uint32_t elem = f->type() == FD::TYPE_DOUBLE || f->type() == FD::TYPE_FIXED64 || f->type() == FD::TYPE_SFIXED64
                               ? kFixed64
                           : f->type() == FD::TYPE_FLOAT || f->type() == FD::TYPE_FIXED32 || f->type() == FD::TYPE_SFIXED32
                               ? kFixed32
                               : kVarint;
      while (!pr.done()) {
        KEDGE_ASSIGN_OR_RETURN(json::value v, read_scalar(m, f, elem, pr));
        slot.as_array().push_back(std::move(v));
      }
      return {};
    }
    KEDGE_ASSIGN_OR_RETURN(json::value v, read_scalar(m, f, wt, r));
    slot.as_array().push_back(std::move(v));
    return {};
  }
  KEDGE_ASSIGN_OR_RETURN(json::value v, read_scalar(m, f, wt, r));
  if (!fi.keep_zero && is_zero(v)) {
    out.erase(fi.json_name);  // Go omitempty: a zero non-pointer value is not printed
  } else {
    out[fi.json_name] = std::move(v);
  }
  return {};
}

Status decode_into(const MessageInfo& m, std::string_view bytes, json::object& out, Ctx& ctx, int depth) {
  if (depth > kMaxDepth) return malformed(m, "nesting deeper than " + std::to_string(kMaxDepth));
  Reader r(bytes);
  while (!r.done()) {
    std::uint64_t tag = 0;
    if (!r.varint(tag)) return malformed(m, "truncated tag");
    auto num = static_cast<std::uint32_t>(tag >> 3);
    auto wt = static_cast<std::uint32_t>(tag & 7);
    if (num == 0 || wt == kStartGroup || wt == kEndGroup || wt > kFixed32) {
      return malformed(m, "invalid tag " + std::to_string(tag));
    }
    auto it = m.fields.find(num);
    if (it == m.fields.end()) {
      ctx.unknown.push_back(m.full_name + " field " + std::to_string(num));
      if (!r.skip(wt)) return malformed(m, "truncated field " + std::to_string(num));
      continue;
    }
    KEDGE_RETURN_IF_ERROR(decode_field(m, it->second, wt, r, out, ctx, depth));
  }
  return {};
}

std::string message_name(std::string_view api_version, std::string_view kind) {
  std::string_view group;
  std::string_view version = api_version;
  if (auto slash = api_version.find('/'); slash != std::string_view::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  if (version.empty() || kind.empty()) return {};
  if (group == "meta.k8s.io") {
    return "k8s.io.apimachinery.pkg.apis.meta." + std::string(version) + "." + std::string(kind);
  }
  std::string label = group.empty() ? "core" : std::string(group.substr(0, group.find('.')));
  // Only the groups Kubernetes itself defines (".k8s.io" or no dot), so a
  // CRD group "apps.example.com" never maps onto apps/v1.
  if (group.find('.') != std::string_view::npos &&
      (group.size() < 7 || group.substr(group.size() - 7) != ".k8s.io")) {
    return {};
  }
  return "k8s.io.api." + label + "." + std::string(version) + "." + std::string(kind);
}

Result<ProtobufDecoded> decode_envelope(std::string_view body, std::string_view api_version, std::string_view kind,
                                        int depth) {
  if (depth > kMaxDepth) return invalid_argument("protobuf body: nested objects deeper than " + std::to_string(kMaxDepth));
  if (body.size() < kProtobufMagic.size() || body.substr(0, 4) != kProtobufMagic) {
    return invalid_argument("protobuf body: does not start with the Kubernetes protobuf magic \"k8s\\x00\"");
  }
  const MessageInfo* unknown = detail::find_message("k8s.io.apimachinery.pkg.runtime.Unknown");
  if (unknown == nullptr) return internal_error("protobuf schema: runtime.Unknown is missing");
  Ctx ctx;
  json::object env;
  KEDGE_RETURN_IF_ERROR(decode_into(*unknown, body.substr(4), env, ctx, depth));
  if (!ctx.unknown.empty()) {
    return invalid_argument("protobuf body: unknown field in the envelope: " + ctx.unknown.front());
  }
  std::string av = env.contains("apiVersion") ? std::string(env.at("apiVersion").as_string()) : std::string(api_version);
  std::string k = env.contains("kind") ? std::string(env.at("kind").as_string()) : std::string(kind);
  if (env.contains("contentEncoding")) {
    return invalid_argument("protobuf body: contentEncoding \"" + std::string(env.at("contentEncoding").as_string()) +
                            "\" is not supported");
  }
  if (env.contains("contentType") && env.at("contentType").as_string() != "application/vnd.kubernetes.protobuf") {
    return invalid_argument("protobuf body: contentType \"" + std::string(env.at("contentType").as_string()) +
                            "\" is not supported");
  }
  std::string name = message_name(av, k);
  const MessageInfo* m = name.empty() ? nullptr : detail::find_message(name);
  if (m == nullptr) {
    return invalid_argument("protobuf body: no protobuf schema for kind \"" + k + "\" in \"" + av +
                            "\"; send it as application/json");
  }
  // `raw` is bytes: the walker shows it base64-encoded; take the bytes again.
  Reader r(body.substr(4));
  std::string_view raw;
  while (!r.done()) {
    std::uint64_t tag = 0;
    if (!r.varint(tag)) break;
    std::string_view s;
    if ((tag & 7) == kBytes && r.bytes(s)) {
      if ((tag >> 3) == 2) raw = s;
    } else if (!r.skip(static_cast<std::uint32_t>(tag & 7))) {
      break;
    }
  }
  ProtobufDecoded out;
  json::object obj;
  KEDGE_RETURN_IF_ERROR(decode_into(*m, raw, obj, ctx, depth + 1));
  out.object.reserve(obj.size() + 2);
  out.object["kind"] = k;
  out.object["apiVersion"] = av;
  for (auto& kv : obj) out.object[kv.key()] = std::move(kv.value());
  out.unknown_fields = std::move(ctx.unknown);
  return out;
}

}  // namespace

std::string protobuf_message_name(std::string_view api_version, std::string_view kind) {
  std::string name = message_name(api_version, kind);
  if (name.empty() || detail::find_message(name) == nullptr) return {};
  return name;
}

Result<ProtobufDecoded> decode_k8s_protobuf(std::string_view body, std::string_view api_version,
                                            std::string_view kind) {
  return decode_envelope(body, api_version, kind, 0);
}

Result<ProtobufDecoded> decode_protobuf_message(std::string_view full_message_name, std::string_view bytes) {
  const MessageInfo* m = detail::find_message(full_message_name);
  if (m == nullptr) return invalid_argument("no protobuf schema for " + std::string(full_message_name));
  Ctx ctx;
  ProtobufDecoded out;
  KEDGE_RETURN_IF_ERROR(decode_into(*m, bytes, out.object, ctx, 0));
  out.unknown_fields = std::move(ctx.unknown);
  return out;
}

}  // namespace kedge::api

// Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf)
// turned into the JSON object a client would have sent as JSON.
//
// The body is the envelope "k8s\0" + runtime.Unknown{typeMeta, raw,
// contentEncoding, contentType}; `raw` is the typed message (e.g. apps/v1
// Deployment). kedge carries its own schema subset (api/proto/, compiled into
// a descriptor set embedded in the binary) and walks the wire bytes with it,
// emitting JSON the way Go's encoding/json would print the same Go value:
// JSON names, omitempty (a zero non-pointer scalar is dropped; a pointer set
// to zero, like `replicas: 0`, is kept), inlined embedded structs, and the
// special types (resource.Quantity → string, metav1.Time → RFC 3339,
// MicroTime, Duration → "1h0m0s", IntOrString → number or string,
// RawExtension/FieldsV1 → embedded JSON, bytes → base64, maps → objects).
//
// Fields the schema does not know are not dropped silently: each is reported
// in `unknown_fields` ("<message>.<field number>") so the caller can apply
// fieldValidation (Strict → 400, Warn → Warning header).
//
// Thread-safety: free functions, safe from any thread. The descriptor pool
// is built once, on first use (call_once), and is immutable afterwards.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

// The 4 bytes every Kubernetes protobuf body starts with.
inline constexpr std::string_view kProtobufMagic{"k8s\0", 4};

struct ProtobufDecoded {
  boost::json::object object;               // with apiVersion and kind set
  std::vector<std::string> unknown_fields;  // e.g. "k8s.io.api.core.v1.Container field 99"
};

// Decodes a whole request body. `api_version`/`kind` are used when the
// envelope's typeMeta is empty. Errors (InvalidArgument) name what is wrong:
// missing magic, truncated or malformed wire data, a kind kedge has no
// schema for, a compressed payload, invalid UTF-8 in a string.
Result<ProtobufDecoded> decode_k8s_protobuf(std::string_view body, std::string_view api_version = {},
                                            std::string_view kind = {});

// Decodes one typed message (no envelope), e.g. "k8s.io.api.core.v1.Pod".
Result<ProtobufDecoded> decode_protobuf_message(std::string_view full_message_name, std::string_view bytes);

// The protobuf message name kedge uses for an apiVersion/kind
// ("apps/v1", "Deployment" → "k8s.io.api.apps.v1.Deployment"), or empty when
// kedge has no schema for it.
std::string protobuf_message_name(std::string_view api_version, std::string_view kind);

// The members of a JSON object that kedge's schema for apiVersion/kind does
// not know, at every depth, as upstream's strict decoding names them
// ("spec.template.spec.containers[0].imagePullPolise", "metadata.labelz").
// nullopt when kedge has no schema for the kind (the caller falls back to
// its own top-level check).
std::optional<std::vector<std::string>> unknown_json_fields(std::string_view api_version, std::string_view kind,
                                                            const boost::json::object& object);

}  // namespace kedge::api

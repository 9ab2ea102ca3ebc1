// The embedded Kubernetes schema subset, indexed for the wire walker.
// Built once on first use; immutable and shared by all threads afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace google::protobuf {
class FieldDescriptor;
}  // namespace google::protobuf

namespace kedge::api::detail {

// Messages whose JSON form is not "an object of their fields".
enum class Special : std::uint8_t {
  kNone,
  kTime,          // metav1.Time: RFC 3339, seconds precision
  kMicroTime,     // metav1.MicroTime: RFC 3339 with microseconds
  kDuration,      // metav1.Duration: Go duration string
  kQuantity,      // resource.Quantity: its string
  kIntOrString,   // number or string
  kRawJson,       // runtime.RawExtension, metav1.FieldsV1: embedded JSON
  kJsonArray,     // named Go slice wrapped as {items}: the bare array
};

struct MessageInfo;

struct FieldInfo {
  const google::protobuf::FieldDescriptor* descriptor = nullptr;
  std::string json_name;
  bool keep_zero = false;  // Go pointer or no omitempty: zero stays in JSON
  bool inline_ = false;    // embedded struct: fields merge into the parent
  const MessageInfo* message = nullptr;  // for message and map fields
};

struct MessageInfo {
  std::string full_name;
  Special special = Special::kNone;
  bool map_entry = false;
  std::unordered_map<std::uint32_t, FieldInfo> fields;  // by field number
  // The same fields by JSON name, with inlined structs' fields merged in:
  // what a JSON member resolves to.
  std::unordered_map<std::string_view, const FieldInfo*> by_json_name;
};

// nullptr when the subset has no such message. Builds the index on first call.
const MessageInfo* find_message(std::string_view full_name);

// Number of messages in the index; builds it on first call.
std::size_t schema_message_count();

}  // namespace kedge::api::detail

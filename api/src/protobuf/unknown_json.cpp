// Unknown-field detection for JSON bodies at every depth, against the same
// embedded schema the protobuf decoder walks (schema.h): a JSON member is
// known when the message (or a struct it inlines) has a field of that JSON
// name. Special types (Time, Quantity, IntOrString, RawExtension/FieldsV1,
// named slices) are leaves: their content is theirs to judge, not a field
// list's.
#include <google/protobuf/descriptor.h>

#include "kedge/api/protobuf.h"
#include "protobuf/schema.h"

namespace kedge::api {
namespace {

namespace json = boost::json;
using detail::FieldInfo;
using detail::MessageInfo;
using detail::Special;

// `path` is one buffer for the whole walk: each level appends its segment
// and cuts it off again, so a body without unknown fields costs no string
// allocation per member (the walk runs on every write under Warn).
class Walker {
 public:
  explicit Walker(std::vector<std::string>& out) : out_(out) {}

  void message(const MessageInfo& m, const json::value& v) {
    if (m.special != Special::kNone || !v.is_object()) return;
    const bool top = path_.empty();
    for (const auto& kv : v.as_object()) {
      const std::size_t mark = path_.size();
      if (!top) path_ += '.';
      path_ += kv.key();
      const auto it = m.by_json_name.find(kv.key());
      if (it != m.by_json_name.end()) {
        field(*it->second, kv.value());
      } else if (!(top && (kv.key() == "apiVersion" || kv.key() == "kind"))) {
        // TypeMeta is not part of the generated messages; it is known at the top.
        out_.push_back(path_);
      }
      path_.resize(mark);
    }
  }

 private:
  // One member's value: a message, a list of messages, or a map of them.
  void field(const FieldInfo& f, const json::value& v) {
    if (f.message == nullptr || v.is_null()) return;
    if (f.message->map_entry) {
      const auto it = f.message->fields.find(2);  // a map entry's value field
      if (it == f.message->fields.end() || it->second.message == nullptr || !v.is_object()) return;
      for (const auto& kv : v.as_object()) {
        const std::size_t mark = path_.size();
        path_ += '.';
        path_ += kv.key();
        message(*it->second.message, kv.value());
        path_.resize(mark);
      }
      return;
    }
    if (f.descriptor != nullptr && f.descriptor->is_repeated()) {
      if (!v.is_array()) return;
      const auto& items = v.as_array();
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::size_t mark = path_.size();
        path_ += '[';
        path_ += std::to_string(i);
        path_ += ']';
        message(*f.message, items[i]);
        path_.resize(mark);
      }
      return;
    }
    message(*f.message, v);
  }

  std::vector<std::string>& out_;
  std::string path_;
};

}  // namespace

std::optional<std::vector<std::string>> unknown_json_fields(std::string_view api_version, std::string_view kind,
                                                            const boost::json::object& object) {
  const std::string name = protobuf_message_name(api_version, kind);
  if (name.empty()) return std::nullopt;
  const MessageInfo* m = detail::find_message(name);
  if (m == nullptr) return std::nullopt;
  std::vector<std::string> out;
  Walker(out).message(*m, object);
  return out;
}

}  // namespace kedge::api

#include "protobuf/schema.h"

#include <memory>
#include <mutex>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include "kedge/base/log.h"

namespace kedge::api::detail {

extern const unsigned char kK8sDescriptors[];
extern const std::size_t kK8sDescriptorsSize;

namespace {

namespace pb = google::protobuf;

// Field numbers of kedge's options (api/proto/kedge/options.proto). The pool
// is not the generated one, so the options arrive as unknown fields of
// FieldOptions/MessageOptions.
constexpr int kKeepZero = 51001;
constexpr int kInline = 51002;
constexpr int kJson = 51003;
constexpr int kJsonArray = 51004;

bool bool_option(const pb::UnknownFieldSet& set, int number) {
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    if (f.number() == number && f.type() == pb::UnknownField::TYPE_VARINT) return f.varint() != 0;
  }
  return false;
}

std::string string_option(const pb::UnknownFieldSet& set, int number) {
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    if (f.number() == number && f.type() == pb::UnknownField::TYPE_LENGTH_DELIMITED) return f.length_delimited();
  }
  return {};
}

Special special_of(std::string_view name) {
  if (name == "k8s.io.apimachinery.pkg.apis.meta.v1.Time") return Special::kTime;
  if (name == "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime") return Special::kMicroTime;
  if (name == "k8s.io.apimachinery.pkg.apis.meta.v1.Duration") return Special::kDuration;
  if (name == "k8s.io.apimachinery.pkg.api.resource.Quantity") return Special::kQuantity;
  if (name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString") return Special::kIntOrString;
  if (name == "k8s.io.apimachinery.pkg.runtime.RawExtension") return Special::kRawJson;
  if (name == "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1") return Special::kRawJson;
  return Special::kNone;
}

struct Schema {
  pb::DescriptorPool pool;
  std::unordered_map<std::string, std::unique_ptr<MessageInfo>> messages;

  MessageInfo* index(const pb::Descriptor* d) {
    auto& slot = messages[d->full_name()];
    if (slot) return slot.get();
    slot = std::make_unique<MessageInfo>();
    MessageInfo* m = slot.get();
    m->full_name = d->full_name();
    m->special = special_of(m->full_name);
    m->map_entry = d->options().map_entry();
    if (bool_option(d->options().unknown_fields(), kJsonArray)) m->special = Special::kJsonArray;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      const auto& opts = f->options().unknown_fields();
      FieldInfo fi{.descriptor = f,
                   .json_name = string_option(opts, kJson),
                   .keep_zero = bool_option(opts, kKeepZero),
                   .inline_ = bool_option(opts, kInline)};
      if (fi.json_name.empty()) fi.json_name = f->name();
      if (f->message_type() != nullptr) fi.message = index(f->message_type());
      m->fields.emplace(static_cast<std::uint32_t>(f->number()), std::move(fi));
    }
    return m;
  }

  // After every message is indexed (inlined structs may be indexed later
  // than the message that embeds them).
  static void add_json_names(MessageInfo& into, const MessageInfo& from) {
    for (const auto& [number, f] : from.fields) {
      if (f.inline_ && f.message != nullptr) add_json_names(into, *f.message);
      else into.by_json_name.emplace(f.json_name, &f);
    }
  }
};

Schema* build() {
  auto schema = std::make_unique<Schema>();
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(kK8sDescriptors, static_cast<int>(kK8sDescriptorsSize))) {
    log::logger("api")->error("protobuf schema: the embedded descriptor set does not parse");
    return schema.release();
  }
  for (const auto& file : set.file()) {
    if (schema->pool.BuildFile(file) == nullptr) {
      log::logger("api")->error("protobuf schema: cannot build {}", file.name());
    }
  }
  for (const auto& file : set.file()) {
    const pb::FileDescriptor* fd = schema->pool.FindFileByName(file.name());
    if (fd == nullptr || fd->package().rfind("k8s.io.", 0) != 0) continue;
    for (int i = 0; i < fd->message_type_count(); ++i) schema->index(fd->message_type(i));
  }
  for (auto& [name, m] : schema->messages) Schema::add_json_names(*m, *m);
  return schema.release();
}

const Schema& schema() {
  // Leaked on purpose: readers may run during static destruction at exit.
  static const Schema* s = build();
  return *s;
}

}  // namespace

const MessageInfo* find_message(std::string_view full_name) {
  const auto& s = schema();
  auto it = s.messages.find(std::string(full_name));
  return it == s.messages.end() ? nullptr : it->second.get();
}

std::size_t schema_message_count() { return schema().messages.size(); }

}  // namespace kedge::api::detail

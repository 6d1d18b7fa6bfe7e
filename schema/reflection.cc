#include "wmeta/schema/reflection.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "wmeta/schema/wmeta_bfbs_generated.h"
#include "wmeta/schema/wmeta_generated.h"

namespace wmeta {

const reflection::Schema& EmbeddedSchema() {
  static const reflection::Schema& schema =
      *reflection::GetSchema(fb::RecordBinarySchema::data());
  return schema;
}

const std::string& SchemaHash() {
  static const std::string hash = [] {
    const uint8_t* data = fb::RecordBinarySchema::data();
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < fb::RecordBinarySchema::size(); ++i) {
      h = (h ^ data[i]) * 1099511628211ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx",
                  static_cast<unsigned long long>(h));
    return std::string(hex);
  }();
  return hash;
}

const reflection::Object& EntityTable(Kind kind) {
  static const std::array<const reflection::Object*, kAllKinds.size() + 1>
      tables = [] {
        std::array<const reflection::Object*, kAllKinds.size() + 1> out{};
        for (Kind k : kAllKinds) {
          std::string name = std::string("wmeta.fb.") +
                             fb::EnumNameEntity(static_cast<fb::Entity>(k));
          out[static_cast<size_t>(k)] =
              EmbeddedSchema().objects()->LookupByKey(name.c_str());
          // The schema is embedded at build time: a missing table is a build
          // defect, caught by the first test that runs.
          if (out[static_cast<size_t>(k)] == nullptr) std::abort();
        }
        return out;
      }();
  return *tables[static_cast<size_t>(kind)];
}

const reflection::Object& FieldTable(const reflection::Field& field) {
  return *EmbeddedSchema().objects()->Get(
      static_cast<flatbuffers::uoffset_t>(field.type()->index()));
}

std::optional<std::string_view> FieldAttribute(const reflection::Field& field,
                                               std::string_view name) {
  const auto* attributes = field.attributes();
  if (attributes == nullptr) return std::nullopt;
  for (const auto* kv : *attributes) {
    if (kv->key()->string_view() == name) {
      return kv->value() != nullptr ? kv->value()->string_view()
                                    : std::string_view();
    }
  }
  return std::nullopt;
}

}  // namespace wmeta

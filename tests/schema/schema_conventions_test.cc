// The schema's conventions that generic code relies on, checked on the embedded
// schema.

#include <flatbuffers/reflection.h>
#include <gtest/gtest.h>

#include <string>

#include "wmeta/schema/kind.h"
#include "wmeta/schema/wmeta_bfbs_generated.h"

namespace wmeta {
namespace {

const reflection::Schema& Schema() {
  return *reflection::GetSchema(fb::RecordBinarySchema::data());
}

bool HasAttribute(const reflection::Field& field, std::string_view name) {
  if (field.attributes() == nullptr) return false;
  for (const auto* kv : *field.attributes()) {
    if (kv->key()->string_view() == name) return true;
  }
  return false;
}

TEST(SchemaConventionsTest, EveryEntityHasARequiredStringIdAsFieldZero) {
  const auto* entity_union = Schema().enums()->LookupByKey("wmeta.fb.Entity");
  ASSERT_NE(entity_union, nullptr);
  size_t members = 0;
  for (const auto* value : *entity_union->values()) {
    if (value->value() == 0) continue;  // NONE
    ++members;
    const auto* table = Schema().objects()->Get(
        static_cast<flatbuffers::uoffset_t>(value->union_type()->index()));
    ASSERT_TRUE(KindFromValue(static_cast<uint8_t>(value->value())));
    const auto* id = table->fields()->LookupByKey("id");
    ASSERT_NE(id, nullptr) << table->name()->str();
    EXPECT_EQ(id->id(), 0) << table->name()->str();
    EXPECT_TRUE(id->required()) << table->name()->str();
    EXPECT_EQ(id->type()->base_type(), reflection::String)
        << table->name()->str();
  }
  EXPECT_EQ(members, kAllKinds.size());
}

TEST(SchemaConventionsTest, TimeAndMapFieldsHaveTheShapesJsonExpects) {
  size_t times = 0, maps = 0;
  for (const auto* table : *Schema().objects()) {
    for (const auto* field : *table->fields()) {
      std::string where = table->name()->str() + "." + field->name()->str();
      if (HasAttribute(*field, "wmeta_time")) {
        ++times;
        EXPECT_EQ(field->type()->base_type(), reflection::Long) << where;
      }
      if (HasAttribute(*field, "wmeta_map")) {
        ++maps;
        ASSERT_EQ(field->type()->base_type(), reflection::Vector) << where;
        ASSERT_EQ(field->type()->element(), reflection::Obj) << where;
        const auto* pair = Schema().objects()->Get(
            static_cast<flatbuffers::uoffset_t>(field->type()->index()));
        const auto* key = pair->fields()->LookupByKey("key");
        ASSERT_NE(key, nullptr) << where;
        EXPECT_TRUE(key->key()) << where;
        EXPECT_EQ(key->type()->base_type(), reflection::String) << where;
        EXPECT_NE(pair->fields()->LookupByKey("value"), nullptr) << where;
        EXPECT_EQ(pair->fields()->size(), 2u) << where;
      }
    }
  }
  EXPECT_GT(times, 10u);
  EXPECT_GT(maps, 10u);
}

}  // namespace
}  // namespace wmeta

#include "wmeta/schema/json.h"

#include <flatbuffers/idl.h>
#include <flatbuffers/reflection.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wmeta/schema/reflection.h"
#include "wmeta/schema/utf8.h"
#include "wmeta/schema/wmeta_bfbs_generated.h"

namespace wmeta {
namespace {

namespace bj = boost::json;
using reflection::BaseType;

bool HasAttribute(const reflection::Field& field, std::string_view name) {
  return FieldAttribute(field, name).has_value();
}

std::unexpected<Error> Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string_view JsonKindName(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null:
      return "null";
    case bj::kind::bool_:
      return "a boolean";
    case bj::kind::int64:
    case bj::kind::uint64:
      return "an integer";
    case bj::kind::double_:
      return "a number";
    case bj::kind::string:
      return "a string";
    case bj::kind::array:
      return "an array";
    case bj::kind::object:
      return "an object";
  }
  return "a value";
}

std::unexpected<Error> WrongType(const std::string& path,
                                 std::string_view expected,
                                 const bj::value& got) {
  return Invalid(path + ": expected " + std::string(expected) + ", got " +
                 std::string(JsonKindName(got)));
}

bool IsInteger(BaseType t) {
  return t >= BaseType::Byte && t <= BaseType::ULong;
}
bool IsFloat(BaseType t) {
  return t == BaseType::Float || t == BaseType::Double;
}

// Checks an integer against the range of the field's type, so the error can
// name the field (FlatBuffers' own check cannot).
Result<bj::value> CheckRange(BaseType type, const bj::value& value,
                             const std::string& path) {
  struct Bounds {
    int64_t min;
    uint64_t max;
  };
  Bounds b{};
  switch (type) {
    case BaseType::Byte:
      b = {INT8_MIN, INT8_MAX};
      break;
    case BaseType::UByte:
      b = {0, UINT8_MAX};
      break;
    case BaseType::Short:
      b = {INT16_MIN, INT16_MAX};
      break;
    case BaseType::UShort:
      b = {0, UINT16_MAX};
      break;
    case BaseType::Int:
      b = {INT32_MIN, INT32_MAX};
      break;
    case BaseType::UInt:
      b = {0, UINT32_MAX};
      break;
    case BaseType::Long:
      b = {INT64_MIN, INT64_MAX};
      break;
    default:
      b = {0, UINT64_MAX};
      break;
  }
  bool ok = value.is_int64()
                ? value.get_int64() >= b.min &&
                      (value.get_int64() < 0 ||
                       static_cast<uint64_t>(value.get_int64()) <= b.max)
                : value.get_uint64() <= b.max;
  if (!ok) {
    return Invalid(path + ": " + bj::serialize(value) + " is out of range [" +
                   std::to_string(b.min) + ", " + std::to_string(b.max) + "]");
  }
  return value;
}

// JSON text for `value`. Doubles print in their shortest exact form ("150.5",
// not Boost 1.81's "1.505E2").
void Serialize(const bj::value& value, std::string& out) {
  switch (value.kind()) {
    case bj::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, v] : value.get_object()) {
        if (!first) out += ',';
        first = false;
        out += bj::serialize(bj::string_view(key));
        out += ':';
        Serialize(v, out);
      }
      out += '}';
      return;
    }
    case bj::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& v : value.get_array()) {
        if (!first) out += ',';
        first = false;
        Serialize(v, out);
      }
      out += ']';
      return;
    }
    case bj::kind::double_: {
      char buf[32];
      auto [end, ec] =
          std::to_chars(buf, buf + sizeof(buf), value.get_double());
      out.append(buf, ec == std::errc() ? end : buf);
      return;
    }
    default:
      out += bj::serialize(value);
      return;
  }
}

std::string Serialize(const bj::value& value) {
  std::string out;
  Serialize(value, out);
  return out;
}

// Translates between the user-facing JSON and the JSON FlatBuffers' parser and
// generator speak, walking the reflection schema. Generic: no knowledge of
// particular fields.
class Translator {
 public:
  explicit Translator(const reflection::Schema& schema) : schema_(schema) {}

  const reflection::Object& Object(int32_t index) const {
    return *schema_.objects()->Get(static_cast<flatbuffers::uoffset_t>(index));
  }

  // User JSON object `in` of table `table` into parser JSON.
  Result<bj::object> TableIn(const reflection::Object& table,
                             const bj::object& in,
                             const std::string& path) const {
    bj::object out;
    for (const auto& [key, value] : in) {
      const reflection::Field* field = table.fields()->LookupByKey(key.data());
      if (field == nullptr || field->deprecated()) {
        return Invalid(Join(path, key) + ": unknown field");
      }
      if (value.is_null()) continue;
      WMETA_ASSIGN_OR_RETURN(bj::value converted,
                             FieldIn(*field, value, Join(path, key)));
      out.emplace(key, std::move(converted));
    }
    for (const auto* field : *table.fields()) {
      if (field->required() && !out.contains(field->name()->string_view())) {
        return Invalid(Join(path, field->name()->string_view()) +
                       ": missing required field");
      }
    }
    return out;
  }

  // Parser JSON object `in` of table `table` back into user JSON, in place.
  void TableOut(const reflection::Object& table, bj::object& in) const {
    for (auto& [key, value] : in) {
      const reflection::Field* field = table.fields()->LookupByKey(key.data());
      if (field != nullptr) FieldOut(*field, value);
    }
  }

 private:
  Result<bj::value> FieldIn(const reflection::Field& field,
                            const bj::value& value,
                            const std::string& path) const {
    if (HasAttribute(field, kTimeAttribute)) {
      if (value.is_string()) {
        auto t = ParseTime(value.get_string());
        if (!t) return Invalid(path + ": " + t.error().message);
        return bj::value(ToUnixNanos(*t));
      }
      if (value.is_int64()) return value;
      return WrongType(path, "an RFC 3339 time string", value);
    }
    if (HasAttribute(field, kMapAttribute)) return MapIn(field, value, path);
    const reflection::Type& type = *field.type();
    if (type.base_type() != BaseType::Vector) {
      return ElementIn(type.base_type(), type.index(), value, path);
    }
    if (!value.is_array()) return WrongType(path, "an array", value);
    bj::array out;
    out.reserve(value.get_array().size());
    size_t i = 0;
    for (const auto& item : value.get_array()) {
      WMETA_ASSIGN_OR_RETURN(bj::value converted,
                             ElementIn(type.element(), type.index(), item,
                                       path + "[" + std::to_string(i++) + "]"));
      out.push_back(std::move(converted));
    }
    return bj::value(std::move(out));
  }

  // A wmeta_map field: {"k":v,...} becomes [{"key":"k","value":v},...] sorted
  // by key.
  Result<bj::value> MapIn(const reflection::Field& field,
                          const bj::value& value,
                          const std::string& path) const {
    if (!value.is_object()) return WrongType(path, "an object", value);
    const reflection::Object& pair = Object(field.type()->index());
    const reflection::Field* value_field = pair.fields()->LookupByKey("value");
    bj::array out;
    for (const auto& [key, v] : value.get_object()) {
      if (v.is_null()) continue;
      WMETA_ASSIGN_OR_RETURN(
          bj::value converted,
          FieldIn(*value_field, v, path + "[\"" + std::string(key) + "\"]"));
      out.push_back(bj::object{{"key", key}, {"value", std::move(converted)}});
    }
    std::sort(out.begin(), out.end(),
              [](const bj::value& a, const bj::value& b) {
                return a.at("key").get_string() < b.at("key").get_string();
              });
    return bj::value(std::move(out));
  }

  // A scalar, string or table value (a field's, or a vector element's). `index`
  // names the table of an Obj and the enum of an enum-typed integer, and is -1
  // otherwise.
  Result<bj::value> ElementIn(BaseType type, int32_t index,
                              const bj::value& value,
                              const std::string& path) const {
    if (type == BaseType::Bool) {
      if (!value.is_bool()) return WrongType(path, "true or false", value);
      return value;
    }
    if (type == BaseType::String) {
      if (!value.is_string()) return WrongType(path, "a string", value);
      return value;
    }
    if (type == BaseType::Obj) {
      if (!value.is_object()) return WrongType(path, "an object", value);
      WMETA_ASSIGN_OR_RETURN(bj::object table,
                             TableIn(Object(index), value.get_object(), path));
      return bj::value(std::move(table));
    }
    if (IsInteger(type) && index >= 0) return EnumIn(index, value, path);
    if (IsInteger(type)) {
      if (!value.is_int64() && !value.is_uint64())
        return WrongType(path, "an integer", value);
      return CheckRange(type, value, path);
    }
    if (IsFloat(type)) {
      if (!value.is_number()) return WrongType(path, "a number", value);
      return value;
    }
    return Invalid(path + ": this field cannot be given in JSON");
  }

  Result<bj::value> EnumIn(int32_t index, const bj::value& value,
                           const std::string& path) const {
    const reflection::Enum& def =
        *schema_.enums()->Get(static_cast<flatbuffers::uoffset_t>(index));
    if (value.is_string()) {
      for (const auto* v : *def.values()) {
        if (v->name()->string_view() == value.get_string()) return value;
      }
      std::string known;
      for (const auto* v : *def.values()) {
        if (!known.empty()) known += ", ";
        known += v->name()->str();
      }
      return Invalid(path + ": unknown value \"" +
                     std::string(value.get_string()) +
                     "\" (expected one of: " + known + ")");
    }
    if (value.is_int64() || value.is_uint64()) return value;
    return WrongType(path, "an enum name", value);
  }

  void FieldOut(const reflection::Field& field, bj::value& value) const {
    if (HasAttribute(field, kTimeAttribute)) {
      if (value.is_int64())
        value = FormatTime(FromUnixNanos(value.get_int64()));
      return;
    }
    if (HasAttribute(field, kMapAttribute)) {
      if (!value.is_array()) return;
      const reflection::Object& pair = Object(field.type()->index());
      const reflection::Field* value_field =
          pair.fields()->LookupByKey("value");
      bj::object map;
      for (auto& item : value.get_array()) {
        auto* kv = item.if_object();
        if (kv == nullptr) continue;
        auto* key = kv->if_contains("key");
        auto* v = kv->if_contains("value");
        if (key == nullptr || !key->is_string()) continue;
        bj::value out = v != nullptr ? std::move(*v) : bj::value();
        if (v != nullptr) FieldOut(*value_field, out);
        map.insert_or_assign(key->get_string(), std::move(out));
      }
      value = std::move(map);
      return;
    }
    const reflection::Type& type = *field.type();
    if (type.base_type() == BaseType::Obj && value.is_object()) {
      TableOut(Object(type.index()), value.get_object());
    } else if (type.base_type() == BaseType::Vector &&
               type.element() == BaseType::Obj && value.is_array()) {
      for (auto& item : value.get_array()) {
        if (item.is_object()) TableOut(Object(type.index()), item.get_object());
      }
    }
  }

  const reflection::Schema& schema_;
};

}  // namespace

struct JsonCodec::Impl {
  Impl() : translator(EmbeddedSchema()) {
    flatbuffers::IDLOptions options;
    options.strict_json = true;
    options.indent_step = -1;
    parser = std::make_unique<flatbuffers::Parser>(options);
    // The schema is embedded at build time: failing to load it is a build
    // defect.
    if (!parser->Deserialize(fb::RecordBinarySchema::data(),
                             fb::RecordBinarySchema::size())) {
      std::abort();
    }
  }

  const reflection::Object& Table(Kind kind) const { return EntityTable(kind); }

  Result<bj::object> EntityIn(const bj::value& value,
                              fb::Entity& entity_type) const;
  // The entity of `event` as user JSON, "kind" first.
  Result<bj::object> EntityOut(const EventView& event);

  Translator translator;
  std::unique_ptr<flatbuffers::Parser> parser;
};

Result<bj::object> JsonCodec::Impl::EntityIn(const bj::value& value,
                                             fb::Entity& entity_type) const {
  if (!value.is_object()) return WrongType("entity", "an object", value);
  const bj::object& in = value.get_object();
  const bj::value* kind_value = in.if_contains("kind");
  if (kind_value == nullptr || kind_value->is_null()) {
    return Invalid("entity.kind: missing required field");
  }
  if (!kind_value->is_string())
    return WrongType("entity.kind", "a string", *kind_value);
  auto kind = KindFromName(kind_value->get_string());
  if (!kind) {
    std::string known;
    for (Kind k : kAllKinds) {
      if (!known.empty()) known += ", ";
      known += KindName(k);
    }
    return Invalid("entity.kind: unknown kind \"" +
                   std::string(kind_value->get_string()) +
                   "\" (expected one of: " + known + ")");
  }
  bj::object fields;
  for (const auto& [key, v] : in) {
    if (key != "kind") fields.emplace(key, v);
  }
  WMETA_ASSIGN_OR_RETURN(bj::object out,
                         translator.TableIn(Table(*kind), fields, "entity"));
  if (out.at("id").get_string().empty())
    return Invalid("entity.id: must not be empty");
  entity_type = static_cast<fb::Entity>(*kind);
  return out;
}

JsonCodec::JsonCodec() : impl_(std::make_unique<Impl>()) {}
JsonCodec::~JsonCodec() = default;

Result<Event> JsonCodec::ParseEvent(std::string_view json,
                                    std::string_view default_source) {
  bj::parser json_parser;
  boost::system::error_code ec;
  size_t consumed = json_parser.write(json.data(), json.size(), ec);
  if (ec) {
    return Invalid("malformed JSON at column " + std::to_string(consumed + 1) +
                   ": " + ec.message());
  }
  bj::value root = json_parser.release();
  if (!root.is_object()) return WrongType("event", "an object", root);

  std::string source(default_source);
  std::string type = "set";
  int64_t observed_time = 0;
  const bj::value* entity = nullptr;
  std::optional<bj::object> origin;
  for (const auto& [key, value] : root.get_object()) {
    if (key == "offset" || key == "ingest_time" || value.is_null()) continue;
    if (key == "source") {
      if (!value.is_string()) return WrongType("source", "a string", value);
      source = value.get_string();
    } else if (key == "type") {
      if (!value.is_string())
        return WrongType("type", "\"set\" or \"unset\"", value);
      type = value.get_string();
      if (type != "set" && type != "unset") {
        return Invalid("type: unknown value \"" + type +
                       "\" (expected set or unset)");
      }
    } else if (key == "observed_time") {
      if (!value.is_string())
        return WrongType("observed_time", "an RFC 3339 time string", value);
      auto t = ParseTime(value.get_string());
      if (!t) return Invalid("observed_time: " + t.error().message);
      observed_time = ToUnixNanos(*t);
    } else if (key == "entity") {
      entity = &value;
    } else if (key == "origin") {
      // As EventToJson shows it: {"store_id","offset","ingest_time"}.
      const bj::object* o = value.if_object();
      const bj::value* store = o ? o->if_contains("store_id") : nullptr;
      const bj::value* at = o ? o->if_contains("offset") : nullptr;
      const bj::value* when = o ? o->if_contains("ingest_time") : nullptr;
      bool offset_ok =
          at != nullptr &&
          (at->is_uint64() || (at->is_int64() && at->get_int64() >= 0));
      if (!store || !store->is_string() || !offset_ok || !when ||
          !when->is_string()) {
        return Invalid(
            "origin: expected "
            "{\"store_id\":..,\"offset\":..,\"ingest_time\":..}");
      }
      auto t = ParseTime(when->get_string());
      if (!t) return Invalid("origin.ingest_time: " + t.error().message);
      bj::object copy;
      copy["store_id"] = store->get_string();
      copy["offset"] = at->to_number<uint64_t>();
      copy["ingest_time"] = ToUnixNanos(*t);
      origin = std::move(copy);
    } else {
      return Invalid(std::string(key) + ": unknown field");
    }
  }
  if (source.empty())
    return Invalid("source: missing (give it in the event or as a default)");
  if (entity == nullptr) return Invalid("entity: missing required field");
  fb::Entity entity_type;
  WMETA_ASSIGN_OR_RETURN(bj::object entity_json,
                         impl_->EntityIn(*entity, entity_type));

  bj::object record;
  record["offset"] = 0;
  record["ingest_time"] = 0;
  record["observed_time"] = observed_time;
  record["source"] = source;
  record["type"] = type;
  record["entity_type"] = fb::EnumNameEntity(entity_type);
  record["entity"] = std::move(entity_json);
  if (origin) record["origin"] = std::move(*origin);
  std::string text = Serialize(record);

  flatbuffers::Parser& parser = *impl_->parser;
  if (!parser.Parse(text.c_str())) {
    // Errors read "1: 123: error: <what>"; the position refers to the
    // translated text, so keep only <what>.
    std::string what = parser.error_;
    if (auto pos = what.find("error: "); pos != std::string::npos)
      what = what.substr(pos + 7);
    return Invalid("entity: " + what);
  }
  std::string bytes(
      reinterpret_cast<const char*>(parser.builder_.GetBufferPointer()),
      parser.builder_.GetSize());
  auto event = Event::FromBytes(std::move(bytes));
  if (!event) return Invalid(event.error().message);
  return event;
}

Result<bj::object> JsonCodec::Impl::EntityOut(const EventView& event) {
  const reflection::Object& table = Table(event.kind());
  std::string text;
  if (!flatbuffers::GenerateTextFromTable(*parser, event.record().entity(),
                                          table.name()->str(), &text)) {
    return Invalid("event at offset " + std::to_string(event.offset()) +
                   " has a string that is not valid UTF-8");
  }
  boost::system::error_code ec;
  bj::value fields = bj::parse(text, ec);
  if (ec || !fields.is_object()) {
    // FlatBuffers prints NaN and infinities as nan and inf, which JSON lacks.
    return Invalid("event at offset " + std::to_string(event.offset()) +
                   " has a number JSON cannot show (NaN or infinite)");
  }
  translator.TableOut(table, fields.get_object());
  bj::object entity;
  entity.reserve(fields.get_object().size() + 1);
  entity["kind"] = KindName(event.kind());
  for (auto& [key, value] : fields.get_object()) {
    entity.emplace(key, std::move(value));
  }
  return entity;
}

Result<std::string> JsonCodec::EntityToJson(const EventView& event) {
  WMETA_ASSIGN_OR_RETURN(bj::object entity, impl_->EntityOut(event));
  return Serialize(entity);
}

namespace {

// Paths are built only for an error: the walk runs on every pushed record.
Status CheckTable(const reflection::Object& object,
                  const flatbuffers::Table& table, const std::string& path);

Status BadText(const std::string& path) {
  return Invalid(path + ": text that is not valid UTF-8");
}

Status BadNumber(const std::string& path) {
  return Invalid(path + ": a number JSON cannot show (NaN or infinite)");
}

Status CheckVector(const reflection::Field& field,
                   const flatbuffers::VectorOfAny& vector,
                   const std::string& at) {
  reflection::BaseType element = field.type()->element();
  auto item = [&](size_t i) { return at + "[" + std::to_string(i) + "]"; };
  for (size_t i = 0; i < vector.size(); ++i) {
    if (element == reflection::String) {
      const auto* text =
          flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(
              &vector, i);
      if (!IsValidUtf8(text->string_view())) return BadText(item(i));
    } else if (element == reflection::Obj) {
      WMETA_RETURN_IF_ERROR(CheckTable(
          FieldTable(field),
          *flatbuffers::GetAnyVectorElemPointer<const flatbuffers::Table>(
              &vector, i),
          item(i)));
    } else if (flatbuffers::IsFloat(element) &&
               !std::isfinite(
                   flatbuffers::GetAnyVectorElemF(&vector, element, i))) {
      return BadNumber(item(i));
    }
  }
  return {};
}

Status CheckTable(const reflection::Object& object,
                  const flatbuffers::Table& table, const std::string& path) {
  for (const reflection::Field* field : *object.fields()) {
    if (table.GetAddressOf(field->offset()) == nullptr) continue;
    auto at = [&] { return Join(path, field->name()->string_view()); };
    reflection::BaseType type = field->type()->base_type();
    if (flatbuffers::IsFloat(type)) {
      if (!std::isfinite(flatbuffers::GetAnyFieldF(table, *field))) {
        return BadNumber(at());
      }
    } else if (type == reflection::String) {
      if (!IsValidUtf8(flatbuffers::GetFieldS(table, *field)->string_view())) {
        return BadText(at());
      }
    } else if (type == reflection::Obj) {
      // Nested tables are few; their path is built as they are entered.
      WMETA_RETURN_IF_ERROR(CheckTable(
          FieldTable(*field), *flatbuffers::GetFieldT(table, *field), at()));
    } else if (type == reflection::Vector) {
      const auto& vector = *flatbuffers::GetFieldAnyV(table, *field);
      if (field->type()->element() == reflection::String ||
          field->type()->element() == reflection::Obj ||
          flatbuffers::IsFloat(field->type()->element())) {
        WMETA_RETURN_IF_ERROR(CheckVector(*field, vector, at()));
      }
    }
  }
  return {};
}

}  // namespace

Status CheckShowable(const EventView& event) {
  if (!IsValidUtf8(event.source())) {
    return Invalid("source: text that is not valid UTF-8");
  }
  if (const fb::Origin* origin = event.record().origin();
      origin != nullptr && origin->store_id() != nullptr &&
      !IsValidUtf8(origin->store_id()->string_view())) {
    return Invalid("origin.store_id: text that is not valid UTF-8");
  }
  return CheckTable(
      EntityTable(event.kind()),
      *static_cast<const flatbuffers::Table*>(event.record().entity()),
      "entity");
}

Result<std::string> JsonCodec::EventToJson(const EventView& event) {
  if (!IsValidUtf8(event.source())) {
    return Invalid("event at offset " + std::to_string(event.offset()) +
                   " has a source that is not valid UTF-8");
  }
  WMETA_ASSIGN_OR_RETURN(bj::object entity, impl_->EntityOut(event));
  bj::object out;
  if (event.offset() != 0) {
    out["offset"] = event.offset();
    out["ingest_time"] = FormatTime(event.ingest_time());
  }
  if (event.record().observed_time() != 0) {
    out["observed_time"] = FormatTime(event.observed_time());
  }
  out["source"] = event.source();
  out["type"] = EventTypeName(event.type());
  out["entity"] = std::move(entity);
  if (const fb::Origin* origin = event.record().origin()) {
    bj::object o;
    std::string_view store =
        origin->store_id() ? origin->store_id()->string_view() : "";
    if (!IsValidUtf8(store)) {
      return Invalid("event at offset " + std::to_string(event.offset()) +
                     " has an origin store id that is not valid UTF-8");
    }
    o["store_id"] = store;
    o["offset"] = origin->offset();
    o["ingest_time"] = FormatTime(FromUnixNanos(origin->ingest_time()));
    out["origin"] = std::move(o);
  }
  return Serialize(out);
}

namespace {

// Objects are compared key by key, also against an absent side, so that
// changes name leaf fields ("state.running"), not whole objects.
void DiffValues(const std::string& path, const bj::value* before,
                const bj::value* after, std::vector<JsonChange>& out) {
  auto object = [](const bj::value* v) {
    return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
  };
  const bj::object* a = object(before);
  const bj::object* b = object(after);
  if ((a != nullptr || before == nullptr) &&
      (b != nullptr || after == nullptr) && (a != nullptr || b != nullptr)) {
    std::vector<std::string_view> keys;
    if (a != nullptr) {
      for (const auto& [key, v] : *a) keys.push_back(key);
    }
    if (b != nullptr) {
      for (const auto& [key, v] : *b) keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (std::string_view key : keys) {
      DiffValues(
          path.empty() ? std::string(key) : path + "." + std::string(key),
          a != nullptr ? a->if_contains(key) : nullptr,
          b != nullptr ? b->if_contains(key) : nullptr, out);
    }
    return;
  }
  if (before != nullptr && after != nullptr && *before == *after) return;
  out.push_back({path, before != nullptr ? Serialize(*before) : std::string(),
                 after != nullptr ? Serialize(*after) : std::string()});
}

}  // namespace

Result<std::vector<JsonChange>> DiffJson(std::string_view before,
                                         std::string_view after) {
  boost::system::error_code ec;
  bj::value a = bj::parse(before, ec);
  if (ec || !a.is_object())
    return Invalid("diff: the first value is not a JSON object");
  bj::value b = bj::parse(after, ec);
  if (ec || !b.is_object())
    return Invalid("diff: the second value is not a JSON object");
  std::vector<JsonChange> out;
  DiffValues("", &a, &b, out);
  return out;
}

}  // namespace wmeta

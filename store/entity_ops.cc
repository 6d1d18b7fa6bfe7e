#include "entity_ops.h"

#include <flatbuffers/reflection.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "wmeta/schema/reflection.h"

namespace wmeta::store::internal {
namespace {

using flatbuffers::Table;
using reflection::BaseType;

bool IsScalar(BaseType t) {
  return t >= BaseType::UType && t <= BaseType::Double;
}

// See the presence rules in entity_ops.h.
bool Present(const reflection::Field& field, const Table& table) {
  const uint8_t* data = table.GetAddressOf(field.offset());
  if (data == nullptr) return false;
  BaseType type = field.type()->base_type();
  if (!IsScalar(type) || field.optional()) return true;
  if (type == BaseType::Float || type == BaseType::Double) {
    return flatbuffers::GetAnyValueF(type, data) != field.default_real();
  }
  return flatbuffers::GetAnyValueI(type, data) != field.default_integer();
}

const Table& SubTable(const reflection::Field& field, const Table& table) {
  return *table.GetPointer<const Table*>(field.offset());
}

const flatbuffers::VectorOfAny& Vector(const reflection::Field& field,
                                       const Table& table) {
  return *table.GetPointer<const flatbuffers::VectorOfAny*>(field.offset());
}

const flatbuffers::String& String(const reflection::Field& field,
                                  const Table& table) {
  return *table.GetPointer<const flatbuffers::String*>(field.offset());
}

const Table& VectorTable(const flatbuffers::VectorOfAny& v, size_t i) {
  return *flatbuffers::GetAnyVectorElemPointer<const Table>(
      &v, static_cast<flatbuffers::uoffset_t>(i));
}

bool TablesEqual(const reflection::Object& object, const Table& a,
                 const Table& b);

bool VectorsEqual(const reflection::Field& field,
                  const flatbuffers::VectorOfAny& a,
                  const flatbuffers::VectorOfAny& b) {
  if (a.size() != b.size()) return false;
  BaseType element = field.type()->element();
  if (element == BaseType::String) {
    for (flatbuffers::uoffset_t i = 0; i < a.size(); ++i) {
      auto* sa =
          flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(&a,
                                                                          i);
      auto* sb =
          flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(&b,
                                                                          i);
      if (sa->string_view() != sb->string_view()) return false;
    }
    return true;
  }
  if (element == BaseType::Obj) {
    const reflection::Object& object = FieldTable(field);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!TablesEqual(object, VectorTable(a, i), VectorTable(b, i)))
        return false;
    }
    return true;
  }
  size_t bytes = a.size() * flatbuffers::GetTypeSize(element);
  return std::memcmp(a.Data(), b.Data(), bytes) == 0;
}

bool TablesEqual(const reflection::Object& object, const Table& a,
                 const Table& b) {
  for (const reflection::Field* field : *object.fields()) {
    if (field->deprecated()) continue;
    bool in_a = Present(*field, a);
    if (in_a != Present(*field, b)) return false;
    if (!in_a) continue;
    BaseType type = field->type()->base_type();
    if (IsScalar(type)) {
      size_t size = flatbuffers::GetTypeSize(type);
      if (std::memcmp(a.GetAddressOf(field->offset()),
                      b.GetAddressOf(field->offset()), size) != 0) {
        return false;
      }
    } else if (type == BaseType::String) {
      if (String(*field, a).string_view() != String(*field, b).string_view()) {
        return false;
      }
    } else if (type == BaseType::Obj) {
      if (!TablesEqual(FieldTable(*field), SubTable(*field, a),
                       SubTable(*field, b))) {
        return false;
      }
    } else if (type == BaseType::Vector) {
      if (!VectorsEqual(*field, Vector(*field, a), Vector(*field, b))) {
        return false;
      }
    }
  }
  return true;
}

// A field's value as text, for keys: map keys and union keys.
std::string KeyText(const reflection::Field& field, const Table& table) {
  if (!Present(field, table)) return {};
  if (field.type()->base_type() == BaseType::String) {
    return std::string(String(field, table).string_view());
  }
  return flatbuffers::GetAnyFieldS(table, field, nullptr);
}

class Merger {
 public:
  Merger(flatbuffers::FlatBufferBuilder& fbb, Provenance* provenance)
      : fbb_(fbb), provenance_(provenance) {}

  // `layers`: tables of `object`, highest priority first, with their sources.
  flatbuffers::uoffset_t MergeTable(
      const reflection::Object& object, const std::vector<const Table*>& tables,
      const std::vector<std::string_view>& sources, const std::string& path) {
    struct Chosen {
      const reflection::Field* field;
      const Table* scalar_from = nullptr;  // scalars: copied at the end
      flatbuffers::uoffset_t offset = 0;   // the rest: built first
    };
    std::vector<Chosen> chosen;
    for (const reflection::Field* field : *object.fields()) {
      if (field->deprecated()) continue;
      std::vector<const Table*> with;
      std::vector<std::string_view> with_sources;
      for (size_t i = 0; i < tables.size(); ++i) {
        if (Present(*field, *tables[i])) {
          with.push_back(tables[i]);
          with_sources.push_back(sources[i]);
        }
      }
      if (with.empty()) continue;
      std::string field_path = Join(path, field->name()->string_view());
      BaseType type = field->type()->base_type();
      Chosen c{field};
      if (IsScalar(type)) {
        c.scalar_from = with[0];
        Note(field_path, with_sources[0]);
      } else if (type == BaseType::String) {
        const auto& s = String(*field, *with[0]);
        c.offset = fbb_.CreateString(s.c_str(), s.size()).o;
        Note(field_path, with_sources[0]);
      } else if (type == BaseType::Obj) {
        c.offset = MergeTable(FieldTable(*field), Children(*field, with),
                              with_sources, field_path);
      } else if (type == BaseType::Vector) {
        if (FieldAttribute(*field, kMapAttribute)) {
          c.offset = MergeKeyed(*field, with, with_sources, field_path, {"key"},
                                /*is_map=*/true);
        } else if (auto keys = FieldAttribute(*field, kUnionKeyAttribute)) {
          c.offset = MergeKeyed(*field, with, with_sources, field_path,
                                Split(*keys), /*is_map=*/false);
        } else {
          c.offset = CopyVector(*field, Vector(*field, *with[0]));
          Note(field_path, with_sources[0]);
        }
      } else {
        continue;  // unions do not occur in entities
      }
      chosen.push_back(c);
    }
    auto start = fbb_.StartTable();
    for (const Chosen& c : chosen) {
      auto voffset = c.field->offset();
      if (c.scalar_from != nullptr) {
        AddScalar(*c.field, *c.scalar_from);
      } else {
        fbb_.AddOffset(voffset, flatbuffers::Offset<void>(c.offset));
      }
    }
    return fbb_.EndTable(start);
  }

 private:
  static std::string Join(const std::string& path, std::string_view name) {
    return path.empty() ? std::string(name) : path + "." + std::string(name);
  }

  static std::vector<std::string> Split(std::string_view list) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string_view::npos) comma = list.size();
      out.emplace_back(list.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  }

  static std::vector<const Table*> Children(
      const reflection::Field& field, const std::vector<const Table*>& with) {
    std::vector<const Table*> children;
    for (const Table* t : with) children.push_back(&SubTable(field, *t));
    return children;
  }

  void Note(const std::string& path, std::string_view source) {
    if (provenance_ != nullptr) provenance_->emplace_back(path, source);
  }

  void AddScalar(const reflection::Field& field, const Table& from) {
    const uint8_t* data = from.GetAddressOf(field.offset());
    auto voffset = field.offset();
    switch (flatbuffers::GetTypeSize(field.type()->base_type())) {
      case 1:
        fbb_.AddElement<uint8_t>(voffset,
                                 flatbuffers::ReadScalar<uint8_t>(data));
        break;
      case 2:
        fbb_.AddElement<uint16_t>(voffset,
                                  flatbuffers::ReadScalar<uint16_t>(data));
        break;
      case 4:
        fbb_.AddElement<uint32_t>(voffset,
                                  flatbuffers::ReadScalar<uint32_t>(data));
        break;
      default:
        fbb_.AddElement<uint64_t>(voffset,
                                  flatbuffers::ReadScalar<uint64_t>(data));
        break;
    }
  }

  flatbuffers::uoffset_t CopyVector(const reflection::Field& field,
                                    const flatbuffers::VectorOfAny& v) {
    BaseType element = field.type()->element();
    if (element == BaseType::String) {
      std::vector<flatbuffers::Offset<flatbuffers::String>> strings;
      strings.reserve(v.size());
      for (flatbuffers::uoffset_t i = 0; i < v.size(); ++i) {
        auto* s =
            flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(&v,
                                                                            i);
        strings.push_back(fbb_.CreateString(s->c_str(), s->size()));
      }
      return fbb_.CreateVector(strings).o;
    }
    if (element == BaseType::Obj) {
      std::vector<flatbuffers::Offset<void>> tables;
      tables.reserve(v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        tables.push_back(CopyTable(FieldTable(field), VectorTable(v, i)));
      }
      return fbb_.CreateVector(tables).o;
    }
    size_t size = flatbuffers::GetTypeSize(element);
    fbb_.StartVector(v.size(), size);
    fbb_.PushBytes(v.Data(), v.size() * size);
    return fbb_.EndVector(v.size());
  }

  flatbuffers::Offset<void> CopyTable(const reflection::Object& object,
                                      const Table& table) {
    return flatbuffers::Offset<void>(
        flatbuffers::CopyTable(fbb_, EmbeddedSchema(), object, table).o);
  }

  // A map (key field "key") or a union list: elements from every layer, the
  // first layer (highest priority) to have a key winning it, sorted by key.
  flatbuffers::uoffset_t MergeKeyed(
      const reflection::Field& field, const std::vector<const Table*>& with,
      const std::vector<std::string_view>& sources, const std::string& path,
      const std::vector<std::string>& key_names, bool is_map) {
    const reflection::Object& element = FieldTable(field);
    std::vector<const reflection::Field*> key_fields;
    for (const auto& name : key_names) {
      key_fields.push_back(element.fields()->LookupByKey(name.c_str()));
    }
    // Sorted like FlatBuffers sorts keyed tables (bytes) for maps; by each key
    // field in turn, numbers numerically, for union lists.
    auto less = [&](const Table* a, const Table* b) {
      for (const reflection::Field* k : key_fields) {
        if (k == nullptr) continue;
        bool pa = Present(*k, *a), pb = Present(*k, *b);
        if (pa != pb) return !pa;  // absent first
        if (!pa) continue;
        if (k->type()->base_type() == BaseType::String) {
          auto sa = String(*k, *a).string_view(),
               sb = String(*k, *b).string_view();
          if (sa != sb) return sa < sb;
        } else {
          double va = flatbuffers::GetAnyFieldF(*a, *k);
          double vb = flatbuffers::GetAnyFieldF(*b, *k);
          if (va != vb) return va < vb;
        }
      }
      return false;
    };
    std::map<std::string, std::pair<const Table*, std::string_view>> by_key;
    for (size_t l = 0; l < with.size(); ++l) {
      const auto& v = Vector(field, *with[l]);
      for (size_t i = 0; i < v.size(); ++i) {
        const Table& item = VectorTable(v, i);
        std::string key;
        for (const reflection::Field* k : key_fields) {
          if (k == nullptr) continue;
          if (!key.empty()) key += '/';
          key += Present(*k, item) ? KeyText(*k, item) : std::string("-");
        }
        by_key.try_emplace(key, &item, sources[l]);
      }
    }
    std::vector<
        std::pair<std::string, std::pair<const Table*, std::string_view>>>
        items(by_key.begin(), by_key.end());
    std::stable_sort(items.begin(), items.end(),
                     [&](const auto& a, const auto& b) {
                       return less(a.second.first, b.second.first);
                     });
    std::vector<flatbuffers::Offset<void>> tables;
    tables.reserve(items.size());
    for (const auto& [key, chosen] : items) {
      tables.push_back(CopyTable(element, *chosen.first));
      Note(is_map ? path + "." + key : path + "[" + key + "]", chosen.second);
    }
    return fbb_.CreateVector(tables).o;
  }

  flatbuffers::FlatBufferBuilder& fbb_;
  Provenance* provenance_;
};

}  // namespace

bool EntitiesEqual(Kind kind, const flatbuffers::Table& a,
                   const flatbuffers::Table& b) {
  return TablesEqual(EntityTable(kind), a, b);
}

Event MergeLayers(Kind kind, std::span<const LayerView> layers,
                  const EventView& envelope, Provenance* provenance) {
  EventBuilder builder;
  std::vector<const Table*> tables;
  std::vector<std::string_view> sources;
  for (const LayerView& layer : layers) {
    tables.push_back(layer.entity);
    sources.push_back(layer.source);
  }
  Merger merger(builder.fbb(), provenance);
  auto entity = merger.MergeTable(EntityTable(kind), tables, sources, "");
  auto event = builder.FinishUnion(envelope.source(), EventType::kSet, kind,
                                   flatbuffers::Offset<void>(entity),
                                   envelope.observed_time(), envelope.offset(),
                                   envelope.ingest_time());
  // Layers are verified records, so their merge is one too: failing here is a
  // bug in the merge itself.
  if (!event) std::abort();
  return std::move(*event);
}

}  // namespace wmeta::store::internal

#include "entity_ops.h"

#include <flatbuffers/reflection.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <map>
#include <unordered_map>

#include "wmeta/schema/reflection.h"

namespace wmeta::store::internal {
namespace {

using flatbuffers::Table;
using reflection::BaseType;

// What the merge and equality need to know about each field, worked out once
// from the reflection data rather than on every event.
struct TableInfo;

struct FieldInfo {
  enum class Shape : uint8_t {
    kScalar,  // numbers, bools, enums
    kString,
    kTable,
    kList,       // a vector taken whole
    kMap,        // wmeta_map: merged key by key
    kUnionList,  // wmeta_union_key: merged as a union by the key fields
    kOther,      // unions: do not occur in entities
  };
  const reflection::Field* field = nullptr;
  std::string_view name;
  flatbuffers::voffset_t voffset = 0;
  Shape shape = Shape::kOther;
  // Scalars: their type; lists: their element type.
  BaseType type = BaseType::None;
  size_t size = 0;
  bool optional = false;
  int64_t default_integer = 0;
  double default_real = 0;
  // Tables, and the elements of lists of tables.
  const TableInfo* table = nullptr;
  // Maps: the element's "key"; union lists: the named fields.
  std::vector<const FieldInfo*> keys;
};

struct TableInfo {
  const reflection::Object* object = nullptr;
  std::vector<FieldInfo> fields;

  const FieldInfo* Find(std::string_view name) const {
    for (const auto& f : fields) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
};

bool IsScalar(BaseType t) {
  return t >= BaseType::UType && t <= BaseType::Double;
}

const TableInfo& Info(const reflection::Object& object) {
  static const std::unordered_map<const reflection::Object*, TableInfo> infos =
      [] {
        const reflection::Schema& schema = EmbeddedSchema();
        std::unordered_map<const reflection::Object*, TableInfo> out;
        for (const reflection::Object* o : *schema.objects()) out[o].object = o;
        auto object_at = [&](int32_t index) {
          return &out.at(schema.objects()->Get(
              static_cast<flatbuffers::uoffset_t>(index)));
        };
        // Fields first (their addresses must be stable before keys point at
        // them).
        for (auto& [o, info] : out) {
          for (const reflection::Field* field : *o->fields()) {
            if (field->deprecated()) continue;
            FieldInfo f;
            f.field = field;
            f.name = field->name()->string_view();
            f.voffset = field->offset();
            f.optional = field->optional();
            f.default_integer = field->default_integer();
            f.default_real = field->default_real();
            BaseType type = field->type()->base_type();
            if (IsScalar(type)) {
              f.shape = FieldInfo::Shape::kScalar;
              f.type = type;
              f.size = flatbuffers::GetTypeSize(type);
            } else if (type == BaseType::String) {
              f.shape = FieldInfo::Shape::kString;
            } else if (type == BaseType::Obj) {
              f.shape = FieldInfo::Shape::kTable;
              f.table = object_at(field->type()->index());
            } else if (type == BaseType::Vector) {
              f.type = field->type()->element();
              f.size = flatbuffers::GetTypeSize(f.type);
              if (f.type == BaseType::Obj)
                f.table = object_at(field->type()->index());
              f.shape = FieldAttribute(*field, kMapAttribute)
                            ? FieldInfo::Shape::kMap
                        : FieldAttribute(*field, kUnionKeyAttribute)
                            ? FieldInfo::Shape::kUnionList
                            : FieldInfo::Shape::kList;
            }
            info.fields.push_back(std::move(f));
          }
        }
        for (auto& [o, info] : out) {
          for (FieldInfo& f : info.fields) {
            if (f.shape == FieldInfo::Shape::kMap) {
              f.keys.push_back(f.table->Find("key"));
            } else if (f.shape == FieldInfo::Shape::kUnionList) {
              std::string_view names =
                  *FieldAttribute(*f.field, kUnionKeyAttribute);
              while (!names.empty()) {
                size_t comma = names.find(',');
                if (const FieldInfo* key =
                        f.table->Find(names.substr(0, comma))) {
                  f.keys.push_back(key);
                }
                names = comma == std::string_view::npos
                            ? std::string_view()
                            : names.substr(comma + 1);
              }
            }
          }
        }
        return out;
      }();
  return infos.at(&object);
}

// See the presence rules in entity_ops.h.
bool Present(const FieldInfo& f, const Table& table) {
  const uint8_t* data = table.GetAddressOf(f.voffset);
  if (data == nullptr) return false;
  if (f.shape != FieldInfo::Shape::kScalar || f.optional) return true;
  if (f.type == BaseType::Float || f.type == BaseType::Double) {
    return flatbuffers::GetAnyValueF(f.type, data) != f.default_real;
  }
  return flatbuffers::GetAnyValueI(f.type, data) != f.default_integer;
}

const Table& SubTable(const FieldInfo& f, const Table& table) {
  return *table.GetPointer<const Table*>(f.voffset);
}

const flatbuffers::VectorOfAny& Vector(const FieldInfo& f, const Table& table) {
  return *table.GetPointer<const flatbuffers::VectorOfAny*>(f.voffset);
}

std::string_view String(const FieldInfo& f, const Table& table) {
  return table.GetPointer<const flatbuffers::String*>(f.voffset)->string_view();
}

const Table& VectorTable(const flatbuffers::VectorOfAny& v, size_t i) {
  return *flatbuffers::GetAnyVectorElemPointer<const Table>(
      &v, static_cast<flatbuffers::uoffset_t>(i));
}

std::string_view VectorString(const flatbuffers::VectorOfAny& v, size_t i) {
  return flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(
             &v, static_cast<flatbuffers::uoffset_t>(i))
      ->string_view();
}

bool TablesEqual(const TableInfo& info, const Table& a, const Table& b);

bool VectorsEqual(const FieldInfo& f, const flatbuffers::VectorOfAny& a,
                  const flatbuffers::VectorOfAny& b) {
  if (a.size() != b.size()) return false;
  if (f.type == BaseType::String) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (VectorString(a, i) != VectorString(b, i)) return false;
    }
    return true;
  }
  if (f.type == BaseType::Obj) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!TablesEqual(*f.table, VectorTable(a, i), VectorTable(b, i)))
        return false;
    }
    return true;
  }
  return std::memcmp(a.Data(), b.Data(), a.size() * f.size) == 0;
}

bool TablesEqual(const TableInfo& info, const Table& a, const Table& b) {
  for (const FieldInfo& f : info.fields) {
    bool in_a = Present(f, a);
    if (in_a != Present(f, b)) return false;
    if (!in_a) continue;
    switch (f.shape) {
      case FieldInfo::Shape::kScalar:
        if (std::memcmp(a.GetAddressOf(f.voffset), b.GetAddressOf(f.voffset),
                        f.size) != 0) {
          return false;
        }
        break;
      case FieldInfo::Shape::kString:
        if (String(f, a) != String(f, b)) return false;
        break;
      case FieldInfo::Shape::kTable:
        if (!TablesEqual(*f.table, SubTable(f, a), SubTable(f, b)))
          return false;
        break;
      case FieldInfo::Shape::kList:
      case FieldInfo::Shape::kMap:
      case FieldInfo::Shape::kUnionList:
        if (!VectorsEqual(f, Vector(f, a), Vector(f, b))) return false;
        break;
      case FieldInfo::Shape::kOther:
        break;
    }
  }
  return true;
}

// A key field's value as text, for map keys and union keys ("-" if absent).
std::string KeyText(const FieldInfo& f, const Table& table) {
  if (!Present(f, table)) return "-";
  if (f.shape == FieldInfo::Shape::kString)
    return std::string(String(f, table));
  char buf[32];
  const uint8_t* data = table.GetAddressOf(f.voffset);
  auto [end, ec] = f.type == BaseType::Float || f.type == BaseType::Double
                       ? std::to_chars(buf, buf + sizeof(buf),
                                       flatbuffers::GetAnyValueF(f.type, data))
                       : std::to_chars(buf, buf + sizeof(buf),
                                       flatbuffers::GetAnyValueI(f.type, data));
  return std::string(buf, ec == std::errc() ? end : buf);
}

// Union list order: each key field in turn, absent first, numbers numerically.
bool KeyLess(const std::vector<const FieldInfo*>& keys, const Table& a,
             const Table& b) {
  for (const FieldInfo* k : keys) {
    bool pa = Present(*k, a), pb = Present(*k, b);
    if (pa != pb) return !pa;
    if (!pa) continue;
    if (k->shape == FieldInfo::Shape::kString) {
      auto sa = String(*k, a), sb = String(*k, b);
      if (sa != sb) return sa < sb;
    } else {
      double va =
          flatbuffers::GetAnyValueF(k->type, a.GetAddressOf(k->voffset));
      double vb =
          flatbuffers::GetAnyValueF(k->type, b.GetAddressOf(k->voffset));
      if (va != vb) return va < vb;
    }
  }
  return false;
}

// The layers of one level of the merge: tables of one type with their
// sources, highest priority first. Entities have few sources: kept inline.
class Layers {
 public:
  void Add(const Table* table, std::string_view source) {
    if (size_ < kInline) {
      tables_[size_] = table;
      sources_[size_] = source;
    } else {
      more_.emplace_back(table, source);
    }
    ++size_;
  }
  void Clear() {
    size_ = 0;
    more_.clear();
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Table* table(size_t i) const {
    return i < kInline ? tables_[i] : more_[i - kInline].first;
  }
  std::string_view source(size_t i) const {
    return i < kInline ? sources_[i] : more_[i - kInline].second;
  }

 private:
  static constexpr size_t kInline = 8;
  std::array<const Table*, kInline> tables_{};
  std::array<std::string_view, kInline> sources_{};
  std::vector<std::pair<const Table*, std::string_view>> more_;
  size_t size_ = 0;
};

class Merger {
 public:
  Merger(flatbuffers::FlatBufferBuilder& fbb, Provenance* provenance)
      : fbb_(fbb), provenance_(provenance) {}

  flatbuffers::uoffset_t MergeTable(const TableInfo& info, const Layers& layers,
                                    const std::string& path) {
    // Children (strings, tables, vectors) must be built before the table.
    struct Chosen {
      const FieldInfo* field;
      const Table* scalar_from;
      flatbuffers::uoffset_t offset;
    };
    std::array<Chosen, 64> inline_chosen;
    std::vector<Chosen> heap_chosen;
    size_t count = 0;
    auto choose = [&](Chosen c) {
      if (count < inline_chosen.size()) {
        inline_chosen[count] = c;
      } else {
        heap_chosen.push_back(c);
      }
      ++count;
    };
    Layers with;
    for (const FieldInfo& f : info.fields) {
      with.Clear();
      for (size_t i = 0; i < layers.size(); ++i) {
        if (Present(f, *layers.table(i)))
          with.Add(layers.table(i), layers.source(i));
      }
      if (with.empty()) continue;
      std::string field_path =
          provenance_ != nullptr ? Join(path, f.name) : std::string();
      switch (f.shape) {
        case FieldInfo::Shape::kScalar:
          choose({&f, with.table(0), 0});
          Note(field_path, with.source(0));
          break;
        case FieldInfo::Shape::kString: {
          std::string_view s = String(f, *with.table(0));
          choose({&f, nullptr, fbb_.CreateString(s.data(), s.size()).o});
          Note(field_path, with.source(0));
          break;
        }
        case FieldInfo::Shape::kTable:
          if (with.size() == 1 && provenance_ == nullptr) {
            choose({&f, nullptr,
                    CopyTable(*f.table, SubTable(f, *with.table(0))).o});
          } else {
            Layers children;
            for (size_t i = 0; i < with.size(); ++i) {
              children.Add(&SubTable(f, *with.table(i)), with.source(i));
            }
            choose({&f, nullptr, MergeTable(*f.table, children, field_path)});
          }
          break;
        case FieldInfo::Shape::kList:
          choose({&f, nullptr, CopyVector(f, Vector(f, *with.table(0)))});
          Note(field_path, with.source(0));
          break;
        case FieldInfo::Shape::kMap:
        case FieldInfo::Shape::kUnionList:
          choose({&f, nullptr, MergeKeyed(f, with, field_path)});
          break;
        case FieldInfo::Shape::kOther:
          break;
      }
    }
    auto start = fbb_.StartTable();
    for (size_t i = 0; i < count; ++i) {
      const Chosen& c = i < inline_chosen.size()
                            ? inline_chosen[i]
                            : heap_chosen[i - inline_chosen.size()];
      if (c.scalar_from != nullptr) {
        AddScalar(*c.field, *c.scalar_from);
      } else {
        fbb_.AddOffset(c.field->voffset, flatbuffers::Offset<void>(c.offset));
      }
    }
    return fbb_.EndTable(start);
  }

 private:
  static std::string Join(const std::string& path, std::string_view name) {
    return path.empty() ? std::string(name) : path + "." + std::string(name);
  }

  void Note(const std::string& path, std::string_view source) {
    if (provenance_ != nullptr) provenance_->emplace_back(path, source);
  }

  void AddScalar(const FieldInfo& f, const Table& from) {
    const uint8_t* data = from.GetAddressOf(f.voffset);
    switch (f.size) {
      case 1:
        fbb_.AddElement<uint8_t>(f.voffset,
                                 flatbuffers::ReadScalar<uint8_t>(data));
        break;
      case 2:
        fbb_.AddElement<uint16_t>(f.voffset,
                                  flatbuffers::ReadScalar<uint16_t>(data));
        break;
      case 4:
        fbb_.AddElement<uint32_t>(f.voffset,
                                  flatbuffers::ReadScalar<uint32_t>(data));
        break;
      default:
        fbb_.AddElement<uint64_t>(f.voffset,
                                  flatbuffers::ReadScalar<uint64_t>(data));
        break;
    }
  }

  // A deep copy: the merge of one layer.
  flatbuffers::Offset<void> CopyTable(const TableInfo& info,
                                      const Table& table) {
    Layers one;
    one.Add(&table, {});
    Provenance* provenance = provenance_;
    provenance_ = nullptr;
    auto copy = MergeTable(info, one, {});
    provenance_ = provenance;
    return flatbuffers::Offset<void>(copy);
  }

  flatbuffers::uoffset_t CopyVector(const FieldInfo& f,
                                    const flatbuffers::VectorOfAny& v) {
    if (f.type == BaseType::String) {
      std::vector<flatbuffers::Offset<flatbuffers::String>> strings;
      strings.reserve(v.size());
      for (size_t i = 0; i < v.size(); ++i) {
        std::string_view s = VectorString(v, i);
        strings.push_back(fbb_.CreateString(s.data(), s.size()));
      }
      return fbb_.CreateVector(strings).o;
    }
    if (f.type == BaseType::Obj) {
      std::vector<flatbuffers::Offset<void>> tables;
      tables.reserve(v.size());
      for (size_t i = 0; i < v.size(); ++i)
        tables.push_back(CopyTable(*f.table, VectorTable(v, i)));
      return fbb_.CreateVector(tables).o;
    }
    fbb_.StartVector(v.size(), f.size);
    fbb_.PushBytes(v.Data(), v.size() * f.size);
    return fbb_.EndVector(v.size());
  }

  // A map or a union list: the elements of every layer, the first layer
  // (highest priority) to have a key winning it; maps sorted by key bytes, as
  // FlatBuffers' key lookup needs, union lists by KeyLess.
  flatbuffers::uoffset_t MergeKeyed(const FieldInfo& f, const Layers& with,
                                    const std::string& path) {
    std::map<std::string, std::pair<const Table*, std::string_view>> by_key;
    for (size_t l = 0; l < with.size(); ++l) {
      const auto& v = Vector(f, *with.table(l));
      for (size_t i = 0; i < v.size(); ++i) {
        const Table& item = VectorTable(v, i);
        std::string key;
        for (const FieldInfo* k : f.keys) {
          if (!key.empty()) key += '/';
          key += KeyText(*k, item);
        }
        by_key.try_emplace(std::move(key), &item, with.source(l));
      }
    }
    std::vector<std::pair<const std::string*,
                          std::pair<const Table*, std::string_view>>>
        items;
    items.reserve(by_key.size());
    for (const auto& [key, chosen] : by_key) items.push_back({&key, chosen});
    if (f.shape == FieldInfo::Shape::kUnionList) {
      std::stable_sort(
          items.begin(), items.end(), [&](const auto& a, const auto& b) {
            return KeyLess(f.keys, *a.second.first, *b.second.first);
          });
    }
    std::vector<flatbuffers::Offset<void>> tables;
    tables.reserve(items.size());
    for (const auto& [key, chosen] : items) {
      tables.push_back(CopyTable(*f.table, *chosen.first));
      if (provenance_ != nullptr) {
        Note(f.shape == FieldInfo::Shape::kMap ? path + "." + *key
                                               : path + "[" + *key + "]",
             chosen.second);
      }
    }
    return fbb_.CreateVector(tables).o;
  }

  flatbuffers::FlatBufferBuilder& fbb_;
  Provenance* provenance_;
};

}  // namespace

bool EntitiesEqual(Kind kind, const flatbuffers::Table& a,
                   const flatbuffers::Table& b) {
  return TablesEqual(Info(EntityTable(kind)), a, b);
}

Event MergeLayers(Kind kind, std::span<const LayerView> layers,
                  const EventView& envelope, Provenance* provenance) {
  // One builder per thread, so that its buffer is reused from merge to merge.
  static thread_local EventBuilder builder;
  Layers top;
  for (const LayerView& layer : layers) {
    top.Add(&EntityOf(*layer.record), layer.record->view().source());
  }
  Merger merger(builder.fbb(), provenance);
  auto entity = merger.MergeTable(Info(EntityTable(kind)), top, "");
  auto event = builder.FinishUnion(envelope.source(), EventType::kSet, kind,
                                   flatbuffers::Offset<void>(entity),
                                   envelope.observed_time(), envelope.offset(),
                                   envelope.ingest_time());
  if (event) return std::move(*event);
  // Verified layers merge into a verifiable entity, unless the merge outgrows
  // the verifier's limits (a union of huge lists): then the highest-priority
  // layer stands for the entity, which keeps the fold deterministic.
  return layers[0].record->Stamped(envelope.offset(), envelope.ingest_time());
}

}  // namespace wmeta::store::internal

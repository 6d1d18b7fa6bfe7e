#include "wmeta/collectors/list_diff.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <unordered_set>
#include <utility>

#include "wmeta/schema/reflection.h"
#include "wmeta/schema/time.h"

namespace wmeta::collectors {
namespace {

// (kind, id) as one map key: the kind's byte, then the id.
std::string Key(Kind kind, std::string_view id) {
  std::string key(1, static_cast<char>(kind));
  key.append(id);
  return key;
}

// FNV-1a, 64 bits.
class Hash {
 public:
  void Add(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < size; ++i) {
      state_ = (state_ ^ bytes[i]) * 1099511628211ULL;
    }
  }
  template <typename T>
  void AddValue(T value) {
    Add(&value, sizeof(value));
  }
  // Length first, so that ("ab", "c") and ("a", "bc") differ.
  void AddString(const flatbuffers::String& s) {
    AddValue(s.size());
    Add(s.data(), s.size());
  }
  uint64_t value() const { return state_; }

 private:
  uint64_t state_ = 14695981039346656037ULL;
};

void HashTable(Hash& hash, const reflection::Object& object,
               const flatbuffers::Table& table);

void HashVector(Hash& hash, const reflection::Field& field,
                const flatbuffers::VectorOfAny& vector) {
  hash.AddValue(vector.size());
  reflection::BaseType element = field.type()->element();
  if (element == reflection::String) {
    for (size_t i = 0; i < vector.size(); ++i) {
      hash.AddString(
          *flatbuffers::GetAnyVectorElemPointer<const flatbuffers::String>(
              &vector, i));
    }
  } else if (element == reflection::Obj) {
    for (size_t i = 0; i < vector.size(); ++i) {
      HashTable(hash, FieldTable(field),
                *flatbuffers::GetAnyVectorElemPointer<const flatbuffers::Table>(
                    &vector, i));
    }
  } else {
    // Scalars, stored little-endian on every host.
    hash.Add(vector.Data(), vector.size() * flatbuffers::GetTypeSize(element));
  }
}

// The fields' values in schema order, each after whether it is present: the
// same entity gives the same hash however its buffer was laid out (the order
// it was built in, a default written or left out, whatever else the buffer
// holds). Entities hold scalars, strings, tables and lists of those; the
// schema has no structs, and its one union is the record's entity
// (EntityHashCoversEveryFieldType checks both).
void HashTable(Hash& hash, const reflection::Object& object,
               const flatbuffers::Table& table) {
  for (const reflection::Field* field : *object.fields()) {
    reflection::BaseType type = field->type()->base_type();
    const uint8_t* data = table.GetAddressOf(field->offset());
    if (flatbuffers::IsScalar(type)) {
      // A scalar left out holds its default, unless it is optional ("= null"),
      // where being left out is a value of its own.
      bool present = !field->optional() || data != nullptr;
      hash.AddValue(present);
      if (!present) continue;
      if (flatbuffers::IsFloat(type)) {
        hash.AddValue(flatbuffers::GetAnyFieldF(table, *field));
      } else {
        hash.AddValue(flatbuffers::GetAnyFieldI(table, *field));
      }
      continue;
    }
    hash.AddValue(data != nullptr);
    if (data == nullptr) continue;
    if (type == reflection::String) {
      hash.AddString(*flatbuffers::GetFieldS(table, *field));
    } else if (type == reflection::Vector) {
      HashVector(hash, *field, *flatbuffers::GetFieldAnyV(table, *field));
    } else {
      HashTable(hash, FieldTable(*field),
                *flatbuffers::GetFieldT(table, *field));
    }
  }
}

// Never 0, which marks "not known".
uint64_t EntityHash(const EventView& event) {
  Hash hash;
  HashTable(hash, EntityTable(event.kind()),
            *static_cast<const flatbuffers::Table*>(event.record().entity()));
  return hash.value() == 0 ? 1 : hash.value();
}

}  // namespace

ListDiff::ListDiff(std::string source, std::vector<Kind> kinds, Clock& clock)
    : source_(std::move(source)), kinds_(std::move(kinds)), clock_(&clock) {}

Status ListDiff::Apply(Sink& sink, std::vector<Event> current,
                       std::span<const EntityId> replaced) {
  const std::unordered_map<std::string, uint64_t>* previous = &seen_;
  std::unordered_map<std::string, uint64_t> known;
  if (!seeded_) {
    for (Kind kind : kinds_) {
      WMETA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                             sink.Known(kind, source_));
      for (const auto& id : ids) known.emplace(Key(kind, id), 0);
    }
    previous = &known;
  }
  std::unordered_set<std::string> replaced_keys;
  for (const EntityId& id : replaced) replaced_keys.insert(Key(id.kind, id.id));

  std::unordered_map<std::string, uint64_t> next;
  next.reserve(current.size());
  std::vector<Event> replacements;
  std::vector<Event> sets;
  for (auto& event : current) {
    EventView view = event.view();
    if (view.source() != source_) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "list of source " + source_ + " holds an event from " +
                           std::string(view.source()));
    }
    if (view.type() != EventType::kSet) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "list holds an unset of " + view.entity_id().ToString());
    }
    if (std::find(kinds_.begin(), kinds_.end(), view.kind()) == kinds_.end()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "list holds " + view.entity_id().ToString() +
                           ", of a kind it does not cover");
    }
    uint64_t hash = EntityHash(view);
    auto [it, inserted] = next.emplace(Key(view.kind(), view.id()), hash);
    if (!inserted) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "list holds " + view.entity_id().ToString() + " twice");
    }
    auto before = previous->find(it->first);
    if (before != previous->end() && replaced_keys.contains(it->first)) {
      replacements.push_back(std::move(event));
    } else if (before == previous->end() || before->second != hash) {
      sets.push_back(std::move(event));
    }
  }
  for (const EntityId& id : replaced) {
    if (!next.contains(Key(id.kind, id.id))) {
      return MakeError(ErrorCode::kInvalidArgument,
                       id.ToString() + " is replaced but not in the list");
    }
  }

  // Unsets go before sets, so that a subscriber sees what left before what
  // arrived; a replaced entity's pair goes first, so that nothing comes
  // between the old one leaving and the new one arriving. The other unsets
  // are sorted, so that the same lists give the same events.
  std::vector<std::string> gone;
  for (const auto& [key, hash] : *previous) {
    if (!next.contains(key)) gone.push_back(key);
  }
  std::sort(gone.begin(), gone.end());
  Timestamp now =
      replacements.empty() && gone.empty() ? Timestamp() : clock_->Now();
  std::vector<Event> events;
  events.reserve(2 * replacements.size() + gone.size() + sets.size());
  for (auto& set : replacements) {
    EventView view = set.view();
    WMETA_ASSIGN_OR_RETURN(Event unset,
                           UnsetEvent(source_, view.kind(), view.id(), now));
    events.push_back(std::move(unset));
    events.push_back(std::move(set));
  }
  for (const auto& key : gone) {
    WMETA_ASSIGN_OR_RETURN(Event unset,
                           UnsetEvent(source_, static_cast<Kind>(key[0]),
                                      std::string_view(key).substr(1), now));
    events.push_back(std::move(unset));
  }
  std::move(sets.begin(), sets.end(), std::back_inserter(events));

  if (!events.empty()) WMETA_RETURN_IF_ERROR(sink.Emit(events));
  seen_ = std::move(next);
  seeded_ = true;
  return {};
}

void ListDiff::Forget(const EntityId& id) { seen_.erase(Key(id.kind, id.id)); }

}  // namespace wmeta::collectors

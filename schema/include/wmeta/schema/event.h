// Events: one collector observation about one entity, as a verified FlatBuffers
// record (schema/wmeta.fbs, table Record). The same bytes travel from the
// collector through the log to readers; the log only fills in offset and
// ingest_time.
//
//   EventBuilder b;
//   auto ctr = fb::CreateContainerDirect(b.fbb(), "3f2a", "web");
//   Result<Event> e = b.Finish("runtime", EventType::kSet, ctr);
//
// Thread-safety: EventView and Event are immutable values, safe to share for
// reading. EventBuilder is single-threaded.

#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "wmeta/schema/error.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"
#include "wmeta/schema/wmeta_generated.h"

namespace wmeta {

enum class EventType : uint8_t { kSet = 0, kUnset = 1 };

// "set" or "unset".
std::string_view EventTypeName(EventType type);

// The largest record wmeta accepts; larger ones are rejected as invalid, not
// truncated.
inline constexpr size_t kMaxRecordBytes = size_t{8} << 20;

// Calls `fn` with the record's entity as its concrete table (const
// fb::Container&, ...). REQUIRES: the record was verified (the entity is
// present and of a known kind).
template <typename Fn>
decltype(auto) VisitEntity(const fb::Record& record, Fn&& fn) {
  switch (record.entity_type()) {
    case fb::Entity::Container:
      return fn(*record.entity_as_Container());
    case fb::Entity::KubernetesPod:
      return fn(*record.entity_as_KubernetesPod());
    case fb::Entity::KubernetesMetadata:
      return fn(*record.entity_as_KubernetesMetadata());
    case fb::Entity::KubernetesDeployment:
      return fn(*record.entity_as_KubernetesDeployment());
    case fb::Entity::EcsTask:
      return fn(*record.entity_as_EcsTask());
    case fb::Entity::ContainerImageMetadata:
      return fn(*record.entity_as_ContainerImageMetadata());
    case fb::Entity::Process:
      return fn(*record.entity_as_Process());
    case fb::Entity::Gpu:
      return fn(*record.entity_as_Gpu());
    case fb::Entity::Kubelet:
      return fn(*record.entity_as_Kubelet());
    case fb::Entity::Host:
    default:
      return fn(*record.entity_as_Host());
  }
}

// A read-only view of verified record bytes. Does not own them: valid while
// they are.
class EventView {
 public:
  // Verifies `bytes` as a record: FlatBuffers structure and identifier, offset
  // and ingest_time fields present, a non-empty source, a known kind and a
  // non-empty id, at most kMaxRecordBytes. Returns kCorruption otherwise, and
  // kInvalidArgument when the bytes do not start at an 8-byte aligned address
  // (buffers from new/malloc do).
  static Result<EventView> Verify(std::span<const uint8_t> bytes);

  // Wraps bytes that an earlier Verify accepted, without checking them again.
  static EventView FromVerified(std::span<const uint8_t> bytes);

  const fb::Record& record() const { return *record_; }
  std::span<const uint8_t> bytes() const { return bytes_; }

  // 0 until the log appends the event.
  uint64_t offset() const { return record_->offset().value_or(0); }
  // The writer's clock when the event was appended; the epoch until then.
  Timestamp ingest_time() const {
    return FromUnixNanos(record_->ingest_time().value_or(0));
  }
  // The collector's clock when it made the observation; the epoch when unknown.
  Timestamp observed_time() const {
    return FromUnixNanos(record_->observed_time());
  }
  std::string_view source() const { return record_->source()->string_view(); }
  EventType type() const { return static_cast<EventType>(record_->type()); }
  Kind kind() const { return static_cast<Kind>(record_->entity_type()); }
  std::string_view id() const;
  EntityId entity_id() const { return EntityId{kind(), std::string(id())}; }
  // The entity's name, or "" when it has none (or its kind has no name field).
  std::string_view name() const;

 private:
  EventView(const fb::Record* record, std::span<const uint8_t> bytes)
      : record_(record), bytes_(bytes) {}

  const fb::Record* record_;
  std::span<const uint8_t> bytes_;
};

// An event that owns its verified record bytes.
class Event {
 public:
  // Verifies `bytes` (see EventView::Verify) and takes ownership.
  static Result<Event> FromBytes(std::string bytes);
  // A copy of the bytes of `view`, which is verified already.
  static Event Copy(const EventView& view) {
    return Event(std::string(reinterpret_cast<const char*>(view.bytes().data()),
                             view.bytes().size()));
  }

  EventView view() const {
    return EventView::FromVerified(
        {reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size()});
  }
  const std::string& bytes() const { return bytes_; }

  // A copy of this event as the log holds it at `offset`, ingested at
  // `ingest_time`: the same bytes with those two fields set.
  Event Stamped(uint64_t offset, Timestamp ingest_time) const;

 private:
  explicit Event(std::string bytes) : bytes_(std::move(bytes)) {}

  std::string bytes_;
};

// Where a replayed record was first appended (table Origin).
struct RecordOrigin {
  std::string store_id;
  uint64_t offset = 0;
  Timestamp ingest_time{};
};

// Builds events with the generated FlatBuffers API. Reusable: each Finish
// starts over.
class EventBuilder {
 public:
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  // Wraps `entity` (a table built with fbb()) in a record with offset and
  // ingest_time 0 and verifies it. kInvalidArgument when it does not verify (an
  // empty id, say).
  template <typename Table>
  Result<Event> Finish(std::string_view source, EventType type,
                       flatbuffers::Offset<Table> entity,
                       Timestamp observed = {}) {
    return FinishUnion(source, type,
                       static_cast<Kind>(fb::EntityTraits<Table>::enum_value),
                       entity.Union(), observed);
  }

  // As Finish, for an entity table of `kind` built with fbb(). `offset` and
  // `ingest_time` are those of a record the log already holds, for records
  // derived from it (a merged entity); 0 and the epoch otherwise. `origin`:
  // where a replayed record was first appended.
  Result<Event> FinishUnion(std::string_view source, EventType type, Kind kind,
                            flatbuffers::Offset<void> entity,
                            Timestamp observed, uint64_t offset = 0,
                            Timestamp ingest_time = {},
                            const RecordOrigin* origin = nullptr);

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};
};

}  // namespace wmeta

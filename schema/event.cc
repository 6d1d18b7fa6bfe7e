#include "wmeta/schema/event.h"

#include <string>

namespace wmeta {
namespace {

// Sources are names such as "runtime" or "remote:node-1", not payloads.
constexpr size_t kMaxSourceBytes = 256;

std::unexpected<Error> Corrupt(std::string message) {
  return MakeError(ErrorCode::kCorruption, std::move(message));
}

}  // namespace

std::string_view EventTypeName(EventType type) {
  return type == EventType::kSet ? "set" : "unset";
}

Result<EventView> EventView::Verify(std::span<const uint8_t> bytes) {
  // FlatBuffers checks alignment relative to the buffer's start only; the reads
  // it then allows need the start itself aligned.
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "record bytes are not 8-byte aligned");
  }
  if (bytes.size() > kMaxRecordBytes) {
    return Corrupt("record of " + std::to_string(bytes.size()) +
                   " bytes exceeds the " + std::to_string(kMaxRecordBytes) +
                   "-byte limit");
  }
  if (bytes.size() <
          sizeof(flatbuffers::uoffset_t) + flatbuffers::kFileIdentifierLength ||
      !fb::RecordBufferHasIdentifier(bytes.data())) {
    return Corrupt("not a wmeta record (missing identifier WMR1)");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!fb::VerifyRecordBuffer(verifier)) {
    return Corrupt("record fails FlatBuffers verification");
  }
  const fb::Record* record = fb::GetRecord(bytes.data());
  if (!record->offset().has_value() || !record->ingest_time().has_value()) {
    return Corrupt("record lacks its offset or ingest_time field");
  }
  if (record->source()->size() == 0 ||
      record->source()->size() > kMaxSourceBytes) {
    return Corrupt("record source must have 1 to " +
                   std::to_string(kMaxSourceBytes) + " bytes");
  }
  auto kind = static_cast<uint8_t>(record->entity_type());
  if (!KindFromValue(kind)) {
    return Corrupt("record has unknown entity kind " + std::to_string(kind));
  }
  auto type = static_cast<uint8_t>(record->type());
  if (type > static_cast<uint8_t>(EventType::kUnset)) {
    return Corrupt("record has unknown event type " + std::to_string(type));
  }
  EventView view(record, bytes);
  if (view.id().empty()) return Corrupt("record entity has an empty id");
  return view;
}

EventView EventView::FromVerified(std::span<const uint8_t> bytes) {
  return EventView(fb::GetRecord(bytes.data()), bytes);
}

std::string_view EventView::id() const {
  return VisitEntity(
      *record_, [](const auto& entity) { return entity.id()->string_view(); });
}

std::string_view EventView::name() const {
  return VisitEntity(*record_, [](const auto& entity) -> std::string_view {
    if constexpr (requires { entity.name(); }) {
      return entity.name() != nullptr ? entity.name()->string_view()
                                      : std::string_view();
    } else {
      return {};
    }
  });
}

Result<Event> Event::FromBytes(std::string bytes) {
  WMETA_RETURN_IF_ERROR(EventView::Verify(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  return Event(std::move(bytes));
}

Event Event::Stamped(uint64_t offset, Timestamp ingest_time) const {
  Event copy(bytes_);
  auto* record = fb::GetMutableRecord(copy.bytes_.data());
  // Both fields are present: verification requires them.
  record->mutate_offset(offset);
  record->mutate_ingest_time(ToUnixNanos(ingest_time));
  return copy;
}

Result<Event> EventBuilder::FinishUnion(std::string_view source, EventType type,
                                        Kind kind,
                                        flatbuffers::Offset<void> entity,
                                        Timestamp observed, uint64_t offset,
                                        Timestamp ingest_time,
                                        const RecordOrigin* origin) {
  auto source_offset = fbb_.CreateString(source);
  flatbuffers::Offset<fb::Origin> origin_offset;
  if (origin != nullptr) {
    origin_offset =
        fb::CreateOriginDirect(fbb_, origin->store_id.c_str(), origin->offset,
                               ToUnixNanos(origin->ingest_time));
  }
  fb::RecordBuilder record(fbb_);
  record.add_offset(offset);
  record.add_ingest_time(ToUnixNanos(ingest_time));
  record.add_observed_time(ToUnixNanos(observed));
  record.add_source(source_offset);
  record.add_type(static_cast<fb::EventType>(type));
  record.add_entity_type(static_cast<fb::Entity>(kind));
  record.add_entity(entity);
  record.add_origin(origin_offset);
  fb::FinishRecordBuffer(fbb_, record.Finish());
  std::string bytes(reinterpret_cast<const char*>(fbb_.GetBufferPointer()),
                    fbb_.GetSize());
  fbb_.Clear();
  auto event = Event::FromBytes(std::move(bytes));
  if (!event)
    return MakeError(ErrorCode::kInvalidArgument, event.error().message);
  return event;
}

}  // namespace wmeta

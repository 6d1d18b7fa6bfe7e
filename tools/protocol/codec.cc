#include "wmeta/tools/protocol/codec.h"

#include <algorithm>

namespace wmeta::tools::protocol {

Result<Kind> DecodeKind(fb::Kind kind) {
  auto decoded = KindFromValue(static_cast<uint8_t>(kind));
  if (!decoded) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "unknown kind " + std::to_string(static_cast<unsigned>(kind)));
  }
  return *decoded;
}

flatbuffers::Offset<fbw::Point> EncodePoint(flatbuffers::FlatBufferBuilder& fbb,
                                            const PointSpec& point) {
  fbw::PointBuilder b(fbb);
  if (point.offset) b.add_offset(*point.offset);
  if (point.time) b.add_time(ToUnixNanos(*point.time));
  return b.Finish();
}

PointSpec DecodePoint(const fbw::Point* point) {
  PointSpec out;
  if (point == nullptr) return out;
  if (point->offset()) out.offset = *point->offset();
  if (point->time()) out.time = FromUnixNanos(*point->time());
  return out;
}

flatbuffers::Offset<fbw::EntityState> EncodeEntity(wire::FrameBuilder& builder,
                                                   const EntityInfo& entity) {
  auto& fbb = builder.fbb();
  auto merged = builder.AddRecord(entity.merged->view());
  std::vector<flatbuffers::Offset<fbw::RecordBytes>> layers;
  for (const auto& layer : entity.layers) {
    layers.push_back(builder.AddRecord(layer->view()));
  }
  std::vector<flatbuffers::Offset<fbw::FieldSource>> provenance;
  for (const auto& [path, source] : entity.provenance) {
    provenance.push_back(
        fbw::CreateFieldSourceDirect(fbb, path.c_str(), source.c_str()));
  }
  return fbw::CreateEntityStateDirect(
      fbb, merged, &layers, entity.create_offset, entity.version, &provenance);
}

Result<EntityInfo> DecodeEntity(const fbw::EntityState* entity) {
  if (entity == nullptr) {
    return MakeError(ErrorCode::kCorruption, "an entity is missing");
  }
  EntityInfo out;
  WMETA_ASSIGN_OR_RETURN(Event merged, wire::ToEvent(entity->merged()));
  out.merged = std::make_shared<const Event>(std::move(merged));
  if (entity->layers() != nullptr) {
    for (const fbw::RecordBytes* layer : *entity->layers()) {
      WMETA_ASSIGN_OR_RETURN(Event event, wire::ToEvent(layer));
      out.layers.push_back(std::make_shared<const Event>(std::move(event)));
    }
  }
  out.create_offset = entity->create_offset();
  out.version = entity->version();
  if (entity->provenance() != nullptr) {
    for (const fbw::FieldSource* f : *entity->provenance()) {
      out.provenance.emplace_back(
          f->path() != nullptr ? f->path()->str() : "",
          f->source() != nullptr ? f->source()->str() : "");
    }
  }
  return out;
}

std::vector<store::HistoryEntry::FieldChange> DecodeChanges(
    const flatbuffers::Vector<flatbuffers::Offset<fbw::FieldChange>>* changes) {
  std::vector<store::HistoryEntry::FieldChange> out;
  if (changes == nullptr) return out;
  for (const fbw::FieldChange* c : *changes) {
    auto str = [](const flatbuffers::String* s) {
      return s != nullptr ? s->str() : std::string();
    };
    out.push_back({str(c->path()), str(c->before()), str(c->after())});
  }
  return out;
}

flatbuffers::Offset<fbw::SubscribeRequest> EncodeWatch(
    flatbuffers::FlatBufferBuilder& fbb, const WatchRequest& watch) {
  using From = store::SubscribeOptions::From;
  fbw::StartFrom from = fbw::StartFrom::snapshot;
  switch (watch.from) {
    case From::kSnapshot:
      break;
    case From::kOffset:
      from = fbw::StartFrom::offset;
      break;
    case From::kTime:
      from = fbw::StartFrom::time;
      break;
    case From::kLatest:
      from = fbw::StartFrom::latest;
      break;
  }
  std::vector<fb::Kind> kinds;
  for (Kind kind : watch.kinds) kinds.push_back(static_cast<fb::Kind>(kind));
  std::vector<flatbuffers::Offset<flatbuffers::String>> sources;
  for (const auto& source : watch.sources) {
    sources.push_back(fbb.CreateString(source));
  }
  fbw::TypeFilter type = fbw::TypeFilter::any;
  if (watch.type) {
    type = *watch.type == EventType::kSet ? fbw::TypeFilter::set
                                          : fbw::TypeFilter::unset;
  }
  auto kinds_vector = fbb.CreateVector(kinds);
  auto sources_vector = fbb.CreateVector(sources);
  auto store_id = fbb.CreateString(watch.store_id);
  fbw::SubscribeRequestBuilder b(fbb);
  b.add_from(from);
  b.add_offset(watch.offset);
  b.add_time(ToUnixNanos(watch.time));
  b.add_kinds(kinds_vector);
  b.add_sources(sources_vector);
  b.add_type(type);
  b.add_raw(watch.raw);
  b.add_store_id(store_id);
  b.add_max_bundle(static_cast<uint32_t>(watch.max_bundle));
  b.add_bookmark_ms(static_cast<uint32_t>(watch.bookmark_interval.count()));
  b.add_until(watch.until);
  b.add_until_now(watch.until_now);
  return b.Finish();
}

Result<WatchRequest> DecodeWatch(const fbw::SubscribeRequest& request) {
  using From = store::SubscribeOptions::From;
  WatchRequest out;
  switch (request.from()) {
    case fbw::StartFrom::snapshot:
      out.from = From::kSnapshot;
      break;
    case fbw::StartFrom::offset:
      out.from = From::kOffset;
      break;
    case fbw::StartFrom::time:
      out.from = From::kTime;
      break;
    case fbw::StartFrom::latest:
      out.from = From::kLatest;
      break;
    default:
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown start position " +
                           std::to_string(static_cast<int>(request.from())));
  }
  out.offset = request.offset();
  out.time = FromUnixNanos(request.time());
  if (request.kinds() != nullptr) {
    for (auto kind : *request.kinds()) {
      WMETA_ASSIGN_OR_RETURN(Kind decoded,
                             DecodeKind(static_cast<fb::Kind>(kind)));
      out.kinds.push_back(decoded);
    }
  }
  if (request.sources() != nullptr) {
    for (const flatbuffers::String* source : *request.sources()) {
      out.sources.push_back(source->str());
    }
  }
  switch (request.type()) {
    case fbw::TypeFilter::any:
      break;
    case fbw::TypeFilter::set:
      out.type = EventType::kSet;
      break;
    case fbw::TypeFilter::unset:
      out.type = EventType::kUnset;
      break;
    default:
      return MakeError(ErrorCode::kInvalidArgument,
                       "unknown event type filter");
  }
  out.raw = request.raw();
  out.store_id = request.store_id() != nullptr ? request.store_id()->str() : "";
  // Clamped: a bundle is held in memory whole, and bookmarks are not meant
  // to be a flood.
  if (request.max_bundle() != 0) {
    out.max_bundle = std::min<uint32_t>(request.max_bundle(), kMaxBundle);
  }
  if (request.bookmark_ms() != 0) {
    out.bookmark_interval = std::chrono::milliseconds(
        std::max<uint32_t>(request.bookmark_ms(), 100));
  }
  out.until = request.until();
  out.until_now = request.until_now();
  return out;
}

}  // namespace wmeta::tools::protocol

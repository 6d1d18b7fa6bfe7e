// Conversions between the client protocol's tables (schema/wire.fbs) and the
// Backend's types, used by both ends (the handler, the client).
//
// Thread-safety: pure functions.

#pragma once

#include <vector>

#include "wmeta/schema/wire.h"
#include "wmeta/tools/api/backend.h"

namespace wmeta::tools::protocol {

namespace fbw = wire::fbw;

// kInvalidArgument for a value that names no kind.
Result<Kind> DecodeKind(fb::Kind kind);

flatbuffers::Offset<fbw::Point> EncodePoint(flatbuffers::FlatBufferBuilder& fbb,
                                            const PointSpec& point);
// A missing table is "now".
PointSpec DecodePoint(const fbw::Point* point);

flatbuffers::Offset<fbw::EntityState> EncodeEntity(wire::FrameBuilder& builder,
                                                   const EntityInfo& entity);
Result<EntityInfo> DecodeEntity(const fbw::EntityState* entity);

std::vector<store::HistoryEntry::FieldChange> DecodeChanges(
    const flatbuffers::Vector<flatbuffers::Offset<fbw::FieldChange>>* changes);

// The most messages a client may ask for in one bundle.
inline constexpr uint32_t kMaxBundle = 4096;

flatbuffers::Offset<fbw::SubscribeRequest> EncodeWatch(
    flatbuffers::FlatBufferBuilder& fbb, const WatchRequest& watch);
// kInvalidArgument for an unknown kind, start or type. max_bundle is clamped
// to kMaxBundle, bookmark intervals to at least 100 ms.
Result<WatchRequest> DecodeWatch(const fbw::SubscribeRequest& request);

}  // namespace wmeta::tools::protocol

// The log's RocksDB key layout (see FORMAT.md). Private to log/ and its tests.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wmeta/schema/kind.h"

namespace wmeta::log::internal {

inline constexpr std::string_view kRecordsFamily = "records";
inline constexpr std::string_view kEntitiesFamily = "entities";

inline constexpr std::string_view kFormatVersionKey = "format_version";
inline constexpr std::string_view kStoreIdKey = "store_id";
inline constexpr std::string_view kCreatedTimeKey = "created_time";
// The first offset retention kept (8 bytes, big-endian); absent: 1.
inline constexpr std::string_view kFirstOffsetKey = "first_offset";
// Set while Log::AcceptLoss gives the store a new id: the id it chose.
inline constexpr std::string_view kPendingStoreIdKey = "pending_store_id";
// What the last Log::AcceptLoss did (text, for people).
inline constexpr std::string_view kRecoveredKey = "recovered";
inline constexpr uint32_t kFormatVersion = 1;

// In `entities`: the offset up to which every record has its index entry. Sorts
// before every entity key (whose first byte is a kind, never 0).
inline constexpr std::string_view kIndexWatermarkKey{"\0", 1};

// 8 bytes, big-endian, so that byte order is offset order.
std::string OffsetKey(uint64_t offset);
void EncodeOffsetKey(uint64_t offset, char out[8]);
std::optional<uint64_t> DecodeOffsetKey(std::string_view key);

// kind (1 byte) ‖ id length (4 bytes, big-endian) ‖ id ‖ offset (8 bytes,
// big-endian). All but the offset is the entity's prefix: every index key of
// one entity starts with it, and no other entity's does.
std::string EntityKey(Kind kind, std::string_view id, uint64_t offset);
void AppendEntityKey(Kind kind, std::string_view id, uint64_t offset,
                     std::string& out);

struct EntityKeyParts {
  Kind kind;
  std::string_view id;
  uint64_t offset;
};
std::optional<EntityKeyParts> DecodeEntityKey(std::string_view key);

}  // namespace wmeta::log::internal

// The JSON shapes the CLI's --json output and the HTTP API share (README,
// "Events as JSON" and the HTTP table): entities with their offsets and
// sources, history entries, subscription messages.
//
// Thread-safety: pure functions; a JsonCodec argument is the caller's own.

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/json.h"
#include "wmeta/store/store.h"
#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {

// JSON text for a string: quoted, with the escapes JSON requires.
std::string Quote(std::string_view s);
// [{"path":..,"before":..,"after":..}], absent values as null.
std::string ChangesJson(
    const std::vector<store::HistoryEntry::FieldChange>& changes);
// {"entity":..,"create_offset":..,"mod_offset":..,"version":..,"sources":..},
// with "provenance" and "layers" when `details`.
Result<std::string> EntityInfoJson(JsonCodec& codec, const EntityInfo& entity,
                                   bool details);
// The sources of an entity's layers, comma-separated, highest first.
std::string SourcesOf(const EntityInfo& entity);
// {"offset":..,"ingest_time":..,"source":..,"type":..,"exists":..,
//  "changes":[..]}.
std::string HistoryEntryJson(const store::HistoryEntry& entry);
// A subscription message as one NDJSON line (without the newline):
// {"offset":..,"type":..,"event":..}, {"snapshot_end":..} or {"bookmark":..}.
Result<std::string> MessageJson(JsonCodec& codec,
                                const store::Message& message);

}  // namespace wmeta::tools

// Values both programs take from their users, in flags, the config file and
// HTTP queries: offsets, times and spans, where a watch starts, sizes,
// HOST:PORT addresses; and the default data dir.
//
// Thread-safety: pure functions.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "wmeta/schema/error.h"
#include "wmeta/schema/time.h"
#include "wmeta/tools/api/backend.h"

namespace wmeta::tools {

// $WMETA_DATA_DIR, else /var/lib/wmeta for root, else $XDG_STATE_HOME/wmeta
// (~/.local/state/wmeta).
std::string DefaultDataDir();

// An offset: decimal digits and nothing else.
std::optional<uint64_t> ParseOffset(std::string_view text);

// An RFC 3339 time, or a span back from now such as 15m.
Result<Timestamp> ParseTimeOrSpan(std::string_view text);

// Where a watch starts: "snapshot", "latest", an offset, or a time (RFC 3339
// or a span back from now); sets from, offset and time of `watch`.
Status ParseWatchFrom(std::string_view from, WatchRequest& watch);

// "512MiB", "2GB", "1000" (bytes); kInvalidArgument otherwise.
Result<uint64_t> ParseBytes(std::string_view text);

// "HOST:PORT" ("[::1]:80" for IPv6); kInvalidArgument otherwise.
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& text);

}  // namespace wmeta::tools

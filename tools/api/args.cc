#include "wmeta/tools/api/args.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>

namespace wmeta::tools {

std::string DefaultDataDir() {
  if (const char* dir = std::getenv("WMETA_DATA_DIR");
      dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (geteuid() == 0) return "/var/lib/wmeta";
  if (const char* state = std::getenv("XDG_STATE_HOME");
      state != nullptr && *state != '\0') {
    return std::string(state) + "/wmeta";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.local/state/wmeta";
}

std::optional<uint64_t> ParseOffset(std::string_view text) {
  uint64_t offset = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), offset);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return offset;
}

Result<Timestamp> ParseTimeOrSpan(std::string_view text) {
  if (auto t = ParseTime(text)) return *t;
  if (auto d = ParseDuration(text)) return SystemClock().Now() - *d;
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid time '" + std::string(text) +
                       "': expected RFC 3339 (2026-11-24T03:00:00Z) or a span "
                       "back from now (15m)");
}

Status ParseWatchFrom(std::string_view from, WatchRequest& watch) {
  using From = store::SubscribeOptions::From;
  if (from == "snapshot") {
    watch.from = From::kSnapshot;
  } else if (from == "latest") {
    watch.from = From::kLatest;
  } else if (auto offset = ParseOffset(from)) {
    watch.from = From::kOffset;
    watch.offset = *offset;
  } else {
    auto time = ParseTimeOrSpan(from);
    if (!time) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "invalid start '" + std::string(from) +
                           "': expected snapshot, latest, an offset, an RFC "
                           "3339 time or a span back from now (15m)");
    }
    watch.from = From::kTime;
    watch.time = *time;
  }
  return {};
}

Result<uint64_t> ParseBytes(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end,
                        static_cast<size_t>(text.data() + text.size() - end));
  uint64_t scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "KiB") {
    scale = uint64_t{1} << 10;
  } else if (unit == "MiB") {
    scale = uint64_t{1} << 20;
  } else if (unit == "GiB") {
    scale = uint64_t{1} << 30;
  } else if (unit == "KB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000 * 1000;
  } else if (unit == "GB") {
    scale = 1000 * 1000 * 1000;
  }
  if (ec != std::errc() || end == text.data() || scale == 0 ||
      value > UINT64_MAX / scale) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid size '" + std::string(text) +
                         "': expected a count and a unit (B, KiB, MiB, GiB, "
                         "KB, MB, GB), e.g. 512MiB");
  }
  return value * scale;
}

Result<std::pair<std::string, uint16_t>> SplitHostPort(
    const std::string& text) {
  auto colon = text.rfind(':');
  auto invalid = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     "invalid address '" + text +
                         "': expected HOST:PORT, such as 127.0.0.1:7070");
  };
  if (colon == std::string::npos || colon == 0) return invalid();
  std::string host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  std::string digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return invalid();
  }
  port = static_cast<unsigned>(std::stoul(digits));
  if (port > 65535) return invalid();
  return std::make_pair(host, static_cast<uint16_t>(port));
}

}  // namespace wmeta::tools

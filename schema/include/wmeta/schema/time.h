// Time as wmeta stores it: nanoseconds since the Unix epoch (UTC), shown as RFC
// 3339. Also the Clock seam, so tests can control the writer's ingest time.
//
// Thread-safety: the functions are pure; SystemClock() is thread-safe.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "wmeta/schema/error.h"

namespace wmeta {

using Timestamp = std::chrono::sys_time<std::chrono::nanoseconds>;

inline int64_t ToUnixNanos(Timestamp t) { return t.time_since_epoch().count(); }
inline Timestamp FromUnixNanos(int64_t ns) {
  return Timestamp(std::chrono::nanoseconds(ns));
}

// "2026-11-24T10:00:00.123456Z": UTC, with the shortest fraction of 0, 3, 6 or
// 9 digits that shows the value exactly, so that ParseTime(FormatTime(t)) == t.
std::string FormatTime(Timestamp t);

// Parses RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", 'T' or a
// space between date and time, up to 9 fraction digits, years 1678 to 2261
// (what nanoseconds in an int64 can hold). Returns kInvalidArgument otherwise.
Result<Timestamp> ParseTime(std::string_view text);

// Parses a span such as "90s", "15m", "2h", "7d" or "250ms". Returns
// kInvalidArgument for anything else (including negative or empty spans).
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() = 0;
};

// The real-time clock.
Clock& SystemClock();

}  // namespace wmeta

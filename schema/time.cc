#include "wmeta/schema/time.h"

#include <charconv>
#include <cstdio>

namespace wmeta {
namespace {

using std::chrono::days;
using std::chrono::nanoseconds;

// Parses exactly `width` decimal digits at `pos`, advancing it.
bool ParseDigits(std::string_view text, size_t& pos, size_t width, int& out) {
  if (pos + width > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += width;
  out = value;
  return true;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

std::unexpected<Error> BadTime(std::string_view text) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid time '" + std::string(text) +
                       "': expected RFC 3339 such as 2026-11-24T10:00:00Z");
}

class RealClock final : public Clock {
 public:
  Timestamp Now() override {
    return std::chrono::time_point_cast<nanoseconds>(
        std::chrono::system_clock::now());
  }
};

}  // namespace

std::string FormatTime(Timestamp t) {
  auto day = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd(day);
  auto in_day = t - day;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(in_day);
  int64_t frac = (in_day - secs).count();
  std::chrono::hh_mm_ss hms(secs);

  char buf[64];
  int n = std::snprintf(
      buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
      static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    if (frac % 1000000 == 0) {
      n = std::snprintf(buf, sizeof(buf), ".%03lld",
                        static_cast<long long>(frac / 1000000));
    } else if (frac % 1000 == 0) {
      n = std::snprintf(buf, sizeof(buf), ".%06lld",
                        static_cast<long long>(frac / 1000));
    } else {
      n = std::snprintf(buf, sizeof(buf), ".%09lld",
                        static_cast<long long>(frac));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  out += 'Z';
  return out;
}

Result<Timestamp> ParseTime(std::string_view text) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!ParseDigits(text, pos, 4, year) || !Expect(text, pos, '-') ||
      !ParseDigits(text, pos, 2, month) || !Expect(text, pos, '-') ||
      !ParseDigits(text, pos, 2, day)) {
    return BadTime(text);
  }
  if (pos >= text.size() ||
      (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
    return BadTime(text);
  }
  ++pos;
  if (!ParseDigits(text, pos, 2, hour) || !Expect(text, pos, ':') ||
      !ParseDigits(text, pos, 2, minute) || !Expect(text, pos, ':') ||
      !ParseDigits(text, pos, 2, second)) {
    return BadTime(text);
  }
  int64_t frac_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits == 9) return BadTime(text);
      frac_ns = frac_ns * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return BadTime(text);
    for (size_t i = digits; i < 9; ++i) frac_ns *= 10;
  }
  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh, om;
    if (!ParseDigits(text, pos, 2, oh) || !Expect(text, pos, ':') ||
        !ParseDigits(text, pos, 2, om) || oh > 23 || om > 59) {
      return BadTime(text);
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return BadTime(text);
  }
  if (pos != text.size()) return BadTime(text);

  std::chrono::year_month_day ymd{
      std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
      std::chrono::day(static_cast<unsigned>(day))};
  // A leap second (60) is accepted and folded into the next second, as most
  // systems do.
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60)
    return BadTime(text);
  // Nanoseconds in an int64 reach from 1677-09-21 to 2262-04-11.
  if (year < 1678 || year > 2261) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "time '" + std::string(text) +
                         "' is out of range (years 1678 to 2261)");
  }
  Timestamp t = std::chrono::sys_days(ymd) + std::chrono::hours(hour) +
                std::chrono::minutes(minute) + std::chrono::seconds(second) +
                nanoseconds(frac_ns) - std::chrono::minutes(offset_minutes);
  return t;
}

Result<nanoseconds> ParseDuration(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end,
                        static_cast<size_t>(text.data() + text.size() - end));
  auto bad = [&] {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "invalid duration '" + std::string(text) +
            "': expected a count and a unit (ms, s, m, h, d), e.g. 15m");
  };
  if (ec != std::errc() || end == text.data() || value < 0) return bad();
  int64_t unit_ns;
  if (unit == "ms") {
    unit_ns = 1'000'000;
  } else if (unit == "s") {
    unit_ns = 1'000'000'000;
  } else if (unit == "m") {
    unit_ns = 60'000'000'000;
  } else if (unit == "h") {
    unit_ns = 3'600'000'000'000;
  } else if (unit == "d") {
    unit_ns = 86'400'000'000'000;
  } else {
    return bad();
  }
  if (value > INT64_MAX / unit_ns) return bad();
  return nanoseconds(value * unit_ns);
}

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

}  // namespace wmeta

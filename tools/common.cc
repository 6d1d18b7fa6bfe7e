#include "common.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cctype>
#include <charconv>

namespace wmeta::tools {

int Fail(const Error& error) {
  fmt::print(stderr, "wmeta: {}\n", error.ToString());
  return 1;
}

Result<std::unique_ptr<log::Log>> OpenLog(const GlobalOptions& global,
                                          bool read_only) {
  log::Options options;
  options.read_only = read_only;
  WMETA_ASSIGN_OR_RETURN(options.durability,
                         log::Durability::Parse(global.durability));
  return log::Log::Open(global.data_dir, options);
}

Result<std::unique_ptr<store::Store>> OpenStore(const GlobalOptions& global,
                                                bool read_only) {
  store::Options options;
  options.log.read_only = read_only;
  WMETA_ASSIGN_OR_RETURN(options.log.durability,
                         log::Durability::Parse(global.durability));
  return store::Store::Open(global.data_dir, options);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

Result<Timestamp> ParseTimeOrSpan(std::string_view text) {
  if (auto t = ParseTime(text)) return *t;
  if (auto d = ParseDuration(text)) return SystemClock().Now() - *d;
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid time '" + std::string(text) +
                       "': expected RFC 3339 (2026-11-24T03:00:00Z) or a span "
                       "back from now (15m)");
}

Result<uint64_t> ResolvePoint(log::Log& log, const Point& point) {
  uint64_t offset = 0;
  auto [end, ec] = std::from_chars(
      point.text.data(), point.text.data() + point.text.size(), offset);
  if (ec == std::errc() && end == point.text.data() + point.text.size()) {
    return offset;
  }
  WMETA_ASSIGN_OR_RETURN(Timestamp time, ParseTimeOrSpan(point.text));
  WMETA_ASSIGN_OR_RETURN(uint64_t after,
                         log.OffsetAtTime(time + std::chrono::nanoseconds(1)));
  return after - 1;
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

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes)
                   : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

Progress::Progress(std::string label)
    : label_(std::move(label)), enabled_(isatty(2) != 0) {}

Progress::~Progress() {
  if (shown_) fmt::print(stderr, "\r\033[K");
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  shown_ = true;
  double pct = total == 0 ? 100.0
                          : 100.0 * static_cast<double>(done) /
                                static_cast<double>(total);
  fmt::print(stderr, "\r{}: {}/{} records ({:.0f}%)", label_, done, total, pct);
}

}  // namespace wmeta::tools

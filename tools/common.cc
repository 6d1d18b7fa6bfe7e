#include "common.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <csignal>

#include "client.h"

namespace wmeta::tools {

int Fail(const Error& error) {
  fmt::print(stderr, "wmeta: {}\n", error.ToString());
  return 1;
}

Result<std::unique_ptr<log::Log>> OpenLog(const GlobalOptions& global,
                                          bool for_verify) {
  log::Options options;
  options.read_only = true;
  options.for_verify = for_verify;
  WMETA_ASSIGN_OR_RETURN(options.durability,
                         log::Durability::Parse(global.durability));
  return log::Log::Open(global.data_dir, options);
}

bool IsRemote(const GlobalOptions& global) {
  return !global.socket.empty() || !global.tcp.empty();
}

Result<std::unique_ptr<Backend>> OpenBackend(const GlobalOptions& global,
                                             bool read_only) {
  if (IsRemote(global)) {
    ClientOptions options;
    options.socket_path = global.socket;
    options.tcp = global.tcp;
    options.token = global.token;
    WMETA_ASSIGN_OR_RETURN(auto client, Client::Connect(options));
    return NewRemoteBackend(std::move(client));
  }
  store::Options options;
  options.log.read_only = read_only;
  WMETA_ASSIGN_OR_RETURN(options.log.durability,
                         log::Durability::Parse(global.durability));
  auto store = store::Store::Open(global.data_dir, options);
  if (!store && store.error().code == ErrorCode::kBusy) {
    // The data dir's writer is most likely its wmetad: writes go through it
    // rather than fail.
    GlobalOptions through = global;
    through.socket = global.data_dir + "/wmetad.sock";
    if (auto daemon = OpenBackend(through, read_only)) return daemon;
  }
  if (!store) return std::unexpected(store.error());
  return NewLocalBackend(std::move(*store), global.data_dir, global.durability);
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

namespace {

std::optional<uint64_t> ParseOffset(std::string_view text) {
  uint64_t offset = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), offset);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return offset;
}

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int) { interrupted = true; }

// "null" for an absent value in JSON output.
std::string JsonOrNull(const std::string& json) {
  return json.empty() ? "null" : json;
}

}  // namespace

void CatchInterrupts() {
  interrupted = false;
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
}

bool Interrupted() { return interrupted; }

Result<PointSpec> ParsePoint(const Point& point) {
  if (auto offset = ParseOffset(point.text)) return PointSpec{*offset, {}};
  WMETA_ASSIGN_OR_RETURN(Timestamp time, ParseTimeOrSpan(point.text));
  return PointSpec{{}, time};
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

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string ChangesJson(
    const std::vector<store::HistoryEntry::FieldChange>& changes) {
  std::string out = "[";
  for (const auto& c : changes) {
    if (out.size() > 1) out += ",";
    out +=
        fmt::format("{{\"path\":{},\"before\":{},\"after\":{}}}", Quote(c.path),
                    JsonOrNull(c.before), JsonOrNull(c.after));
  }
  return out + "]";
}

std::string SourcesOf(const EntityInfo& entity) {
  std::string out;
  for (const auto& layer : entity.layers) {
    if (!out.empty()) out += ",";
    out += layer->view().source();
  }
  return out;
}

Result<std::string> EntityInfoJson(JsonCodec& codec, const EntityInfo& entity,
                                   bool details) {
  WMETA_ASSIGN_OR_RETURN(std::string json,
                         codec.EntityToJson(entity.merged->view()));
  std::string out = fmt::format(
      "{{\"entity\":{},\"create_offset\":{},\"mod_offset\":{},\"version\":{},"
      "\"sources\":{}",
      json, entity.create_offset, entity.mod_offset(), entity.version,
      Quote(SourcesOf(entity)));
  if (details) {
    out += ",\"provenance\":{";
    bool first = true;
    for (const auto& [path, source] : entity.provenance) {
      out += (first ? "" : ",") + Quote(path) + ":" + Quote(source);
      first = false;
    }
    out += "},\"layers\":{";
    first = true;
    for (const auto& layer : entity.layers) {
      WMETA_ASSIGN_OR_RETURN(std::string layer_json,
                             codec.EntityToJson(layer->view()));
      out +=
          (first ? "" : ",") + Quote(layer->view().source()) + ":" + layer_json;
      first = false;
    }
    out += "}";
  }
  return out + "}";
}

std::string HistoryEntryJson(const store::HistoryEntry& entry) {
  EventView r = entry.record->view();
  return fmt::format(
      "{{\"offset\":{},\"ingest_time\":{},\"source\":{},\"type\":\"{}\","
      "\"exists\":{},\"changes\":{}}}",
      r.offset(), Quote(FormatTime(r.ingest_time())), Quote(r.source()),
      EventTypeName(r.type()), entry.exists, ChangesJson(entry.changes));
}

Result<std::string> MessageJson(JsonCodec& codec,
                                const store::Message& message) {
  switch (message.type) {
    case store::Message::Type::kSnapshotEnd:
      return fmt::format("{{\"snapshot_end\":{}}}", message.offset);
    case store::Message::Type::kBookmark:
      return fmt::format("{{\"bookmark\":{}}}", message.offset);
    case store::Message::Type::kEvent:
      break;
  }
  WMETA_ASSIGN_OR_RETURN(std::string json,
                         codec.EventToJson(message.event->view()));
  // Merged entities carry the offset of the record that reported them.
  return fmt::format("{{\"offset\":{},\"type\":\"{}\",\"event\":{}}}",
                     message.offset, EventTypeName(message.event_type), json);
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
    : label_(std::move(label)),
      enabled_(isatty(2) != 0),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (shown_) fmt::print(stderr, "\r\033[K");
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  shown_ = true;
  fmt::print(stderr, "\r\033[K{}",
             ProgressLine(label_, done, total, now - start_));
}

namespace {

// 950, 12.3k, 4.5M: a rate at a glance.
std::string HumanCount(double n) {
  if (n < 1e3) return fmt::format("{:.0f}", n);
  if (n < 1e6) return fmt::format("{:.1f}k", n / 1e3);
  return fmt::format("{:.1f}M", n / 1e6);
}

}  // namespace

std::string ProgressLine(std::string_view label, uint64_t done, uint64_t total,
                         std::chrono::duration<double> elapsed) {
  constexpr int kWidth = 20;
  double fraction = total == 0 ? 1.0
                               : std::min(1.0, static_cast<double>(done) /
                                                   static_cast<double>(total));
  int filled = static_cast<int>(fraction * kWidth);
  // Rounded down, like the bar: 100% only when done.
  std::string line =
      fmt::format("{} [{}{}] {}% {}/{} records", label,
                  std::string(filled, '#'), std::string(kWidth - filled, '-'),
                  static_cast<int>(100 * fraction), done, total);
  double seconds = elapsed.count();
  // A rate needs some time and some records behind it to mean anything.
  if (seconds < 0.1 || done == 0) return line;
  double rate = static_cast<double>(done) / seconds;
  line += ", " + HumanCount(rate) + "/s";
  if (done < total) {
    auto eta = static_cast<uint64_t>(static_cast<double>(total - done) / rate);
    line += eta >= 3600
                ? fmt::format(", ETA {}h{:02}m", eta / 3600, eta % 3600 / 60)
            : eta >= 60 ? fmt::format(", ETA {}m{:02}s", eta / 60, eta % 60)
                        : fmt::format(", ETA {}s", eta);
  }
  return line;
}

}  // namespace wmeta::tools

#include "common.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <csignal>

#include "wmeta/tools/client/client.h"

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

namespace {

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int) { interrupted = true; }

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

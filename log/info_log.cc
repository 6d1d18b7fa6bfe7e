#include "info_log.h"

#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>

namespace wmeta::log::internal {
namespace {

rocksdb::InfoLogLevel ToRocks(InfoLog::Level level) {
  switch (level) {
    case InfoLog::Level::kDebug:
      return rocksdb::InfoLogLevel::DEBUG_LEVEL;
    case InfoLog::Level::kInfo:
      return rocksdb::InfoLogLevel::INFO_LEVEL;
    case InfoLog::Level::kWarn:
      return rocksdb::InfoLogLevel::WARN_LEVEL;
    case InfoLog::Level::kError:
      break;
  }
  return rocksdb::InfoLogLevel::ERROR_LEVEL;
}

InfoLog::Level FromRocks(rocksdb::InfoLogLevel level) {
  switch (level) {
    case rocksdb::InfoLogLevel::DEBUG_LEVEL:
      return InfoLog::Level::kDebug;
    case rocksdb::InfoLogLevel::INFO_LEVEL:
    case rocksdb::InfoLogLevel::HEADER_LEVEL:
      return InfoLog::Level::kInfo;
    case rocksdb::InfoLogLevel::WARN_LEVEL:
      return InfoLog::Level::kWarn;
    default:
      return InfoLog::Level::kError;
  }
}

class InfoLogger final : public rocksdb::Logger {
 public:
  explicit InfoLogger(InfoLog info_log)
      : rocksdb::Logger(info_log.sink
                            ? ToRocks(info_log.level)
                            : rocksdb::InfoLogLevel::NUM_INFO_LOG_LEVELS),
        info_log_(std::move(info_log)) {}

  // RocksDB calls this form for messages without a level (and its headers).
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (!info_log_.sink || level < GetInfoLogLevel()) return;
    char buffer[1024];
    va_list copy;
    va_copy(copy, ap);
    int n = std::vsnprintf(buffer, sizeof(buffer), format, copy);
    va_end(copy);
    if (n < 0) return;
    std::string long_message;
    std::string_view message(buffer, static_cast<size_t>(n));
    if (static_cast<size_t>(n) >= sizeof(buffer)) {
      long_message.resize(static_cast<size_t>(n) + 1);
      std::vsnprintf(long_message.data(), long_message.size(), format, ap);
      long_message.resize(static_cast<size_t>(n));
      message = long_message;
    }
    // Some of RocksDB's messages end in a newline; the sink adds its own.
    while (message.ends_with('\n')) message.remove_suffix(1);
    info_log_.sink(FromRocks(level), message);
  }

 private:
  const InfoLog info_log_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewInfoLogger(InfoLog info_log) {
  return std::make_shared<InfoLogger>(std::move(info_log));
}

}  // namespace wmeta::log::internal

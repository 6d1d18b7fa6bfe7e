// Helpers shared by the CLI's commands. Private to tools/.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wmeta/log/log.h"
#include "wmeta/schema/error.h"
#include "wmeta/store/store.h"
#include "wmeta/tools/commands.h"

namespace wmeta::tools {

// Prints `error` on stderr; returns the exit code of a failed command, 1.
int Fail(const Error& error);

Result<std::unique_ptr<log::Log>> OpenLog(const GlobalOptions& global,
                                          bool read_only);
Result<std::unique_ptr<store::Store>> OpenStore(const GlobalOptions& global,
                                                bool read_only);

std::string_view Trim(std::string_view s);

// An RFC 3339 time, or a span back from now such as 15m.
Result<Timestamp> ParseTimeOrSpan(std::string_view text);

// The offset a Point names in `log`: the offset itself, or the last record
// ingested at or before the time (0 when none).
Result<uint64_t> ResolvePoint(log::Log& log, const Point& point);

// "512MiB", "2GB", "1000" (bytes); kInvalidArgument otherwise.
Result<uint64_t> ParseBytes(std::string_view text);

std::string HumanBytes(uint64_t bytes);

// Progress of a long command on a terminal (stderr), at most every 200 ms;
// silent when stderr is not a terminal.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void Update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace wmeta::tools

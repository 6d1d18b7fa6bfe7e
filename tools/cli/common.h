// Helpers shared by the CLI's commands. Private to tools/cli/.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "wmeta/log/log.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/json.h"
#include "wmeta/store/store.h"
#include "wmeta/tools/api/args.h"
#include "wmeta/tools/api/backend.h"
#include "wmeta/tools/api/envelopes.h"
#include "wmeta/tools/cli/commands.h"

namespace wmeta::tools {

// Prints `error` on stderr; returns the exit code of a failed command, 1.
int Fail(const Error& error);

// The data dir's log, read-only; `for_verify` as log::Options has it.
Result<std::unique_ptr<log::Log>> OpenLog(const GlobalOptions& global,
                                          bool for_verify = false);
// Whether the command goes to a running wmetad rather than a data dir.
bool IsRemote(const GlobalOptions& global);
// A running wmetad (--socket, --tcp), or the store in the data dir.
Result<std::unique_ptr<Backend>> OpenBackend(const GlobalOptions& global,
                                             bool read_only);

std::string_view Trim(std::string_view s);

// An offset ("42"), an RFC 3339 time or a span back from now.
Result<PointSpec> ParsePoint(const Point& point);

std::string HumanBytes(uint64_t bytes);

// From now on Ctrl-C and SIGTERM set a flag, which Interrupted() reads,
// instead of ending the process: for commands that stop cleanly (a blocking
// read returns early with EINTR).
void CatchInterrupts();
bool Interrupted();

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
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// "replay [########------------] 40% 400000/1000000 records, 210k/s, ETA 3s":
// the line Progress shows, `elapsed` after it started.
std::string ProgressLine(std::string_view label, uint64_t done, uint64_t total,
                         std::chrono::duration<double> elapsed);

}  // namespace wmeta::tools

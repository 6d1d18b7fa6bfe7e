// Helpers shared by the CLI's commands and the daemon's HTTP API. Private to
// tools/.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backend.h"
#include "wmeta/log/log.h"
#include "wmeta/schema/error.h"
#include "wmeta/schema/json.h"
#include "wmeta/store/store.h"
#include "wmeta/tools/commands.h"

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

// An RFC 3339 time, or a span back from now such as 15m.
Result<Timestamp> ParseTimeOrSpan(std::string_view text);

// An offset ("42"), an RFC 3339 time or a span back from now.
Result<PointSpec> ParsePoint(const Point& point);

// Where a watch starts: "snapshot", "latest", an offset, or a time (RFC 3339
// or a span back from now); sets from, offset and time of `watch`.
Status ParseWatchFrom(std::string_view from, WatchRequest& watch);

// JSON text for a string: quoted, with the escapes JSON requires.
std::string Quote(std::string_view s);
// [{"path":..,"before":..,"after":..}], absent values as null.
std::string ChangesJson(
    const std::vector<store::HistoryEntry::FieldChange>& changes);
// {"entity":..,"create_offset":..,"mod_offset":..,"version":..,"sources":..},
// with "provenance" and "layers" when `details`.
Result<std::string> EntityInfoJson(JsonCodec& codec, const EntityInfo& entity,
                                   bool details);
// The sources of an entity's layers, comma-separated, highest first.
std::string SourcesOf(const EntityInfo& entity);
// {"offset":..,"ingest_time":..,"source":..,"type":..,"exists":..,
//  "changes":[..]}.
std::string HistoryEntryJson(const store::HistoryEntry& entry);
// A subscription message as one NDJSON line (without the newline):
// {"offset":..,"type":..,"event":..}, {"snapshot_end":..} or {"bookmark":..}.
Result<std::string> MessageJson(JsonCodec& codec,
                                const store::Message& message);

// "512MiB", "2GB", "1000" (bytes); kInvalidArgument otherwise.
Result<uint64_t> ParseBytes(std::string_view text);

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

// The wmeta CLI's commands on a data dir, as functions that return the process
// exit code (0 ok, 1 failure; usage errors, 2, are caught by the argument
// parser before these run). Output goes to stdout, diagnostics to stderr.
// Separate from argument parsing so that the heavy CLI11 header stays in one
// translation unit.
//
// Thread-safety: each command runs on the calling thread; do not run two at
// once.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace wmeta::tools {

struct GlobalOptions {
  std::string data_dir;
  // sync, interval:<ms> or none.
  std::string durability = "sync";
};

// $WMETA_DATA_DIR, else /var/lib/wmeta for root, else $XDG_STATE_HOME/wmeta
// (~/.local/state/wmeta).
std::string DefaultDataDir();

struct PushOptions {
  // Used for events that name no source.
  std::string source;
  // A file of NDJSON events, or "-" for stdin.
  std::string file = "-";
  // Events per atomic batch.
  size_t batch = 1000;
  bool json = false;
};
int RunPush(const GlobalOptions& global, const PushOptions& options);

struct LogOptions {
  std::optional<uint64_t> from;
  std::optional<uint64_t> to;
  // RFC 3339, or a span back from now such as 15m.
  std::string since;
  std::string kind;
  bool json = false;
};
int RunLog(const GlobalOptions& global, const LogOptions& options);

struct VerifyOptions {
  bool json = false;
};
int RunVerify(const GlobalOptions& global, const VerifyOptions& options);

struct StatsOptions {
  bool json = false;
};
int RunStats(const GlobalOptions& global, const StatsOptions& options);

}  // namespace wmeta::tools

// The wmeta CLI's commands, on a data dir or against a running wmetad, as
// functions that return the process exit code (0 ok, 1 failure; usage errors,
// 2, are caught by the argument parser before these run). Output goes to
// stdout, diagnostics to stderr. Separate from argument parsing so that the
// heavy CLI11 header stays in one translation unit.
//
// Thread-safety: each command runs on the calling thread; do not run two at
// once.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wmeta::tools {

struct GlobalOptions {
  std::string data_dir;
  // sync, interval:<ms> or none.
  std::string durability = "sync";
  // A running wmetad's unix socket or TCP address; either replaces data_dir.
  std::string socket;
  std::string tcp;
  // For a wmetad TCP listener that requires one.
  std::string token;
};

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

// A point in the log: an offset ("42"), an RFC 3339 time, or a span back from
// now ("15m"); a time stands for the last record ingested at or before it.
struct Point {
  std::string text;
};

struct ListOptions {
  std::string kind;
  // A substring of the id, name or namespace.
  std::string search;
  // Kubernetes-style: "app=web,tier!=db,release,!canary".
  std::string selector;
  // "KIND/ID": only what it owns (the processes of container/ID).
  std::string owner;
  // The view after this point instead of now.
  std::optional<Point> at;
  // Show each entity's sources and the source of each field.
  bool sources = false;
  bool json = false;
};
int RunList(const GlobalOptions& global, const ListOptions& options);

struct GetOptions {
  // KIND/ID.
  std::string entity;
  std::optional<Point> at;
  bool sources = false;
  bool json = false;
};
int RunGet(const GlobalOptions& global, const GetOptions& options);

struct HistoryOptions {
  std::string entity;
  bool json = false;
};
int RunHistory(const GlobalOptions& global, const HistoryOptions& options);

struct DiffOptions {
  Point from;
  Point to;
  bool json = false;
};
int RunDiff(const GlobalOptions& global, const DiffOptions& options);

struct WatchOptions {
  // "snapshot", "latest", an offset, or a time (RFC 3339 or a span back).
  std::string from = "snapshot";
  std::vector<std::string> kinds;
  std::vector<std::string> sources;
  bool raw = false;
  // Stop after this many events (0: never; Ctrl-C ends it too).
  uint64_t limit = 0;
  bool json = false;
};
int RunWatch(const GlobalOptions& global, const WatchOptions& options);

struct CaptureOptions {
  // An offset or a time (RFC 3339 or a span back); empty: the first record.
  std::string from;
  // An offset or a time; empty: the last record as of the start.
  std::string to;
  std::vector<std::string> kinds;
  std::vector<std::string> sources;
  std::string output;
  // "zstd" (default) or "none".
  std::string compression = "zstd";
  // Check this capture file instead of writing one.
  std::string verify;
  bool json = false;
};
// Writes the log's records in [from, to] (kinds, sources) to a capture file
// (replay/FORMAT.md), or with `verify` checks one.
int RunCapture(const GlobalOptions& global, const CaptureOptions& options);

struct ReplayOptions {
  std::string file;
  bool original_timing = false;
  double speed = 1.0;
  size_t batch = 1000;
  bool json = false;
  // A golden state (`wmeta list --json` output): replay into a scratch store
  // instead, and compare its view with it (exit 1 on a difference).
  std::string expect;
  // OFFSET=GOLDEN: also (or only) compare the scratch store's view as of
  // OFFSET, its own offsets counting from 1, with GOLDEN.
  std::vector<std::string> expect_at;
};
// Appends a capture's records to the data dir or daemon of `global`, as if
// from their original sources, keeping where each was first appended.
int RunReplay(const GlobalOptions& global, const ReplayOptions& options);

struct CheckpointOptions {
  bool json = false;
};
int RunCheckpoint(const GlobalOptions& global,
                  const CheckpointOptions& options);

struct RetentionOptions {
  // Spans such as 7d; counts; sizes such as 512MiB. Unset: no limit.
  std::string max_age;
  uint64_t max_records = 0;
  std::string max_bytes;
  bool json = false;
};
int RunRetention(const GlobalOptions& global, const RetentionOptions& options);

struct RecoverOptions {
  // Required: the command gives the store a new id.
  bool accept_loss = false;
  bool json = false;
};
// store::Store::AcceptLoss on the data dir of `global` (never through a
// daemon: it needs the data dir to itself).
int RunRecover(const GlobalOptions& global, const RecoverOptions& options);

}  // namespace wmeta::tools

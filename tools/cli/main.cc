// wmeta: the command-line client. Argument parsing only; the commands live in
// commands.cc.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "wmeta/log/log.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"
#include "wmeta/tools/api/args.h"
#include "wmeta/tools/cli/commands.h"

namespace {

// An RFC 3339 time or a span back from now.
const CLI::Validator kTimeCheck(
    [](std::string& value) -> std::string {
      if (wmeta::ParseTime(value) || wmeta::ParseDuration(value)) return "";
      return "expected an RFC 3339 time (2026-11-24T03:00:00Z) or a span (15m)";
    },
    "TIME");

const CLI::Validator kDurationCheck(
    [](std::string& value) -> std::string {
      auto span = wmeta::ParseDuration(value);
      return span ? "" : span.error().message;
    },
    "SPAN");

int Run(int argc, char** argv) {
  using wmeta::tools::GlobalOptions;
  CLI::App app{
      "wmeta: the node-local workload metadata store, on a data dir or "
      "through a running wmetad"};
  app.require_subcommand(1);
  GlobalOptions global;
  global.data_dir = wmeta::tools::DefaultDataDir();
  app.add_option("--data-dir", global.data_dir, "The store's data dir")
      ->capture_default_str();
  app.add_option("--durability", global.durability,
                 "For writes: sync, interval:<ms> or none")
      ->check([](const std::string& value) -> std::string {
        auto parsed = wmeta::log::Durability::Parse(value);
        return parsed ? "" : parsed.error().message;
      })
      ->capture_default_str();
  auto* socket = app.add_option(
      "--socket", global.socket,
      "Talk to the wmetad listening on this unix socket instead of opening "
      "the data dir");
  app.add_option("--tcp", global.tcp,
                 "Talk to the wmetad listening on this HOST:PORT")
      ->excludes(socket);
  app.add_option("--token", global.token,
                 "The token a wmetad TCP listener requires")
      ->envname("WMETA_TOKEN");

  std::vector<std::string> kinds;
  for (wmeta::Kind kind : wmeta::kAllKinds)
    kinds.emplace_back(wmeta::KindName(kind));

  wmeta::tools::PushOptions push;
  auto* push_cmd = app.add_subcommand(
      "push",
      "Append NDJSON events, all or nothing: every line is validated first");
  push_cmd->add_option("file", push.file, "NDJSON file, or - for stdin")
      ->capture_default_str();
  push_cmd->add_option("--source", push.source,
                       "Source of events that name none");
  push_cmd->add_option("--batch", push.batch, "Events per atomic batch")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  push_cmd->add_flag("--json", push.json, "Print the result as JSON");

  wmeta::tools::LogOptions log;
  auto* log_cmd = app.add_subcommand("log", "Print the records of the log");
  log_cmd->add_option("--from", log.from,
                      "First offset (default: the first available)");
  log_cmd->add_option("--to", log.to, "Last offset (default: the last)");
  log_cmd
      ->add_option("--since", log.since,
                   "Start at the first record ingested at or after this time "
                   "(RFC 3339, or a span back from now such as 15m)")
      ->check(kTimeCheck);
  log_cmd->add_option("--kind", log.kind, "Only records about this kind")
      ->check(CLI::IsMember(kinds));
  log_cmd->add_flag("--json", log.json, "One JSON object per line");

  auto add_at = [](CLI::App* cmd, std::optional<wmeta::tools::Point>& at) {
    auto* offset = cmd->add_option_function<uint64_t>(
        "--at",
        [&at](uint64_t o) { at = wmeta::tools::Point{std::to_string(o)}; },
        "The view after this offset instead of now");
    cmd->add_option_function<std::string>(
           "--at-time",
           [&at](const std::string& t) { at = wmeta::tools::Point{t}; },
           "The view with every record ingested at or before this time (RFC "
           "3339, or a "
           "span back from now such as 15m)")
        ->check(kTimeCheck)
        ->excludes(offset);
  };

  wmeta::tools::ListOptions list;
  auto* list_cmd =
      app.add_subcommand("list", "List merged entities (now, or in the past)");
  list_cmd->add_option("--kind", list.kind, "Only this kind")
      ->check(CLI::IsMember(kinds));
  list_cmd->add_option("--search", list.search,
                       "A substring of the id, name or namespace");
  list_cmd->add_option("--selector", list.selector,
                       "Label selector: app=web,tier!=db,release,!canary");
  list_cmd->add_option("--owner", list.owner,
                       "Only what KIND/ID owns: the processes of a container "
                       "(container/ID), the containers of a pod");
  add_at(list_cmd, list.at);
  list_cmd->add_flag("--sources", list.sources,
                     "Show sources and where each field came from");
  list_cmd->add_flag("--json", list.json, "One JSON entity per line");

  wmeta::tools::GetOptions get;
  auto* get_cmd = app.add_subcommand("get", "Show one merged entity");
  get_cmd->add_option("entity", get.entity, "KIND/ID")->required();
  add_at(get_cmd, get.at);
  get_cmd->add_flag("--sources", get.sources,
                    "Show each source's layer and each field's source");
  get_cmd->add_flag("--json", get.json, "Print as JSON");

  wmeta::tools::HistoryOptions history;
  auto* history_cmd = app.add_subcommand(
      "history", "Every record about an entity, with what each changed");
  history_cmd->add_option("entity", history.entity, "KIND/ID")->required();
  history_cmd->add_flag("--json", history.json, "One JSON object per record");

  wmeta::tools::DiffOptions diff;
  auto* diff_cmd = app.add_subcommand(
      "diff", "Entities added, removed and changed between two points");
  diff_cmd
      ->add_option_function<std::string>(
          "--from", [&](const std::string& v) { diff.from.text = v; },
          "An offset, an RFC 3339 time, or a span back from now")
      ->required();
  diff_cmd
      ->add_option_function<std::string>(
          "--to", [&](const std::string& v) { diff.to.text = v; }, "Likewise")
      ->required();
  diff_cmd->add_flag("--json", diff.json, "One JSON object per entity");

  wmeta::tools::WatchOptions watch;
  auto* watch_cmd =
      app.add_subcommand("watch",
                         "Follow changes: from a snapshot, an offset, a time "
                         "or now (Ctrl-C ends it)");
  watch_cmd
      ->add_option(
          "--from", watch.from,
          "snapshot, latest, an offset, or a time (RFC 3339 or a span back)")
      ->capture_default_str();
  watch_cmd->add_option("--kind", watch.kinds, "Only these kinds (repeatable)")
      ->check(CLI::IsMember(kinds));
  watch_cmd->add_option(
      "--source", watch.sources,
      "Only these sources' records, with their own layers (repeatable)");
  watch_cmd->add_flag("--raw", watch.raw,
                      "The log's records themselves, not merged entities");
  watch_cmd->add_option("--limit", watch.limit, "Stop after this many events");
  watch_cmd->add_flag("--json", watch.json, "One JSON object per line");

  wmeta::tools::CaptureOptions capture;
  auto* capture_cmd = app.add_subcommand(
      "capture",
      "Write the log's records from --from to --to into a capture file "
      "(-o), or check one (--verify)");
  capture_cmd->add_option("--from", capture.from,
                          "An offset or a time (default: the first record)");
  capture_cmd->add_option(
      "--to", capture.to,
      "An offset or a time (default: the last record as of now)");
  capture_cmd
      ->add_option("--kind", capture.kinds, "Only these kinds (repeatable)")
      ->check(CLI::IsMember(kinds));
  capture_cmd->add_option("--source", capture.sources,
                          "Only these sources' records (repeatable)");
  auto* capture_out = capture_cmd->add_option("-o,--output", capture.output,
                                              "The file to write");
  capture_cmd->add_option("--verify", capture.verify, "Check this capture file")
      ->excludes(capture_out);
  capture_cmd
      ->add_option("--compression", capture.compression,
                   "How blocks are compressed: zstd or none")
      ->check(CLI::IsMember({"zstd", "none"}))
      ->capture_default_str();
  capture_cmd->add_flag("--json", capture.json, "Print the summary as JSON");

  wmeta::tools::ReplayOptions replay;
  auto* replay_cmd = app.add_subcommand(
      "replay",
      "Append a capture's records to a data dir (--into, --data-dir) or a "
      "running wmetad (--socket), as if from their sources; or run a "
      "collector again from its input recording (wmetad --record-input)");
  replay_cmd
      ->add_option("file", replay.file,
                   "A capture file, or a collector input recording")
      ->required();
  replay_cmd->add_option("--into", global.data_dir,
                         "The data dir to replay into (as --data-dir)");
  replay_cmd->add_flag("--original-timing", replay.original_timing,
                       "Pace the records as they were first appended");
  replay_cmd
      ->add_option("--speed", replay.speed,
                   "With --original-timing: this many times faster")
      ->check(CLI::PositiveNumber);
  replay_cmd
      ->add_option("--batch", replay.batch,
                   "Events per append when not paced (default 1000)")
      ->check(CLI::Range(1, 100000));
  replay_cmd->add_flag("--json", replay.json, "Print the summary as JSON");
  replay_cmd->add_option(
      "--expect", replay.expect,
      "Replay into a scratch store and compare its view with this golden "
      "(`wmeta list --json` output); exit 1 on a difference");
  replay_cmd->add_option(
      "--expect-at", replay.expect_at,
      "OFFSET=GOLDEN: also compare the scratch store's view as of OFFSET (its "
      "own offsets, from 1) with GOLDEN; repeatable");

  wmeta::tools::CheckpointOptions checkpoint;
  auto* checkpoint_cmd =
      app.add_subcommand("checkpoint", "Write a checkpoint of the view now");
  checkpoint_cmd->add_flag("--json", checkpoint.json, "Print as JSON");

  wmeta::tools::RetentionOptions retention;
  auto* retention_cmd = app.add_subcommand(
      "retention", "Remove old records, in one range up to a checkpoint");
  retention_cmd
      ->add_option("--max-age", retention.max_age,
                   "Keep records younger than this (e.g. 7d)")
      ->check(kDurationCheck);
  retention_cmd->add_option("--max-records", retention.max_records,
                            "Keep at most this many");
  retention_cmd->add_option("--max-bytes", retention.max_bytes,
                            "Keep at most this much (e.g. 512MiB)");
  retention_cmd->add_flag("--json", retention.json, "Print as JSON");

  wmeta::tools::VerifyOptions verify;
  auto* verify_cmd = app.add_subcommand(
      "verify", "Check every record and index entry; exit 1 on any problem");
  verify_cmd->add_flag("--json", verify.json, "Print the summary as JSON");

  wmeta::tools::RecoverOptions recover;
  auto* recover_cmd = app.add_subcommand(
      "recover",
      "After damage that makes wmetad refuse the data dir because acknowledged "
      "records are missing (a damaged, truncated or deleted WAL): keep what "
      "can be read, under a new store id");
  recover_cmd
      ->add_flag("--accept-loss", recover.accept_loss,
                 "Accept that the missing records are gone; consumers holding "
                 "offsets of the old store then get store_mismatch")
      ->required();
  recover_cmd->add_flag("--json", recover.json, "Print the result as JSON");

  wmeta::tools::StatsOptions stats;
  auto* stats_cmd =
      app.add_subcommand("stats", "Record count, offsets, size, store id");
  stats_cmd->add_flag("--json", stats.json, "Print as JSON");

  try {
    app.parse(argc, argv);
    if (log.from && log.to && *log.to < *log.from) {
      throw CLI::ValidationError("--to", "must not be below --from");
    }
    if (*capture_cmd && capture.output.empty() && capture.verify.empty()) {
      throw CLI::ValidationError("capture", "give -o FILE or --verify FILE");
    }
    if (*retention_cmd && retention.max_age.empty() &&
        retention.max_records == 0 && retention.max_bytes.empty()) {
      throw CLI::ValidationError(
          "retention", "give --max-age, --max-records or --max-bytes");
    }
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (*push_cmd) return wmeta::tools::RunPush(global, push);
  if (*log_cmd) return wmeta::tools::RunLog(global, log);
  if (*verify_cmd) return wmeta::tools::RunVerify(global, verify);
  if (*stats_cmd) return wmeta::tools::RunStats(global, stats);
  if (*list_cmd) return wmeta::tools::RunList(global, list);
  if (*get_cmd) return wmeta::tools::RunGet(global, get);
  if (*history_cmd) return wmeta::tools::RunHistory(global, history);
  if (*diff_cmd) return wmeta::tools::RunDiff(global, diff);
  if (*watch_cmd) return wmeta::tools::RunWatch(global, watch);
  if (*capture_cmd) return wmeta::tools::RunCapture(global, capture);
  if (*replay_cmd) return wmeta::tools::RunReplay(global, replay);
  if (*checkpoint_cmd) return wmeta::tools::RunCheckpoint(global, checkpoint);
  if (*recover_cmd) return wmeta::tools::RunRecover(global, recover);
  return wmeta::tools::RunRetention(global, retention);
}

}  // namespace

int main(int argc, char** argv) {
  // Commands report their failures as values; anything thrown (out of memory, a
  // failed write to stdout) still ends in a message and exit code 1, not abort.
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wmeta: internal error: %s\n", e.what());
    return 1;
  }
}

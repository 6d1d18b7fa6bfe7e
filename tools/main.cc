// wmeta: the command-line client. Argument parsing only; the commands live in
// commands.cc.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "wmeta/log/log.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"
#include "wmeta/tools/commands.h"

namespace {

int Run(int argc, char** argv) {
  using wmeta::tools::GlobalOptions;
  CLI::App app{"wmeta: the node-local workload metadata store, on a data dir"};
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
      ->check([](const std::string& value) -> std::string {
        if (wmeta::ParseTime(value) || wmeta::ParseDuration(value)) return "";
        return "expected an RFC 3339 time (2026-11-24T03:00:00Z) or a span "
               "(15m)";
      });
  log_cmd->add_option("--kind", log.kind, "Only records about this kind")
      ->check(CLI::IsMember(kinds));
  log_cmd->add_flag("--json", log.json, "One JSON object per line");

  wmeta::tools::VerifyOptions verify;
  auto* verify_cmd = app.add_subcommand(
      "verify", "Check every record and index entry; exit 1 on any problem");
  verify_cmd->add_flag("--json", verify.json, "Print the summary as JSON");

  wmeta::tools::StatsOptions stats;
  auto* stats_cmd =
      app.add_subcommand("stats", "Record count, offsets, size, store id");
  stats_cmd->add_flag("--json", stats.json, "Print as JSON");

  try {
    app.parse(argc, argv);
    if (log.from && log.to && *log.to < *log.from) {
      throw CLI::ValidationError("--to", "must not be below --from");
    }
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (*push_cmd) return wmeta::tools::RunPush(global, push);
  if (*log_cmd) return wmeta::tools::RunLog(global, log);
  if (*verify_cmd) return wmeta::tools::RunVerify(global, verify);
  return wmeta::tools::RunStats(global, stats);
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

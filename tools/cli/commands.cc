#include "wmeta/tools/cli/commands.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <vector>

#include "common.h"
#include "wmeta/log/log.h"
#include "wmeta/schema/json.h"

namespace wmeta::tools {
namespace {

// NDJSON input that can be read twice: once to validate all of it, once to
// append.
class Input {
 public:
  static Result<Input> Open(const std::string& file) {
    Input input;
    input.name_ = file == "-" ? "<stdin>" : file;
    if (file == "-") {
      std::ostringstream all;
      all << std::cin.rdbuf();
      input.buffered_ = all.str();
    } else {
      input.path_ = file;
      std::ifstream probe(file);
      if (!probe) return MakeError(ErrorCode::kNotFound, "cannot read " + file);
    }
    return input;
  }

  const std::string& name() const { return name_; }

  // Calls fn(line_number, line) for each non-blank line until fn returns false.
  Status ForEachLine(
      const std::function<bool(size_t, std::string_view)>& fn) const {
    std::unique_ptr<std::istream> in;
    if (path_.empty()) {
      in = std::make_unique<std::istringstream>(buffered_);
    } else {
      in = std::make_unique<std::ifstream>(path_);
    }
    std::string line;
    size_t number = 0;
    while (std::getline(*in, line)) {
      ++number;
      std::string_view trimmed = Trim(line);
      if (trimmed.empty()) continue;
      if (!fn(number, trimmed)) break;
    }
    if (in->bad())
      return MakeError(ErrorCode::kIoError, "error reading " + name_);
    return {};
  }

 private:
  std::string name_;
  std::string path_;
  std::string buffered_;
};

}  // namespace

int RunPush(const GlobalOptions& global, const PushOptions& options) {
  auto input = Input::Open(options.file);
  if (!input) return Fail(input.error());

  // First pass: validate everything, so that a bad line anywhere appends
  // nothing.
  constexpr size_t kMaxErrorsShown = 20;
  JsonCodec codec;
  size_t valid = 0;
  size_t invalid = 0;
  auto scanned = input->ForEachLine([&](size_t number, std::string_view line) {
    auto event = codec.ParseEvent(line, options.source);
    if (event) {
      ++valid;
    } else if (++invalid <= kMaxErrorsShown) {
      fmt::print(stderr, "{}:{}: {}\n", input->name(), number,
                 event.error().message);
    }
    return true;
  });
  if (!scanned) return Fail(scanned.error());
  if (invalid > 0) {
    fmt::print(stderr,
               "wmeta: rejected {}: {} invalid line{}; nothing appended\n",
               input->name(), invalid, invalid == 1 ? "" : "s");
    return 1;
  }
  if (valid == 0) {
    fmt::print("no events in {}\n", input->name());
    return 0;
  }

  // Through the store, so that events that change nothing are not appended.
  auto backend = OpenBackend(global, /*read_only=*/false);
  if (!backend) return Fail(backend.error());
  std::vector<Event> batch;
  batch.reserve(options.batch);
  store::ApplyResult total;
  size_t events = 0;
  std::optional<Error> failure;
  auto flush = [&] {
    auto result = (*backend)->Push(batch);
    batch.clear();
    if (!result) {
      failure = result.error();
      return false;
    }
    if (total.first_offset == 0) total.first_offset = result->first_offset;
    if (result->last_offset != 0) total.last_offset = result->last_offset;
    total.appended += result->appended;
    total.noops += result->noops;
    total.synced = result->synced;
    return true;
  };
  auto appended = input->ForEachLine([&](size_t number, std::string_view line) {
    auto event = codec.ParseEvent(line, options.source);
    if (!event) {
      // The input changed between the two passes.
      failure = Error{
          ErrorCode::kInvalidArgument,
          fmt::format("{}:{}: {} ({} changed while it was read)", input->name(),
                      number, event.error().message, input->name())};
      return false;
    }
    ++events;
    batch.push_back(std::move(*event));
    return batch.size() < options.batch || flush();
  });
  if (!appended) {
    failure = appended.error();
  } else if (!failure && !batch.empty()) {
    flush();
  }
  if (!failure && events != valid) {
    failure = Error{ErrorCode::kInvalidArgument,
                    input->name() + " changed while it was being read"};
  }
  if (failure) {
    if (total.appended > 0) {
      fmt::print(stderr,
                 "wmeta: offsets {}..{} were appended before the failure\n",
                 total.first_offset, total.last_offset);
    }
    return Fail(*failure);
  }
  std::string durability = (*backend)->durability();
  if (options.json) {
    fmt::print(
        "{{\"first_offset\":{},\"last_offset\":{},\"appended\":{},"
        "\"noops\":{},\"durability\":\"{}\",\"synced\":{}}}\n",
        total.first_offset, total.last_offset, total.appended, total.noops,
        durability, total.synced);
    return 0;
  }
  if (total.appended > 0) {
    fmt::print("appended {} event{} at offsets {}..{} (durability {}{})",
               total.appended, total.appended == 1 ? "" : "s",
               total.first_offset, total.last_offset, durability,
               total.synced ? ": on disk" : "");
  } else {
    fmt::print("appended nothing");
  }
  if (total.noops > 0) {
    fmt::print("; {} event{} changed nothing and {} skipped", total.noops,
               total.noops == 1 ? "" : "s", total.noops == 1 ? "was" : "were");
  }
  fmt::print("\n");
  return 0;
}

namespace {

// Prints one log record; false when it cannot be shown as JSON (reported on
// stderr: one record must not hide the others).
bool PrintRecord(JsonCodec& codec, const EventView& event, bool json) {
  if (json) {
    auto text = codec.EventToJson(event);
    if (!text) {
      fmt::print(stderr, "wmeta: {}\n", text.error().ToString());
      return false;
    }
    fmt::print("{}\n", *text);
    return true;
  }
  std::string entity = event.entity_id().ToString();
  if (!event.name().empty()) entity += fmt::format(" ({})", event.name());
  fmt::print("{:<10} {:<30} {:<20} {:<6} {}\n", event.offset(),
             FormatTime(event.ingest_time()), event.source(),
             EventTypeName(event.type()), entity);
  return true;
}

// The log through a running wmetad: a raw subscription over the range.
int RemoteLog(const GlobalOptions& global, const LogOptions& options,
              std::optional<Kind> kind) {
  WatchRequest request;
  request.raw = true;
  if (kind) request.kinds.push_back(*kind);
  request.from = store::SubscribeOptions::From::kOffset;
  request.offset = options.from.value_or(0);
  if (!options.since.empty()) {
    auto since = ParseTimeOrSpan(options.since);
    if (!since) return Fail(since.error());
    request.from = store::SubscribeOptions::From::kTime;
    request.time = *since;
  }
  request.until = options.to.value_or(0);
  request.until_now = !options.to;
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto stream = (*backend)->Watch(request);
  if (!stream) return Fail(stream.error());
  JsonCodec codec;
  size_t unrenderable = 0;
  while (true) {
    auto bundle = (*stream)->Next(std::chrono::steady_clock::now() +
                                  std::chrono::seconds(1));
    if (!bundle) return Fail(bundle.error());
    if (!*bundle) break;
    for (const store::Message& m : **bundle) {
      if (m.type != store::Message::Type::kEvent) continue;
      // --since and --from together: the later of the two.
      if (options.from && m.offset < *options.from) continue;
      if (!PrintRecord(codec, m.event->view(), options.json)) ++unrenderable;
    }
  }
  return unrenderable == 0 ? 0 : 1;
}

}  // namespace

int RunLog(const GlobalOptions& global, const LogOptions& options) {
  std::optional<Kind> kind;
  if (!options.kind.empty()) {
    kind = KindFromName(options.kind);
    if (!kind)
      return Fail(
          {ErrorCode::kInvalidArgument, "unknown kind '" + options.kind + "'"});
  }
  if (!options.json) {
    fmt::print("{:<10} {:<30} {:<20} {:<6} {}\n", "OFFSET", "INGEST TIME",
               "SOURCE", "TYPE", "ENTITY");
  }
  if (IsRemote(global)) return RemoteLog(global, options, kind);
  // On the data dir, the log alone: it must work on a store whose view cannot
  // be rebuilt (damage is what one reads the log for).
  auto log = OpenLog(global);
  if (!log) return Fail(log.error());
  uint64_t from = options.from.value_or((*log)->first_offset());
  if (!options.since.empty()) {
    auto since = ParseTimeOrSpan(options.since);
    if (!since) return Fail(since.error());
    auto at = (*log)->OffsetAtTime(*since);
    if (!at) return Fail(at.error());
    from = std::max(from, *at);
  }
  auto reader = (*log)->NewReader(from, options.to.value_or(log::kMaxOffset));
  if (!reader) return Fail(reader.error());

  JsonCodec codec;
  size_t unrenderable = 0;
  while (true) {
    auto more = (*reader)->Next();
    if (!more) return Fail(more.error());
    if (!*more) break;
    const EventView& event = (*reader)->event();
    if (kind && event.kind() != *kind) continue;
    if (!PrintRecord(codec, event, options.json)) ++unrenderable;
  }
  return unrenderable == 0 ? 0 : 1;
}

int RunVerify(const GlobalOptions& global, const VerifyOptions& options) {
  log::VerifyReport report;
  {
    Progress progress("verify");
    auto on_progress = [&](uint64_t done, uint64_t total) {
      progress.Update(done, total);
    };
    Result<log::VerifyReport> result;
    if (IsRemote(global)) {
      auto backend = OpenBackend(global, /*read_only=*/true);
      if (!backend) return Fail(backend.error());
      result = (*backend)->Verify(on_progress);
    } else {
      // Opened as far as it can be read: verify must run on a damaged store.
      auto log = OpenLog(global, /*for_verify=*/true);
      if (!log) return Fail(log.error());
      result = store::Verify(**log, global.data_dir, on_progress);
    }
    if (!result) return Fail(result.error());
    report = std::move(*result);
  }
  if (options.json) {
    fmt::print(
        "{{\"ok\":{},\"records\":{},\"index_entries\":{},\"problems\":{}}}\n",
        report.ok(), report.records_checked, report.index_entries_checked,
        report.problem_count);
  } else {
    for (const auto& problem : report.problems) {
      if (problem.offset == 0) {
        fmt::print("-: {}\n", problem.message);
      } else {
        fmt::print("offset {}: {}\n", problem.offset, problem.message);
      }
    }
    if (report.problem_count > report.problems.size()) {
      fmt::print("... and {} more\n",
                 report.problem_count - report.problems.size());
    }
    fmt::print(
        "checked {} records and {} index entries: {}\n", report.records_checked,
        report.index_entries_checked,
        report.ok() ? "OK" : fmt::format("{} problems", report.problem_count));
  }
  return report.ok() ? 0 : 1;
}

int RunStats(const GlobalOptions& global, const StatsOptions& options) {
  ServiceStats stats;
  bool daemon = IsRemote(global);
  if (daemon) {
    auto backend = OpenBackend(global, /*read_only=*/true);
    if (!backend) return Fail(backend.error());
    auto remote = (*backend)->Stats();
    if (!remote) return Fail(remote.error());
    stats = std::move(*remote);
  } else {
    auto log = OpenLog(global);
    if (!log) return Fail(log.error());
    auto local = (*log)->GetStats();
    if (!local) return Fail(local.error());
    stats.log = std::move(*local);
    stats.data_dir = global.data_dir;
  }
  const log::Stats& log = stats.log;
  bool empty = log.record_count == 0;
  if (options.json) {
    std::string collectors = "[";
    for (const CollectorStatus& c : stats.collectors) {
      collectors += fmt::format(
          "{}{{\"name\":{},\"state\":\"{}\",\"healthy\":{},\"restarts\":{},"
          "\"pulls\":{},\"pull_errors\":{},\"last_error\":{}}}",
          collectors.size() > 1 ? "," : "", Quote(c.name), c.state, c.healthy,
          c.restarts, c.pulls, c.pull_errors,
          c.last_error.empty() ? "null" : Quote(c.last_error));
    }
    collectors += "]";
    fmt::print(
        "{{\"store_id\":\"{}\",\"format_version\":{},\"records\":{},"
        "\"first_offset\":{},\"last_offset\":{},\"first_ingest_time\":{},"
        "\"last_ingest_time\":{},\"indexed_offset\":{},\"bytes_on_disk\":{},"
        "\"recovered\":{}{}}}\n",
        log.store_id, log.format_version, log.record_count, log.first_offset,
        log.last_offset,
        empty ? "null" : "\"" + FormatTime(log.first_ingest_time) + "\"",
        empty ? "null" : "\"" + FormatTime(log.last_ingest_time) + "\"",
        log.indexed_offset, log.bytes_on_disk,
        log.recovered.empty() ? "null" : Quote(log.recovered),
        daemon ? fmt::format(",\"durability\":\"{}\",\"applied_offset\":{},"
                             "\"entities\":{},\"subscribers\":{},"
                             "\"collectors\":{}",
                             log.durability, stats.applied_offset,
                             stats.entities, stats.subscribers, collectors)
               : "");
    return 0;
  }
  fmt::print("data dir:        {}\n", stats.data_dir);
  fmt::print("store id:        {}\n", log.store_id);
  fmt::print("format version:  {}\n", log.format_version);
  fmt::print("records:         {}\n", log.record_count);
  if (!empty) {
    fmt::print("offsets:         {}..{}\n", log.first_offset, log.last_offset);
    fmt::print("first ingest:    {}\n", FormatTime(log.first_ingest_time));
    fmt::print("last ingest:     {}\n", FormatTime(log.last_ingest_time));
    fmt::print("indexed through: {}\n", log.indexed_offset);
  }
  fmt::print("bytes on disk:   {} ({})\n", log.bytes_on_disk,
             HumanBytes(log.bytes_on_disk));
  if (!log.recovered.empty()) {
    fmt::print("recovered:       {}\n", log.recovered);
  }
  if (daemon) {
    fmt::print("durability:      {}\n", log.durability);
    fmt::print("view:            {} entities at offset {}\n", stats.entities,
               stats.applied_offset);
    fmt::print("subscribers:     {}\n", stats.subscribers);
    for (const CollectorStatus& c : stats.collectors) {
      fmt::print(
          "collector {}: {}{}, {} pulls, {} pull errors, {} restarts{}\n",
          c.name, c.state, c.healthy ? "" : " (unhealthy)", c.pulls,
          c.pull_errors, c.restarts,
          c.last_error.empty() ? "" : "; last error: " + c.last_error);
    }
  }
  return 0;
}

int RunRecover(const GlobalOptions& global, const RecoverOptions& options) {
  if (IsRemote(global)) {
    return Fail({ErrorCode::kInvalidArgument,
                 "recover works on a data dir (--data-dir), with its wmetad "
                 "stopped"});
  }
  store::Options store_options;
  auto durability = log::Durability::Parse(global.durability);
  if (!durability) return Fail(durability.error());
  store_options.log.durability = *durability;
  auto report = store::Store::AcceptLoss(global.data_dir, store_options);
  if (!report) return Fail(report.error());
  if (options.json) {
    fmt::print(
        "{{\"accepted\":{},\"old_store_id\":\"{}\",\"new_store_id\":{},"
        "\"last_offset\":{},\"acknowledged\":{}}}\n",
        report->accepted, report->old_store_id,
        report->accepted ? Quote(report->new_store_id) : "null",
        report->last_offset,
        report->acknowledged ? std::to_string(*report->acknowledged) : "null");
    return 0;
  }
  if (!report->accepted) {
    fmt::print(
        "nothing to recover: the log of store {} is whole (last offset "
        "{})\n",
        report->old_store_id, report->last_offset);
    return 0;
  }
  std::string lost =
      report->acknowledged && *report->acknowledged > report->last_offset
          ? fmt::format("offsets {}..{} are lost", report->last_offset + 1,
                        *report->acknowledged)
          : "what was acknowledged is not known";
  fmt::print(
      "accepted: {}; the log keeps offsets up to {} as store {} (was {}).\n"
      "Consumers holding offsets of the old store get store_mismatch and "
      "start again from a snapshot.\n",
      lost, report->last_offset, report->new_store_id, report->old_store_id);
  return 0;
}

}  // namespace wmeta::tools

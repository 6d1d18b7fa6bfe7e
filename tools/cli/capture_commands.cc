// wmeta capture (a range of the log into a capture file, or a check of one)
// and wmeta replay (a capture, or a collector run from its input recording,
// into a store).

#include <fmt/core.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>

#include "common.h"
#include "wmeta/collectors/recording.h"
#include "wmeta/docker/collector.h"
#include "wmeta/replay/capture.h"
#include "wmeta/replay/replay.h"
#include "wmeta/schema/json.h"
#include "wmeta/tools/cli/commands.h"

namespace wmeta::tools {
namespace {

std::string StringsJson(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const std::string& v : values) {
    out += (out.size() > 1 ? "," : "") + Quote(v);
  }
  return out + "]";
}

void PrintCapture(const std::string& path, const replay::CaptureHeader& h,
                  const replay::CaptureSummary& s, bool json) {
  if (json) {
    fmt::print(
        "{{\"file\":{},\"schema_hash\":{},\"store_id\":{},\"from\":{},"
        "\"to\":{},\"kinds\":{},\"sources\":{},\"created\":{},\"records\":{},"
        "\"first_offset\":{},\"last_offset\":{},\"first_time\":{},"
        "\"last_time\":{},\"compression\":{}}}\n",
        Quote(path), Quote(h.schema_hash), Quote(h.store_id), h.from, h.to,
        StringsJson(h.kinds), StringsJson(h.sources),
        Quote(FormatTime(h.created)), s.records, s.first_offset, s.last_offset,
        Quote(FormatTime(s.first_time)), Quote(FormatTime(s.last_time)),
        Quote(h.compression));
    return;
  }
  fmt::print("{}: {} records", path, s.records);
  if (s.records > 0) {
    fmt::print(", offsets {}..{}, {} .. {}", s.first_offset, s.last_offset,
               FormatTime(s.first_time), FormatTime(s.last_time));
  }
  fmt::print(
      "\n  from store {} (asked {}..{}{}{}), schema {}, compression {}, "
      "written {}\n",
      h.store_id, h.from, h.to,
      h.kinds.empty() ? "" : ", kinds " + StringsJson(h.kinds),
      h.sources.empty() ? "" : ", sources " + StringsJson(h.sources),
      h.schema_hash, h.compression, FormatTime(h.created));
}

int Verify(const std::string& path, bool json) {
  auto reader = replay::CaptureReader::Open(path);
  if (!reader) return Fail(reader.error());
  while (true) {
    auto event = (*reader)->Next();
    if (!event) return Fail(event.error());
    if (!*event) break;
  }
  PrintCapture(path, (*reader)->header(), (*reader)->summary(), json);
  return 0;
}

// "KIND/ID" -> the entity's JSON as `wmeta list --json` prints it.
using View = std::map<std::string, std::string>;

Result<View> ReadGolden(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return MakeError(ErrorCode::kNotFound, "cannot read golden " + path);
  }
  View view;
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    const boost::json::object* o = ec ? nullptr : v.if_object();
    const boost::json::value* kind = o ? o->if_contains("kind") : nullptr;
    const boost::json::value* id = o ? o->if_contains("id") : nullptr;
    if (!kind || !kind->is_string() || !id || !id->is_string()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       path + ":" + std::to_string(number) +
                           ": not an entity as `wmeta list --json` prints it");
    }
    view[std::string(kind->as_string()) + "/" + std::string(id->as_string())] =
        line;
  }
  return view;
}

Result<View> ViewOf(Backend& backend, std::optional<uint64_t> at) {
  ListRequest request;
  request.at.offset = at;
  WMETA_ASSIGN_OR_RETURN(EntitiesResult entities, backend.List(request));
  JsonCodec codec;
  View view;
  for (const EntityInfo& entity : entities.entities) {
    EventView e = entity.merged->view();
    WMETA_ASSIGN_OR_RETURN(std::string json, codec.EntityToJson(e));
    view[e.entity_id().ToString()] = std::move(json);
  }
  return view;
}

// Prints how `actual` differs from `golden`, field by field; the number of
// entities that differ.
Result<size_t> PrintDifferences(const View& golden, const View& actual) {
  size_t differ = 0;
  for (const auto& [key, json] : golden) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      fmt::print("- {}: expected, not in the replayed view\n", key);
      ++differ;
      continue;
    }
    WMETA_ASSIGN_OR_RETURN(auto changes, DiffJson(json, it->second));
    if (changes.empty()) continue;
    ++differ;
    fmt::print("~ {}\n", key);
    for (const JsonChange& c : changes) {
      fmt::print("    {}: expected {}, got {}\n", c.path,
                 c.before.empty() ? "(absent)" : c.before,
                 c.after.empty() ? "(absent)" : c.after);
    }
  }
  for (const auto& [key, json] : actual) {
    if (!golden.contains(key)) {
      fmt::print("+ {}: in the replayed view, not expected\n", key);
      ++differ;
    }
  }
  return differ;
}

// What a replay fed its target.
struct Fed {
  // Records of a capture, events of a collector run from its recording.
  uint64_t count = 0;
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  double seconds = 0;
  // A recording's: sessions that ended in an error, how the collector's
  // calls matched the recording.
  std::vector<std::string> failed_sessions;
  uint64_t divergences = 0;
  std::string first_divergence;
  // A recording's last line, torn by a recorder killed while writing it.
  size_t torn_line = 0;
  bool recording = false;
};

// Notes where a push of the replay landed.
void Landed(Fed& fed, const store::ApplyResult& applied) {
  if (fed.first_offset == 0) fed.first_offset = applied.first_offset;
  if (applied.last_offset != 0) fed.last_offset = applied.last_offset;
}

// A collector input recording is JSON lines; a capture starts with its
// binary magic.
bool IsInputRecording(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return in && in.peek() == '{';
}

// The sink of a collector run from its recording: the target's store.
class BackendSink final : public collectors::Sink {
 public:
  BackendSink(Backend& backend, Fed& fed) : backend_(backend), fed_(fed) {}

  Status Emit(std::span<const Event> events) override {
    WMETA_ASSIGN_OR_RETURN(store::ApplyResult applied, backend_.Push(events));
    fed_.count += events.size();
    Landed(fed_, applied);
    return {};
  }

  Result<std::vector<std::string>> Known(Kind kind,
                                         std::string_view source) override {
    ListRequest request;
    request.kind = kind;
    request.provenance = true;
    WMETA_ASSIGN_OR_RETURN(EntitiesResult result, backend_.List(request));
    std::vector<std::string> ids;
    for (const EntityInfo& entity : result.entities) {
      for (const auto& layer : entity.layers) {
        if (layer->view().source() == source) {
          ids.push_back(entity.id().id);
          break;
        }
      }
    }
    return ids;
  }

 private:
  Backend& backend_;
  Fed& fed_;
};

class SessionReporter final : public collectors::Reporter {
 public:
  explicit SessionReporter(Fed& fed) : fed_(fed) {}
  void Pulled(const Status& status,
              std::chrono::steady_clock::duration) override {
    if (!status) fed_.failed_sessions.push_back(status.error().ToString());
  }

 private:
  Fed& fed_;
};

// Runs the collector that made the recording on it, into `backend`.
Result<Fed> FeedRecording(const ReplayOptions& options, Backend& backend) {
  if (options.original_timing) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--original-timing replays captures; a collector runs "
                     "from its recording as fast as it can");
  }
  WMETA_ASSIGN_OR_RETURN(auto replay,
                         collectors::InputReplay::Open(options.file));
  std::unique_ptr<collectors::ReplayCollector> collector;
  if (replay->header().collector == "docker") {
    WMETA_ASSIGN_OR_RETURN(collector,
                           docker::NewDockerReplay(std::move(replay)));
  } else {
    return MakeError(ErrorCode::kUnsupportedFormat,
                     options.file + ": a recording of the " +
                         replay->header().collector +
                         " collector, which this build does not have");
  }
  Fed fed;
  fed.recording = true;
  fed.torn_line = collector->replay().torn_line();
  BackendSink sink(backend, fed);
  SessionReporter reporter(fed);
  auto start = std::chrono::steady_clock::now();
  WMETA_RETURN_IF_ERROR(collector->Run(sink, reporter, {}));
  fed.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  fed.divergences = collector->replay().divergences();
  fed.first_divergence = collector->replay().first_divergence();
  return fed;
}

Result<Fed> FeedCapture(const ReplayOptions& options, Backend& backend,
                        bool show_progress) {
  CatchInterrupts();
  Progress progress("replay");
  Fed fed;
  WMETA_ASSIGN_OR_RETURN(replay::ReplayResult result,
                         replay::Replay(
                             options.file,
                             {.original_timing = options.original_timing,
                              .speed = options.speed,
                              .batch = options.batch},
                             [&](std::span<const Event> batch) -> Status {
                               WMETA_ASSIGN_OR_RETURN(
                                   store::ApplyResult applied,
                                   backend.Push(batch));
                               Landed(fed, applied);
                               return {};
                             },
                             Interrupted,
                             [&](uint64_t done, uint64_t total) {
                               if (show_progress) progress.Update(done, total);
                             }));
  fed.count = result.records;
  fed.seconds = std::chrono::duration<double>(result.took).count();
  return fed;
}

Result<Fed> Feed(const ReplayOptions& options, Backend& backend,
                 bool show_progress) {
  return IsInputRecording(options.file)
             ? FeedRecording(options, backend)
             : FeedCapture(options, backend, show_progress);
}

// What a recording's replay noticed, for stderr: it is not the target's.
void PrintRecordingNotes(const std::string& file, const Fed& fed) {
  if (fed.torn_line != 0) {
    fmt::print(stderr,
               "wmeta: {}: line {} is torn (the recorder was stopped while "
               "writing it); replayed what precedes it\n",
               file, fed.torn_line);
  }
  for (const std::string& error : fed.failed_sessions) {
    fmt::print(stderr, "wmeta: a recorded session ended: {}\n", error);
  }
  if (fed.divergences > 0) {
    fmt::print(stderr,
               "wmeta: {} calls of the collector differ from the recording "
               "(answered from the recorded state); the first: {}\n",
               fed.divergences, fed.first_divergence);
  }
}

// A golden and the offset of the view it is compared with (nullopt: the
// view after the whole replay).
struct Expectation {
  std::optional<uint64_t> at;
  std::string path;
  View view;
};

Result<std::vector<Expectation>> ReadExpectations(
    const ReplayOptions& options) {
  std::vector<Expectation> out;
  for (const std::string& spec : options.expect_at) {
    size_t eq = spec.find('=');
    uint64_t offset = 0;
    auto [end, ec] = std::from_chars(
        spec.data(), spec.data() + (eq == std::string::npos ? 0 : eq), offset);
    if (eq == std::string::npos || ec != std::errc() ||
        end != spec.data() + eq || offset == 0 || eq + 1 == spec.size()) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          "--expect-at " + spec + ": expected OFFSET=GOLDEN, OFFSET from 1");
    }
    out.push_back({offset, spec.substr(eq + 1), {}});
  }
  if (!options.expect.empty())
    out.push_back({std::nullopt, options.expect, {}});
  for (Expectation& e : out) {
    WMETA_ASSIGN_OR_RETURN(e.view, ReadGolden(e.path));
  }
  return out;
}

// Replays into a scratch store, compares its views with the goldens, removes
// the store.
int ReplayAndCompare(const GlobalOptions& global,
                     const ReplayOptions& options) {
  if (!global.socket.empty() || !global.tcp.empty()) {
    return Fail({ErrorCode::kInvalidArgument,
                 "--expect replays into a scratch store: give no --socket or "
                 "--tcp"});
  }
  auto expectations = ReadExpectations(options);
  if (!expectations) return Fail(expectations.error());
  std::string pattern =
      (std::filesystem::temp_directory_path() / "wmeta-replay-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return Fail({ErrorCode::kIoError, "cannot create a scratch directory"});
  }
  struct Scratch {
    std::string path;
    ~Scratch() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } scratch{pattern};
  GlobalOptions target = global;
  target.data_dir = scratch.path + "/data";
  target.durability = "none";
  auto backend = OpenBackend(target, /*read_only=*/false);
  if (!backend) return Fail(backend.error());
  auto fed = Feed(options, **backend, /*show_progress=*/false);
  if (!fed) return Fail(fed.error());
  PrintRecordingNotes(options.file, *fed);
  bool failed = false;
  for (const Expectation& e : *expectations) {
    std::string where =
        e.at ? "as of offset " + std::to_string(*e.at) : "after the replay";
    fmt::print("{} ({})\n", e.path, where);
    auto actual = ViewOf(**backend, e.at);
    if (!actual) return Fail(actual.error());
    auto differ = PrintDifferences(e.view, *actual);
    if (!differ) return Fail(differ.error());
    if (*differ > 0) {
      fmt::print(stderr, "wmeta: {} of {} entities differ from {} ({})\n",
                 *differ, std::max(e.view.size(), actual->size()), e.path,
                 where);
      failed = true;
    } else {
      fmt::print("  the view matches ({} entities)\n", e.view.size());
    }
  }
  if (failed) return 1;
  fmt::print("{} {} replayed; every view matches\n", fed->count,
             fed->recording ? "events" : "records");
  return 0;
}

}  // namespace

int RunCapture(const GlobalOptions& global, const CaptureOptions& options) {
  if (!options.verify.empty()) return Verify(options.verify, options.json);
  WatchRequest request;
  request.raw = true;
  for (const auto& name : options.kinds) {
    auto kind = KindFromName(name);
    if (!kind) {
      return Fail({ErrorCode::kInvalidArgument, "unknown kind '" + name + "'"});
    }
    request.kinds.push_back(*kind);
  }
  request.sources = options.sources;
  PointSpec from, to;
  if (!options.from.empty()) {
    auto point = ParsePoint({options.from});
    if (!point) return Fail(point.error());
    from = *point;
  }
  if (!options.to.empty()) {
    auto point = ParsePoint({options.to});
    if (!point) return Fail(point.error());
    to = *point;
  }
  auto backend = OpenBackend(global, /*read_only=*/true);
  if (!backend) return Fail(backend.error());
  auto stats = (*backend)->Stats();
  if (!stats) return Fail(stats.error());
  const log::Stats& log = stats->log;

  replay::CaptureHeader header;
  header.store_id = log.store_id;
  header.kinds = options.kinds;
  header.sources = options.sources;
  header.compression = options.compression;
  header.from = from.offset.value_or(log.first_offset);
  // Records up to the last one as of now: a capture ends.
  header.to = std::min(to.offset.value_or(log.last_offset), log.last_offset);
  auto writer = replay::CaptureWriter::Create(options.output, header);
  if (!writer) return Fail(writer.error());
  CatchInterrupts();
  bool empty = log.last_offset < log.first_offset ||
               (from.offset && *from.offset > header.to);
  if (!empty) {
    if (from.time) {
      request.from = store::SubscribeOptions::From::kTime;
      request.time = *from.time;
    } else {
      request.from = store::SubscribeOptions::From::kOffset;
      request.offset = header.from;
    }
    request.until = header.to;
    auto stream = (*backend)->Watch(request);
    if (!stream) return Fail(stream.error());
    Progress progress("capture");
    bool done = false;
    while (!done) {
      if (Interrupted()) return Fail({ErrorCode::kUnavailable, "interrupted"});
      auto bundle = (*stream)->Next(std::chrono::steady_clock::now() +
                                    std::chrono::milliseconds(200));
      if (!bundle) return Fail(bundle.error());
      if (!*bundle) break;
      for (const store::Message& m : **bundle) {
        if (m.type != store::Message::Type::kEvent) continue;
        EventView record = m.event->view();
        if (to.time && record.ingest_time() > *to.time) {
          done = true;
          break;
        }
        if (Status added = (*writer)->Add(record); !added) {
          return Fail(added.error());
        }
        progress.Update(record.offset() - header.from + 1,
                        header.to - header.from + 1);
      }
    }
  }
  auto summary = (*writer)->Finish();
  if (!summary) return Fail(summary.error());
  // The header as written (the writer adds the schema hash and the time).
  auto written = replay::CaptureReader::Open(options.output);
  if (!written) return Fail(written.error());
  PrintCapture(options.output, (*written)->header(), *summary, options.json);
  return 0;
}

int RunReplay(const GlobalOptions& global, const ReplayOptions& options) {
  if (!options.expect.empty() || !options.expect_at.empty()) {
    return ReplayAndCompare(global, options);
  }
  // Opened before the file is read: a target that cannot be written (a
  // daemon's data dir, a bad socket) is known before any work.
  auto backend = OpenBackend(global, /*read_only=*/false);
  if (!backend) return Fail(backend.error());
  auto fed = Feed(options, **backend, /*show_progress=*/true);
  if (!fed) return Fail(fed.error());
  PrintRecordingNotes(options.file, *fed);
  const char* what = fed->recording ? "events" : "records";
  if (options.json) {
    fmt::print(
        "{{\"file\":{},\"{}\":{},\"first_offset\":{},\"last_offset\":{},"
        "\"seconds\":{:.3f}{}}}\n",
        Quote(options.file), what, fed->count, fed->first_offset,
        fed->last_offset, fed->seconds,
        fed->recording
            ? fmt::format(",\"failed_sessions\":{},\"divergences\":{}",
                          fed->failed_sessions.size(), fed->divergences)
            : "");
  } else if (fed->first_offset == 0) {
    fmt::print("replayed {} {} in {:.2f} s: every one changed nothing\n",
               fed->count, what, fed->seconds);
  } else {
    fmt::print("replayed {} {} in {:.2f} s, appended at offsets {}..{}\n",
               fed->count, what, fed->seconds, fed->first_offset,
               fed->last_offset);
  }
  return 0;
}

}  // namespace wmeta::tools

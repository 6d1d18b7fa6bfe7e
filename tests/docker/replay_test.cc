// The Docker collector run from an input recording of a real Docker 20.10
// lifecycle (testdata/docker-lifecycle.wrec, recorded by wmetad
// --record-input): import, create `web` with a secret in its environment,
// start, pause, unpause, run `batch` (exits 3), stop `web`, rm both, rmi.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "temp_dir.h"
#include "test_sink.h"
#include "wmeta/docker/collector.h"
#include "wmeta/schema/json.h"

namespace wmeta::docker {
namespace {

const std::string kRecording =
    std::string(WMETA_DOCKER_TESTDATA) + "/docker-lifecycle.wrec";

class NoReporter final : public collectors::Reporter {
 public:
  void Pulled(const Status& status,
              std::chrono::steady_clock::duration) override {
    if (!status) failures.push_back(status.error().ToString());
  }
  std::vector<std::string> failures;
};

struct Replayed {
  std::vector<std::string> events;
  std::vector<Timestamp> observed;
  uint64_t divergences = 0;
};

// Runs the collector on `path` into `sink`; each event as type, observed
// time and entity JSON.
Replayed ReplayInto(const std::string& path, testing::TestSink& sink) {
  Replayed run;
  auto input = collectors::InputReplay::Open(path);
  EXPECT_TRUE(input) << input.error().ToString();
  if (!input) return run;
  auto collector = NewDockerReplay(std::move(*input));
  EXPECT_TRUE(collector) << collector.error().ToString();
  if (!collector) return run;
  EXPECT_EQ((*collector)->name(), "docker");
  NoReporter reporter;
  Status ran = (*collector)->Run(sink, reporter, {});
  EXPECT_TRUE(ran) << ran.error().ToString();
  EXPECT_TRUE(reporter.failures.empty()) << reporter.failures[0];
  run.divergences = (*collector)->replay().divergences();
  JsonCodec codec;
  for (const Event& e : sink.Events()) {
    EventView view = e.view();
    auto json = codec.EntityToJson(view);
    EXPECT_TRUE(json);
    run.events.push_back(std::string(EventTypeName(view.type())) + " " +
                         json.value_or(""));
    run.observed.push_back(view.observed_time());
  }
  return run;
}

// "set container web running", "unset container f872b740...".
std::vector<std::string> Summary(const std::vector<std::string>& events) {
  std::vector<std::string> out;
  for (const std::string& line : events) {
    std::string type = line.substr(0, line.find(' '));
    auto doc = line.substr(line.find(' ') + 1);
    auto field = [&](const std::string& name) {
      std::string key = "\"" + name + "\":\"";
      size_t at = doc.find(key);
      if (at == std::string::npos) return std::string();
      at += key.size();
      return doc.substr(at, doc.find('"', at) - at);
    };
    std::string kind = field("kind");
    std::string what =
        type + " " + kind + " " +
        (type == "set" ? field("name") : field("id").substr(0, 12));
    if (kind == "container" && type == "set") what += " " + field("status");
    out.push_back(what);
  }
  return out;
}

TEST(DockerReplayTest, ARealLifecycleReplaysToTheEventsItProducedLive) {
  testing::TestSink sink;
  Replayed run = ReplayInto(kRecording, sink);
  // Every event the collector emitted. An event re-inspects its container,
  // so a state shows twice when two events announce it (start, then the
  // network's connect); the store drops the repeats: the live log held 14
  // records, these 18 events less the 4 repeats.
  std::vector<std::string> expected{
      "set container_image_metadata demo/busybox",
      "set container web created",
      "set container web running",
      "set container web running",
      "set container web paused",
      "set container web running",
      "set container batch created",
      "set container batch running",
      "set container batch stopped",
      "set container batch stopped",
      "set container web running",
      "set container web running",
      "set container web stopped",
      "set container web stopped",
      "unset container 9c9475ed5652",
      "unset container 37de788ba463",
      // Untagged: the image has no name left, then it goes.
      "set container_image_metadata ",
      "unset container_image_metadata sha256:e9ae8",
  };
  EXPECT_EQ(Summary(run.events), expected);
  EXPECT_EQ(run.divergences, 0u);
  // The times are the recorded ones: the first event was observed when the
  // live collector read the clock for it (its second reading, after the
  // stream's `since`).
  ASSERT_FALSE(run.observed.empty());
  EXPECT_EQ(ToUnixNanos(run.observed[0]), 1795599649819393361);
  // The exit code of `batch`, and the secret of `web` nowhere.
  bool exit_code = false;
  for (const std::string& e : run.events) {
    EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
    EXPECT_EQ(e.find("DB_PASSWORD"), std::string::npos) << e;
    if (e.find("\"name\":\"batch\"") != std::string::npos &&
        e.find("\"exit_code\":3") != std::string::npos) {
      exit_code = true;
    }
  }
  EXPECT_TRUE(exit_code);
}

TEST(DockerReplayTest, TwoReplaysAreIdentical) {
  testing::TestSink a, b;
  Replayed first = ReplayInto(kRecording, a);
  Replayed second = ReplayInto(kRecording, b);
  ASSERT_GT(first.events.size(), 10u);
  EXPECT_EQ(first.events, second.events);
  EXPECT_EQ(first.observed, second.observed);
}

// The recording with its line `number` (from 1) replaced by `line`.
std::string WithLine(const testing::TempDir& dir, int number,
                     const std::string& line) {
  std::ifstream in(kRecording);
  std::ostringstream out;
  int at = 0;
  for (std::string text; std::getline(in, text);) {
    out << (++at == number ? line : text) << "\n";
  }
  std::string path = dir.Sub("edited.wrec");
  std::ofstream(path, std::ios::trunc) << out.str();
  return path;
}

TEST(DockerReplayTest, TheFirstListingReconcilesWithWhatTheLiveStoreHeld) {
  // What the live store held from the source is in the recording: the
  // target's own does not matter (it held nothing then).
  testing::TestSink sink;
  sink.SetKnown(Kind::kContainer, "runtime", {std::string(64, 'b')});
  Replayed run = ReplayInto(kRecording, sink);
  ASSERT_FALSE(run.events.empty());
  EXPECT_EQ(Summary(run.events)[0],
            "set container_image_metadata demo/busybox");
  EXPECT_EQ(run.divergences, 0u);

  // Had it held a container the engine no longer has, the first listing
  // unsets it, before anything else.
  testing::TempDir dir;
  std::string held = WithLine(dir, 9,
                              R"({"op":"known","key":"container runtime",)"
                              R"("body":")" +
                                  std::string(64, 'a') + R"(\n"})");
  testing::TestSink replayed;
  run = ReplayInto(held, replayed);
  ASSERT_FALSE(run.events.empty());
  EXPECT_EQ(Summary(run.events)[0], "unset container aaaaaaaaaaaa");
  // The unset reads the clock, which the live collector did not: the one
  // call that differs from the recording.
  EXPECT_EQ(run.divergences, 1u);
}

TEST(DockerReplayTest, AChangedRecordingIsAnsweredAndCounted) {
  // A recording whose collector asked for something this one does not (an
  // extra request after /version): the events are the same. One call is
  // answered past it, skipping it: the clock's.
  testing::TempDir dir;
  std::ifstream in(kRecording);
  std::ostringstream out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    if (++number == 4) {
      out << R"({"op":"get","key":"/v1.41/info","status":200,"body":"{}"})"
          << "\n";
    }
    out << line << "\n";
  }
  std::string changed = dir.Sub("changed.wrec");
  std::ofstream(changed) << out.str();
  testing::TestSink original_sink, changed_sink;
  Replayed original = ReplayInto(kRecording, original_sink);
  Replayed replayed = ReplayInto(changed, changed_sink);
  EXPECT_EQ(replayed.events, original.events);
  EXPECT_EQ(replayed.divergences, 1u);
}

TEST(DockerReplayTest, AReplayStopsWhereTheRecordedCollectorWasStopped) {
  // Stopped right after the stream gave it the container's create: the live
  // collector checked the stop and returned without inspecting it, and so
  // does the replay (nothing after the image, no failed session).
  testing::TempDir dir;
  std::ifstream in(kRecording);
  std::ostringstream out;
  for (std::string line; std::getline(in, line);) {
    out << line << "\n";
    if (line.starts_with(R"({"op":"next")") &&
        line.find(R"(\"Action\":\"create\")") != std::string::npos) {
      break;
    }
  }
  out << R"({"op":"stop"})"
      << "\n";
  std::string stopped = dir.Sub("stopped.wrec");
  std::ofstream(stopped) << out.str();
  testing::TestSink sink;
  Replayed run = ReplayInto(stopped, sink);
  EXPECT_EQ(
      Summary(run.events),
      std::vector<std::string>{"set container_image_metadata demo/busybox"});
  EXPECT_EQ(run.divergences, 0u);
}

TEST(DockerReplayTest, ARecordingWithNoSessionToReplayEnds) {
  // A damaged recording that starts inside a session: nothing connects, and
  // the replay ends rather than reconnecting forever.
  testing::TempDir dir;
  std::string header;
  std::getline(std::ifstream(kRecording) >> std::ws, header);
  std::string path = dir.Sub("sessionless.wrec");
  std::ofstream(path) << header << "\n"
                      << R"({"op":"next","body":"{}"})"
                      << "\n";
  testing::TestSink sink;
  Replayed run = ReplayInto(path, sink);
  EXPECT_TRUE(run.events.empty());
}

TEST(DockerReplayTest, ARecordingOfAnotherCollectorIsRefused) {
  testing::TempDir dir;
  std::string path = dir.Sub("other.wrec");
  std::ofstream(path)
      << R"({"format":"wmeta-collector-input","version":1,)"
      << R"("collector":"kubelet","source":"node_orchestrator",)"
      << R"("options":{},"created":""})"
      << "\n";
  auto input = collectors::InputReplay::Open(path);
  ASSERT_TRUE(input);
  auto collector = NewDockerReplay(std::move(*input));
  ASSERT_FALSE(collector);
  EXPECT_EQ(collector.error().code, ErrorCode::kInvalidArgument);

  std::ofstream(path, std::ios::trunc)
      << R"({"format":"wmeta-collector-input","version":1,)"
      << R"("collector":"docker","source":"runtime","options":{"name":7}})"
      << "\n";
  input = collectors::InputReplay::Open(path);
  ASSERT_TRUE(input);
  collector = NewDockerReplay(std::move(*input));
  ASSERT_FALSE(collector);
  EXPECT_EQ(collector.error().code, ErrorCode::kCorruption);
}

}  // namespace
}  // namespace wmeta::docker

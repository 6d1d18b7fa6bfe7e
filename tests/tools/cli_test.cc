// The wmeta binary, run the way a user runs it.

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "events.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/log/log.h"

namespace wmeta {
namespace {

namespace bj = boost::json;
using testing::RunResult;

class CliTest : public ::testing::Test {
 protected:
  RunResult Wmeta(std::vector<std::string> args,
                  const std::string& input = {}) {
    args.insert(args.begin(), {WMETA_CLI, "--data-dir", data_});
    return testing::Run(args, input);
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  uint64_t RecordCount() {
    RunResult r = Wmeta({"stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return bj::parse(r.out).at("records").to_number<uint64_t>();
  }

  testing::TempDir dir_;
  std::string data_ = dir_.Sub("data");
};

constexpr const char* kThreeEvents =
    R"({"source":"runtime","type":"set","entity":{"kind":"container","id":"abc","name":"web","labels":{"app":"web"}}})"
    "\n"
    R"({"source":"node_orchestrator","entity":{"kind":"kubernetes_pod","id":"uid-1","name":"web-0","namespace":"default"}})"
    "\n\n"
    R"({"source":"runtime","type":"unset","entity":{"kind":"container","id":"abc"}})"
    "\n";

TEST_F(CliTest, PushLogStatsVerify) {
  RunResult push = Wmeta({"push"}, kThreeEvents);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(push.out,
            "appended 3 events at offsets 1..3 (durability sync: on disk)\n");

  RunResult log = Wmeta({"log", "--json"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  auto lines = Lines(log.out);
  ASSERT_EQ(lines.size(), 3u);
  auto first = bj::parse(lines[0]);
  EXPECT_EQ(first.at("offset").as_int64(), 1);
  EXPECT_TRUE(first.at("ingest_time").as_string().ends_with("Z"));
  EXPECT_EQ(
      first.at("entity"),
      bj::parse(
          R"({"kind":"container","id":"abc","name":"web","labels":{"app":"web"}})"));
  EXPECT_EQ(bj::parse(lines[2]).at("type").as_string(), "unset");

  RunResult table = Wmeta({"log"});
  ASSERT_EQ(table.exit_code, 0);
  auto rows = Lines(table.out);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_TRUE(rows[0].starts_with("OFFSET"));
  EXPECT_NE(rows[2].find("kubernetes_pod/uid-1 (web-0)"), std::string::npos)
      << rows[2];
  EXPECT_NE(rows[3].find("unset"), std::string::npos);

  RunResult stats = Wmeta({"stats", "--json"});
  ASSERT_EQ(stats.exit_code, 0);
  auto s = bj::parse(stats.out);
  EXPECT_EQ(s.at("records").as_int64(), 3);
  EXPECT_EQ(s.at("first_offset").as_int64(), 1);
  EXPECT_EQ(s.at("last_offset").as_int64(), 3);
  EXPECT_EQ(s.at("store_id").as_string().size(), 36u);
  EXPECT_GT(s.at("bytes_on_disk").as_int64(), 0);
  EXPECT_NE(Wmeta({"stats"}).out.find("records:         3"), std::string::npos);

  RunResult verify = Wmeta({"verify"});
  EXPECT_EQ(verify.exit_code, 0);
  EXPECT_EQ(verify.out, "checked 3 records and 3 index entries: OK\n");
}

TEST_F(CliTest, CaptureWritesARangeAndVerifiesIt) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  std::string file = dir_.Sub("c.wcap");
  RunResult capture =
      Wmeta({"capture", "--kind", "container", "--json", "-o", file});
  ASSERT_EQ(capture.exit_code, 0) << capture.err;
  bj::value summary = bj::parse(capture.out);
  EXPECT_EQ(summary.at("records").as_int64(), 2);
  EXPECT_EQ(summary.at("first_offset").as_int64(), 1);
  EXPECT_EQ(summary.at("last_offset").as_int64(), 3);
  EXPECT_EQ(summary.at("kinds").at(0).as_string(), "container");
  RunResult stats = Wmeta({"stats", "--json"});
  EXPECT_EQ(summary.at("store_id"), bj::parse(stats.out).at("store_id"));

  RunResult verify = Wmeta({"capture", "--verify", file, "--json"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(bj::parse(verify.out).at("records").as_int64(), 2);
  // A range, and nothing when it holds nothing.
  RunResult two = Wmeta({"capture", "--from", "2", "--to", "2", "--json", "-o",
                         dir_.Sub("two.wcap")});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(bj::parse(two.out).at("records").as_int64(), 1);
  RunResult none =
      Wmeta({"capture", "--from", "9", "--json", "-o", dir_.Sub("none.wcap")});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(bj::parse(none.out).at("records").as_int64(), 0);

  // Damage is reported with its position, and fails the command.
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 3));
  RunResult damaged = Wmeta({"capture", "--verify", file});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.err.find("at byte"), std::string::npos) << damaged.err;
  EXPECT_NE(damaged.err.find("truncated"), std::string::npos) << damaged.err;
  EXPECT_EQ(Wmeta({"capture"}).exit_code, 2);
}

TEST_F(CliTest, CaptureThenReplayRebuildsTheSameView) {
  std::ifstream samples(WMETA_SAMPLES "/node_events.ndjson");
  std::string events((std::istreambuf_iterator<char>(samples)), {});
  ASSERT_EQ(Wmeta({"push"}, events).exit_code, 0);
  std::string file = dir_.Sub("all.wcap");
  ASSERT_EQ(Wmeta({"capture", "-o", file}).exit_code, 0);
  std::string target = dir_.Sub("target");
  RunResult replay =
      testing::Run({WMETA_CLI, "replay", file, "--into", target, "--json"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  bj::value summary = bj::parse(replay.out);
  uint64_t records = RecordCount();
  EXPECT_EQ(summary.at("records").to_number<uint64_t>(), records);
  EXPECT_EQ(summary.at("first_offset").as_int64(), 1);
  // The same view, and each record says where it was first appended.
  RunResult here = Wmeta({"list", "--json"});
  RunResult there =
      testing::Run({WMETA_CLI, "--data-dir", target, "list", "--json"});
  ASSERT_EQ(there.exit_code, 0) << there.err;
  EXPECT_EQ(here.out, there.out);
  std::string store = bj::parse(Wmeta({"stats", "--json"}).out)
                          .at("store_id")
                          .as_string()
                          .c_str();
  auto log = Lines(
      testing::Run({WMETA_CLI, "--data-dir", target, "log", "--json"}).out);
  ASSERT_EQ(log.size(), records);
  for (size_t i = 0; i < log.size(); ++i) {
    bj::value origin = bj::parse(log[i]).at("origin");
    EXPECT_EQ(origin.at("store_id").as_string(), store);
    EXPECT_EQ(origin.at("offset").to_number<uint64_t>(), i + 1);
  }
}

TEST_F(CliTest, ReplayComparesWithAGoldenFieldByField) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  ASSERT_EQ(
      Wmeta(
          {"push"},
          R"({"source":"runtime","entity":{"kind":"container","id":"k","name":"kept","labels":{"app":"web"}}})"
          "\n")
          .exit_code,
      0);
  std::string file = dir_.Sub("c.wcap");
  ASSERT_EQ(Wmeta({"capture", "-o", file}).exit_code, 0);
  std::string golden = dir_.Sub("golden.json");
  std::ofstream(golden) << Wmeta({"list", "--json"}).out;
  RunResult same =
      testing::Run({WMETA_CLI, "replay", file, "--expect", golden});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("the view matches"), std::string::npos) << same.out;

  // The golden wants another name and label, and an entity the replay lacks.
  std::string text = Wmeta({"list", "--json"}).out;
  text.replace(text.find("\"kept\""), 6, "\"other\"");
  text.replace(text.find("\"app\":\"web\""), 11, "\"app\":\"db\"");
  text += R"({"kind":"container","id":"ghost"})"
          "\n";
  std::ofstream(golden, std::ios::trunc) << text;
  RunResult diff =
      testing::Run({WMETA_CLI, "replay", file, "--expect", golden});
  EXPECT_EQ(diff.exit_code, 1);
  EXPECT_NE(diff.out.find("~ container/k\n"), std::string::npos) << diff.out;
  EXPECT_NE(diff.out.find("    name: expected \"other\", got \"kept\""),
            std::string::npos)
      << diff.out;
  EXPECT_NE(diff.out.find("    labels.app: expected \"db\", got \"web\""),
            std::string::npos)
      << diff.out;
  EXPECT_NE(diff.out.find("- container/ghost: expected, not in the replayed"),
            std::string::npos)
      << diff.out;
  EXPECT_NE(diff.err.find("2 of 3 entities differ"), std::string::npos)
      << diff.err;
}

// A real Docker lifecycle as the docker collector received it (wmetad
// --record-input): the collector runs again from it.
TEST_F(CliTest, ACollectorRunsAgainFromItsRecording) {
  const std::string recording =
      std::string(WMETA_DOCKER_TESTDATA) + "/docker-lifecycle.wrec";
  RunResult replay = Wmeta({"replay", recording, "--json"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("\"events\":18,\"first_offset\":1,"
                            "\"last_offset\":14,"),
            std::string::npos)
      << replay.out;
  EXPECT_NE(replay.out.find("\"failed_sessions\":0,\"divergences\":0"),
            std::string::npos)
      << replay.out;
  EXPECT_EQ(replay.err, "");
  // The lifecycle of `web`, as the live store had it.
  RunResult web = Wmeta(
      {"history",
       "container/"
       "9c9475ed5652b3196c0805a6cc3d74bd6cdc6fab36c32b078f47bc81778be38b"});
  ASSERT_EQ(web.exit_code, 0) << web.err;
  for (const char* change :
       {"state.status: (absent) -> \"created\"",
        "state.status: \"created\" -> \"running\"",
        "state.status: \"running\" -> \"paused\"",
        "state.status: \"paused\" -> \"running\"",
        "state.status: \"running\" -> \"stopped\"", "unset (gone)"}) {
    EXPECT_NE(web.out.find(change), std::string::npos) << change << web.out;
  }

  // The goldens of the view along the way, and at the end (empty).
  const std::string at5 =
      std::string(WMETA_DOCKER_TESTDATA) + "/docker-lifecycle.at5.json";
  const std::string at8 =
      std::string(WMETA_DOCKER_TESTDATA) + "/docker-lifecycle.at8.json";
  std::string end = dir_.Sub("end.json");
  std::ofstream(end) << "";
  RunResult same =
      testing::Run({WMETA_CLI, "replay", recording, "--expect", end,
                    "--expect-at", "5=" + at5, "--expect-at", "8=" + at8});
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("18 events replayed; every view matches"),
            std::string::npos)
      << same.out;

  // At offset 5 `web` was running again; a golden saying paused fails.
  std::ifstream in(at5);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  text.replace(text.find("\"status\":\"running\""), 18,
               "\"status\":\"paused\"");
  std::string wrong = dir_.Sub("at5.json");
  std::ofstream(wrong) << text;
  RunResult diff = testing::Run(
      {WMETA_CLI, "replay", recording, "--expect-at", "5=" + wrong});
  EXPECT_EQ(diff.exit_code, 1);
  EXPECT_NE(diff.out.find("    state.status: expected \"paused\", got "
                          "\"running\""),
            std::string::npos)
      << diff.out;
  EXPECT_NE(diff.err.find("1 of 2 entities differ from " + wrong +
                          " (as of offset 5)"),
            std::string::npos)
      << diff.err;

  for (const char* bad : {"5", "=x", "0=", "x=y"}) {
    RunResult r = testing::Run(
        {WMETA_CLI, "replay", recording, "--expect-at", std::string(bad)});
    EXPECT_EQ(r.exit_code, 1) << bad << r.err;
    EXPECT_NE(r.err.find("expected OFFSET=GOLDEN"), std::string::npos) << r.err;
  }
  RunResult timing = Wmeta({"replay", recording, "--original-timing"});
  EXPECT_NE(timing.exit_code, 0);
  EXPECT_NE(timing.err.find("--original-timing replays captures"),
            std::string::npos)
      << timing.err;
}

TEST_F(CliTest, ABadLineRejectsTheWholeInput) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  std::string input =
      std::string(kThreeEvents) +
      R"({"source":"runtime","entity":{"kind":"container","id":)"
      "\n" +
      R"({"source":"runtime","entity":{"kind":"pod","id":"x"}})"
      "\n" +
      R"({"source":"runtime","entity":{"kind":"container","id":"x","nmae":"y"}})"
      "\n" +
      R"({"source":"runtime","entity":{"kind":"container","name":"y"}})"
      "\n";
  RunResult push = Wmeta({"push"}, input);
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.err.find("<stdin>:5: malformed JSON"), std::string::npos)
      << push.err;
  EXPECT_NE(push.err.find("<stdin>:6: entity.kind: unknown kind \"pod\""),
            std::string::npos);
  EXPECT_NE(push.err.find("<stdin>:7: entity.nmae: unknown field"),
            std::string::npos);
  EXPECT_NE(push.err.find("<stdin>:8: entity.id: missing required field"),
            std::string::npos);
  EXPECT_NE(push.err.find("4 invalid lines; nothing appended"),
            std::string::npos);
  EXPECT_EQ(RecordCount(), 3u);
}

TEST_F(CliTest, PushesAFileInBatchesWithADefaultSource) {
  std::string file = dir_.Sub("events.ndjson");
  {
    std::ofstream out(file);
    for (int i = 0; i < 5; ++i) {
      out << R"({"entity":{"kind":"process","id":")" << i << R"(","pid":)" << i
          << "}}\n";
    }
  }
  RunResult push = Wmeta({"push", "--source", "process_collector", "--batch",
                          "2", "--json", file});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto result = bj::parse(push.out);
  EXPECT_EQ(result.at("first_offset").as_int64(), 1);
  EXPECT_EQ(result.at("last_offset").as_int64(), 5);
  EXPECT_EQ(result.at("appended").as_int64(), 5);
  EXPECT_EQ(result.at("synced").as_bool(), true);
  for (const auto& line : Lines(Wmeta({"log", "--json"}).out)) {
    EXPECT_EQ(bj::parse(line).at("source").as_string(), "process_collector");
  }
  RunResult missing = Wmeta({"push", dir_.Sub("nope.ndjson")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos);
}

TEST_F(CliTest, LogSelectsByKindOffsetsAndTime) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  EXPECT_EQ(Lines(Wmeta({"log", "--json", "--kind", "container"}).out).size(),
            2u);
  auto range = Lines(Wmeta({"log", "--json", "--from", "2", "--to", "2"}).out);
  ASSERT_EQ(range.size(), 1u);
  EXPECT_EQ(bj::parse(range[0]).at("offset").as_int64(), 2);
  EXPECT_EQ(Lines(Wmeta({"log", "--json", "--since", "1h"}).out).size(), 3u);
  EXPECT_EQ(Wmeta({"log", "--json", "--since", "2200-01-01T00:00:00Z"}).out,
            "");

  RunResult below = Wmeta({"log", "--from", "0"});
  EXPECT_EQ(below.exit_code, 1);
  EXPECT_NE(below.err.find(
                "out_of_range: offset 0 is below the first available offset 1"),
            std::string::npos);
  RunResult future = Wmeta({"log", "--from", "9"});
  EXPECT_EQ(future.exit_code, 1);
  EXPECT_NE(future.err.find("future_offset"), std::string::npos);
  RunResult bad_since = Wmeta({"log", "--since", "teatime"});
  EXPECT_EQ(bad_since.exit_code, 2);
  EXPECT_NE(bad_since.err.find("expected an RFC 3339 time"), std::string::npos);
  RunResult backwards = Wmeta({"log", "--from", "3", "--to", "2"});
  EXPECT_EQ(backwards.exit_code, 2);
  EXPECT_NE(backwards.err.find("must not be below --from"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Wmeta({}).exit_code, 2);
  EXPECT_EQ(Wmeta({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"log", "--kind", "pod"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"log", "--from", "x"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"push", "--batch", "0"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"--durability", "sometimes", "push"}).exit_code, 2);
  RunResult help = Wmeta({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("push"), std::string::npos);
}

TEST_F(CliTest, ASecondWriterIsRefusedWhileReadersWork) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  auto writer = log::Log::Open(data_, {});
  ASSERT_TRUE(writer);
  RunResult push = Wmeta({"push"}, kThreeEvents);
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.err.find("busy"), std::string::npos) << push.err;
  EXPECT_NE(push.err.find("in use by another writer"), std::string::npos)
      << push.err;
  EXPECT_EQ(Lines(Wmeta({"log", "--json"}).out).size(), 3u);
  EXPECT_EQ(Wmeta({"verify"}).exit_code, 0);
}

TEST_F(CliTest, DataDirsThatAreNotStoresAreRefused) {
  RunResult none = Wmeta({"log"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no data dir at"), std::string::npos);

  std::filesystem::create_directories(data_);
  std::ofstream(data_ + "/notes.txt") << "hello";
  for (const char* command : {"log", "verify", "stats"}) {
    RunResult r = Wmeta({command});
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find("unsupported_format"), std::string::npos) << r.err;
  }
  RunResult push = Wmeta({"push"}, kThreeEvents);
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.err.find("not a wmeta data dir"), std::string::npos);
}

TEST_F(CliTest, VerifyOnADamagedStoreReportsAndExitsOneWithoutCrashing) {
  ASSERT_EQ(Wmeta({"push"}, kThreeEvents).exit_code, 0);
  // CURRENT names the manifest; garble it.
  std::ofstream(data_ + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
  RunResult verify = Wmeta({"verify"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_FALSE(verify.err.empty());
  RunResult log = Wmeta({"log"});
  EXPECT_EQ(log.exit_code, 1);
}

TEST_F(CliTest, DataDirDefaultsToTheEnvironment) {
  setenv("WMETA_DATA_DIR", data_.c_str(), 1);
  RunResult push = testing::Run({WMETA_CLI, "push"}, kThreeEvents);
  unsetenv("WMETA_DATA_DIR");
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(RecordCount(), 3u);
}

constexpr const char* kNode =
    R"({"source":"runtime","entity":{"kind":"container","id":"c1","name":"k8s_web","pid":42,"labels":{"app":"web"}}})"
    "\n"
    R"({"source":"node_orchestrator","entity":{"kind":"container","id":"c1","name":"web","owner":{"kind":"kubernetes_pod","id":"p1"}}})"
    "\n"
    R"({"source":"node_orchestrator","entity":{"kind":"kubernetes_pod","id":"p1","name":"web-0","namespace":"shop","labels":{"app":"web"}}})"
    "\n"
    R"({"source":"runtime","entity":{"kind":"container","id":"c2","name":"db","labels":{"app":"db"}}})"
    "\n";

TEST_F(CliTest, PushSkipsEventsThatChangeNothing) {
  ASSERT_EQ(Wmeta({"push"}, kNode).exit_code, 0);
  RunResult again = Wmeta({"push", "--json"}, kNode);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto r = bj::parse(again.out);
  EXPECT_EQ(r.at("appended").as_int64(), 0);
  EXPECT_EQ(r.at("noops").as_int64(), 4);
  EXPECT_EQ(RecordCount(), 4u);
  RunResult human = Wmeta({"push"}, kNode);
  EXPECT_EQ(human.out,
            "appended nothing; 4 events changed nothing and were skipped\n");
}

TEST_F(CliTest, ListAndGetTheMergedView) {
  ASSERT_EQ(Wmeta({"push"}, kNode).exit_code, 0);
  auto rows = Lines(Wmeta({"list"}).out);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_TRUE(rows[1].starts_with("container/c1") &&
              rows[1].find("web") != std::string::npos)
      << rows[1];
  auto json = Lines(
      Wmeta({"list", "--json", "--kind", "container", "--selector", "app=web"})
          .out);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(
      bj::parse(json[0]),
      bj::parse(
          R"({"kind":"container","id":"c1","name":"web","labels":{"app":"web"},)"
          R"("pid":42,"owner":{"kind":"kubernetes_pod","id":"p1"}})"));
  EXPECT_EQ(Lines(Wmeta({"list", "--json", "--search", "shop"}).out).size(),
            1u);
  auto with_sources =
      bj::parse(Lines(Wmeta({"list", "--json", "--sources", "--kind",
                             "container", "--search", "c1"})
                          .out)[0]);
  EXPECT_EQ(with_sources.at("sources").as_string(),
            "node_orchestrator,runtime");
  EXPECT_EQ(with_sources.at("provenance").at("name").as_string(),
            "node_orchestrator");
  EXPECT_EQ(with_sources.at("provenance").at("pid").as_string(), "runtime");

  auto get =
      bj::parse(Wmeta({"get", "container/c1", "--json", "--sources"}).out);
  EXPECT_EQ(get.at("version").as_int64(), 2);
  EXPECT_EQ(get.at("create_offset").as_int64(), 1);
  EXPECT_EQ(get.at("layers").at("runtime").at("name").as_string(), "k8s_web");
  RunResult human = Wmeta({"get", "container/c1", "--sources"});
  EXPECT_NE(human.out.find("name: \"web\"  [node_orchestrator]"),
            std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("pid: 42  [runtime]"), std::string::npos)
      << human.out;

  RunResult missing = Wmeta({"get", "container/nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("not_found: container/nope not found"),
            std::string::npos);
  EXPECT_EQ(Wmeta({"get", "pod/x"}).exit_code, 1);
  EXPECT_EQ(Wmeta({"list", "--selector", "=x"}).exit_code, 1);
}

TEST_F(CliTest, TheViewInThePastHistoryAndDiff) {
  ASSERT_EQ(Wmeta({"push"}, kNode).exit_code, 0);
  ASSERT_EQ(
      Wmeta(
          {"push"},
          R"({"source":"runtime","type":"unset","entity":{"kind":"container","id":"c2"}})"
          "\n")
          .exit_code,
      0);
  EXPECT_EQ(Lines(Wmeta({"list", "--json", "--at", "1"}).out).size(), 1u);
  EXPECT_EQ(Lines(Wmeta({"list", "--json", "--at", "4"}).out).size(), 3u);
  EXPECT_EQ(Lines(Wmeta({"list", "--json"}).out).size(), 2u);
  EXPECT_EQ(
      Lines(Wmeta({"list", "--json", "--at-time", "2200-01-01T00:00:00Z"}).out)
          .size(),
      2u);
  EXPECT_EQ(Wmeta({"list", "--at", "9"}).exit_code, 1);
  EXPECT_EQ(Wmeta({"list", "--at", "1", "--at-time", "1h"}).exit_code, 2);

  auto history = Lines(Wmeta({"history", "container/c1", "--json"}).out);
  ASSERT_EQ(history.size(), 2u);
  auto second = bj::parse(history[1]);
  EXPECT_EQ(second.at("offset").as_int64(), 2);
  EXPECT_EQ(second.at("source").as_string(), "node_orchestrator");
  bool renamed = false;
  for (const auto& c : second.at("changes").as_array()) {
    if (c.at("path") == "name") {
      renamed = c.at("before") == "k8s_web" && c.at("after") == "web";
    }
  }
  EXPECT_TRUE(renamed) << history[1];
  EXPECT_NE(Wmeta({"history", "container/c1"})
                .out.find(R"(name: "k8s_web" -> "web")"),
            std::string::npos);

  auto diff = Lines(Wmeta({"diff", "--from", "1", "--to", "5", "--json"}).out);
  ASSERT_EQ(diff.size(), 2u);  // p1 added, c1 changed (c2 came and went)
  EXPECT_EQ(bj::parse(diff[0]).at("change").as_string(), "added");
  EXPECT_EQ(bj::parse(diff[1]).at("change").as_string(), "changed");
  RunResult human = Wmeta({"diff", "--from", "1", "--to", "5"});
  EXPECT_NE(human.out.find("1 added, 0 removed, 1 changed"), std::string::npos)
      << human.out;
  // Times: the views after the last record ingested by each (none by 2000,
  // every one by 2200), shown with the offsets they stand for.
  RunResult by_time = Wmeta({"diff", "--from", "2000-01-01T00:00:00Z", "--to",
                             "2200-01-01T00:00:00Z"});
  ASSERT_EQ(by_time.exit_code, 0) << by_time.err;
  EXPECT_EQ(Lines(by_time.out).at(0),
            "from 2000-01-01T00:00:00Z (offset 0) to 2200-01-01T00:00:00Z "
            "(offset 5): 2 added, 0 removed, 0 changed")
      << by_time.out;
  EXPECT_EQ(Wmeta({"diff", "--from", "1"}).exit_code, 2);
}

TEST_F(CliTest, WatchReplaysThenFollowsAnotherWriter) {
  ASSERT_EQ(Wmeta({"push"}, kNode).exit_code, 0);
  auto snapshot = Lines(Wmeta({"watch", "--json", "--limit", "3"}).out);
  ASSERT_EQ(snapshot.size(), 3u);  // the 3 entities, by kind then id
  EXPECT_EQ(
      bj::parse(snapshot[0]).at("event").at("entity").at("id").as_string(),
      "c1");
  EXPECT_EQ(
      bj::parse(snapshot[2]).at("event").at("entity").at("id").as_string(),
      "p1");
  auto raw = Lines(Wmeta({"watch", "--from", "1", "--raw", "--source",
                          "runtime", "--limit", "2", "--json"})
                       .out);
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(bj::parse(raw[1]).at("offset").as_int64(), 4);

  // A watch from the next offset, in its own process, sees what another
  // process appends later.
  testing::Child watch({WMETA_CLI, "--data-dir", data_, "watch", "--from", "5",
                        "--limit", "1", "--json"});
  RunResult push =
      Wmeta({"push"},
            R"({"source":"runtime","entity":{"kind":"container","id":"c3"}})"
            "\n");
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto line = watch.ReadLine(std::chrono::steady_clock::now() +
                             std::chrono::seconds(30));
  ASSERT_TRUE(line);
  auto event = bj::parse(*line);
  EXPECT_EQ(event.at("offset").as_int64(), 5);
  EXPECT_EQ(event.at("event").at("entity").at("id").as_string(), "c3");
  EXPECT_EQ(watch.Wait(), 0);

  // Ctrl-C ends it cleanly (once it is watching: past the snapshot).
  testing::Child idle({WMETA_CLI, "--data-dir", data_, "watch"});
  std::optional<std::string> shown;
  do {
    shown = idle.ReadLine(std::chrono::steady_clock::now() +
                          std::chrono::seconds(30));
  } while (shown && !shown->starts_with("--- snapshot at offset 5"));
  ASSERT_TRUE(shown);
  EXPECT_EQ(idle.Kill(SIGINT), 0);
}

TEST_F(CliTest, CheckpointAndRetention) {
  ASSERT_EQ(Wmeta({"push"}, kNode).exit_code,
            0);  // closes with a checkpoint at 4
  // Before anything was removed, a time before every record is the empty
  // view.
  RunResult before =
      Wmeta({"list", "--json", "--at-time", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out, "");
  // Retention trims only up to a checkpoint, and must keep record 4 here.
  auto kept =
      bj::parse(Wmeta({"retention", "--max-records", "1", "--json"}).out);
  EXPECT_EQ(kept.at("new_first_offset").as_int64(), 1);
  EXPECT_NE(
      Wmeta({"retention", "--max-records", "1"}).out.find("nothing removed"),
      std::string::npos);
  ASSERT_EQ(
      Wmeta({"push"},
            R"({"source":"runtime","entity":{"kind":"container","id":"c3"}})"
            "\n")
          .exit_code,
      0);
  auto trimmed =
      bj::parse(Wmeta({"retention", "--max-records", "1", "--json"}).out);
  EXPECT_EQ(trimmed.at("new_first_offset").as_int64(), 5);
  EXPECT_EQ(trimmed.at("records_removed").as_int64(), 4);
  auto checkpoint = bj::parse(Wmeta({"checkpoint", "--json"}).out);
  EXPECT_EQ(checkpoint.at("offset").as_int64(), 5);
  EXPECT_EQ(checkpoint.at("entities").as_int64(), 4);
  EXPECT_EQ(Lines(Wmeta({"list", "--json"}).out).size(), 4u);
  EXPECT_EQ(Wmeta({"verify"}).exit_code, 0);
  EXPECT_EQ(Wmeta({"log", "--from", "1"}).exit_code, 1);
  // A time before the removed records cannot be answered, and says so rather
  // than showing the first view kept as if it were then.
  for (std::vector<std::string> args :
       {std::vector<std::string>{"list", "--at-time", "2000-01-01T00:00:00Z"},
        {"diff", "--from", "2000-01-01T00:00:00Z", "--to", "5"}}) {
    RunResult old = Wmeta(args);
    EXPECT_EQ(old.exit_code, 1) << old.out;
    EXPECT_NE(old.err.find("out_of_range: 2000-01-01T00:00:00Z is "
                           "before the records this store still holds"),
              std::string::npos)
        << old.err;
  }
  EXPECT_EQ(Wmeta({"retention"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"retention", "--max-age", "soon"}).exit_code, 2);
  EXPECT_EQ(Wmeta({"retention", "--max-bytes", "lots"}).exit_code, 1);
}

TEST_F(CliTest, NonSyncDurabilityIsStatedInTheAcknowledgement) {
  RunResult push =
      Wmeta({"--durability", "interval:50", "push", "--json"}, kThreeEvents);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto r = bj::parse(push.out);
  EXPECT_EQ(r.at("appended").as_int64(), 3);
  EXPECT_EQ(r.at("durability").as_string(), "interval:50");
  EXPECT_EQ(r.at("synced").as_bool(), false);
  EXPECT_EQ(RecordCount(), 3u);
}

// A record whose text is not UTF-8 (stores written before pushes and
// captures were checked for it) cannot be shown as JSON; it is reported, and
// everything else is still listed.
TEST_F(CliTest, ARecordThatCannotBeShownLeavesTheRestListable) {
  {
    auto log = log::Log::Open(data_, {});
    ASSERT_TRUE(log) << log.error().ToString();
    std::vector<Event> events{testing::ContainerEvent("good", "web"),
                              testing::ContainerEvent("bad", "w\xff"),
                              testing::ContainerEvent("other", "db")};
    ASSERT_TRUE((*log)->Append(events));
  }
  RunResult log = Wmeta({"log", "--json"});
  EXPECT_EQ(log.exit_code, 1);
  EXPECT_EQ(Lines(log.out).size(), 2u) << log.out;
  EXPECT_NE(log.err.find("offset 2"), std::string::npos) << log.err;

  RunResult listed = Wmeta({"list", "--json"});
  EXPECT_EQ(listed.exit_code, 1) << listed.out;
  EXPECT_EQ(Lines(listed.out).size(), 2u) << listed.out;
  EXPECT_NE(listed.out.find("good"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("other"), std::string::npos) << listed.out;
  EXPECT_NE(listed.err.find("container/bad"), std::string::npos) << listed.err;
  // A table shows the bytes as they are.
  RunResult table = Wmeta({"list"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(Lines(table.out).size(), 4u) << table.out;
  RunResult good = Wmeta({"get", "container/good", "--json"});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  RunResult bad = Wmeta({"get", "container/bad", "--json"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not valid UTF-8"), std::string::npos) << bad.err;
  RunResult history = Wmeta({"history", "container/good", "--json"});
  EXPECT_EQ(history.exit_code, 0) << history.err;
  RunResult watch = Wmeta({"watch", "--limit", "3", "--json"});
  EXPECT_EQ(watch.exit_code, 1);
  EXPECT_NE(watch.out.find("good"), std::string::npos) << watch.out;
  EXPECT_NE(watch.out.find("other"), std::string::npos) << watch.out;
}

}  // namespace
}  // namespace wmeta

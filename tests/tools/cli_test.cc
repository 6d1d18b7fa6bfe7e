// The wmeta binary, run the way a user runs it.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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

TEST_F(CliTest, NonSyncDurabilityIsStatedInTheAcknowledgement) {
  RunResult push =
      Wmeta({"--durability", "interval:50", "push", "--json"}, kThreeEvents);
  ASSERT_EQ(push.exit_code, 0) << push.err;
  auto r = bj::parse(push.out);
  EXPECT_EQ(r.at("durability").as_string(), "interval:50");
  EXPECT_EQ(r.at("synced").as_bool(), false);
  EXPECT_EQ(RecordCount(), 3u);
}

}  // namespace
}  // namespace wmeta

#include "wmeta/collectors/recording.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include "temp_dir.h"

namespace wmeta::collectors {
namespace {

Exchange Make(std::string op, std::string key = "", std::string body = "",
              int status = 0) {
  Exchange e;
  e.op = std::move(op);
  e.key = std::move(key);
  if (!body.empty()) e.body = std::move(body);
  e.status = status;
  return e;
}

RecordingHeader Header() {
  return {.collector = "test",
          .source = "runtime",
          .options_json = R"({"name":"test"})",
          .created = "2026-11-25T09:00:00Z"};
}

std::string Write(const testing::TempDir& dir,
                  const std::vector<Exchange>& exchanges) {
  std::string path = dir.Sub("input.wrec");
  auto recorder = InputRecorder::Create(path, Header());
  EXPECT_TRUE(recorder) << recorder.error().ToString();
  for (const Exchange& e : exchanges) {
    EXPECT_TRUE((*recorder)->Write(e));
  }
  return path;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Spit(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(RecordingTest, EveryKindOfAnswerRoundTrips) {
  testing::TempDir dir;
  Exchange error = Make("next");
  error.error = Error{ErrorCode::kUnavailable, "the stream ended"};
  Exchange idle = Make("next");
  Exchange now = Make("now");
  now.value = 1795598197626515526;
  Exchange missing = Make("read", "/proc/9/cgroup");
  std::string body = "{\"a\":\"\\u00e9\\n\"}\n\x01 tab\t";
  std::string path =
      Write(dir, {Make("connect"), Make("get", "/v1.41/version", body, 200),
                  error, idle, now, missing, Make("get", "/gone", "", 404)});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "recordings hold secrets";

  auto replay = InputReplay::Open(path);
  ASSERT_TRUE(replay) << replay.error().ToString();
  EXPECT_EQ((*replay)->header().collector, "test");
  EXPECT_EQ((*replay)->header().source, "runtime");
  EXPECT_EQ((*replay)->header().options_json, R"({"name":"test"})");
  EXPECT_EQ((*replay)->header().created, "2026-11-25T09:00:00Z");
  ASSERT_EQ((*replay)->size(), 7u);
  InputReplay& r = **replay;
  ASSERT_NE(r.Answer("connect", ""), nullptr);
  const Exchange* got = r.Answer("get", "/v1.41/version");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, body);
  got = r.Answer("next", "");
  ASSERT_NE(got, nullptr);
  ASSERT_TRUE(got->error);
  EXPECT_EQ(got->error->code, ErrorCode::kUnavailable);
  EXPECT_EQ(got->error->message, "the stream ended");
  got = r.Answer("next", "");
  ASSERT_NE(got, nullptr);
  EXPECT_FALSE(got->error);
  EXPECT_FALSE(got->body) << "an idle stream answers no line";
  EXPECT_EQ(r.Answer("now", "")->value, 1795598197626515526);
  EXPECT_FALSE(r.Answer("read", "/proc/9/cgroup")->body);
  EXPECT_EQ(r.Answer("get", "/gone")->status, 404);
  EXPECT_TRUE(r.Done());
  // The end: a stream call finds nothing, and that is not a divergence.
  EXPECT_EQ(r.Answer("next", ""), nullptr);
  EXPECT_EQ(r.divergences(), 0u) << r.first_divergence();
}

TEST(RecordingTest, ACollectorThatAsksDifferentlyGetsTheRecordedState) {
  testing::TempDir dir;
  std::string path = Write(
      dir, {Make("connect"), Make("get", "/list", "[]", 200),
            Make("next", "", "event 1"), Make("get", "/c/1", "one v1", 200),
            Make("ready"), Make("next", "", "event 2"),
            Make("get", "/c/1", "one v2", 200), Make("get", "/c/2", "two", 200),
            Make("next", "", "event 3")});
  auto replay = InputReplay::Open(path);
  ASSERT_TRUE(replay);
  InputReplay& r = **replay;
  ASSERT_NE(r.Answer("connect", ""), nullptr);
  ASSERT_NE(r.Answer("get", "/list"), nullptr);
  EXPECT_EQ(r.Answer("next", "")->body, "event 1");
  // Asked out of order: the state as of the cursor (nothing later yet, so
  // the first recorded), and the cursor stays.
  EXPECT_EQ(r.Answer("get", "/c/2")->body, "two");
  EXPECT_EQ(r.divergences(), 1u);
  EXPECT_EQ(r.first_divergence(),
            "exchange 4 is get /c/1; the collector asked get /c/2");
  // A stream call skips the requests it did not make, and the "ready".
  EXPECT_EQ(r.Answer("next", "")->body, "event 2");
  EXPECT_EQ(r.divergences(), 2u);
  // "ready" where none was recorded: not ready.
  EXPECT_EQ(r.Answer("ready", ""), nullptr);
  // A request answered from the latest state before the cursor.
  ASSERT_NE(r.Answer("get", "/c/2"), nullptr);
  EXPECT_EQ(r.Answer("get", "/c/1")->body, "one v2");
  // Never recorded: no answer.
  EXPECT_EQ(r.Answer("get", "/c/3"), nullptr);
  EXPECT_EQ(r.Answer("next", "")->body, "event 3");
  EXPECT_TRUE(r.Done());
}

TEST(RecordingTest, ARequestNoLongerMadeIsSkippedNotStuckOn) {
  // The collector stopped asking /skipped: its next requests get the answers
  // of their own stretch of the recording, not the previous listing's.
  testing::TempDir dir;
  std::string path =
      Write(dir, {Make("connect"), Make("get", "/list", "v1", 200),
                  Make("next", "", "e1"), Make("get", "/skipped", "x", 200),
                  Make("get", "/list", "v2", 200), Make("next", "", "e2")});
  auto replay = InputReplay::Open(path);
  ASSERT_TRUE(replay);
  InputReplay& r = **replay;
  ASSERT_NE(r.Answer("connect", ""), nullptr);
  EXPECT_EQ(r.Answer("get", "/list")->body, "v1");
  EXPECT_EQ(r.Answer("next", "")->body, "e1");
  EXPECT_EQ(r.Answer("get", "/list")->body, "v2");
  EXPECT_EQ(r.Answer("next", "")->body, "e2");
  EXPECT_EQ(r.divergences(), 1u);
  EXPECT_TRUE(r.Done());
}

TEST(RecordingTest, AStreamCallNeverCrossesIntoTheNextSession) {
  testing::TempDir dir;
  std::string path =
      Write(dir, {Make("connect"), Make("get", "/list", "[]", 200),
                  Make("connect"), Make("next", "", "second session")});
  auto replay = InputReplay::Open(path);
  ASSERT_TRUE(replay);
  InputReplay& r = **replay;
  ASSERT_NE(r.Answer("connect", ""), nullptr);
  ASSERT_NE(r.Answer("get", "/list"), nullptr);
  // The recorded session ended here; its replay does too.
  EXPECT_EQ(r.Answer("next", ""), nullptr);
  EXPECT_FALSE(r.Done());
  ASSERT_NE(r.Answer("connect", ""), nullptr);
  EXPECT_EQ(r.Answer("next", "")->body, "second session");
  EXPECT_TRUE(r.Done());

  // A connect skips the rest of its session.
  auto again = InputReplay::Open(path);
  ASSERT_TRUE(again);
  ASSERT_NE((*again)->Answer("connect", ""), nullptr);
  ASSERT_NE((*again)->Answer("connect", ""), nullptr);
  EXPECT_EQ((*again)->Answer("next", "")->body, "second session");
}

TEST(RecordingTest, DamageIsReportedByLine) {
  testing::TempDir dir;
  std::string path = Write(dir, {Make("connect"), Make("get", "/a", "x", 200),
                                 Make("next", "", "line")});
  std::string good = Slurp(path);
  struct Case {
    std::string text;
    ErrorCode code;
    std::string message;
  };
  std::string header = good.substr(0, good.find('\n') + 1);
  std::vector<Case> cases{
      {header + "{\"op\":\"get\",\"status\":\"200\"}\n", ErrorCode::kCorruption,
       "line 2: \"status\" is not a status"},
      {header + "{\"op\":\"get\",\"status\":42}\n", ErrorCode::kCorruption,
       "line 2: \"status\" is not a status"},
      {header + "{\"key\":\"/a\"}\n", ErrorCode::kCorruption,
       "line 2: no \"op\""},
      {header + "[1,2]\n", ErrorCode::kCorruption, "line 2: not a JSON object"},
      {header + "{\"op\":\"next\",\"body\":7}\n", ErrorCode::kCorruption,
       "line 2: \"body\" is not a string"},
      {header + "{\"op\":\"next\",\"error\":{\"code\":\"nope\",\"message\":"
                "\"x\"}}\n",
       ErrorCode::kCorruption, "line 2: unknown error code \"nope\""},
      {header + "{\"op\":\"next\",\"error\":\"x\"}\n", ErrorCode::kCorruption,
       "line 2: \"error\" is not {\"code\", \"message\"}"},
      {"", ErrorCode::kUnsupportedFormat, "empty"},
      {"\x89WCAP\r\n\x1a\n", ErrorCode::kUnsupportedFormat,
       "line 1: not a JSON object"},
      {"{\"format\":\"other\"}\n", ErrorCode::kUnsupportedFormat,
       "line 1: not a collector input recording"},
      {"{\"format\":\"wmeta-collector-input\",\"version\":2}\n",
       ErrorCode::kUnsupportedFormat,
       "line 1: a recording of a format version"},
      {"{\"format\":\"wmeta-collector-input\",\"version\":1}\n",
       ErrorCode::kCorruption, "line 1: the header names no collector"},
  };
  for (const Case& c : cases) {
    Spit(path, c.text);
    auto replay = InputReplay::Open(path);
    ASSERT_FALSE(replay) << c.text;
    EXPECT_EQ(replay.error().code, c.code) << c.text;
    EXPECT_NE(replay.error().message.find(c.message), std::string::npos)
        << replay.error().message;
    EXPECT_EQ(replay.error().message.rfind(path + ": ", 0), 0u)
        << replay.error().message;
  }
  // A torn last line (a recorder killed while writing it): what precedes it
  // replays, and the line is named.
  Spit(path, good.substr(0, good.size() - 5));
  auto torn = InputReplay::Open(path);
  ASSERT_TRUE(torn) << torn.error().ToString();
  EXPECT_EQ((*torn)->torn_line(), 4u);
  EXPECT_EQ((*torn)->size(), 2u);
  Spit(path, header.substr(0, 20));
  auto torn_header = InputReplay::Open(path);
  ASSERT_FALSE(torn_header);
  EXPECT_NE(torn_header.error().message.find("line 1: the header line is torn"),
            std::string::npos);

  // Bodies are what the source sent, valid UTF-8 or not.
  std::string invalid = "caf\xc3 \xff";
  path = Write(dir, {Make("get", "/a", invalid, 500)});
  auto raw = InputReplay::Open(path);
  ASSERT_TRUE(raw) << raw.error().ToString();
  EXPECT_EQ((*raw)->Answer("get", "/a")->body, invalid);

  auto missing = InputReplay::Open(dir.Sub("missing.wrec"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(RecordingTest, AFullDiskFailsTheWriteAndKeepsTheFileReadable) {
  // /dev/full accepts the open and fails every write with ENOSPC.
  auto full = InputRecorder::Create("/dev/full", Header());
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kIoError);
  EXPECT_NE(full.error().message.find("No space left on device"),
            std::string::npos)
      << full.error().message;

  auto unwritable = InputRecorder::Create("/nonexistent/dir/x.wrec", Header());
  ASSERT_FALSE(unwritable);
  EXPECT_EQ(unwritable.error().code, ErrorCode::kIoError);

  // A write that stops part way (here at a file size limit, as at a full
  // disk): the error, and the file cut back to its last whole exchange.
  testing::TempDir dir;
  std::string path = dir.Sub("input.wrec");
  auto recorder = InputRecorder::Create(path, Header());
  ASSERT_TRUE(recorder);
  ASSERT_TRUE((*recorder)->Write(Make("get", "/a", "small", 200)));
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = static_cast<rlim_t>(Slurp(path).size()) + 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  Status big =
      (*recorder)->Write(Make("get", "/b", std::string(64 << 10, 'x'), 200));
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kIoError);
  EXPECT_NE(big.error().message.find(path), std::string::npos);
  auto replay = InputReplay::Open(path);
  ASSERT_TRUE(replay) << replay.error().ToString();
  ASSERT_EQ((*replay)->size(), 1u);
  EXPECT_EQ((*replay)->Answer("get", "/a")->body, "small");
  // The recorder goes on after the failure.
  ASSERT_TRUE((*recorder)->Write(Make("get", "/c", "after", 200)));
  replay = InputReplay::Open(path);
  ASSERT_TRUE(replay) << replay.error().ToString();
  EXPECT_EQ((*replay)->size(), 2u);
}

}  // namespace
}  // namespace wmeta::collectors

// The process collector on a fixture /proc tree (testdata/proc, copied to a
// temp dir so that tests can change it; symlinks are made here, since git keeps
// them poorly).

#include "wmeta/collectors/process.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"
#include "test_sink.h"
#include "wmeta/schema/json.h"
#include "wmeta/schema/utf8.h"

namespace wmeta::collectors {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using wmeta::testing::OnePull;
using wmeta::testing::TestSink;

constexpr char kContainerId[] =
    "1df8e5a588a978ceca7d7b944913dc07d56552f4940f59f987a54b6c8bf1c94b";
constexpr int64_t kBootTime = 1795567454;

// What the fixture's start time in clock ticks after boot is, as a time.
int64_t CreationTime(uint64_t start_ticks) {
  auto ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return kBootTime * 1'000'000'000 +
         static_cast<int64_t>(start_ticks * 1'000'000'000 / ticks);
}

std::vector<std::string> Strings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
  std::vector<std::string> out;
  if (v != nullptr) {
    for (const auto* s : *v) out.push_back(s->str());
  }
  return out;
}

std::vector<int> Ints(const flatbuffers::Vector<int32_t>* v) {
  return v == nullptr ? std::vector<int>{}
                      : std::vector<int>(v->begin(), v->end());
}

// "set process/4242", "unset process/5001", checking the source on the way.
std::string Describe(const Event& event) {
  EventView view = event.view();
  EXPECT_EQ(view.source(), kProcessSource);
  return std::string(EventTypeName(view.type())) + " " +
         view.entity_id().ToString();
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(WMETA_COLLECTORS_TESTDATA "/proc", root_,
             fs::copy_options::recursive);
    fs::create_symlink("/usr/sbin/nginx", Path("4242/exe"));
    fs::create_symlink("/", Path("4242/cwd"));
    fs::create_symlink("/usr/lib/systemd/systemd", Path("1/exe"));
    fs::create_symlink("/", Path("1/cwd"));
    fs::create_symlink("/home/user/bin/my (weird) prog", Path("5001/exe"));
    fs::create_symlink("/home/user", Path("5001/cwd"));
    fs::create_symlink("/opt/\xff/prog", Path("8000/exe"));
    fs::create_symlink("/tmp/caf\xc3\xa9/\xed\xa0\x80", Path("8000/cwd"));
  }

  std::string Path(std::string_view sub) const {
    return root_ + "/" + std::string(sub);
  }
  void Write(std::string_view sub, const std::string& content) const {
    std::ofstream(Path(sub), std::ios::binary | std::ios::trunc) << content;
  }
  std::string Read(std::string_view sub) const {
    std::ifstream in(Path(sub), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }
  // Process 4242's stat with another start time: its pid reused.
  void Reuse4242() const {
    std::string stat = Read("4242/stat");
    size_t start = stat.find(" 123456 ");
    ASSERT_NE(start, std::string::npos);
    stat.replace(start, 8, " 987654 ");
    Write("4242/stat", stat);
  }

  // One pull; its status, as reported.
  Status Pull() {
    OnePull reporter;
    auto run = collector_->Run(sink_, reporter, reporter.token());
    EXPECT_TRUE(run) << run.error().ToString();
    return reporter.status();
  }

  // The Emit calls since the last call, described.
  std::vector<std::vector<std::string>> NewEmits() {
    auto emits = sink_.Emits();
    std::vector<std::vector<std::string>> out;
    for (size_t i = taken_; i < emits.size(); ++i) {
      auto& described = out.emplace_back();
      for (const auto& event : emits[i]) described.push_back(Describe(event));
    }
    taken_ = emits.size();
    return out;
  }

  testing::TempDir dir_;
  std::string root_ = dir_.Sub("proc");
  TestSink sink_;
  std::unique_ptr<Collector> collector_ = NewProcessCollector(
      {.proc_root = root_, .interval = std::chrono::milliseconds(1)});
  size_t taken_ = 0;
};

TEST_F(ProcessTest, ReadsEveryField) {
  auto event = ReadProcess(root_, 4242);
  ASSERT_TRUE(event) << event.error().ToString();
  EventView view = event->view();
  EXPECT_EQ(view.source(), kProcessSource);
  EXPECT_EQ(view.type(), EventType::kSet);
  EXPECT_GT(view.observed_time(), Timestamp());
  ASSERT_EQ(view.kind(), Kind::kProcess);
  const fb::Process& p = *view.record().entity_as_Process();
  EXPECT_EQ(p.id()->str(), "4242");
  EXPECT_EQ(p.pid(), 4242);
  EXPECT_EQ(p.ns_pid(), 1);
  EXPECT_EQ(p.ppid(), 4200);
  ASSERT_NE(p.name(), nullptr);
  EXPECT_EQ(p.name()->str(), "nginx");
  ASSERT_NE(p.comm(), nullptr);
  EXPECT_EQ(p.comm()->str(), "nginx");
  ASSERT_NE(p.exe(), nullptr);
  EXPECT_EQ(p.exe()->str(), "/usr/sbin/nginx");
  ASSERT_NE(p.cwd(), nullptr);
  EXPECT_EQ(p.cwd()->str(), "/");
  EXPECT_THAT(Strings(p.cmdline()), ElementsAre("nginx", "-g", "daemon off;"));
  EXPECT_THAT(Ints(p.uids()), ElementsAre(101, 101, 101, 101));
  EXPECT_THAT(Ints(p.gids()), ElementsAre(102, 102, 102, 102));
  ASSERT_NE(p.container_id(), nullptr);
  EXPECT_EQ(p.container_id()->str(), kContainerId);
  ASSERT_NE(p.owner(), nullptr);
  EXPECT_EQ(p.owner()->kind(), fb::Kind::container);
  ASSERT_NE(p.owner()->id(), nullptr);
  EXPECT_EQ(p.owner()->id()->str(), kContainerId);
  EXPECT_EQ(p.creation_time(), CreationTime(123456));
}

TEST_F(ProcessTest, NamesWithSpacesAndParentheses) {
  auto event = ReadProcess(root_, 5001);
  ASSERT_TRUE(event) << event.error().ToString();
  const fb::Process& p = *event->view().record().entity_as_Process();
  EXPECT_EQ(p.comm()->str(), "my (weird) prog");
  EXPECT_EQ(p.name()->str(), "my (weird) prog");
  EXPECT_EQ(p.exe()->str(), "/home/user/bin/my (weird) prog");
  EXPECT_EQ(p.ppid(), 4990);
  EXPECT_EQ(p.creation_time(), CreationTime(250077));
  // Arguments keep their spaces, and an empty one stays.
  EXPECT_THAT(Strings(p.cmdline()),
              ElementsAre("./my (weird) prog", "--flag=a b", "", "last"));
  EXPECT_THAT(Ints(p.uids()), ElementsAre(1000, 1001, 1002, 1003));
  // One pid namespace: no ns_pid. A login session: no container.
  EXPECT_FALSE(p.ns_pid().has_value());
  EXPECT_EQ(p.container_id(), nullptr);
  EXPECT_EQ(p.owner(), nullptr);
}

TEST_F(ProcessTest, UnreadableFieldsAreLeftOut) {
  auto event = ReadProcess(root_, 7000);
  ASSERT_TRUE(event) << event.error().ToString();
  const fb::Process& p = *event->view().record().entity_as_Process();
  EXPECT_EQ(p.pid(), 7000);
  EXPECT_EQ(p.ppid(), 1);
  EXPECT_EQ(p.comm()->str(), "worker");
  EXPECT_EQ(p.creation_time(), CreationTime(300000));
  EXPECT_EQ(p.name(), nullptr);
  EXPECT_EQ(p.exe(), nullptr);
  EXPECT_EQ(p.cwd(), nullptr);
  EXPECT_EQ(p.cmdline(), nullptr);
  EXPECT_EQ(p.uids(), nullptr);
  EXPECT_EQ(p.gids(), nullptr);
  EXPECT_EQ(p.container_id(), nullptr);
  EXPECT_FALSE(p.ns_pid().has_value());
}

TEST_F(ProcessTest, TextThatIsNotUtf8IsRepaired) {
  auto event = ReadProcess(root_, 8000);
  ASSERT_TRUE(event) << event.error().ToString();
  const fb::Process& p = *event->view().record().entity_as_Process();
  // The kernel cut comm (and Name) at 15 bytes, in the middle of a character.
  const std::string comm = "\xef\xbf\xbdprog-\xe6\x97\xa5\xef\xbf\xbd";
  EXPECT_EQ(p.comm()->str(), comm);
  ASSERT_NE(p.name(), nullptr);
  EXPECT_EQ(p.name()->str(), comm);
  EXPECT_THAT(Strings(p.cmdline()),
              ElementsAre("./\xef\xbf\xbdprog", "--name=caf\xc3\xa9",
                          "\xef\xbf\xbd\xef\xbf\xbd"));
  ASSERT_NE(p.exe(), nullptr);
  EXPECT_EQ(p.exe()->str(), "/opt/\xef\xbf\xbd/prog");
  ASSERT_NE(p.cwd(), nullptr);
  EXPECT_EQ(p.cwd()->str(),
            "/tmp/caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  std::vector<std::string> strings = Strings(p.cmdline());
  strings.insert(strings.end(), {p.comm()->str(), p.name()->str(),
                                 p.exe()->str(), p.cwd()->str()});
  for (const auto& s : strings) EXPECT_TRUE(IsValidUtf8(s)) << s;
  // What the store needs of a record: that it can be shown as JSON.
  auto json = JsonCodec().EventToJson(event->view());
  EXPECT_TRUE(json) << json.error().ToString();
}

TEST_F(ProcessTest, KernelThreadsAreNotFound) {
  for (int pid : {2, 17}) {
    auto event = ReadProcess(root_, pid);
    ASSERT_FALSE(event) << pid;
    EXPECT_EQ(event.error().code, ErrorCode::kNotFound) << pid;
  }
}

TEST_F(ProcessTest, IdsAboveInt32MaxKeepTheirBits) {
  Write("7000/status",
        "Name:\tworker\n"
        "Uid:\t4294967294\t4294967294\t0\t4294967295\n"
        "Gid:\t2147483648\t0\t0\t0\n");
  auto event = ReadProcess(root_, 7000);
  ASSERT_TRUE(event) << event.error().ToString();
  const fb::Process& p = *event->view().record().entity_as_Process();
  EXPECT_THAT(Ints(p.uids()), ElementsAre(-2, -2, 0, -1));
  EXPECT_THAT(Ints(p.gids()), ElementsAre(INT32_MIN, 0, 0, 0));
  EXPECT_EQ(static_cast<uint32_t>(p.uids()->Get(0)), 4294967294u);
}

TEST_F(ProcessTest, IdsBeyond32BitsAreLeftOut) {
  Write("7000/status",
        "Name:\tworker\n"
        "Uid:\t4294967296\t0\t0\t0\n"
        "Gid:\t1\t1\t1\t1\n");
  auto event = ReadProcess(root_, 7000);
  ASSERT_TRUE(event) << event.error().ToString();
  const fb::Process& p = *event->view().record().entity_as_Process();
  EXPECT_EQ(p.uids(), nullptr);
  EXPECT_THAT(Ints(p.gids()), ElementsAre(1, 1, 1, 1));
}

TEST_F(ProcessTest, TrailingNulsOfTheCommandLineAreDropped) {
  struct Case {
    std::string cmdline;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      // A rewritten title, padded to the length of the original arguments.
      {std::string("nginx: worker process") + std::string(20, '\0'),
       {"nginx: worker process"}},
      {std::string("nginx: worker process"), {"nginx: worker process"}},
      {std::string("a\0\0b\0\0\0", 7), {"a", "", "b"}},
      {std::string(8, '\0'), {}},
  };
  for (const auto& c : cases) {
    Write("7000/cmdline", c.cmdline);
    auto event = ReadProcess(root_, 7000);
    ASSERT_TRUE(event) << event.error().ToString();
    const fb::Process& p = *event->view().record().entity_as_Process();
    EXPECT_EQ(Strings(p.cmdline()), c.want) << c.cmdline;
  }
}

TEST_F(ProcessTest, AProcessWithoutAReadableStatIsNotFound) {
  for (int pid : {6000, 6001, 9999}) {
    auto event = ReadProcess(root_, pid);
    ASSERT_FALSE(event) << pid;
    EXPECT_EQ(event.error().code, ErrorCode::kNotFound) << pid;
  }
}

TEST_F(ProcessTest, NoBootTimeIsAnError) {
  fs::remove(Path("stat"));
  auto event = ReadProcess(root_, 4242);
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().code, ErrorCode::kIoError);
  auto pulled = Pull();
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, ErrorCode::kIoError);
  EXPECT_THAT(NewEmits(), IsEmpty());
}

// Reads process 7000 while `change` happens to it. Its cmdline becomes a FIFO,
// which holds the read there until `change` is done: stat is read by then,
// and read again after.
class ProcessMidReadTest : public ProcessTest {
 protected:
  Result<Event> ReadWhile(const std::function<void()>& change) {
    std::string fifo = Path("7000/cmdline");
    if (mkfifo(fifo.c_str(), 0600) != 0) {
      ADD_FAILURE() << "mkfifo: " << std::strerror(errno);
      return ReadProcess(root_, 7000);
    }
    auto read = std::async(std::launch::async,
                           [this] { return ReadProcess(root_, 7000); });
    // Opening the write end without blocking succeeds once the reader has
    // opened the read end.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int fd;
    while ((fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 &&
           errno == ENXIO && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (fd < 0) {
      ADD_FAILURE() << "the read never reached cmdline";
      // Never blocks, and lets a late reader through.
      fd = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
    }
    change();
    EXPECT_EQ(write(fd, "worker", 6), 6);
    close(fd);
    return read.get();
  }
};

TEST_F(ProcessMidReadTest, AProcessLeftAloneIsRead) {
  auto event = ReadWhile([] {});
  ASSERT_TRUE(event) << event.error().ToString();
  EXPECT_THAT(Strings(event->view().record().entity_as_Process()->cmdline()),
              ElementsAre("worker"));
}

TEST_F(ProcessMidReadTest, AProcessThatExitsWhileReadIsNotFound) {
  auto event = ReadWhile([this] { fs::remove(Path("7000/stat")); });
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().code, ErrorCode::kNotFound);
}

TEST_F(ProcessMidReadTest, APidReusedWhileReadIsNotFound) {
  auto event = ReadWhile([this] {
    std::string stat = Read("7000/stat");
    size_t start = stat.find(" 300000 ");
    ASSERT_NE(start, std::string::npos);
    stat.replace(start, 8, " 300001 ");
    Write("7000/stat", stat);
  });
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().code, ErrorCode::kNotFound);
  EXPECT_NE(event.error().message.find("replaced"), std::string::npos)
      << event.error().message;
}

TEST_F(ProcessTest, APullSetsWorkloadsOnly) {
  ASSERT_TRUE(Pull());
  // Not kthreadd (2) nor its kernel worker (17); 6000 and 6001 have no
  // readable stat; "sys" is no process.
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("set process/1", "set process/4242",
                                      "set process/5001", "set process/7000",
                                      "set process/8000")));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ProcessTest, AProcessThatExitedIsUnset) {
  ASSERT_TRUE(Pull());
  NewEmits();
  fs::remove_all(Path("5001"));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("unset process/5001")));
}

TEST_F(ProcessTest, AChangedProcessIsSetAgain) {
  ASSERT_TRUE(Pull());
  NewEmits();
  Write("7000/cmdline", std::string("worker\0--busy\0", 14));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("set process/7000")));
  auto events = sink_.Events();
  const fb::Process& p = *events.back().view().record().entity_as_Process();
  EXPECT_THAT(Strings(p.cmdline()), ElementsAre("worker", "--busy"));
}

TEST_F(ProcessTest, AReusedPidIsUnsetThenSetInOneEmit) {
  ASSERT_TRUE(Pull());
  NewEmits();
  Reuse4242();
  fs::remove_all(Path("5001"));

  ASSERT_TRUE(Pull());
  // The reused pid's pair first, then the rest of the diff.
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset process/4242", "set process/4242",
                                      "unset process/5001")));
  auto emits = sink_.Emits();
  const fb::Process& p = *emits.back()[1].view().record().entity_as_Process();
  EXPECT_EQ(p.creation_time(), CreationTime(987654));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ProcessTest, AFailedReuseEmitIsRetriedWhole) {
  ASSERT_TRUE(Pull());
  NewEmits();
  Reuse4242();
  sink_.FailNextEmit();
  ASSERT_FALSE(Pull());
  EXPECT_THAT(NewEmits(), IsEmpty());

  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("unset process/4242",
                                                  "set process/4242")));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ProcessTest, AClockStepIsNoReuse) {
  ASSERT_TRUE(Pull());
  NewEmits();
  // The kernel derives btime from the wall clock: a step moves it.
  std::string stat = Read("stat");
  std::string btime = "btime " + std::to_string(kBootTime);
  size_t at = stat.find(btime);
  ASSERT_NE(at, std::string::npos);
  stat.replace(at, btime.size(), "btime " + std::to_string(kBootTime + 3600));
  Write("stat", stat);

  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), IsEmpty());
  // Creation times keep the boot time of the first pull.
  Write("7000/cmdline", std::string("worker\0--busy\0", 14));
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("set process/7000")));
  std::vector<Event> events = sink_.Events();
  const fb::Process& p = *events.back().view().record().entity_as_Process();
  EXPECT_EQ(p.creation_time(), CreationTime(300000));
}

TEST_F(ProcessTest, TheFirstPullUnsetsWhatExitedWhileNobodyListed) {
  sink_.SetKnown(Kind::kProcess, std::string(kProcessSource),
                 {"4242", "31337"});
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset process/31337", "set process/1",
                                      "set process/4242", "set process/5001",
                                      "set process/7000", "set process/8000")));
}

TEST_F(ProcessTest, AFailedEmitIsRetriedAtTheNextPull) {
  ASSERT_TRUE(Pull());
  NewEmits();
  fs::remove_all(Path("5001"));
  sink_.FailNextEmit();
  ASSERT_FALSE(Pull());
  ASSERT_TRUE(Pull());
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("unset process/5001")));
}

TEST_F(ProcessTest, TheCollectorIsNamedProcess) {
  EXPECT_EQ(collector_->name(), "process");
}

}  // namespace
}  // namespace wmeta::collectors

// The process collector on this machine's /proc, under a Supervisor: a child
// it starts appears with the right fields and disappears once killed. And
// kernel threads are not listed.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "events.h"
#include "subprocess.h"
#include "test_sink.h"
#include "wmeta/collectors/process.h"
#include "wmeta/collectors/supervisor.h"

namespace wmeta::collectors {
namespace {

using wmeta::testing::OnePull;
using wmeta::testing::TestSink;

// The last event about process `pid` that `accept` takes, or nullptr.
const Event* Last(const std::vector<Event>& events, int pid,
                  const std::function<bool(const EventView&)>& accept) {
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    EventView view = it->view();
    if (view.kind() == Kind::kProcess && view.id() == std::to_string(pid) &&
        accept(view)) {
      return &*it;
    }
  }
  return nullptr;
}

// A set once the child has become sleep, every field read after the exec.
// Before, it is a copy of this test binary, then a shell; an exec changes the
// exe link, the name and the arguments one after the other, and a pull in the
// middle reads some of each (sleep's exe with the shell's name and command
// line, say). The collector sets the process again at its next pull, so the
// wait ends with a set of the settled state; a collector that misread a field
// would never produce one.
bool IsSleepSet(const EventView& view) {
  const fb::Process* p = view.record().entity_as_Process();
  if (view.type() != EventType::kSet || p->exe() == nullptr ||
      p->comm() == nullptr || p->cmdline() == nullptr) {
    return false;
  }
  std::vector<std::string> cmdline;
  for (const auto* arg : *p->cmdline()) cmdline.push_back(arg->str());
  return std::filesystem::path(p->exe()->str()).filename() == "sleep" &&
         p->comm()->str() == "sleep" &&
         cmdline == std::vector<std::string>{"/bin/sleep", "300"};
}

// Whether /proc/`pid`/stat has the PF_KTHREAD flag (include/linux/sched.h).
bool IsKernelThread(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos) return false;
  // After comm: state, ppid, pgrp, session, tty_nr, tpgid, then flags.
  std::istringstream fields(stat.substr(comm_end + 1));
  std::string field;
  for (int i = 0; i < 7; ++i) fields >> field;
  uint64_t flags = 0;
  auto [end, ec] =
      std::from_chars(field.data(), field.data() + field.size(), flags);
  return ec == std::errc() && (flags & 0x00200000) != 0;
}

TEST(ProcessRealTest, KernelThreadsAreNotListed) {
  TestSink sink;
  auto collector = NewProcessCollector({.proc_root = "/proc"});
  OnePull reporter;
  ASSERT_TRUE(collector->Run(sink, reporter, reporter.token()));
  ASSERT_TRUE(reporter.status()) << reporter.status().error().ToString();
  std::vector<Event> events = sink.Events();
  auto any = [](const EventView&) { return true; };
  // The pull listed: this test's process is there.
  EXPECT_NE(Last(events, getpid(), any), nullptr);
  // Nothing listed is a kernel thread (kthreadd, pid 2, is one outside
  // containers; in a pid namespace without any, the check still holds).
  for (const Event& event : events) {
    EXPECT_FALSE(IsKernelThread(std::string(event.view().id())))
        << event.view().id();
  }
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos ||
        !IsKernelThread(name)) {
      continue;
    }
    auto read = ReadProcess("/proc", std::stoi(name));
    ASSERT_FALSE(read) << name;
    EXPECT_EQ(read.error().code, ErrorCode::kNotFound) << name;
  }
}

TEST(ProcessRealTest, AChildAppearsAndDisappears) {
  TestSink sink;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(NewProcessCollector(
      {.proc_root = "/proc", .interval = std::chrono::milliseconds(20)}));
  auto supervisor = Supervisor::Start(std::move(collectors), sink);
  ASSERT_TRUE(supervisor) << supervisor.error().ToString();

  auto spawned = std::chrono::system_clock::now();
  // The shell says its pid, then becomes sleep: the pid stays, and this test
  // stays the parent.
  testing::Child child({"/bin/sh", "-c", "echo $$; exec /bin/sleep 300"});
  auto line = child.ReadLine(std::chrono::steady_clock::now() +
                             std::chrono::seconds(30));
  ASSERT_TRUE(line) << "the child did not say its pid";
  int pid = std::stoi(*line);

  bool set_seen = sink.WaitFor([&](const std::vector<Event>& events) {
    return Last(events, pid, IsSleepSet) != nullptr;
  });
  std::vector<Event> emitted = sink.Events();
  const Event* set = Last(emitted, pid, IsSleepSet);
  if (!set_seen) {
    const Event* last = Last(emitted, pid, [](const EventView& view) {
      return view.type() == EventType::kSet;
    });
    FAIL() << "no set of the child as sleep, pid " << pid << "; the last: "
           << (last == nullptr ? "none" : testing::EntityJson(last->view()));
  }
  ASSERT_NE(set, nullptr);
  const fb::Process& p = *set->view().record().entity_as_Process();
  EXPECT_EQ(p.pid(), pid);
  EXPECT_EQ(p.ppid(), getpid());
  EXPECT_EQ(p.exe()->str(), std::filesystem::canonical("/bin/sleep").string());
  // The boot time has a resolution of a second, and is rounded.
  auto created = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(p.creation_time())));
  EXPECT_GT(created, spawned - std::chrono::seconds(2));
  EXPECT_LT(created,
            std::chrono::system_clock::now() + std::chrono::seconds(2));

  child.Kill(SIGKILL);
  auto is_unset = [](const EventView& view) {
    return view.type() == EventType::kUnset;
  };
  bool unset_seen = sink.WaitFor([&](const std::vector<Event>& events) {
    return Last(events, pid, is_unset) != nullptr;
  });
  ASSERT_TRUE(unset_seen) << "no unset of the child, pid " << pid;

  auto health = (*supervisor)->Health();
  ASSERT_EQ(health.size(), 1u);
  EXPECT_EQ(health[0].name, "process");
  EXPECT_GT(health[0].pulls, 0u);
  EXPECT_EQ(health[0].pull_errors, 0u);
  EXPECT_EQ(health[0].restarts, 0u);
  EXPECT_TRUE(health[0].healthy());
}

}  // namespace
}  // namespace wmeta::collectors

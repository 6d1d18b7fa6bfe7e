// Supervisor: restarts after errors and exceptions with a backoff, health and
// counters, prompt shutdown. PullCollector's loop is tested here too, since
// the supervisor is what runs it.

#include "wmeta/collectors/supervisor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "test_sink.h"

namespace wmeta::collectors {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using wmeta::testing::TestSink;

constexpr auto kDeadline = std::chrono::seconds(30);

// Waits until `done()` holds; false after kDeadline. Checks every
// millisecond: the supervisor offers no notification, and spinning would take
// the core its threads need.
bool WaitUntil(const std::function<bool()>& done) {
  auto deadline = steady_clock::now() + kDeadline;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Blocks until `stop` is requested or `timeout` passes; true when stopped.
bool WaitForStop(std::stop_token stop, steady_clock::duration timeout) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return cv.wait_for(lock, stop, timeout, [] { return false; }) ||
         stop.stop_requested();
}

// A collector whose every run does `run`.
class FakeCollector final : public Collector {
 public:
  using RunFn = std::function<Status(Reporter&, std::stop_token)>;
  FakeCollector(std::string name, RunFn run)
      : name_(std::move(name)), run_(std::move(run)) {}

  std::string_view name() const override { return name_; }
  Status Run(Sink&, Reporter& reporter, std::stop_token stop) override {
    return run_(reporter, stop);
  }

 private:
  std::string name_;
  RunFn run_;
};

// Runs until stopped, and says whether it is in a run and whether a run
// ended because of the stop.
struct Blocker {
  std::atomic<bool> running = false;
  std::atomic<bool> stopped = false;

  std::unique_ptr<Collector> Make(std::string name) {
    return std::make_unique<FakeCollector>(
        std::move(name), [this](Reporter&, std::stop_token stop) -> Status {
          running = true;
          WaitForStop(stop, std::chrono::hours(1));
          stopped = stop.stop_requested();
          return {};
        });
  }
};

SupervisorOptions FastBackoff() {
  SupervisorOptions options;
  options.initial_backoff = milliseconds(1);
  options.max_backoff = milliseconds(8);
  return options;
}

// A collector whose every run fails at once.
std::unique_ptr<Collector> AlwaysFailing() {
  return std::make_unique<FakeCollector>(
      "failing", [](Reporter&, std::stop_token) -> Status {
        return MakeError(ErrorCode::kUnavailable, "no source");
      });
}

std::unique_ptr<Supervisor> Start(
    std::vector<std::unique_ptr<Collector>> collectors, Sink& sink,
    SupervisorOptions options) {
  auto supervisor = Supervisor::Start(std::move(collectors), sink, options);
  EXPECT_TRUE(supervisor) << supervisor.error().ToString();
  return supervisor ? std::move(*supervisor) : nullptr;
}

TEST(SupervisorTest, ACollectorThatThrowsIsRestarted) {
  TestSink sink;
  std::atomic<int> runs = 0;
  Blocker healthy;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<FakeCollector>(
      "thrower", [&](Reporter&, std::stop_token) -> Status {
        ++runs;
        throw std::runtime_error("boom");
      }));
  collectors.push_back(std::make_unique<FakeCollector>(
      "odd_thrower", [](Reporter&, std::stop_token) -> Status { throw 42; }));
  collectors.push_back(healthy.Make("steady"));
  auto supervisor = Start(std::move(collectors), sink, FastBackoff());
  ASSERT_NE(supervisor, nullptr);

  ASSERT_TRUE(WaitUntil([&] {
    auto health = supervisor->Health();
    return health[0].restarts >= 3 && health[1].restarts >= 3 &&
           healthy.running;
  }));
  auto health = supervisor->Health();
  ASSERT_EQ(health.size(), 3u);
  EXPECT_EQ(health[0].name, "thrower");
  EXPECT_GE(runs.load(), 3);
  ASSERT_TRUE(health[0].last_error.has_value());
  EXPECT_EQ(health[0].last_error->code, ErrorCode::kInternal);
  EXPECT_NE(health[0].last_error->message.find("boom"), std::string::npos)
      << health[0].last_error->message;
  EXPECT_FALSE(health[0].healthy());
  ASSERT_TRUE(health[1].last_error.has_value());
  EXPECT_NE(health[1].last_error->message.find("non-standard"),
            std::string::npos)
      << health[1].last_error->message;
  // The others are untouched.
  EXPECT_EQ(health[2].name, "steady");
  EXPECT_EQ(health[2].state, CollectorHealth::State::kRunning);
  EXPECT_EQ(health[2].restarts, 0u);
  EXPECT_TRUE(health[2].healthy());
}

TEST(SupervisorTest, AFailingCollectorBacksOffExponentially) {
  TestSink sink;
  std::mutex mu;
  std::vector<steady_clock::time_point> starts;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<FakeCollector>(
      "failing", [&](Reporter&, std::stop_token) -> Status {
        std::lock_guard lock(mu);
        starts.push_back(steady_clock::now());
        return MakeError(ErrorCode::kUnavailable, "no source");
      }));
  auto supervisor = Start(std::move(collectors), sink, FastBackoff());
  ASSERT_NE(supervisor, nullptr);

  ASSERT_TRUE(WaitUntil([&] { return supervisor->Health()[0].restarts >= 7; }));
  auto health = supervisor->Health()[0];
  ASSERT_TRUE(health.last_error.has_value());
  EXPECT_EQ(health.last_error->code, ErrorCode::kUnavailable);
  EXPECT_EQ(health.last_error->message, "no source");
  EXPECT_FALSE(health.healthy());
  supervisor.reset();

  // Each run started at least a backoff after the one before: 1, 2, 4, 8 ms,
  // then the 8 ms cap.
  std::lock_guard lock(mu);
  ASSERT_GE(starts.size(), 7u);
  const milliseconds backoffs[] = {milliseconds(1), milliseconds(2),
                                   milliseconds(4), milliseconds(8),
                                   milliseconds(8), milliseconds(8)};
  for (size_t i = 0; i < std::size(backoffs); ++i) {
    EXPECT_GE(starts[i + 1] - starts[i], backoffs[i]) << "run " << i + 1;
  }
}

TEST(SupervisorTest, ALongEnoughRunResetsTheBackoff) {
  TestSink sink;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(AlwaysFailing());
  SupervisorOptions options;
  options.initial_backoff = milliseconds(1);
  options.max_backoff = std::chrono::hours(1);
  // Every run counts as a healthy one, so the backoff never grows; were it to
  // double, the 20th restart would come after 17 minutes.
  options.healthy_after = milliseconds(0);
  auto supervisor = Start(std::move(collectors), sink, options);
  ASSERT_NE(supervisor, nullptr);
  EXPECT_TRUE(
      WaitUntil([&] { return supervisor->Health()[0].restarts >= 20; }));
}

TEST(SupervisorTest, ARunThatReturnsUnasked) {
  TestSink sink;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<FakeCollector>(
      "quitter", [](Reporter&, std::stop_token) -> Status { return {}; }));
  auto supervisor = Start(std::move(collectors), sink, FastBackoff());
  ASSERT_NE(supervisor, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return supervisor->Health()[0].restarts >= 2; }));
  auto health = supervisor->Health()[0];
  ASSERT_TRUE(health.last_error.has_value());
  EXPECT_NE(health.last_error->message.find("returned without being stopped"),
            std::string::npos)
      << health.last_error->message;
}

// A PullCollector whose pulls fail while `failing` is set, and take a
// millisecond each.
class FlakyPuller final : public PullCollector {
 public:
  FlakyPuller() : PullCollector(milliseconds(1)) {}
  std::string_view name() const override { return "flaky"; }
  std::atomic<bool> failing = true;

 protected:
  Status Pull(Sink&, std::stop_token stop) override {
    WaitForStop(stop, milliseconds(1));
    if (failing) return MakeError(ErrorCode::kIoError, "source unreadable");
    return {};
  }
};

TEST(SupervisorTest, PullErrorsAreCountedAndASuccessfulPullClearsThem) {
  TestSink sink;
  auto puller = std::make_unique<FlakyPuller>();
  FlakyPuller* flaky = puller.get();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::move(puller));
  auto supervisor = Start(std::move(collectors), sink, FastBackoff());
  ASSERT_NE(supervisor, nullptr);

  ASSERT_TRUE(
      WaitUntil([&] { return supervisor->Health()[0].pull_errors >= 2; }));
  auto health = supervisor->Health()[0];
  ASSERT_TRUE(health.last_error.has_value());
  EXPECT_EQ(health.last_error->message, "source unreadable");
  EXPECT_FALSE(health.healthy());
  // A failed pull does not end the run.
  EXPECT_EQ(health.state, CollectorHealth::State::kRunning);

  flaky->failing = false;
  ASSERT_TRUE(WaitUntil([&] {
    auto h = supervisor->Health()[0];
    return h.pulls > h.pull_errors && !h.last_error.has_value();
  }));
  health = supervisor->Health()[0];
  EXPECT_GE(health.pull_errors, 2u);
  EXPECT_EQ(health.restarts, 0u);
  EXPECT_GE(health.last_pull_duration, milliseconds(1));
  EXPECT_TRUE(health.healthy());
}

TEST(SupervisorTest, HealthFlipsAreReportedOnceEach) {
  TestSink sink;
  auto puller = std::make_unique<FlakyPuller>();
  FlakyPuller* flaky = puller.get();
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::move(puller));
  std::mutex mu;
  std::vector<std::string> flips;
  SupervisorOptions options = FastBackoff();
  options.on_health_change = [&](const CollectorHealth& h) {
    std::lock_guard lock(mu);
    flips.push_back(h.name + (h.healthy() ? " healthy" : " unhealthy: ") +
                    (h.last_error ? h.last_error->message : ""));
  };
  auto supervisor = Start(std::move(collectors), sink, options);
  ASSERT_NE(supervisor, nullptr);
  // Many failed pulls, one report.
  ASSERT_TRUE(
      WaitUntil([&] { return supervisor->Health()[0].pull_errors >= 5; }));
  flaky->failing = false;
  ASSERT_TRUE(WaitUntil([&] { return supervisor->Health()[0].healthy(); }));
  supervisor.reset();
  EXPECT_EQ(flips, (std::vector<std::string>{
                       "flaky unhealthy: source unreadable", "flaky healthy"}));
}

TEST(SupervisorTest, DestructionStopsABlockedCollectorPromptly) {
  TestSink sink;
  Blocker blocker;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(blocker.Make("blocked"));
  auto supervisor = Start(std::move(collectors), sink, {});
  ASSERT_NE(supervisor, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return blocker.running.load(); }));
  EXPECT_EQ(supervisor->Health()[0].state, CollectorHealth::State::kRunning);

  // "Promptly": the collector waits an hour unless stopped, so that the
  // destructor returning at all, with the run ended by the stop, is the stop
  // interrupting the wait.
  supervisor.reset();
  EXPECT_TRUE(blocker.stopped);
}

TEST(SupervisorTest, DestructionInterruptsABackoff) {
  TestSink sink;
  std::atomic<int> runs = 0;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<FakeCollector>(
      "failing", [&](Reporter&, std::stop_token) -> Status {
        ++runs;
        return MakeError(ErrorCode::kUnavailable, "no source");
      }));
  SupervisorOptions options;
  options.initial_backoff = std::chrono::hours(1);
  auto supervisor = Start(std::move(collectors), sink, options);
  ASSERT_NE(supervisor, nullptr);
  ASSERT_TRUE(WaitUntil([&] {
    return supervisor->Health()[0].state == CollectorHealth::State::kBackingOff;
  }));
  EXPECT_EQ(supervisor->Health()[0].restarts, 1u);

  // The backoff lasts an hour: the destructor returning at all, with no run
  // after the first, is the backoff interrupted.
  supervisor.reset();
  EXPECT_EQ(runs, 1);
}

TEST(SupervisorTest, PullCollectorPullsAtOnceAndStopsDuringItsWait) {
  class Counter final : public PullCollector {
   public:
    explicit Counter(std::atomic<int>& pulls)
        : PullCollector(std::chrono::hours(1)), pulls_(pulls) {}
    std::string_view name() const override { return "counter"; }

   protected:
    Status Pull(Sink&, std::stop_token) override {
      ++pulls_;
      return {};
    }

   private:
    std::atomic<int>& pulls_;
  };
  TestSink sink;
  std::atomic<int> pulls = 0;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(std::make_unique<Counter>(pulls));
  auto supervisor = Start(std::move(collectors), sink, {});
  ASSERT_NE(supervisor, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return supervisor->Health()[0].pulls == 1; }));

  // The wait between pulls lasts an hour: the destructor returning at all,
  // with no second pull, is the stop ending the wait.
  supervisor.reset();
  EXPECT_EQ(pulls, 1);
}

TEST(SupervisorTest, PullCollectorRaisesIntervalsBelowAMillisecond) {
  class Idle final : public PullCollector {
   public:
    explicit Idle(milliseconds interval) : PullCollector(interval) {}
    std::string_view name() const override { return "idle"; }

   protected:
    Status Pull(Sink&, std::stop_token) override { return {}; }
  };
  EXPECT_EQ(Idle(milliseconds(0)).interval(), milliseconds(1));
  EXPECT_EQ(Idle(milliseconds(-5)).interval(), milliseconds(1));
  EXPECT_EQ(Idle(milliseconds(7)).interval(), milliseconds(7));
}

TEST(SupervisorTest, TwoCollectorsOfOneNameAreRefused) {
  TestSink sink;
  Blocker a, b;
  std::vector<std::unique_ptr<Collector>> collectors;
  collectors.push_back(a.Make("process"));
  collectors.push_back(b.Make("process"));
  auto supervisor = Supervisor::Start(std::move(collectors), sink);
  ASSERT_FALSE(supervisor);
  EXPECT_EQ(supervisor.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(a.running);
  EXPECT_FALSE(b.running);
}

TEST(SupervisorTest, StateNames) {
  EXPECT_EQ(StateName(CollectorHealth::State::kRunning), "running");
  EXPECT_EQ(StateName(CollectorHealth::State::kBackingOff), "backing_off");
  EXPECT_EQ(StateName(CollectorHealth::State::kStopped), "stopped");
}

}  // namespace
}  // namespace wmeta::collectors

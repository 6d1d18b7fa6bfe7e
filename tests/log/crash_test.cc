// Durability under kill -9: a child appends in sync mode from several threads
// and reports each acknowledged batch; it is killed at a random point, twenty
// times over the same data dir. After each kill every acknowledged record is
// there, intact and where it was acknowledged, the offsets are dense and verify
// passes.

#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <sstream>

#include "subprocess.h"
#include "temp_dir.h"
#include "wmeta/log/log.h"

namespace wmeta::log {
namespace {

struct Ack {
  uint64_t first, last;
  std::string prefix;
};

TEST(CrashTest, AcknowledgedAppendsSurviveSigkill) {
  testing::TempDir dir;
  std::mt19937 random(20261125);
  std::vector<Ack> acks;
  uint64_t previous_last = 0;
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    int kill_after = std::uniform_int_distribution<int>(1, 150)(random);
    {
      testing::Child child({WMETA_CRASH_CHILD, dir.path(), "4"});
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(60);
      for (int i = 0; i < kill_after; ++i) {
        auto line = child.ReadLine(deadline);
        ASSERT_TRUE(line) << "round " << round
                          << ": the child stopped acknowledging";
        Ack ack;
        std::istringstream(*line) >> ack.first >> ack.last >> ack.prefix;
        ASSERT_LE(ack.first, ack.last) << *line;
        acks.push_back(ack);
      }
      EXPECT_EQ(child.Kill(SIGKILL), 128 + SIGKILL);
    }

    auto log = Log::Open(dir.path(), {});
    ASSERT_TRUE(log) << "round " << round << ": " << log.error().ToString();
    uint64_t last = (*log)->last_offset();
    EXPECT_GE(last, previous_last) << "round " << round;
    previous_last = last;
    for (const Ack& ack : acks) {
      ASSERT_LE(ack.last, last)
          << "round " << round << ": acknowledged offset lost";
      for (uint64_t o = ack.first; o <= ack.last; ++o) {
        auto e = (*log)->Read(o);
        ASSERT_TRUE(e) << "round " << round << " offset " << o << ": "
                       << e.error().ToString();
        EXPECT_EQ(e->view().id().substr(0, ack.prefix.size() + 1),
                  ack.prefix + "-")
            << "offset " << o;
      }
    }
    auto report = (*log)->Verify();
    ASSERT_TRUE(report);
    ASSERT_TRUE(report->ok())
        << "round " << round << ": " << report->problems[0].message;
    EXPECT_EQ(report->records_checked, last);
  }
  EXPECT_GT(acks.size(), static_cast<size_t>(kRounds));
}

}  // namespace
}  // namespace wmeta::log

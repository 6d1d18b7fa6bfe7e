#include <gtest/gtest.h>

#include "common.h"

namespace wmeta::tools {
namespace {

using std::chrono::duration;

TEST(ProgressTest, ABarTheRateAndWhatIsLeft) {
  EXPECT_EQ(ProgressLine("replay", 400'000, 1'000'000, duration<double>(2.0)),
            "replay [########------------] 40% 400000/1000000 records, "
            "200.0k/s, ETA 3s");
  EXPECT_EQ(ProgressLine("capture", 1'000, 2'000'000, duration<double>(1.0)),
            "capture [--------------------] 0% 1000/2000000 records, 1.0k/s, "
            "ETA 33m19s");
  EXPECT_EQ(ProgressLine("verify", 10, 100'000, duration<double>(1.0)),
            "verify [--------------------] 0% 10/100000 records, 10/s, ETA "
            "2h46m");
  EXPECT_EQ(ProgressLine("verify", 3'000'000, 3'000'000, duration<double>(2.0)),
            "verify [####################] 100% 3000000/3000000 records, "
            "1.5M/s");
}

TEST(ProgressTest, NoRateBeforeThereIsOne) {
  EXPECT_EQ(ProgressLine("replay", 0, 10, duration<double>(5.0)),
            "replay [--------------------] 0% 0/10 records");
  EXPECT_EQ(ProgressLine("replay", 5, 10, duration<double>(0.01)),
            "replay [##########----------] 50% 5/10 records");
  // An empty range is done.
  EXPECT_EQ(ProgressLine("capture", 0, 0, duration<double>(0.0)),
            "capture [####################] 100% 0/0 records");
}

}  // namespace
}  // namespace wmeta::tools

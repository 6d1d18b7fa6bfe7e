#include "wmeta/schema/time.h"

#include <gtest/gtest.h>

namespace wmeta {
namespace {

using std::chrono::nanoseconds;

TEST(TimeTest, FormatsShortestExactFraction) {
  Timestamp base = *ParseTime("2026-11-24T10:00:00Z");
  EXPECT_EQ(FormatTime(base), "2026-11-24T10:00:00Z");
  EXPECT_EQ(FormatTime(base + nanoseconds(123000000)),
            "2026-11-24T10:00:00.123Z");
  EXPECT_EQ(FormatTime(base + nanoseconds(123456000)),
            "2026-11-24T10:00:00.123456Z");
  EXPECT_EQ(FormatTime(base + nanoseconds(123456789)),
            "2026-11-24T10:00:00.123456789Z");
  EXPECT_EQ(FormatTime(FromUnixNanos(0)), "1970-01-01T00:00:00Z");
}

TEST(TimeTest, ParseAndFormatRoundTrip) {
  for (int64_t ns : {int64_t{0}, int64_t{1}, int64_t{1764000000123456789},
                     int64_t{-86400000000001}, int64_t{951782400000000000}}) {
    auto parsed = ParseTime(FormatTime(FromUnixNanos(ns)));
    ASSERT_TRUE(parsed) << ns;
    EXPECT_EQ(ToUnixNanos(*parsed), ns);
  }
}

TEST(TimeTest, ParsesOffsetsAndVariants) {
  Timestamp utc = *ParseTime("2026-11-24T10:00:00Z");
  EXPECT_EQ(*ParseTime("2026-11-24T12:30:00+02:30"), utc);
  EXPECT_EQ(*ParseTime("2026-11-24T05:00:00-05:00"), utc);
  EXPECT_EQ(*ParseTime("2026-11-24 10:00:00z"), utc);
  EXPECT_EQ(*ParseTime("2026-11-24T10:00:00.5Z"), utc + nanoseconds(500000000));
  EXPECT_EQ(ToUnixNanos(*ParseTime("1970-01-01T00:00:01Z")), 1000000000);
}

TEST(TimeTest, RejectsMalformedTimes) {
  for (const char* bad :
       {"", "2026-11-24", "2026-11-24T10:00:00", "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:00Z",
        "2026-11-24T10:00:00.Z", "2026-11-24T10:00:00.1234567890Z",
        "2026-11-24T10:00:00+0200", "2026-11-24T10:00:00Zjunk", "yesterday",
        "2999-01-01T00:00:00Z", "1600-01-01T00:00:00Z"}) {
    auto t = ParseTime(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(TimeTest, ParsesDurations) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("90s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("15m"), std::chrono::minutes(15));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_EQ(*ParseDuration("7d"), std::chrono::hours(7 * 24));
  for (const char* bad :
       {"", "15", "m", "-5m", "1.5h", "15 m", "3w", "99999999999999d"}) {
    EXPECT_FALSE(ParseDuration(bad)) << bad;
  }
}

}  // namespace
}  // namespace wmeta

#include "key_format.h"

#include <gtest/gtest.h>

namespace wmeta::log::internal {
namespace {

TEST(KeyFormatTest, OffsetKeysSortLikeOffsets) {
  EXPECT_EQ(OffsetKey(1), std::string("\0\0\0\0\0\0\0\x01", 8));
  EXPECT_LT(OffsetKey(255), OffsetKey(256));
  EXPECT_LT(OffsetKey(1), OffsetKey(UINT64_MAX));
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 40, UINT64_MAX}) {
    EXPECT_EQ(DecodeOffsetKey(OffsetKey(v)), v);
  }
  EXPECT_FALSE(DecodeOffsetKey("short"));
  EXPECT_FALSE(DecodeOffsetKey("ninebytes"));
}

// An entity's prefix: its key without the offset.
std::string Prefix(Kind kind, std::string_view id) {
  std::string key = EntityKey(kind, id, 0);
  return key.substr(0, key.size() - 8);
}

TEST(KeyFormatTest, EntityKeysRoundTripAndPrefixesDoNotCollide) {
  std::string key = EntityKey(Kind::kContainer, "abc", 42);
  auto parts = DecodeEntityKey(key);
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->kind, Kind::kContainer);
  EXPECT_EQ(parts->id, "abc");
  EXPECT_EQ(parts->offset, 42u);
  EXPECT_TRUE(key.starts_with(Prefix(Kind::kContainer, "abc")));
  // "a" is a byte prefix of "ab", but not a key prefix of it.
  EXPECT_FALSE(EntityKey(Kind::kContainer, "ab", 1)
                   .starts_with(Prefix(Kind::kContainer, "a")));
  EXPECT_FALSE(EntityKey(Kind::kProcess, "abc", 1)
                   .starts_with(Prefix(Kind::kContainer, "abc")));
  // Ids may hold any byte, including NUL.
  std::string odd("a\0b", 3);
  std::string odd_key = EntityKey(Kind::kHost, odd, 7);
  auto odd_parts = DecodeEntityKey(odd_key);
  ASSERT_TRUE(odd_parts);
  EXPECT_EQ(odd_parts->id, odd);
  // Offsets of one entity sort in order.
  EXPECT_LT(EntityKey(Kind::kContainer, "abc", 9),
            EntityKey(Kind::kContainer, "abc", 10));
}

TEST(KeyFormatTest, MalformedEntityKeysAreRejected) {
  std::string key = EntityKey(Kind::kContainer, "abc", 42);
  EXPECT_FALSE(DecodeEntityKey(""));
  EXPECT_FALSE(DecodeEntityKey(key.substr(0, key.size() - 1)));
  EXPECT_FALSE(DecodeEntityKey(key + "x"));
  std::string bad_kind = key;
  bad_kind[0] = 99;
  EXPECT_FALSE(DecodeEntityKey(bad_kind));
}

}  // namespace
}  // namespace wmeta::log::internal

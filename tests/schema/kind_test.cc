#include "wmeta/schema/kind.h"

#include <gtest/gtest.h>

namespace wmeta {
namespace {

TEST(KindTest, NamesAreTheReferenceNamesAndRoundTrip) {
  EXPECT_EQ(KindName(Kind::kContainer), "container");
  EXPECT_EQ(KindName(Kind::kKubernetesPod), "kubernetes_pod");
  EXPECT_EQ(KindName(Kind::kContainerImageMetadata),
            "container_image_metadata");
  EXPECT_EQ(KindName(Kind::kEcsTask), "ecs_task");
  for (Kind kind : kAllKinds) {
    EXPECT_EQ(KindFromName(KindName(kind)), kind);
    EXPECT_EQ(KindFromValue(static_cast<uint8_t>(kind)), kind);
  }
  EXPECT_FALSE(KindFromName("Container"));
  EXPECT_FALSE(KindFromName(""));
  EXPECT_FALSE(KindFromValue(0));
  EXPECT_FALSE(KindFromValue(11));
}

TEST(KindTest, ParsesEntityIds) {
  auto id = ParseEntityId("kubernetes_metadata/deployments/default/app");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->kind, Kind::kKubernetesMetadata);
  EXPECT_EQ(id->id, "deployments/default/app");
  EXPECT_EQ(id->ToString(), "kubernetes_metadata/deployments/default/app");
  for (const char* bad : {"container", "container/", "pod/abc", "/abc", ""}) {
    auto parsed = ParseEntityId(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(KindTest, EntityIdsOrderByKindThenId) {
  EXPECT_LT((EntityId{Kind::kContainer, "b"}),
            (EntityId{Kind::kKubernetesPod, "a"}));
  EXPECT_LT((EntityId{Kind::kContainer, "a"}),
            (EntityId{Kind::kContainer, "b"}));
  EXPECT_EQ((EntityId{Kind::kContainer, "a"}),
            (EntityId{Kind::kContainer, "a"}));
}

}  // namespace
}  // namespace wmeta

// ListDiff: a full list in, the sets and unsets that bring the store to it
// out, in one Emit.

#include "wmeta/collectors/list_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "events.h"
#include "test_sink.h"
#include "wmeta/schema/reflection.h"

namespace wmeta::collectors {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using wmeta::testing::ContainerFrom;
using wmeta::testing::JsonEvent;
using wmeta::testing::TestSink;

constexpr char kSource[] = "runtime";

// "set container/a" or "unset container/a", checking the source on the way.
std::string Describe(const Event& event) {
  EventView view = event.view();
  EXPECT_EQ(view.source(), kSource);
  return std::string(EventTypeName(view.type())) + " " +
         view.entity_id().ToString();
}

std::vector<std::vector<std::string>> Describe(
    const std::vector<std::vector<Event>>& emits) {
  std::vector<std::vector<std::string>> out;
  for (const auto& emit : emits) {
    auto& described = out.emplace_back();
    for (const auto& event : emit) described.push_back(Describe(event));
  }
  return out;
}

Event Container(std::string_view id, std::string_view fields = {}) {
  return ContainerFrom(kSource, id, fields);
}

Event Process(std::string_view id) {
  return JsonEvent(
      std::string(R"({"source":"runtime","entity":{"kind":"process","id":")") +
      std::string(id) + R"("}})");
}

// Container "a" named "web", with hostname "host" and pid 1, built by hand:
// in another order than the JSON parser builds it, and after something else
// in the same builder.
Event HandBuiltContainer() {
  EventBuilder builder;
  auto& fbb = builder.fbb();
  fbb.CreateString("left over from another event");
  auto hostname = fbb.CreateString("host");
  auto name = fbb.CreateString("web");
  auto id = fbb.CreateString("a");
  fb::ContainerBuilder container(fbb);
  container.add_pid(1);
  container.add_hostname(hostname);
  container.add_name(name);
  container.add_id(id);
  auto event = builder.Finish(kSource, EventType::kSet, container.Finish());
  EXPECT_TRUE(event) << event.error().ToString();
  return std::move(*event);
}

class ListDiffTest : public ::testing::Test {
 protected:
  Status Apply(std::vector<Event> current,
               std::vector<EntityId> replaced = {}) {
    return diff_.Apply(sink_, std::move(current), replaced);
  }
  // The Emit calls since the last call of NewEmits.
  std::vector<std::vector<std::string>> NewEmits() {
    auto all = Describe(sink_.Emits());
    std::vector<std::vector<std::string>> fresh(all.begin() + taken_,
                                                all.end());
    taken_ = all.size();
    return fresh;
  }

  TestSink sink_;
  ListDiff diff_{kSource, {Kind::kContainer}};
  size_t taken_ = 0;
};

TEST_F(ListDiffTest, NewEntitiesAreSetInOneEmit) {
  ASSERT_TRUE(Apply({Container("a"), Container("b")}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("set container/a", "set container/b")));
  EXPECT_EQ(diff_.size(), 2u);
}

TEST_F(ListDiffTest, AnUnchangedListEmitsNothing) {
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")"), Container("b")}));
  NewEmits();
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")"), Container("b")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, AForgottenEntityIsSetAgainWhenListed) {
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")"), Container("b")}));
  NewEmits();
  // The caller unset "a" itself; it came back unchanged.
  diff_.Forget({Kind::kContainer, "a"});
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")"), Container("b")}));
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("set container/a")));
  // Forgotten and not listed: nothing to unset, it is gone already.
  diff_.Forget({Kind::kContainer, "b"});
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, ANewObservedTimeIsNotAChange) {
  auto at = [](std::string_view time) {
    return JsonEvent(
        R"({"source":"runtime","observed_time":")" + std::string(time) +
        R"(","entity":{"kind":"container","id":"a","name":"web"}})");
  };
  ASSERT_TRUE(Apply({at("2026-11-24T10:00:00Z")}));
  NewEmits();
  ASSERT_TRUE(Apply({at("2026-11-24T10:00:05Z")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, AChangedEntityIsSetAgain) {
  ASSERT_TRUE(Apply({Container("a", R"("name":"web")"), Container("b")}));
  NewEmits();
  ASSERT_TRUE(Apply({Container("a", R"("name":"api")"), Container("b")}));
  auto emits = sink_.Emits();
  ASSERT_EQ(emits.size(), 2u);
  ASSERT_EQ(emits[1].size(), 1u);
  EXPECT_EQ(wmeta::testing::EntityJson(emits[1][0].view()),
            R"({"kind":"container","id":"a","name":"api"})");
}

TEST_F(ListDiffTest, TheSameEntityBuiltAnotherWayIsNoChange) {
  ASSERT_TRUE(
      Apply({Container("a", R"("name":"web","hostname":"host","pid":1)")}));
  NewEmits();
  ASSERT_TRUE(Apply({HandBuiltContainer()}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, ChangesAnywhereInTheEntityAreSeen) {
  const char* versions[] = {
      R"("labels":{"app":"web"})",
      R"("labels":{"app":"api"})",
      R"("labels":{"app":"api"},"pid":0)",
      R"("labels":{"app":"api"})",
      R"("labels":{"app":"api"},"ports":[{"port":80}])",
      R"("labels":{"app":"api"},"ports":[{"port":81}])",
      R"("labels":{"app":"api"},"ports":[{"port":81}],"state":{"running":true})",
      R"("labels":{"app":"api"},"ports":[{"port":81}],"state":{"running":false})",
      R"("collector_tags":["ab","c"])",
      R"("collector_tags":["a","bc"])",
  };
  for (const char* fields : versions) {
    ASSERT_TRUE(Apply({Container("a", fields)})) << fields;
    EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("set container/a")))
        << fields;
  }
}

// The entity hash walks scalars, strings, tables and lists of those; a struct
// or a union in an entity would need more.
TEST(ListDiffSchemaTest, EntityHashCoversEveryFieldType) {
  std::set<const reflection::Object*> seen;
  std::function<void(const reflection::Object&)> walk =
      [&](const reflection::Object& table) {
        if (!seen.insert(&table).second) return;
        EXPECT_FALSE(table.is_struct()) << table.name()->str();
        for (const reflection::Field* field : *table.fields()) {
          reflection::BaseType type = field->type()->base_type();
          if (type == reflection::Vector) type = field->type()->element();
          EXPECT_NE(type, reflection::Union) << field->name()->str();
          EXPECT_NE(type, reflection::UType) << field->name()->str();
          EXPECT_NE(type, reflection::Array) << field->name()->str();
          if (type == reflection::Obj) walk(FieldTable(*field));
        }
      };
  for (Kind kind : kAllKinds) walk(EntityTable(kind));
  EXPECT_GT(seen.size(), kAllKinds.size());
}

TEST_F(ListDiffTest, AReplacedEntityIsUnsetThenSetAheadOfTheRest) {
  ASSERT_TRUE(Apply({Container("a"), Container("b"), Container("c")}));
  NewEmits();
  // b is unchanged in content, yet another entity.
  ASSERT_TRUE(Apply({Container("b"), Container("c"), Container("d")},
                    {{Kind::kContainer, "b"}}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/b", "set container/b",
                                      "unset container/a", "set container/d")));
  ASSERT_TRUE(Apply({Container("b"), Container("c"), Container("d")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, AReplacedEntityNotInTheLastListIsJustSet) {
  ASSERT_TRUE(Apply({Container("a")}));
  NewEmits();
  ASSERT_TRUE(
      Apply({Container("a"), Container("n")}, {{Kind::kContainer, "n"}}));
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("set container/n")));
}

TEST_F(ListDiffTest, AReplacedEntityMustBeInTheList) {
  ASSERT_TRUE(Apply({Container("a")}));
  NewEmits();
  for (EntityId id :
       {EntityId{Kind::kContainer, "b"}, EntityId{Kind::kProcess, "a"}}) {
    auto status = Apply({}, {id});
    ASSERT_FALSE(status) << id.ToString();
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_THAT(NewEmits(), IsEmpty());
  EXPECT_EQ(diff_.size(), 1u);
}

TEST_F(ListDiffTest, AFailedReplacementIsEmittedWholeByTheNextApply) {
  ASSERT_TRUE(Apply({Container("a")}));
  NewEmits();
  sink_.FailNextEmit();
  ASSERT_FALSE(Apply({Container("a")}, {{Kind::kContainer, "a"}}));
  EXPECT_THAT(NewEmits(), IsEmpty());
  ASSERT_TRUE(Apply({Container("a")}, {{Kind::kContainer, "a"}}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/a", "set container/a")));
  ASSERT_TRUE(Apply({Container("a")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, MissingEntitiesAreUnsetBeforeTheSets) {
  ASSERT_TRUE(Apply({Container("a"), Container("b"), Container("c")}));
  NewEmits();
  ASSERT_TRUE(Apply({Container("d"), Container("b", R"("name":"x")")}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/a", "unset container/c",
                                      "set container/d", "set container/b")));
  EXPECT_EQ(diff_.size(), 2u);
}

TEST_F(ListDiffTest, AnEmptyListUnsetsEverything) {
  ASSERT_TRUE(Apply({Container("a")}));
  NewEmits();
  ASSERT_TRUE(Apply({}));
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("unset container/a")));
  EXPECT_EQ(diff_.size(), 0u);
}

TEST_F(ListDiffTest, TheFirstListIsComparedWithWhatTheSinkKnows) {
  sink_.SetKnown(Kind::kContainer, kSource, {"a", "gone"});
  sink_.SetKnown(Kind::kContainer, "other_source", {"theirs"});
  sink_.SetKnown(Kind::kProcess, kSource, {"not_covered"});
  ASSERT_TRUE(Apply({Container("a"), Container("new")}));
  // A known entity's content is unknown, so it is set again (the store drops
  // it if it is equal).
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/gone", "set container/a",
                                      "set container/new")));
  ASSERT_TRUE(Apply({Container("a"), Container("new")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

TEST_F(ListDiffTest, EveryCoveredKindIsSeeded) {
  ListDiff diff(kSource, {Kind::kContainer, Kind::kProcess});
  sink_.SetKnown(Kind::kContainer, kSource, {"c1"});
  sink_.SetKnown(Kind::kProcess, kSource, {"1", "2"});
  ASSERT_TRUE(diff.Apply(sink_, {Process("2"), Container("c2")}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/c1", "unset process/1",
                                      "set process/2", "set container/c2")));
}

TEST_F(ListDiffTest, AFailedEmitIsEmittedAgainByTheNextApply) {
  sink_.SetKnown(Kind::kContainer, kSource, {"gone"});
  sink_.FailNextEmit();
  auto failed = Apply({Container("a")});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kIoError);
  EXPECT_THAT(NewEmits(), IsEmpty());
  EXPECT_EQ(diff_.size(), 0u);

  ASSERT_TRUE(Apply({Container("a")}));
  EXPECT_THAT(NewEmits(), ElementsAre(ElementsAre("unset container/gone",
                                                  "set container/a")));

  sink_.FailNextEmit();
  ASSERT_FALSE(Apply({Container("b")}));
  ASSERT_TRUE(Apply({Container("b")}));
  EXPECT_THAT(NewEmits(),
              ElementsAre(ElementsAre("unset container/a", "set container/b")));
}

TEST_F(ListDiffTest, InvalidListsAreRejectedWithoutEffect) {
  ASSERT_TRUE(Apply({Container("a")}));
  NewEmits();
  struct Bad {
    std::string name;
    std::vector<Event> list;
  };
  std::vector<Bad> bad;
  bad.push_back({"another source", {ContainerFrom("other", "b")}});
  bad.push_back(
      {"an unset", {ContainerFrom(kSource, "b", {}, EventType::kUnset)}});
  bad.push_back({"a kind not covered", {Process("1")}});
  bad.push_back(
      {"an entity twice",
       {Container("b"), Container("c"), Container("b", R"("name":"x")")}});
  for (auto& b : bad) {
    auto status = Apply(std::move(b.list));
    ASSERT_FALSE(status) << b.name;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument) << b.name;
  }
  EXPECT_THAT(NewEmits(), IsEmpty());
  EXPECT_EQ(diff_.size(), 1u);
  ASSERT_TRUE(Apply({Container("a")}));
  EXPECT_THAT(NewEmits(), IsEmpty());
}

}  // namespace
}  // namespace wmeta::collectors

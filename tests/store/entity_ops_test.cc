// The merge rules and equality, on real entities built from JSON.

#include "entity_ops.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "events.h"

namespace wmeta::store::internal {
namespace {

namespace bj = boost::json;
using testing::EntityJson;
using testing::JsonEvent;

const flatbuffers::Table& Entity(const Event& e) {
  return *reinterpret_cast<const flatbuffers::Table*>(
      e.view().record().entity());
}

// Merges container entities given as JSON objects (highest priority first).
bj::value MergeContainers(
    std::vector<std::pair<std::string, std::string>> layers,
    Provenance* provenance = nullptr) {
  std::vector<Event> events;
  for (const auto& [source, entity] : layers) {
    events.push_back(JsonEvent(R"({"source":")" + source +
                               R"(","entity":{"kind":"container","id":"c",)" +
                               entity + "}}"));
  }
  std::vector<LayerView> views;
  for (const Event& e : events) views.push_back({&e});
  Event merged =
      MergeLayers(Kind::kContainer, views, events[0].view(), provenance);
  return bj::parse(EntityJson(merged.view()));
}

TEST(MergeTest, EachFieldFromTheHighestPriorityLayerThatHasIt) {
  // The reference's "merges entities from different sources" (anchor §10 B7),
  // with bar outranking foo as byte order makes it there.
  auto merged = MergeContainers(
      {{"bar", R"("name":"foo-name-override","pid":1001001)"},
       {"foo", R"("name":"foo-name-might-be-overridden","hostname":"foo")"}});
  EXPECT_EQ(
      merged,
      bj::parse(R"({"kind":"container","id":"c","name":"foo-name-override",)"
                R"("hostname":"foo","pid":1001001})"));
}

TEST(MergeTest, FalseAndZeroAreValuesThatWin) {
  // Deliberate difference from the reference (§10 B15): there, zero means
  // absent and Running=true from anyone wins; here present false wins.
  auto merged = MergeContainers(
      {{"hi", R"("state":{"running":false,"exit_code":0})"},
       {"lo",
        R"("state":{"running":true,"exit_code":137,"status":"running"},"pid":7)"}});
  EXPECT_EQ(merged.at("state"),
            bj::parse(R"({"running":false,"status":"running","exit_code":0})"));
  EXPECT_EQ(merged.at("pid").as_int64(), 7);
}

TEST(MergeTest, TablesMergeFieldByFieldAndTimesByPriority) {
  // Deliberate difference (§10 B11): the reference's times take the last
  // source with a value; here the highest priority one, like every field.
  auto merged = MergeContainers(
      {{"a", R"("state":{"started_at":"2026-01-01T00:00:00Z"})"},
       {"b",
        R"("state":{"started_at":"2026-02-01T00:00:00Z","health":"healthy"},)"
        R"("image":{"name":"nginx"})"}});
  EXPECT_EQ(
      merged.at("state"),
      bj::parse(R"({"health":"healthy","started_at":"2026-01-01T00:00:00Z"})"));
  EXPECT_EQ(merged.at("image"), bj::parse(R"({"name":"nginx"})"));
}

TEST(MergeTest, MapsMergeKeyByKey) {
  auto merged = MergeContainers({{"a", R"("labels":{"app":"web","tier":"a"})"},
                                 {"b", R"("labels":{"tier":"b","team":"x"})"}});
  EXPECT_EQ(merged.at("labels"),
            bj::parse(R"({"app":"web","team":"x","tier":"a"})"));
}

TEST(MergeTest, ListsComeWholeFromOneLayer) {
  // Deliberate difference: the reference concatenates (tags duplicated).
  auto merged = MergeContainers({{"a", R"("collector_tags":["t1","t2"])"},
                                 {"b", R"("collector_tags":["t3"])"}});
  EXPECT_EQ(merged.at("collector_tags"), bj::parse(R"(["t1","t2"])"));
  auto only_low = MergeContainers(
      {{"a", R"("name":"x")"}, {"b", R"("collector_tags":["t3"])"}});
  EXPECT_EQ(only_low.at("collector_tags"), bj::parse(R"(["t3"])"));
}

TEST(MergeTest, PortsAreAUnionByPortAndProtocol) {
  // The reference's port merge (§10 B9): 42002/"" and 42002/tcp are distinct;
  // the higher-priority entry wins a shared key; sorted by port, protocol.
  auto merged = MergeContainers(
      {{"a",
        R"("ports":[{"port":42000,"protocol":"tcp","name":"port1"},{"port":42002,"protocol":"tcp"}])"},
       {"b",
        R"("ports":[{"port":42000,"protocol":"tcp","name":"other"},{"port":42001,"protocol":"udp"},)"
        R"({"port":42002},{"port":42004,"host_port":42004}])"}});
  EXPECT_EQ(
      merged.at("ports"),
      bj::parse(
          R"([{"name":"port1","port":42000,"protocol":"tcp"},)"
          R"({"port":42001,"protocol":"udp"},{"port":42002},)"
          R"({"port":42002,"protocol":"tcp"},{"port":42004,"host_port":42004}])"));
}

TEST(MergeTest, EmptyValuesArePresent) {
  auto merged = MergeContainers({{"a", R"("name":"","labels":{})"},
                                 {"b", R"("name":"web","labels":{"x":"1"})"}});
  EXPECT_EQ(merged.at("name").as_string(), "");
  EXPECT_EQ(merged.at("labels"), bj::parse(R"({"x":"1"})"));
}

TEST(MergeTest, ProvenanceNamesTheSourceOfEachField) {
  Provenance provenance;
  MergeContainers(
      {{"kubelet", R"("name":"web","labels":{"app":"web"})"},
       {"runtime", R"("name":"k8s_web","pid":42,"state":{"running":true},)"
                   R"("labels":{"app":"x","io.x":"1"},"ports":[{"port":80}])"}},
      &provenance);
  auto source_of = [&](std::string_view path) -> std::string {
    for (const auto& [p, s] : provenance) {
      if (p == path) return s;
    }
    return "(none)";
  };
  EXPECT_EQ(source_of("id"), "kubelet");
  EXPECT_EQ(source_of("name"), "kubelet");
  EXPECT_EQ(source_of("pid"), "runtime");
  EXPECT_EQ(source_of("state.running"), "runtime");
  EXPECT_EQ(source_of("labels.app"), "kubelet");
  EXPECT_EQ(source_of("labels.io.x"), "runtime");
  EXPECT_EQ(source_of("ports[80/-]"), "runtime");
}

TEST(EqualityTest, SameFieldsSameValues) {
  auto eq = [](const std::string& a, const std::string& b) {
    auto event = [](const std::string& fields) {
      return JsonEvent(
          R"({"source":"s","entity":{"kind":"container","id":"c")" +
          (fields.empty() ? "" : "," + fields) + "}}");
    };
    Event x = event(a);
    Event y = event(b);
    return EntitiesEqual(Kind::kContainer, Entity(x), Entity(y));
  };
  EXPECT_TRUE(eq(R"("name":"a","labels":{"x":"1","y":"2"})",
                 R"("labels":{"y":"2","x":"1"},"name":"a")"));
  EXPECT_TRUE(eq(R"("state":{"created_at":"2026-01-01T00:00:00Z"})",
                 R"("state":{"created_at":"2026-01-01T00:00:00Z"})"));
  EXPECT_FALSE(eq(R"("name":"a")", R"("name":"b")"));
  EXPECT_FALSE(eq(R"("name":"a")", R"("name":"a","pid":0)"));
  EXPECT_FALSE(eq(R"("state":{"running":false})", R"("state":{})"));
  EXPECT_FALSE(eq(R"("labels":{"x":"1"})", R"("labels":{"x":"2"})"));
  EXPECT_FALSE(
      eq(R"("collector_tags":["a","b"])", R"("collector_tags":["b","a"])"));
  EXPECT_FALSE(eq(R"("name":"")", R"()"));
}

}  // namespace
}  // namespace wmeta::store::internal

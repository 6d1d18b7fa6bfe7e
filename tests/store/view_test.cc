// The view's fold and queries: the reference's storage, merge and query
// scenarios (research/workloadmeta-anchor.md §10 A, B), adapted to wmeta's
// semantics; each deliberate difference is named where it shows.

#include "wmeta/store/view.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "events.h"

namespace wmeta::store {
namespace {

namespace bj = boost::json;
using testing::EntityJson;
using testing::JsonEvent;

class ViewTest : public ::testing::Test {
 protected:
  // Folds an event given as JSON at the next offset.
  std::optional<Change> Fold(const std::string& json) {
    Event e = JsonEvent(json);
    ++offset_;
    return view_.Apply(std::make_shared<const Event>(
        e.Stamped(offset_, FromUnixNanos(static_cast<int64_t>(offset_)))));
  }
  std::optional<Change> Set(const std::string& source, const std::string& kind,
                            const std::string& id,
                            const std::string& fields = "") {
    return Fold(R"({"source":")" + source + R"(","entity":{"kind":")" + kind +
                R"(","id":")" + id + "\"" +
                (fields.empty() ? "" : "," + fields) + "}}");
  }
  std::optional<Change> Unset(const std::string& source,
                              const std::string& kind, const std::string& id) {
    return Fold(R"({"source":")" + source +
                R"(","type":"unset","entity":{"kind":")" + kind +
                R"(","id":")" + id + R"("}})");
  }
  bj::value Merged(Kind kind, const std::string& id) {
    auto entity = view_.Get({kind, id});
    EXPECT_TRUE(entity) << id;
    return entity ? bj::parse(EntityJson((*entity)->merged->view()))
                  : bj::value();
  }

  View view_;
  uint64_t offset_ = 0;
};

TEST_F(ViewTest, SetGetUnsetRoundTrip) {  // §10 A1
  ASSERT_TRUE(Set("foo", "container", "deadbeef", R"("name":"web")"));
  EXPECT_EQ(Merged(Kind::kContainer, "deadbeef"),
            bj::parse(R"({"kind":"container","id":"deadbeef","name":"web"})"));
  auto change = Unset("foo", "container", "deadbeef");
  ASSERT_TRUE(change);
  EXPECT_EQ(change->type, EventType::kUnset);
  auto gone = view_.Get({Kind::kContainer, "deadbeef"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(Set("foo", "process", "123", R"("pid":123)"));
  EXPECT_TRUE(view_.Get({Kind::kProcess, "123"}));
  EXPECT_EQ(view_.applied_offset(), 3u);
  EXPECT_EQ(view_.size(Kind::kProcess), 1u);
  EXPECT_EQ(view_.size(Kind::kContainer), 0u);
  EXPECT_EQ(view_.size(), 1u);
}

TEST_F(ViewTest, OneSourceReplacesItsLayerWholesale) {  // §10 A2
  Set("foo", "ecs_task", "task-id-1", R"("vpc_id":"123")");
  Set("foo", "ecs_task", "task-id-1");
  Set("foo", "ecs_task", "task-id-2");
  auto tasks = view_.List({.kind = Kind::kEcsTask});
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(bj::parse(EntityJson(tasks[0]->merged->view())),
            bj::parse(R"({"kind":"ecs_task","id":"task-id-1"})"));
}

TEST_F(ViewTest, ListsFilterAndSort) {  // §10 A3
  EXPECT_TRUE(view_.List({}).empty());
  Set("foo", "container", "2",
      R"("name":"db","namespace":"shop","labels":{"app":"db"})");
  Set("foo", "container", "1",
      R"("name":"web","labels":{"app":"web","tier":"front"})");
  Set("foo", "kubernetes_pod", "p", R"("name":"web-0","namespace":"shop")");
  auto ids = [](const std::vector<EntityPtr>& list) {
    std::vector<std::string> out;
    for (const auto& e : list) out.push_back(e->id.ToString());
    return out;
  };
  EXPECT_EQ(ids(view_.List({})),
            (std::vector<std::string>{"container/1", "container/2",
                                      "kubernetes_pod/p"}));
  EXPECT_EQ(ids(view_.List({.search = "shop"})),
            (std::vector<std::string>{"container/2", "kubernetes_pod/p"}));
  EXPECT_EQ(ids(view_.List({.kind = Kind::kContainer, .search = "we"})),
            (std::vector<std::string>{"container/1"}));
  auto selector = [&](std::string_view s) {
    return ids(view_.List({.selector = *ParseLabelSelector(s)}));
  };
  EXPECT_EQ(selector("app=web"), (std::vector<std::string>{"container/1"}));
  EXPECT_EQ(selector("app==db"), (std::vector<std::string>{"container/2"}));
  EXPECT_EQ(selector("app!=web"),
            (std::vector<std::string>{"container/2", "kubernetes_pod/p"}));
  EXPECT_EQ(selector("tier"), (std::vector<std::string>{"container/1"}));
  EXPECT_EQ(selector("app, !tier"), (std::vector<std::string>{"container/2"}));
  EXPECT_FALSE(ParseLabelSelector("=x"));
  EXPECT_FALSE(ParseLabelSelector("a,,b"));
}

TEST_F(ViewTest, ContainerForProcess) {  // §10 A4
  Set("foo", "container", "container_id1");
  Set("foo", "container", "container_id2");
  Set("foo", "process", "123",
      R"("owner":{"kind":"container","id":"container_id1"})");
  Set("foo", "process", "234", R"("container_id":"container_id2")");
  Set("foo", "process", "345");
  Set("foo", "process", "456",
      R"("owner":{"kind":"container","id":"missing"})");
  EXPECT_EQ((*view_.ContainerForProcess("123"))->id.id, "container_id1");
  EXPECT_EQ((*view_.ContainerForProcess("234"))->id.id, "container_id2");
  EXPECT_EQ(view_.ContainerForProcess("345").error().message,
            "process/345 has no container");
  EXPECT_EQ(view_.ContainerForProcess("456").error().message,
            "container/missing not found");
  EXPECT_EQ(view_.ContainerForProcess("999").error().message,
            "process/999 not found");
  // The reverse, through an index (issue 5's "processes in container X").
  auto in_1 = view_.ProcessesInContainer("container_id1");
  ASSERT_EQ(in_1.size(), 1u);
  EXPECT_EQ(in_1[0]->id.id, "123");
  Set("foo", "process", "123",
      R"("owner":{"kind":"container","id":"container_id2"})");
  EXPECT_TRUE(view_.ProcessesInContainer("container_id1").empty());
  EXPECT_EQ(view_.ProcessesInContainer("container_id2").size(), 2u);
  Unset("foo", "process", "234");
  EXPECT_EQ(view_.ProcessesInContainer("container_id2").size(), 1u);
}

TEST_F(ViewTest, ListsWhatAnEntityOwns) {
  Set("process_collector", "process", "1",
      R"("owner":{"kind":"container","id":"c1"})");
  Set("process_collector", "process", "2", R"("container_id":"c1")");
  Set("process_collector", "process", "3", R"("container_id":"c2")");
  Set("process_collector", "process", "4");
  Set("node_orchestrator", "container", "c1",
      R"("owner":{"kind":"kubernetes_pod","id":"uid"})");
  Set("runtime", "container", "c2");
  auto ids = [&](ListQuery query) {
    std::vector<std::string> out;
    for (const EntityPtr& e : view_.List(query))
      out.push_back(e->id.ToString());
    return out;
  };
  EXPECT_EQ(
      ids({.kind = Kind::kProcess, .owner = EntityId{Kind::kContainer, "c1"}}),
      (std::vector<std::string>{"process/1", "process/2"}));
  // Every kind: what the pod owns is its container, not the processes in it.
  EXPECT_EQ(ids({.owner = EntityId{Kind::kKubernetesPod, "uid"}}),
            std::vector<std::string>{"container/c1"});
  EXPECT_TRUE(ids({.owner = EntityId{Kind::kContainer, "c9"}}).empty());
}

TEST_F(ViewTest, PodForContainer) {
  Set("node_orchestrator", "kubernetes_pod", "uid", R"("name":"web-0")");
  Set("runtime", "container", "c1");
  Set("node_orchestrator", "container", "c1",
      R"("owner":{"kind":"kubernetes_pod","id":"uid"})");
  Set("node_orchestrator", "container", "c2",
      R"("owner":{"kind":"kubernetes_pod","id":"gone"})");
  EXPECT_EQ((*view_.PodForContainer("c1"))->id.id, "uid");
  EXPECT_EQ(view_.PodForContainer("c2").error().message,
            "kubernetes_pod/gone not found");
  Set("runtime", "container", "c3");
  EXPECT_EQ(view_.PodForContainer("c3").error().message,
            "container/c3 has no pod owner");
}

TEST_F(ViewTest, PodsByNameThroughAnIndex) {  // §10 A5
  Set("foo", "kubernetes_pod", "1",
      R"("name":"test-pod","namespace":"test-namespace")");
  Set("foo", "kubernetes_pod", "2",
      R"("name":"test-pod-other","namespace":"test-namespace")");
  Set("foo", "kubernetes_pod", "3",
      R"("name":"test-pod","namespace":"test-namespace-other")");
  EXPECT_EQ(view_.PodsByName("test-namespace", "test-pod")[0]->id.id, "1");
  EXPECT_EQ(view_.PodsByName("test-namespace", "test-pod-other")[0]->id.id,
            "2");
  EXPECT_EQ(view_.PodsByName("test-namespace-other", "test-pod")[0]->id.id,
            "3");
  EXPECT_TRUE(
      view_.PodsByName("test-namespace-other", "test-pod-other").empty());
  // A StatefulSet replacing its pod: two uids under one name for a while.
  Set("foo", "kubernetes_pod", "4",
      R"("name":"test-pod","namespace":"test-namespace")");
  EXPECT_EQ(view_.PodsByName("test-namespace", "test-pod").size(), 2u);
  Set("foo", "kubernetes_pod", "1",
      R"("name":"renamed","namespace":"test-namespace")");
  EXPECT_EQ(view_.PodsByName("test-namespace", "test-pod").size(), 1u);
}

TEST_F(ViewTest, KubernetesMetadataByGeneratedId) {  // §10 A6
  Set("foo", "kubernetes_metadata", "nodes//node3",
      R"("name":"node3","gvr":{"resource":"nodes","version":"v1"})");
  Set("foo", "kubernetes_metadata", "deployments/default/app",
      R"("name":"node3","gvr":{"group":"apps","resource":"deployments"})");
  EXPECT_TRUE(view_.Get({Kind::kKubernetesMetadata, "nodes//node3"}));
  EXPECT_FALSE(view_.Get({Kind::kKubernetesMetadata, "nodes//node4"}));
}

TEST_F(ViewTest,
       PodPrecedenceClusterOrchestratorOverNodeOrchestrator) {  // §10 B8
  Set("node_orchestrator", "kubernetes_pod", "uid",
      R"("namespace_labels":{"key":"stale"})");
  Set("cluster_orchestrator", "kubernetes_pod", "uid",
      R"("namespace_labels":{"key":"fresh"})");
  EXPECT_EQ(Merged(Kind::kKubernetesPod, "uid").at("namespace_labels"),
            bj::parse(R"({"key":"fresh"})"));
}

TEST_F(ViewTest, MergeDoesNotDependOnArrivalOrder) {  // §10 B9, as determinism
  View other;
  Set("runtime", "container", "c",
      R"("name":"a","state":{"running":true},"ports":[{"port":1}])");
  Set("node_orchestrator", "container", "c",
      R"("name":"b","ports":[{"port":2}])");
  Event x = JsonEvent(
      R"({"source":"node_orchestrator","entity":{"kind":"container","id":"c","name":"b","ports":[{"port":2}]}})");
  Event y = JsonEvent(
      R"({"source":"runtime","entity":{"kind":"container","id":"c","name":"a","state":{"running":true},"ports":[{"port":1}]}})");
  other.Apply(std::make_shared<const Event>(x.Stamped(1, {})));
  other.Apply(std::make_shared<const Event>(y.Stamped(2, {})));
  EXPECT_EQ(Merged(Kind::kContainer, "c"),
            bj::parse(EntityJson(
                (*other.Get({Kind::kContainer, "c"}))->merged->view())));
  EXPECT_EQ(Merged(Kind::kContainer, "c").at("name").as_string(), "b");
}

TEST_F(ViewTest,
       PartialUnsetRecomputesFromTheRemainingLayers) {  // §10 B15, B23
  Set("a", "container", "c", R"("state":{"running":true},"name":"from-a")");
  Set("b", "container", "c", R"("state":{"running":false},"hostname":"h")");
  EXPECT_EQ(Merged(Kind::kContainer, "c").at("state").at("running").as_bool(),
            true);
  auto change = Unset("a", "container", "c");
  ASSERT_TRUE(change);
  // Deliberate difference: the reference notifies the pre-removal state;
  // wmeta sends the new merged state (b's alone).
  EXPECT_EQ(change->type, EventType::kSet);
  EXPECT_EQ(
      bj::parse(EntityJson(change->merged->view())),
      bj::parse(
          R"({"kind":"container","id":"c","hostname":"h","state":{"running":false}})"));
  EXPECT_EQ(change->layer->view().source(), "a");
  auto entity = *view_.Get({Kind::kContainer, "c"});
  EXPECT_EQ(entity->layers.size(), 1u);
  EXPECT_EQ(entity->mod_offset(), 3u);
  EXPECT_EQ(entity->version, 3u);
}

TEST_F(ViewTest, MultiSourceProcessSurvivesOneSourcesUnset) {  // §10 B36
  Set("nvml", "process", "p", R"("gpus":[{"kind":"gpu","id":"g"}])");
  Set("service_discovery", "process", "p",
      R"("service":{"generated_name":"test-service","tcp_ports":[8080]})");
  EXPECT_TRUE(Merged(Kind::kProcess, "p").as_object().contains("gpus"));
  Unset("nvml", "process", "p");
  auto merged = Merged(Kind::kProcess, "p");
  EXPECT_FALSE(merged.as_object().contains("gpus"));
  EXPECT_EQ(merged.at("service").at("generated_name").as_string(),
            "test-service");
}

TEST_F(ViewTest, NoOpsChangeNothing) {  // §10 C21, C25
  ASSERT_TRUE(Set("foo", "container", "c", R"("name":"x")"));
  EXPECT_FALSE(Set("foo", "container", "c", R"("name":"x")"));
  EXPECT_FALSE(Unset("bar", "container", "c"));
  EXPECT_FALSE(Unset("foo", "container", "nothing"));
  EXPECT_EQ((*view_.Get({Kind::kContainer, "c"}))->version, 1u);
  // A new source with identical data does change the view: a new layer.
  EXPECT_TRUE(Set("bar", "container", "c", R"("name":"x")"));
}

TEST_F(ViewTest, ConfiguredPrioritiesWin) {
  SourcePriorities priorities;
  ASSERT_TRUE(priorities.Parse("container=runtime,node_orchestrator"));
  EXPECT_FALSE(priorities.Parse("pod=a"));
  EXPECT_FALSE(priorities.Parse("container="));
  view_ = View(priorities);
  Set("node_orchestrator", "container", "c", R"("name":"kubelet-name")");
  Set("runtime", "container", "c", R"("name":"docker-name")");
  EXPECT_EQ(Merged(Kind::kContainer, "c").at("name").as_string(),
            "docker-name");
  // Unknown sources rank after known ones, by name.
  EXPECT_TRUE(
      SourcePriorities().Outranks(Kind::kContainer, "runtime", "aaa-custom"));
  EXPECT_TRUE(SourcePriorities().Outranks(Kind::kContainer, "aaa", "bbb"));
  EXPECT_TRUE(SourcePriorities().Outranks(Kind::kContainer, "node_orchestrator",
                                          "runtime"));
}

TEST_F(ViewTest, DeferredMergesSettleToTheSameView) {
  std::vector<std::shared_ptr<const Event>> records;
  const char* sources[] = {"runtime", "node_orchestrator", "custom"};
  for (int i = 0; i < 300; ++i) {
    std::string id = std::to_string(i % 7);
    std::string json =
        i % 11 == 5
            ? R"({"source":")" + std::string(sources[i % 3]) +
                  R"(","type":"unset","entity":{"kind":"kubernetes_pod","id":")" +
                  id + R"("}})"
            : R"({"source":")" + std::string(sources[i % 3]) +
                  R"(","entity":{"kind":"kubernetes_pod","id":")" + id +
                  R"(","name":"n)" + std::to_string(i % 5) +
                  R"(","namespace":"ns","labels":{"k)" + std::to_string(i % 4) +
                  R"(":"v"}}})";
    records.push_back(std::make_shared<const Event>(
        JsonEvent(json).Stamped(static_cast<uint64_t>(i + 1), {})));
  }
  View eager, deferred;
  deferred.DeferMerges();
  for (const auto& r : records) {
    eager.Apply(r);
    deferred.Apply(r);
  }
  deferred.Settle();
  auto json_of = [](const View& v) {
    std::vector<std::string> out;
    for (const auto& e : v.List({})) {
      out.push_back(EntityJson(e->merged->view()) + "@" +
                    std::to_string(e->mod_offset()) + "v" +
                    std::to_string(e->version));
    }
    return out;
  };
  EXPECT_EQ(json_of(eager), json_of(deferred));
  for (int n = 0; n < 5; ++n) {
    std::string name = "n" + std::to_string(n);
    EXPECT_EQ(eager.PodsByName("ns", name).size(),
              deferred.PodsByName("ns", name).size());
  }
}

TEST_F(ViewTest, ProvenanceOfTheMergedEntity) {
  Set("runtime", "container", "c", R"("name":"k8s_web","pid":4)");
  Set("node_orchestrator", "container", "c", R"("name":"web")");
  auto entity = *view_.Get({Kind::kContainer, "c"});
  auto provenance = view_.Provenance(*entity);
  std::map<std::string, std::string> by_path(provenance.begin(),
                                             provenance.end());
  EXPECT_EQ(by_path["name"], "node_orchestrator");
  EXPECT_EQ(by_path["pid"], "runtime");
}

}  // namespace
}  // namespace wmeta::store

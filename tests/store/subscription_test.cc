// Subscriptions: the reference's scenarios (anchor §10 C) adapted, the start
// positions, resumption, and the guarantees under a slow subscriber.

#include "wmeta/store/subscription.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "events.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"

namespace wmeta::store {
namespace {

namespace bj = boost::json;
using std::chrono::milliseconds;
using testing::ContainerFrom;
using testing::EntityJson;
using testing::JsonEvent;

// "set container/foo {name:x}" per message, for compact expectations.
std::string Describe(const Message& m) {
  switch (m.type) {
    case Message::Type::kSnapshotEnd:
      return "end@" + std::to_string(m.offset);
    case Message::Type::kBookmark:
      return "bookmark@" + std::to_string(m.offset);
    case Message::Type::kEvent: {
      auto json = bj::parse(EntityJson(m.event->view())).as_object();
      std::string id = std::string(json.at("id").as_string());
      bj::object fields;
      for (const auto& [key, value] : json) {
        if (key != "kind" && key != "id") fields.emplace(key, value);
      }
      return std::string(EventTypeName(m.event_type)) + " " + id +
             (fields.empty() ? "" : " " + bj::serialize(fields));
    }
  }
  return "?";
}

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenStore(Options{}); }

  std::unique_ptr<Store> OpenStore(Options options) {
    auto store = Store::Open(dir_.path(), options);
    EXPECT_TRUE(store) << store.error().ToString();
    return std::move(*store);
  }

  void Apply(std::vector<Event> events) {
    auto r = store_->Apply(events);
    ASSERT_TRUE(r) << r.error().ToString();
  }

  std::unique_ptr<Subscription> Subscribe(SubscribeOptions options) {
    options.bookmark_interval = milliseconds(3'600'000);  // out of the way
    auto sub = store_->Subscribe(std::move(options));
    EXPECT_TRUE(sub) << sub.error().ToString();
    return sub ? std::move(*sub) : nullptr;
  }

  // Reads until `count` messages arrived (or 30 s pass: a failure).
  static std::vector<std::string> Take(Subscription& sub, size_t count) {
    std::vector<std::string> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      auto bundle = sub.Next(deadline);
      EXPECT_TRUE(bundle) << bundle.error().ToString();
      if (!bundle) break;
      for (const auto& m : *bundle) out.push_back(Describe(m));
    }
    return out;
  }

  // Whatever is ready now, without waiting.
  static std::vector<std::string> Ready(Subscription& sub) {
    std::vector<std::string> out;
    while (true) {
      auto bundle = sub.Next(std::chrono::steady_clock::now());
      EXPECT_TRUE(bundle);
      if (!bundle || bundle->empty()) return out;
      for (const auto& m : *bundle) out.push_back(Describe(m));
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

using V = std::vector<std::string>;

TEST_F(SubscriptionTest,
       SnapshotIsTheCurrentStateSortedThenLive) {  // §10 C16, C19
  Apply({ContainerFrom("foo", "foo"), ContainerFrom("foo", "bar"),
         ContainerFrom("foo", "bar", "", EventType::kUnset)});
  auto sub = Subscribe({});
  EXPECT_EQ(Take(*sub, 2), (V{"set foo", "end@3"}));
  Apply({ContainerFrom("foo", "baz", R"("name":"z")")});
  EXPECT_EQ(Take(*sub, 1), (V{"set baz {\"name\":\"z\"}"}));

  // An empty store: the end marker alone.
  testing::TempDir empty;
  auto fresh = Store::Open(empty.path(), {});
  auto empty_sub = (*fresh)->Subscribe({});
  EXPECT_EQ(Take(**empty_sub, 1), (V{"end@0"}));
}

TEST_F(SubscriptionTest,
       SnapshotWithASourceFilterCarriesThatSourcesLayer) {  // §10 C17
  Apply({ContainerFrom("foo", "foo", R"("name":"f1")"),
         ContainerFrom("bar", "foo", R"("name":"b1")"),
         ContainerFrom("bar", "foo", "", EventType::kUnset),
         ContainerFrom("foo", "bar", R"("name":"f2")"),
         ContainerFrom("bar", "bar", R"("name":"b2")"),
         ContainerFrom("bar", "baz")});
  auto sub = Subscribe({.filter = {.sources = {"foo"}}});
  EXPECT_EQ(Take(*sub, 3), (V{R"(set bar {"name":"f2"})",
                              R"(set foo {"name":"f1"})", "end@6"}));
}

TEST_F(SubscriptionTest, UnsetOnlyFilterGetsAnEmptySnapshot) {  // §10 C18, C28
  Apply({ContainerFrom("foo", "foo")});
  auto sub = Subscribe({.filter = {.type = EventType::kUnset}});
  EXPECT_EQ(Take(*sub, 1), (V{"end@1"}));
  Apply({ContainerFrom("foo", "x")});
  Apply({ContainerFrom("foo", "x", "", EventType::kUnset)});
  EXPECT_EQ(Take(*sub, 1), (V{"unset x"}));
}

TEST_F(SubscriptionTest, LiveMergeSetUnsetAndNoOps) {  // §10 C20, C21, C22
  auto sub = Subscribe({});
  EXPECT_EQ(Take(*sub, 1), (V{"end@0"}));
  Apply({ContainerFrom("foo", "foo", R"("name":"a","hostname":"h")")});
  Apply({ContainerFrom("bar", "foo", R"("name":"override")")});
  Apply({ContainerFrom("bar", "foo", R"("name":"override")"),
         ContainerFrom("bar", "foo", R"("name":"override")")});
  Apply({ContainerFrom("bar", "foo", "", EventType::kUnset)});
  Apply({ContainerFrom("foo", "foo", "", EventType::kUnset)});
  EXPECT_EQ(Take(*sub, 4), (V{R"(set foo {"name":"a","hostname":"h"})",
                              R"(set foo {"name":"override","hostname":"h"})",
                              R"(set foo {"name":"a","hostname":"h"})",
                              R"(unset foo {"name":"a","hostname":"h"})"}));
  EXPECT_TRUE(Ready(*sub).empty());
}

TEST_F(SubscriptionTest, PartialUnsetWithASourceFilter) {  // §10 C24
  auto sub = Subscribe({.filter = {.sources = {"foo"}}});
  Take(*sub, 1);
  Apply({ContainerFrom("foo", "x", R"("name":"f")")});
  Apply({ContainerFrom("bar", "x", R"("name":"b")")});
  Apply({ContainerFrom("foo", "x", "", EventType::kUnset)});
  EXPECT_EQ(Take(*sub, 2),
            (V{R"(set x {"name":"f"})", R"(unset x {"name":"f"})"}));
}

TEST_F(SubscriptionTest, KindFilterAndPredicate) {  // §10 C27
  auto sub = Subscribe({.filter = {.kinds = {Kind::kKubernetesPod},
                                   .predicate = [](const EventView& e) {
                                     return e.name().starts_with("web");
                                   }}});
  Take(*sub, 1);
  Apply(
      {ContainerFrom("foo", "c"),
       JsonEvent(
           R"({"source":"foo","entity":{"kind":"kubernetes_pod","id":"1","name":"web-0"}})"),
       JsonEvent(
           R"({"source":"foo","entity":{"kind":"kubernetes_pod","id":"2","name":"db-0"}})"),
       JsonEvent(
           R"({"source":"foo","type":"unset","entity":{"kind":"kubernetes_pod","id":"1"}})")});
  // The unset carries the pod's last state, which the predicate sees.
  EXPECT_EQ(Take(*sub, 2),
            (V{R"(set 1 {"name":"web-0"})", R"(unset 1 {"name":"web-0"})"}));
}

TEST_F(SubscriptionTest, StartAtAnOffsetAndResumeAtLastPlusOne) {
  Apply({ContainerFrom("foo", "a"), ContainerFrom("foo", "b"),
         ContainerFrom("foo", "c")});
  auto sub = Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 2});
  EXPECT_EQ(Take(*sub, 2), (V{"set b", "set c"}));
  // A consumer that saw up to 3 reconnects at 4: nothing missed, nothing twice.
  Apply({ContainerFrom("foo", "d")});
  auto resumed =
      Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 4});
  Apply({ContainerFrom("foo", "e")});
  EXPECT_EQ(Take(*resumed, 2), (V{"set d", "set e"}));
  EXPECT_EQ(resumed->next_offset(), 6u);

  auto below =
      store_->Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 0});
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(below.error().message.find("first available offset 1"),
            std::string::npos);
  auto future =
      store_->Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 7});
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, ErrorCode::kFutureOffset);
}

TEST_F(SubscriptionTest, StartAtATimeAndAtLatest) {
  Apply({ContainerFrom("foo", "a")});
  Timestamp between =
      store_->log().Read(1)->view().ingest_time() + std::chrono::nanoseconds(1);
  auto latest = Subscribe({.from = SubscribeOptions::From::kLatest});
  Apply({ContainerFrom("foo", "b")});
  EXPECT_EQ(Take(*latest, 1), (V{"set b"}));
  auto by_time =
      Subscribe({.from = SubscribeOptions::From::kTime, .time = between});
  EXPECT_EQ(Take(*by_time, 1), (V{"set b"}));
}

TEST_F(SubscriptionTest, RawDeliversTheRecordsThemselves) {
  Apply({ContainerFrom("runtime", "a", R"("name":"r")"),
         ContainerFrom("kubelet", "a", R"("name":"k")")});
  auto raw = Subscribe(
      {.from = SubscribeOptions::From::kOffset, .offset = 1, .raw = true});
  EXPECT_EQ(Take(*raw, 2),
            (V{R"(set a {"name":"r"})", R"(set a {"name":"k"})"}));
  auto snapshot = store_->Subscribe({.raw = true});
  ASSERT_FALSE(snapshot);
  EXPECT_EQ(snapshot.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(SubscriptionTest, BookmarksOnAnIdleOrFilteredStream) {
  SubscribeOptions options{.from = SubscribeOptions::From::kLatest,
                           .filter = {.kinds = {Kind::kProcess}}};
  options.bookmark_interval = milliseconds(1);
  auto sub = *store_->Subscribe(options);
  Apply({ContainerFrom("foo", "a"), ContainerFrom("foo", "b")});
  // Only containers happened: a bookmark says everything up to 2 was seen.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string last;
  while (last != "bookmark@2" && std::chrono::steady_clock::now() < deadline) {
    auto bundle = sub->Next(deadline);
    ASSERT_TRUE(bundle);
    for (const auto& m : *bundle) last = Describe(m);
  }
  EXPECT_EQ(last, "bookmark@2");
}

TEST_F(SubscriptionTest, CatchingUpReadsABoundedStretchOfLogPerCall) {
  Options options;
  options.live_changes = 4;
  store_.reset();
  store_ = OpenStore(options);
  for (int i = 0; i < 200; ++i)
    Apply({ContainerFrom("foo", "c" + std::to_string(i))});
  // Nothing matches, so only the bound returns control to the caller, at its
  // deadline, with the position advanced.
  auto sub = Subscribe({.from = SubscribeOptions::From::kOffset,
                        .offset = 1,
                        .filter = {.kinds = {Kind::kProcess}},
                        .max_bundle = 2});
  size_t calls = 0;
  uint64_t previous = sub->next_offset();
  while (sub->next_offset() <= 200) {
    auto bundle = sub->Next(std::chrono::steady_clock::now());
    ASSERT_TRUE(bundle) << bundle.error().ToString();
    EXPECT_TRUE(bundle->empty());
    ASSERT_GT(sub->next_offset(), previous);
    EXPECT_LE(sub->next_offset() - previous, 32u);  // 16 reads per message
    previous = sub->next_offset();
    ++calls;
  }
  EXPECT_GE(calls, 200u / 32);
  EXPECT_FALSE(sub->catching_up());
}

TEST_F(SubscriptionTest, AStoreIdFromAnotherStoreIsRefused) {
  auto other =
      store_->Subscribe({.store_id = "00000000-0000-4000-8000-000000000000"});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kStoreMismatch);
  EXPECT_TRUE(store_->Subscribe({.store_id = store_->log().store_id()}));
}

TEST_F(SubscriptionTest,
       AStalledSubscriberNeitherBlocksTheWriterNorLosesEvents) {
  Options options;
  options.live_changes = 16;  // a tiny window, to fall out of it quickly
  store_.reset();
  testing::TempDir dir;
  auto store = *Store::Open(dir.path(), options);
  auto stalled = *store->Subscribe(
      {.from = SubscribeOptions::From::kLatest, .max_bundle = 10});
  auto merged = *store->Subscribe({});
  // The writer goes on while nobody reads: 500 changes, far past the window.
  for (int i = 0; i < 500; ++i) {
    auto r = store->Apply(std::vector<Event>{ContainerFrom(
        "foo", "c" + std::to_string(i % 7), R"("pid":)" + std::to_string(i))});
    ASSERT_TRUE(r);
  }
  // Every change arrives, in order, read from the log and then live again.
  std::vector<uint64_t> offsets;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool caught_up_from_log = false;
  while (offsets.size() < 500 && std::chrono::steady_clock::now() < deadline) {
    auto bundle = stalled->Next(deadline);
    ASSERT_TRUE(bundle) << bundle.error().ToString();
    caught_up_from_log |= stalled->catching_up();
    for (const auto& m : *bundle) {
      if (m.type == Message::Type::kEvent) offsets.push_back(m.offset);
    }
  }
  ASSERT_EQ(offsets.size(), 500u);
  for (size_t i = 0; i < offsets.size(); ++i) ASSERT_EQ(offsets[i], i + 1);
  EXPECT_TRUE(caught_up_from_log);
  EXPECT_FALSE(stalled->catching_up());
  auto r = store->Apply(std::vector<Event>{ContainerFrom("foo", "after")});
  ASSERT_TRUE(r);
  EXPECT_EQ(Take(*stalled, 1), (V{"set after"}));

  // A merged subscriber behind the window gets merged entities, as if live.
  auto first = Take(*merged, 3);
  first.resize(3);
  EXPECT_EQ(first, (V{"end@0", R"(set c0 {"pid":0})", R"(set c1 {"pid":1})"}));
}

}  // namespace
}  // namespace wmeta::store

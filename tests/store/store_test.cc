// The store: its write path (no-ops dropped, one append per group), restarts
// and checkpoints, queries in the past, history and diffs.

#include "wmeta/store/store.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "events.h"
#include "fake_clock.h"
#include "temp_dir.h"

namespace wmeta::store {
namespace {

namespace bj = boost::json;
using testing::ContainerFrom;
using testing::EntityJson;

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(Options options = {}) {
    return OpenAt(dir_.path(), options);
  }

  std::unique_ptr<Store> OpenAt(const std::string& dir, Options options = {}) {
    options.log.clock = &clock_;
    auto store = Store::Open(dir, options);
    EXPECT_TRUE(store) << store.error().ToString();
    return store ? std::move(*store) : nullptr;
  }

  static ApplyResult MustApply(Store& store, std::vector<Event> events) {
    auto r = store.Apply(events);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : ApplyResult{};
  }

  static bj::value Json(const std::shared_ptr<const Event>& e) {
    return bj::parse(EntityJson(e->view()));
  }

  testing::TempDir dir_;
  testing::FakeClock clock_{1'000'000'000'000};
};

TEST_F(StoreTest, NoOpsAreNotAppended) {
  auto store = Open();
  auto r = MustApply(*store, {ContainerFrom("runtime", "a", R"("name":"x")"),
                              ContainerFrom("runtime", "b")});
  EXPECT_EQ(r.appended, 2u);
  EXPECT_EQ(r.first_offset, 1u);
  EXPECT_EQ(r.last_offset, 2u);
  EXPECT_TRUE(r.synced);
  // The same set again, an unset of a layer that does not exist, and (in one
  // batch) a change followed by its undo, which is not a no-op.
  r = MustApply(*store,
                {ContainerFrom("runtime", "a", R"("name":"x")"),
                 ContainerFrom("kubelet", "a", "", EventType::kUnset),
                 ContainerFrom("runtime", "b", R"("pid":1)"),
                 ContainerFrom("runtime", "b"), ContainerFrom("runtime", "b")});
  EXPECT_EQ(r.noops, 3u);
  EXPECT_EQ(r.appended, 2u);
  EXPECT_EQ(r.first_offset, 3u);
  EXPECT_EQ(r.last_offset, 4u);
  EXPECT_EQ(store->log().last_offset(), 4u);
  r = MustApply(*store, {ContainerFrom("runtime", "a", R"("name":"x")")});
  EXPECT_EQ(r.appended, 0u);
  EXPECT_EQ(r.first_offset, 0u);
  EXPECT_EQ(store->applied_offset(), 4u);
}

TEST_F(StoreTest, ConcurrentAppliesAreGroupedAndNothingIsLost) {
  auto store = Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = store->Apply(std::vector<Event>{
            ContainerFrom("s" + std::to_string(t), "c" + std::to_string(i),
                          R"("pid":)" + std::to_string(i))});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->appended, 1u);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store->log().last_offset(), 300u);
  EXPECT_EQ(store->List({}).size(), 50u);
  EXPECT_EQ((*store->Get({Kind::kContainer, "c7"}))->layers.size(), 6u);
}

TEST_F(StoreTest, ReopeningRebuildsTheSameView) {
  bj::value before;
  {
    Options options;
    options.checkpoint_every_records = 0;  // no periodic checkpoint...
    options.checkpoint_every = std::chrono::seconds(0);
    auto store = Open(options);
    MustApply(*store, {ContainerFrom("runtime", "a", R"("name":"x","pid":1)"),
                       ContainerFrom("node_orchestrator", "a", R"("name":"y")"),
                       ContainerFrom("runtime", "b")});
    MustApply(*store, {ContainerFrom("runtime", "b", "", EventType::kUnset)});
    before = Json((*store->Get({Kind::kContainer, "a"}))->merged);
  }
  // ...but one at the clean close, which the next open starts from.
  auto checkpoints = Open()->Checkpoints();
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].offset, 4u);
  auto store = Open();
  EXPECT_EQ(store->applied_offset(), 4u);
  EXPECT_EQ(Json((*store->Get({Kind::kContainer, "a"}))->merged), before);
  EXPECT_FALSE(store->Get({Kind::kContainer, "b"}));
  EXPECT_EQ((*store->Get({Kind::kContainer, "a"}))->version, 2u);
}

TEST_F(StoreTest, OpenReplaysTheTailAfterTheNewestCheckpoint) {
  {
    auto store = Open();
    MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":1)")});
    ASSERT_TRUE(store->Checkpoint());
    MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":2)"),
                       ContainerFrom("runtime", "b")});
    ASSERT_TRUE(store->Checkpoint());
    MustApply(*store, {ContainerFrom("runtime", "b", R"("pid":3)")});
  }
  // Damage the newest checkpoint: the older one and a longer replay do.
  auto files = Open()->Checkpoints();
  ASSERT_GE(files.size(), 2u);
  {
    std::fstream f(files[0].path,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.write("garbage!", 8);
  }
  auto store = Open();
  EXPECT_EQ(
      Json((*store->Get({Kind::kContainer, "a"}))->merged).at("pid").as_int64(),
      2);
  EXPECT_EQ(
      Json((*store->Get({Kind::kContainer, "b"}))->merged).at("pid").as_int64(),
      3);
}

// With durability none, a power loss can take records the checkpoints already
// reflect. Such checkpoints are not used: one past the log's end, and one at
// an offset the log now holds a different record at.
TEST_F(StoreTest, CheckpointsOfRecordsTheLogLostAreNotUsed) {
  namespace fs = std::filesystem;
  clock_.now = 100;
  MustApply(*Open(), {ContainerFrom("runtime", "a", R"("pid":1)"),
                      ContainerFrom("runtime", "b")});
  testing::TempDir lost;  // the data dir as a power loss leaves it
  fs::copy(dir_.path(), lost.Sub("d"), fs::copy_options::recursive);
  clock_.now = 200;
  MustApply(*Open(), {ContainerFrom("runtime", "a", R"("pid":2)"),
                      ContainerFrom("runtime", "c")});
  auto future = Open()->Checkpoints();
  ASSERT_EQ(future[0].offset, 4u);
  std::string name = fs::path(future[0].path).filename();

  auto copy_future_checkpoint = [&] {
    fs::copy(future[0].path, lost.Sub("d/checkpoints/" + name),
             fs::copy_options::overwrite_existing);
  };
  copy_future_checkpoint();
  {
    auto store = OpenAt(lost.Sub("d"));
    EXPECT_EQ(store->applied_offset(), 2u);
    EXPECT_EQ(Json((*store->Get({Kind::kContainer, "a"}))->merged)
                  .at("pid")
                  .as_int64(),
              1);
    EXPECT_FALSE(store->Get({Kind::kContainer, "c"}));
    EXPECT_EQ(store->Checkpoints()[0].offset, 2u);  // removed on open
    // The collectors go on: offsets 3 and 4 again, other records.
    clock_.now = 300;
    MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":3)"),
                       ContainerFrom("runtime", "d")});
  }
  copy_future_checkpoint();  // over the one the close just wrote at 4
  auto store = OpenAt(lost.Sub("d"));
  EXPECT_EQ(store->applied_offset(), 4u);
  EXPECT_EQ(
      Json((*store->Get({Kind::kContainer, "a"}))->merged).at("pid").as_int64(),
      3);
  EXPECT_TRUE(store->Get({Kind::kContainer, "d"}));
  EXPECT_FALSE(store->Get({Kind::kContainer, "c"}));
}

TEST_F(StoreTest, ACheckpointMergedWithOtherPrioritiesIsNotUsed) {
  MustApply(*Open(), {ContainerFrom("runtime", "a", R"("name":"from-runtime")"),
                      ContainerFrom("node_orchestrator", "a",
                                    R"("name":"from-kubelet")")});
  auto name = [](Store& store) {
    return std::string(Json((*store.Get({Kind::kContainer, "a"}))->merged)
                           .at("name")
                           .as_string());
  };
  EXPECT_EQ(name(*Open()), "from-kubelet");
  ASSERT_FALSE(Open()->Checkpoints().empty());
  Options runtime_first;
  runtime_first.priorities.Set(Kind::kContainer, {"runtime"});
  EXPECT_EQ(name(*Open(runtime_first)), "from-runtime");
}

TEST_F(StoreTest, TimesAndHistoryBeforeRetentionAreRefusedNotGuessed) {
  namespace fs = std::filesystem;
  auto store = Open();
  clock_.now = 100;
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":1)")});  // 1 @100
  clock_.now = 200;
  MustApply(*store, {ContainerFrom("runtime", "b")});  // 2 @200
  ASSERT_TRUE(store->Checkpoint());
  clock_.now = 300;
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":3)")});  // 3 @300
  ASSERT_EQ(store->ApplyRetention({.max_records = 1})->new_first_offset, 3u);

  // Record 1 is gone: the state at 150 is unknown. At 200 and after, the
  // checkpoint left at 2 answers.
  auto at_150 = store->StateAtTime(FromUnixNanos(150));
  ASSERT_FALSE(at_150);
  EXPECT_EQ(at_150.error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ((*store->StateAtTime(FromUnixNanos(200)))->applied_offset(), 2u);
  EXPECT_EQ((*store->StateAtTime(FromUnixNanos(250)))->List({}).size(), 2u);
  // Record 2, ingested at 200, is gone: a stream from 200 would miss it.
  auto from_200 = store->Subscribe(
      {.from = SubscribeOptions::From::kTime, .time = FromUnixNanos(200)});
  ASSERT_FALSE(from_200);
  EXPECT_EQ(from_200.error().code, ErrorCode::kOutOfRange);
  auto from_201 = store->Subscribe(
      {.from = SubscribeOptions::From::kTime, .time = FromUnixNanos(201)});
  ASSERT_TRUE(from_201);
  EXPECT_EQ((*from_201)->next_offset(), 3u);
  from_201->reset();

  // Without the checkpoint retention left, the state before offset 3 is gone
  // too: history and the past say so, and an open cannot rebuild the view.
  auto remove_checkpoints = [&] { fs::remove_all(dir_.Sub("checkpoints")); };
  remove_checkpoints();
  auto history = store->History({Kind::kContainer, "a"});
  ASSERT_FALSE(history);
  EXPECT_EQ(history.error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ(store->StateAt(2).error().code, ErrorCode::kOutOfRange);
  store.reset();  // its close writes a checkpoint at 3, which would do
  EXPECT_EQ(Open()->applied_offset(), 3u);
  remove_checkpoints();
  auto reopened = Store::Open(dir_.path(), {});
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code, ErrorCode::kCorruption);
}

TEST_F(StoreTest, CheckpointsEveryNRecordsAndKeepsTheNewest) {
  Options options;
  options.checkpoint_every_records = 10;
  options.checkpoints_kept = 2;
  options.checkpoint_history_every = 0;
  options.checkpoint_every = std::chrono::seconds(0);
  auto store = Open(options);
  for (int i = 0; i < 35; ++i) {
    MustApply(*store,
              {ContainerFrom("runtime", "c", R"("pid":)" + std::to_string(i))});
  }
  // The checkpointer runs in the background: wait for it with a deadline.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (store->Checkpoints().empty() || store->Checkpoints()[0].offset < 30) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Pruning follows each write; once the store is closed, two are left (the
  // close wrote the last one, at 35).
  store.reset();
  options.checkpoint_every_records = 0;
  auto checkpoints = Open(options)->Checkpoints();
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0].offset, 35u);
  EXPECT_GE(checkpoints[1].offset, 30u);
}

TEST_F(StoreTest, OlderCheckpointsAreThinnedToOneEveryHistorySpan) {
  Options options;
  options.checkpoint_every_records = 0;
  options.checkpoint_every = std::chrono::seconds(0);
  options.checkpoints_kept = 1;
  options.checkpoint_history_every = 100;
  auto store = Open(options);
  // One entity, so the spacing is the span (4 x entities is less). A
  // checkpoint every 40 records, at 40, 80, ..., 400.
  for (int i = 1; i <= 400; ++i) {
    MustApply(*store,
              {ContainerFrom("runtime", "c", R"("pid":)" + std::to_string(i))});
    if (i % 40 == 0) {
      ASSERT_TRUE(store->Checkpoint());
    }
  }
  std::vector<uint64_t> kept;
  for (const auto& c : store->Checkpoints()) kept.push_back(c.offset);
  // The newest, then the first of each span of 100 offsets, whatever the
  // order the prunes ran in.
  EXPECT_EQ(kept, (std::vector<uint64_t>{400, 320, 200, 120, 40}));
  // A past view folds from the one below it, and is right.
  auto view = store->StateAt(200);
  ASSERT_TRUE(view) << view.error().ToString();
  auto c = (*view)->Get({Kind::kContainer, "c"});
  ASSERT_TRUE(c);
  EXPECT_EQ(Json((*c)->merged).at("pid").as_int64(), 200);

  // A view that grows widens the span, by doubling, and what stays is what
  // a fresh prune keeps: the first checkpoint of each span.
  store.reset();
  std::filesystem::remove_all(dir_.path());
  options.checkpoint_history_every = 8;
  store = Open(options);
  for (int i = 1; i <= 200; ++i) {
    // A new container every 10 records: 20 at the end.
    MustApply(*store, {ContainerFrom("runtime", "g" + std::to_string(i / 10),
                                     R"("pid":)" + std::to_string(i))});
    if (i % 4 == 0) {
      ASSERT_TRUE(store->Checkpoint());
    }
  }
  kept.clear();
  for (const auto& checkpoint : store->Checkpoints()) {
    kept.push_back(checkpoint.offset);
  }
  // 4 x 21 entities: the span doubles from 8 to 128; [0, 128) keeps 4,
  // [128, 256) keeps 128.
  EXPECT_EQ(kept, (std::vector<uint64_t>{200, 128, 4}));

  // Without a history span, only the newest stay.
  options.checkpoint_history_every = 0;
  store.reset();
  store = Open(options);
  ASSERT_TRUE(store->Checkpoint());
  ASSERT_EQ(store->Checkpoints().size(), 1u);
}

TEST_F(StoreTest, StateAtAnOffsetAndATime) {
  auto store = Open();
  clock_.now = 100;
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":1)")});  // 1 @100
  clock_.now = 200;
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":2)"),
                     ContainerFrom("runtime", "b")});  // 2,3 @200
  ASSERT_TRUE(store->Checkpoint());
  clock_.now = 300;
  MustApply(*store,
            {ContainerFrom("runtime", "a", "", EventType::kUnset)});  // 4 @300

  auto pid_at = [&](uint64_t offset) -> int64_t {
    auto view = store->StateAt(offset);
    EXPECT_TRUE(view) << view.error().ToString();
    auto a = (*view)->Get({Kind::kContainer, "a"});
    return a ? Json((*a)->merged).at("pid").as_int64() : -1;
  };
  EXPECT_EQ(pid_at(0), -1);
  EXPECT_EQ(pid_at(1), 1);
  EXPECT_EQ(pid_at(2), 2);
  EXPECT_EQ(pid_at(3), 2);
  EXPECT_EQ(pid_at(4), -1);
  EXPECT_EQ((*store->StateAt(1))->List({}).size(), 1u);
  EXPECT_EQ((*store->StateAt(3))->List({}).size(), 2u);
  EXPECT_EQ(store->StateAt(5).error().code, ErrorCode::kFutureOffset);

  auto at_time = [&](int64_t t) {
    return (*store->StateAtTime(FromUnixNanos(t)))->applied_offset();
  };
  EXPECT_EQ(at_time(99), 0u);
  EXPECT_EQ(at_time(100), 1u);
  EXPECT_EQ(at_time(250), 3u);
  EXPECT_EQ(at_time(300), 4u);
  EXPECT_EQ(at_time(1000), 4u);
}

TEST_F(StoreTest, HistoryTellsEachChangeFieldByField) {
  auto store = Open();
  MustApply(*store,
            {ContainerFrom("runtime", "a",
                           R"("name":"web","state":{"running":true})")});
  MustApply(*store, {ContainerFrom("runtime", "other")});
  MustApply(*store,
            {ContainerFrom("node_orchestrator", "a",
                           R"("name":"web-0","labels":{"app":"web"})")});
  MustApply(*store,
            {ContainerFrom(
                "runtime", "a",
                R"("name":"web","state":{"running":false,"exit_code":0})")});
  MustApply(*store,
            {ContainerFrom("node_orchestrator", "a", "", EventType::kUnset)});
  MustApply(*store, {ContainerFrom("runtime", "a", "", EventType::kUnset)});

  auto history = store->History({Kind::kContainer, "a"});
  ASSERT_TRUE(history) << history.error().ToString();
  ASSERT_EQ(history->size(), 5u);
  auto changes = [&](size_t i) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    for (const auto& c : (*history)[i].changes)
      out[c.path] = {c.before, c.after};
    return out;
  };
  EXPECT_EQ((*history)[0].record->view().offset(), 1u);
  EXPECT_EQ(changes(0)["name"],
            std::make_pair(std::string(), std::string(R"("web")")));
  EXPECT_EQ(changes(0)["state.running"],
            std::make_pair(std::string(), std::string("true")));
  EXPECT_EQ((*history)[1].record->view().source(), "node_orchestrator");
  EXPECT_EQ(changes(1)["name"],
            std::make_pair(std::string(R"("web")"), std::string(R"("web-0")")));
  EXPECT_EQ(changes(1)["labels.app"],
            std::make_pair(std::string(), std::string(R"("web")")));
  EXPECT_EQ(changes(2)["state.running"],
            std::make_pair(std::string("true"), std::string("false")));
  EXPECT_EQ(changes(2)["state.exit_code"],
            std::make_pair(std::string(), std::string("0")));
  EXPECT_EQ(changes(2).count("name"), 0u);  // the kubelet's name still wins
  EXPECT_EQ(changes(3)["name"],
            std::make_pair(std::string(R"("web-0")"), std::string(R"("web")")));
  EXPECT_TRUE((*history)[3].exists);
  EXPECT_FALSE((*history)[4].exists);
  EXPECT_EQ(changes(4)["name"],
            std::make_pair(std::string(R"("web")"), std::string()));
}

TEST_F(StoreTest, DiffBetweenTwoPoints) {
  auto store = Open();
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":1)"),
                     ContainerFrom("runtime", "b", R"("pid":2)"),
                     ContainerFrom("runtime", "c")});
  MustApply(*store, {ContainerFrom("runtime", "a", R"("pid":10)"),
                     ContainerFrom("runtime", "b", "", EventType::kUnset),
                     ContainerFrom("runtime", "d")});
  auto diff = store->Diff(3, 6);
  ASSERT_TRUE(diff) << diff.error().ToString();
  ASSERT_EQ(diff->added.size(), 1u);
  EXPECT_EQ(diff->added[0].id.id, "d");
  ASSERT_EQ(diff->removed.size(), 1u);
  EXPECT_EQ(diff->removed[0].id.id, "b");
  ASSERT_EQ(diff->changed.size(), 1u);
  EXPECT_EQ(diff->changed[0].id.id, "a");
  ASSERT_EQ(diff->changed[0].changes.size(), 1u);
  EXPECT_EQ(diff->changed[0].changes[0].path, "pid");
  EXPECT_EQ(diff->changed[0].changes[0].before, "1");
  EXPECT_EQ(diff->changed[0].changes[0].after, "10");
  EXPECT_TRUE(store->Diff(6, 6)->changed.empty());
  EXPECT_EQ(store->Diff(1, 7).error().code, ErrorCode::kFutureOffset);
}

TEST_F(StoreTest, RetentionTrimsWholeRangesUpToACheckpoint) {
  Options options;
  options.live_changes = 2;  // subscribers below read from the log
  auto store = Open(options);
  MustApply(*store, {ContainerFrom("runtime", "old", R"("pid":1)")});  // 1
  for (int i = 2; i <= 5; ++i)
    MustApply(*store, {ContainerFrom("runtime", "c" + std::to_string(i))});
  ASSERT_TRUE(store->Checkpoint());  // at 5
  // Subscribed at 1, but not reading yet when retention comes.
  auto early =
      *store->Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 1});
  for (int i = 6; i <= 9; ++i)
    MustApply(*store, {ContainerFrom("runtime", "c" + std::to_string(i))});
  MustApply(*store, {ContainerFrom("runtime", "old", R"("pid":2)")});  // 10

  // Nothing to trim without a checkpoint low enough, and a limit that keeps
  // everything trims nothing.
  EXPECT_EQ(store->ApplyRetention({.max_records = 100})->new_first_offset, 1u);
  auto r = store->ApplyRetention({.max_records = 3});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->old_first_offset, 1u);
  EXPECT_EQ(r->new_first_offset, 6u);  // the checkpoint at 5 stands for 1..5
  EXPECT_EQ(r->records_removed, 5u);
  EXPECT_EQ(store->log().first_offset(), 6u);

  auto below =
      store->Subscribe({.from = SubscribeOptions::From::kOffset, .offset = 3});
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(below.error().message.find("first available offset 6"),
            std::string::npos);
  // The subscriber that was to read there is told so, not skipped ahead.
  auto next = early->Next(std::chrono::steady_clock::now());
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().code, ErrorCode::kOutOfRange);

  EXPECT_EQ(store->StateAt(4).error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ((*store->StateAt(5))->List({}).size(), 5u);
  EXPECT_EQ((*store->StateAt(7))->List({}).size(), 7u);
  // History still knows what "old" was before the first kept record.
  auto history = *store->History({Kind::kContainer, "old"});
  ASSERT_EQ(history.size(), 1u);
  ASSERT_EQ(history[0].changes.size(), 1u);
  EXPECT_EQ(history[0].changes[0].before, "1");
  EXPECT_EQ(history[0].changes[0].after, "2");

  // A restart keeps all of it, and the log still verifies.
  store.reset();
  store = Open();
  EXPECT_EQ(store->log().first_offset(), 6u);
  EXPECT_EQ(store->List({}).size(), 9u);
  auto report = store->log().Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << report->problems[0].message;
}

TEST_F(StoreTest, RetentionByAgeAndSize) {
  auto store = Open();
  clock_.now = 1'000'000'000;
  MustApply(*store, {ContainerFrom("runtime", "a")});
  ASSERT_TRUE(store->Checkpoint());
  clock_.now = 100'000'000'000;
  MustApply(*store, {ContainerFrom("runtime", "b")});
  ASSERT_TRUE(store->Checkpoint());
  MustApply(*store, {ContainerFrom("runtime", "c")});
  // Older than 60 s: record 1 only.
  auto by_age = store->ApplyRetention({.max_age = std::chrono::seconds(60)});
  ASSERT_TRUE(by_age);
  EXPECT_EQ(by_age->new_first_offset, 2u);
  // One byte of records fits nothing: everything up to the newest checkpoint.
  auto by_size = store->ApplyRetention({.max_bytes = 1});
  ASSERT_TRUE(by_size);
  EXPECT_EQ(by_size->new_first_offset, 3u);
  EXPECT_EQ(store->List({}).size(), 3u);
}

TEST_F(StoreTest, AReaderFollowsTheWriterOnRefresh) {
  auto writer = Open();
  MustApply(*writer, {ContainerFrom("runtime", "a")});
  Options options;
  options.log.read_only = true;
  auto reader = Open(options);
  ASSERT_EQ(reader->List({}).size(), 1u);
  auto sub = *reader->Subscribe({.from = SubscribeOptions::From::kLatest});

  MustApply(*writer, {ContainerFrom("runtime", "b", R"("pid":3)"),
                      ContainerFrom("runtime", "a", "", EventType::kUnset)});
  EXPECT_EQ(reader->List({}).size(), 1u);  // not yet
  ASSERT_TRUE(reader->Refresh());
  EXPECT_EQ(reader->applied_offset(), 3u);
  EXPECT_FALSE(reader->Get({Kind::kContainer, "a"}));
  EXPECT_EQ(Json((*reader->Get({Kind::kContainer, "b"}))->merged)
                .at("pid")
                .as_int64(),
            3);
  auto bundle =
      sub->Next(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  ASSERT_TRUE(bundle);
  ASSERT_EQ(bundle->size(), 2u);
  EXPECT_EQ((*bundle)[0].offset, 2u);
  EXPECT_EQ((*bundle)[1].event_type, EventType::kUnset);
}

TEST_F(StoreTest, AReadOnlyStoreAnswersQueriesButTakesNoWrites) {
  { MustApply(*Open(), {ContainerFrom("runtime", "a")}); }
  Options options;
  options.log.read_only = true;
  auto store = Open(options);
  EXPECT_TRUE(store->Get({Kind::kContainer, "a"}));
  auto r = store->Apply(std::vector<Event>{ContainerFrom("runtime", "b")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(store->Checkpoint().error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace wmeta::store

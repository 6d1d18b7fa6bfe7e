#include "wmeta/log/log.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events.h"
#include "fake_clock.h"
#include "key_format.h"
#include "temp_dir.h"
#include "testing.h"

namespace wmeta::log {
namespace {

using testing::ContainerEvent;
using testing::TempDir;

std::vector<Event> Containers(std::initializer_list<const char*> ids) {
  std::vector<Event> events;
  for (const char* id : ids) events.push_back(ContainerEvent(id));
  return events;
}

class LogTest : public ::testing::Test {
 protected:
  std::unique_ptr<Log> OpenOrDie(Options options = {}) {
    if (options.clock == nullptr) options.clock = &clock_;
    auto log = Log::Open(dir_.Sub("data"), options);
    EXPECT_TRUE(log) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }

  // Every record in [from, to], read back through a Reader.
  std::vector<std::string> ReadIds(Log& log, uint64_t from,
                                   uint64_t to = kMaxOffset) {
    std::vector<std::string> ids;
    auto reader = log.NewReader(from, to);
    EXPECT_TRUE(reader) << reader.error().ToString();
    if (!reader) return ids;
    while (true) {
      auto more = (*reader)->Next();
      EXPECT_TRUE(more) << more.error().ToString();
      if (!more || !*more) break;
      ids.emplace_back((*reader)->event().id());
    }
    return ids;
  }

  TempDir dir_;
  testing::FakeClock clock_{1'000'000'000};
};

TEST_F(LogTest, NewStoreIsEmptyWithAStoreIdThatSurvivesReopen) {
  std::string id;
  {
    auto log = OpenOrDie();
    EXPECT_EQ(log->first_offset(), 1u);
    EXPECT_EQ(log->last_offset(), 0u);
    id = log->store_id();
    EXPECT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(ReadIds(*log, 1).empty());
  }
  auto log = OpenOrDie();
  EXPECT_EQ(log->store_id(), id);
  TempDir other;
  auto second = Log::Open(other.path(), {});
  ASSERT_TRUE(second);
  EXPECT_NE((*second)->store_id(), id);
}

TEST_F(LogTest, AppendAssignsDenseOffsetsFromOneAndStampsOneIngestTime) {
  auto log = OpenOrDie();
  auto a = log->Append(Containers({"a", "b", "c"}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first_offset, 1u);
  EXPECT_EQ(a->last_offset, 3u);
  EXPECT_TRUE(a->synced);
  EXPECT_EQ(a->ingest_time, clock_.Now());
  clock_.now += 500;
  auto b = log->Append(Containers({"d"}));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first_offset, 4u);
  EXPECT_EQ(b->last_offset, 4u);
  EXPECT_EQ(log->last_offset(), 4u);
  EXPECT_EQ(ReadIds(*log, 1), (std::vector<std::string>{"a", "b", "c", "d"}));

  auto third = log->Read(3);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->view().offset(), 3u);
  EXPECT_EQ(third->view().ingest_time(), a->ingest_time);
  EXPECT_EQ(log->Read(4)->view().ingest_time(), b->ingest_time);
}

TEST_F(LogTest, IngestTimeNeverGoesBackwardsEvenWhenTheClockDoes) {
  auto log = OpenOrDie();
  auto first = log->Append(Containers({"a"}));
  clock_.now -= 1'000'000;
  auto second = log->Append(Containers({"b"}));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->ingest_time, first->ingest_time);
  log.reset();
  // ...also across a restart: the writer resumes from the last record's time.
  auto reopened = OpenOrDie();
  auto third = reopened->Append(Containers({"c"}));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->ingest_time, first->ingest_time);
  EXPECT_EQ(third->first_offset, 3u);
}

TEST_F(LogTest, RecordsKeepEverythingButOffsetAndIngestTimeAsGiven) {
  auto log = OpenOrDie();
  std::vector<Event> events;
  events.push_back(testing::RealisticContainerEvent(5));
  ASSERT_TRUE(log->Append(events));
  auto stored = log->Read(1);
  ASSERT_TRUE(stored);
  EventView in = events[0].view(), out = stored->view();
  EXPECT_EQ(out.bytes().size(), in.bytes().size());
  EXPECT_EQ(out.id(), in.id());
  EXPECT_EQ(out.source(), in.source());
  EXPECT_EQ(out.observed_time(), in.observed_time());
  EXPECT_EQ(out.record().entity_as_Container()->state()->started_at(),
            in.record().entity_as_Container()->state()->started_at());
}

TEST_F(LogTest, ReaderRangesAndTheirErrors) {
  auto log = OpenOrDie();
  ASSERT_TRUE(log->Append(Containers({"a", "b", "c", "d", "e"})));
  EXPECT_EQ(ReadIds(*log, 2, 4), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_EQ(ReadIds(*log, 5), (std::vector<std::string>{"e"}));
  EXPECT_EQ(ReadIds(*log, 4, 100), (std::vector<std::string>{"d", "e"}));
  EXPECT_TRUE(ReadIds(*log, 6).empty());  // the next offset: valid, nothing yet

  auto below = log->NewReader(0);
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(below.error().message.find("first available offset 1"),
            std::string::npos);
  auto future = log->NewReader(7);
  ASSERT_FALSE(future);
  EXPECT_EQ(future.error().code, ErrorCode::kFutureOffset);
  EXPECT_NE(future.error().message.find("last offset 5"), std::string::npos);
  auto backwards = log->NewReader(3, 2);
  ASSERT_FALSE(backwards);
  EXPECT_EQ(backwards.error().code, ErrorCode::kInvalidArgument);

  EXPECT_EQ(log->Read(0).error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ(log->Read(6).error().code, ErrorCode::kFutureOffset);
}

TEST_F(LogTest, AReaderSeesOnlyWhatWasCommittedWhenItWasCreated) {
  auto log = OpenOrDie();
  ASSERT_TRUE(log->Append(Containers({"a", "b"})));
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(log->Append(Containers({"c"})));
  int n = 0;
  while (*(*reader)->Next()) ++n;
  EXPECT_EQ(n, 2);
}

TEST_F(LogTest, OffsetAtTimeFindsTheFirstRecordAtOrAfterTheTime) {
  auto log = OpenOrDie();
  // Batches at t=100, 200 (two of them), 300.
  clock_.now = 100;
  ASSERT_TRUE(log->Append(Containers({"a", "b"})));  // 1, 2
  clock_.now = 200;
  ASSERT_TRUE(log->Append(Containers({"c"})));  // 3
  ASSERT_TRUE(log->Append(Containers({"d"})));  // 4
  clock_.now = 300;
  ASSERT_TRUE(log->Append(Containers({"e"})));  // 5
  auto at = [&](int64_t t) { return *log->OffsetAtTime(FromUnixNanos(t)); };
  EXPECT_EQ(at(0), 1u);
  EXPECT_EQ(at(100), 1u);
  EXPECT_EQ(at(101), 3u);
  EXPECT_EQ(at(200), 3u);
  EXPECT_EQ(at(250), 5u);
  EXPECT_EQ(at(300), 5u);
  EXPECT_EQ(at(301), 6u);  // after everything: the next offset
}

TEST_F(LogTest, OffsetAtTimeOnAnEmptyLogIsOne) {
  auto log = OpenOrDie();
  EXPECT_EQ(*log->OffsetAtTime(FromUnixNanos(5)), 1u);
}

TEST_F(LogTest, EntityOffsetsIsARangeReadPerEntity) {
  auto log = OpenOrDie();
  std::vector<Event> events;
  events.push_back(ContainerEvent("a"));
  events.push_back(ContainerEvent("ab"));
  events.push_back(ContainerEvent("a", "", "kubelet"));
  EventBuilder b;
  events.push_back(*b.Finish("x", EventType::kSet,
                             fb::CreateKubernetesPodDirect(b.fbb(), "a")));
  events.push_back(ContainerEvent("a", "", "runtime", EventType::kUnset));
  ASSERT_TRUE(log->Append(events));
  // The same answers whether the background indexer has caught up or not.
  for (bool indexed : {false, true}) {
    if (indexed) {
      ASSERT_TRUE(internal::WaitIndexed(
          *log, 5,
          std::chrono::steady_clock::now() + std::chrono::seconds(30)));
      EXPECT_EQ(log->GetStats()->indexed_offset, 5u);
    }
    EXPECT_EQ(*log->EntityOffsets({Kind::kContainer, "a"}),
              (std::vector<uint64_t>{1, 3, 5}));
    EXPECT_EQ(*log->EntityOffsets({Kind::kContainer, "ab"}),
              (std::vector<uint64_t>{2}));
    EXPECT_EQ(*log->EntityOffsets({Kind::kKubernetesPod, "a"}),
              (std::vector<uint64_t>{4}));
    EXPECT_EQ(*log->EntityOffsets({Kind::kContainer, "a"}, 2, 4),
              (std::vector<uint64_t>{3}));
    EXPECT_TRUE(log->EntityOffsets({Kind::kContainer, "zzz"})->empty());
  }
  EXPECT_EQ(log->EntityOffsets({Kind::kContainer, "a"}, 7).error().code,
            ErrorCode::kFutureOffset);
}

TEST_F(LogTest, ConcurrentAppendsAreGroupedYetEachBatchStaysContiguous) {
  auto log = OpenOrDie();
  constexpr int kThreads = 8, kBatches = 40;
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBatches; ++i) {
        std::vector<Event> batch;
        for (int j = 0; j <= i % 5; ++j) {
          batch.push_back(
              ContainerEvent(std::to_string(t) + "-" + std::to_string(i)));
        }
        auto r = log->Append(batch);
        if (!r || r->last_offset - r->first_offset + 1 != batch.size()) {
          failed = true;
          continue;
        }
        // Every record of the batch is ours, at the offsets we were given.
        for (uint64_t o = r->first_offset; o <= r->last_offset; ++o) {
          auto e = log->Read(o);
          if (!e || e->view().id() != batch[0].view().id()) failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(failed);
  uint64_t expected = kThreads * (kBatches / 5) * (1 + 2 + 3 + 4 + 5);
  EXPECT_EQ(log->last_offset(), expected);
  auto report = log->Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records_checked, expected);
}

TEST_F(LogTest, VerifyBesideAWriterSeesAConsistentLog) {
  auto log = OpenOrDie();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      std::vector<Event> batch;
      for (int j = 0; j < 50; ++j)
        batch.push_back(ContainerEvent("w" + std::to_string(j)));
      if (!log->Append(batch)) return;
    }
  });
  for (int i = 0; i < 5; ++i) {
    auto report = log->Verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok())
        << report->problems[0].offset << ": " << report->problems[0].message;
  }
  stop = true;
  writer.join();
}

TEST_F(LogTest, EmptyBatchIsRejected) {
  auto log = OpenOrDie();
  auto r = log->Append(std::span<const Event>());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(LogTest, DurabilityModesParseAndAcknowledgeWhatTheyMean) {
  EXPECT_EQ(Durability::Parse("sync")->mode, Durability::Mode::kSync);
  EXPECT_EQ(Durability::Parse("none")->mode, Durability::Mode::kNone);
  auto interval = Durability::Parse("interval:250");
  ASSERT_TRUE(interval);
  EXPECT_EQ(interval->mode, Durability::Mode::kInterval);
  EXPECT_EQ(interval->interval, std::chrono::milliseconds(250));
  EXPECT_EQ(interval->ToString(), "interval:250");
  for (const char* bad :
       {"", "Sync", "interval", "interval:", "interval:0", "interval:-5",
        "interval:60001", "interval:5ms", "fsync"}) {
    EXPECT_FALSE(Durability::Parse(bad)) << bad;
  }
  for (const char* mode : {"interval:1", "none"}) {
    TempDir dir;
    Options options;
    options.durability = *Durability::Parse(mode);
    {
      auto log = Log::Open(dir.path(), options);
      ASSERT_TRUE(log);
      auto r = (*log)->Append(Containers({"a", "b"}));
      ASSERT_TRUE(r);
      EXPECT_FALSE(r->synced) << mode;
    }
    auto log = Log::Open(dir.path(), {});
    ASSERT_TRUE(log);
    EXPECT_EQ((*log)->last_offset(), 2u) << mode;
  }
}

TEST_F(LogTest, ASecondWriterIsRefusedButReadersAreWelcome) {
  auto writer = OpenOrDie();
  ASSERT_TRUE(writer->Append(Containers({"a"})));
  auto second = Log::Open(dir_.Sub("data"), {});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kBusy);
  EXPECT_NE(second.error().message.find("in use by another writer"),
            std::string::npos);

  Options read_only;
  read_only.read_only = true;
  auto reader = Log::Open(dir_.Sub("data"), read_only);
  ASSERT_TRUE(reader) << reader.error().ToString();
  EXPECT_EQ((*reader)->last_offset(), 1u);
  EXPECT_EQ((*reader)->store_id(), writer->store_id());
  auto append = (*reader)->Append(Containers({"b"}));
  ASSERT_FALSE(append);
  EXPECT_EQ(append.error().code, ErrorCode::kUnavailable);
}

TEST_F(LogTest, MissingDataDirIsNotFoundWhenNotCreating) {
  Options options;
  options.read_only = true;
  auto log = Log::Open(dir_.Sub("nope"), options);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kNotFound);
  options = {};
  options.create_if_missing = false;
  EXPECT_EQ(Log::Open(dir_.Sub("nope"), options).error().code,
            ErrorCode::kNotFound);
  std::filesystem::create_directory(dir_.Sub("empty"));
  options.read_only = true;
  EXPECT_EQ(Log::Open(dir_.Sub("empty"), options).error().code,
            ErrorCode::kNotFound);
}

TEST_F(LogTest, ADirectoryThatIsNotAStoreIsRefusedAndLeftAlone) {
  std::filesystem::create_directory(dir_.Sub("photos"));
  std::ofstream(dir_.Sub("photos/cat.jpg")) << "meow";
  auto log = Log::Open(dir_.Sub("photos"), {});
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_EQ(
      std::distance(std::filesystem::directory_iterator(dir_.Sub("photos")),
                    std::filesystem::directory_iterator()),
      1);

  std::ofstream(dir_.Sub("file")) << "x";
  EXPECT_EQ(Log::Open(dir_.Sub("file"), {}).error().code,
            ErrorCode::kUnsupportedFormat);
}

TEST_F(LogTest, AForeignRocksDbIsRefused) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir_.Sub("other"), &raw).ok());
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  ASSERT_TRUE(
      raw->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "users", &cf)
          .ok());
  ASSERT_TRUE(raw->DestroyColumnFamilyHandle(cf).ok());
  delete raw;
  auto log = Log::Open(dir_.Sub("other"), {});
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(log.error().message.find("users"), std::string::npos);
}

TEST_F(LogTest, AnUnknownFormatVersionIsRefused) {
  OpenOrDie()->Append(Containers({"a"})).value();
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {std::string(internal::kRecordsFamily), {}},
        {std::string(internal::kEntitiesFamily), {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(
        rocksdb::DB::Open({}, dir_.Sub("data"), families, &handles, &raw).ok());
    ASSERT_TRUE(
        raw->Put({}, std::string(internal::kFormatVersionKey), "2").ok());
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  auto log = Log::Open(dir_.Sub("data"), {});
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kUnsupportedFormat);
  EXPECT_NE(log.error().message.find("format version 2"), std::string::npos);
}

TEST_F(LogTest, StatsDescribeTheLog) {
  auto log = OpenOrDie();
  auto empty = log->GetStats();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->record_count, 0u);
  EXPECT_GT(empty->first_offset, empty->last_offset);
  clock_.now = 100;
  ASSERT_TRUE(log->Append(Containers({"a", "b"})));
  clock_.now = 200;
  ASSERT_TRUE(log->Append(Containers({"c"})));
  auto stats = log->GetStats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->record_count, 3u);
  EXPECT_EQ(stats->first_offset, 1u);
  EXPECT_EQ(stats->last_offset, 3u);
  EXPECT_EQ(ToUnixNanos(stats->first_ingest_time), 100);
  EXPECT_EQ(ToUnixNanos(stats->last_ingest_time), 200);
  EXPECT_EQ(stats->store_id, log->store_id());
  EXPECT_EQ(stats->format_version, 1u);
  EXPECT_GT(stats->bytes_on_disk, 0u);
  EXPECT_EQ(stats->durability, "sync");
}

// RocksDB's info log goes where the log is told, never to a file in the data
// dir (where a full disk would make its writes fail).
TEST_F(LogTest, RocksDbDiagnosticsGoToTheInfoLogNotToAFile) {
  std::mutex mu;
  std::vector<std::string> messages;
  Options options;
  options.info_log.level = InfoLog::Level::kInfo;
  options.info_log.sink = [&](InfoLog::Level, std::string_view message) {
    std::lock_guard lock(mu);
    messages.emplace_back(message);
  };
  {
    auto log = OpenOrDie(options);
    ASSERT_TRUE(log->Append(Containers({"a"})));
  }
  for (const auto& entry :
       std::filesystem::directory_iterator(dir_.Sub("data"))) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("LOG"))
        << entry.path();
  }
  std::lock_guard lock(mu);
  EXPECT_FALSE(messages.empty());
}

}  // namespace
}  // namespace wmeta::log

// Damaged stores: verify reports each kind of damage with its offset, readers
// fail with an error, and nothing crashes.

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "events.h"
#include "key_format.h"
#include "temp_dir.h"
#include "testing.h"
#include "wmeta/log/log.h"

namespace wmeta::log {
namespace {

using testing::ContainerEvent;
using testing::TempDir;

// The store opened with plain RocksDB, to damage it the way a bad disk or a bug
// would.
class RawStore {
 public:
  explicit RawStore(const std::string& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {std::string(internal::kRecordsFamily), {}},
        {std::string(internal::kEntitiesFamily), {}}};
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::Open({}, dir, families, &handles_, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
  }
  ~RawStore() {
    for (auto* h : handles_)
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }

  void PutRecord(uint64_t offset, const std::string& value) {
    ASSERT_TRUE(
        db_->Put({}, handles_[1], internal::OffsetKey(offset), value).ok());
  }
  void DeleteRecord(uint64_t offset) {
    ASSERT_TRUE(db_->Delete({}, handles_[1], internal::OffsetKey(offset)).ok());
  }
  std::string GetRecord(uint64_t offset) {
    std::string value;
    EXPECT_TRUE(
        db_->Get({}, handles_[1], internal::OffsetKey(offset), &value).ok());
    return value;
  }
  void PutIndexWatermark(uint64_t offset) {
    PutIndexWatermarkBytes(internal::OffsetKey(offset));
  }
  void PutIndexWatermarkBytes(const std::string& value) {
    ASSERT_TRUE(db_->Put({}, handles_[2],
                         std::string(internal::kIndexWatermarkKey), value)
                    .ok());
  }
  void PutMeta(std::string_view key, const std::string& value) {
    ASSERT_TRUE(db_->Put({}, handles_[0], std::string(key), value).ok());
  }
  void PutIndex(const std::string& key) {
    ASSERT_TRUE(db_->Put({}, handles_[2], key, "").ok());
  }
  void DeleteIndex(const std::string& key) {
    ASSERT_TRUE(db_->Delete({}, handles_[2], key).ok());
  }
  void Flush() { ASSERT_TRUE(db_->Flush({}, handles_).ok()); }

  // The table files holding records.
  std::vector<std::string> RecordFiles() {
    std::vector<rocksdb::LiveFileMetaData> files;
    db_->GetLiveFilesMetaData(&files);
    std::vector<std::string> out;
    for (const auto& f : files) {
      if (f.column_family_name == internal::kRecordsFamily)
        out.push_back(f.db_path + f.name);
    }
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = Log::Open(dir_.path(), {});
    ASSERT_TRUE(log);
    for (int i = 1; i <= 10; ++i) {
      std::vector<Event> batch;
      batch.push_back(ContainerEvent("c" + std::to_string(i)));
      ASSERT_TRUE((*log)->Append(batch));
    }
  }

  VerifyReport VerifyStore() {
    Options options;
    options.read_only = true;
    options.for_verify = true;
    auto log = Log::Open(dir_.path(), options);
    if (!log) return Failed(log.error());
    auto report = (*log)->Verify();
    if (!report) return Failed(report.error());
    return *report;
  }

  static VerifyReport Failed(const Error& error) {
    ADD_FAILURE() << "verify could not run: " << error.ToString();
    return {};
  }

  // The error a full read of the log ends with, or "" if it reads cleanly.
  std::string ReadAllError() {
    Options options;
    options.read_only = true;
    auto log = Log::Open(dir_.path(), options);
    if (!log) return log.error().ToString();
    auto reader = (*log)->NewReader((*log)->first_offset());
    if (!reader) return reader.error().ToString();
    while (true) {
      auto more = (*reader)->Next();
      if (!more) return more.error().ToString();
      if (!*more) return "";
    }
  }

  static bool HasProblem(const VerifyReport& report, uint64_t offset,
                         std::string_view text) {
    for (const auto& p : report.problems) {
      if (p.offset == offset && p.message.find(text) != std::string::npos)
        return true;
    }
    return false;
  }

  static std::string Describe(const VerifyReport& report) {
    std::string out;
    for (const auto& p : report.problems)
      out += std::to_string(p.offset) + ": " + p.message + "\n";
    return out;
  }

  TempDir dir_;
};

TEST_F(VerifyTest, AnIntactLogIsOk) {
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.records_checked, 10u);
  EXPECT_EQ(report.index_entries_checked, 10u);
  EXPECT_EQ(ReadAllError(), "");
}

TEST_F(VerifyTest, AGarbledRecordIsReportedAtItsOffset) {
  RawStore(dir_.path()).PutRecord(5, "this is not a flatbuffer at all");
  VerifyReport report = VerifyStore();
  EXPECT_EQ(report.problem_count, 1u) << Describe(report);
  EXPECT_TRUE(HasProblem(report, 5, "not a wmeta record")) << Describe(report);
  EXPECT_NE(ReadAllError().find("offset 5"), std::string::npos);
}

TEST_F(VerifyTest, AGapIsReported) {
  RawStore(dir_.path()).DeleteRecord(7);
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(HasProblem(report, 7, "offset 7 missing")) << Describe(report);
  // Its index entry now points at nothing intact, which is not a second problem
  // to report: the record is the one that is missing.
  EXPECT_EQ(report.problem_count, 1u) << Describe(report);
  EXPECT_NE(ReadAllError().find("offsets 7 are missing"), std::string::npos)
      << ReadAllError();
}

TEST_F(VerifyTest, AMissingTailIsReported) {
  {
    RawStore raw(dir_.path());
    raw.DeleteRecord(10);
  }
  // The log now ends at 9 as far as any reader can tell: that is consistent,
  // but the dangling index entry for offset 10 is not.
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(HasProblem(report, 10, "points outside the log"))
      << Describe(report);
}

TEST_F(VerifyTest, ARecordUnderTheWrongOffsetIsReported) {
  {
    RawStore raw(dir_.path());
    raw.PutRecord(3, raw.GetRecord(4));
  }
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(HasProblem(report, 3, "record says offset 4"))
      << Describe(report);
  EXPECT_NE(ReadAllError().find("record says offset 4"), std::string::npos);
}

TEST_F(VerifyTest, IndexDamageIsReported) {
  {
    RawStore raw(dir_.path());
    raw.DeleteIndex(internal::EntityKey(Kind::kContainer, "c2", 2));
    raw.PutIndex(internal::EntityKey(Kind::kContainer, "someone-else", 3));
    raw.PutIndex("\x01garbage");
  }
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(HasProblem(report, 2, "no index entry")) << Describe(report);
  EXPECT_TRUE(HasProblem(report, 3, "about another entity"))
      << Describe(report);
  EXPECT_TRUE(HasProblem(report, 0, "malformed index key")) << Describe(report);
  EXPECT_EQ(report.problem_count, 3u) << Describe(report);
}

TEST_F(VerifyTest, ADamagedTableFileIsReportedWithoutCrashing) {
  {
    auto log = Log::Open(dir_.path(), {});
    ASSERT_TRUE(log);
    std::vector<Event> batch;
    for (int i = 0; i < 3000; ++i)
      batch.push_back(testing::RealisticContainerEvent(i));
    ASSERT_TRUE((*log)->Append(batch));
  }
  std::vector<std::string> files;
  {
    RawStore raw(dir_.path());
    raw.Flush();
    files = raw.RecordFiles();
  }
  ASSERT_FALSE(files.empty());
  // Overwrite a few bytes of the first data block of each records table file;
  // the index and footer, read when the store opens, stay intact.
  for (const auto& file : files) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16);
    f.write("\xa5\xa5\xa5\xa5\xa5\xa5\xa5\xa5", 8);
  }
  VerifyReport report = VerifyStore();
  EXPECT_FALSE(report.ok()) << Describe(report);
  EXPECT_TRUE(HasProblem(report, 0, "checksum mismatch")) << Describe(report);
  EXPECT_TRUE(HasProblem(report, 1, "unreadable")) << Describe(report);
  // Past the damaged block, the check resumed and read the rest.
  EXPECT_GT(report.records_checked, 0u);
  EXPECT_LT(report.records_checked, 3010u);
  EXPECT_NE(ReadAllError().find("checksum mismatch"), std::string::npos);
}

TEST_F(VerifyTest, TheIndexIsRebuiltFromTheRecordsWhenItFallsBehind) {
  // What a crash does to the index: its newest entries, kept in memory only,
  // are gone, and the persisted watermark says so. Here: all of it.
  {
    RawStore raw(dir_.path());
    raw.DeleteIndex(std::string(internal::kIndexWatermarkKey));
    for (int i = 1; i <= 10; ++i) {
      raw.DeleteIndex(
          internal::EntityKey(Kind::kContainer, "c" + std::to_string(i), i));
    }
  }
  {
    Options read_only;
    read_only.read_only = true;
    auto log = Log::Open(dir_.path(), read_only);
    ASSERT_TRUE(log);
    EXPECT_EQ((*log)->GetStats()->indexed_offset, 0u);
    // Complete anyway: the records above the watermark are scanned.
    EXPECT_EQ(*(*log)->EntityOffsets({Kind::kContainer, "c3"}),
              (std::vector<uint64_t>{3}));
    auto report = (*log)->Verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok()) << Describe(*report);
    EXPECT_EQ(report->index_entries_checked, 0u);
  }
  {
    auto log = Log::Open(dir_.path(), {});
    ASSERT_TRUE(log);
    ASSERT_TRUE(internal::WaitIndexed(
        **log, 10,
        std::chrono::steady_clock::now() + std::chrono::seconds(30)));
    EXPECT_EQ((*log)->GetStats()->indexed_offset, 10u);
    EXPECT_EQ(*(*log)->EntityOffsets({Kind::kContainer, "c3"}),
              (std::vector<uint64_t>{3}));
  }
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.index_entries_checked, 10u);
}

TEST_F(VerifyTest, DamagedMetadataIsReported) {
  {
    RawStore raw(dir_.path());
    raw.PutMeta(internal::kStoreIdKey, "not-a-uuid");
    raw.PutMeta(internal::kCreatedTimeKey, "yesterday");
  }
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(HasProblem(report, 0, "store_id")) << Describe(report);
  EXPECT_TRUE(HasProblem(report, 0, "created_time")) << Describe(report);
  EXPECT_EQ(report.problem_count, 2u) << Describe(report);
}

TEST_F(VerifyTest, AMalformedWatermarkIsReportedThenTheIndexRebuilt) {
  RawStore(dir_.path()).PutIndexWatermarkBytes("junk");
  VerifyReport before = VerifyStore();
  EXPECT_TRUE(HasProblem(before, 0, "malformed index watermark"))
      << Describe(before);
  {
    Options read_only;
    read_only.read_only = true;
    auto log = Log::Open(dir_.path(), read_only);
    ASSERT_TRUE(log);
    EXPECT_EQ(*(*log)->EntityOffsets({Kind::kContainer, "c7"}),
              (std::vector<uint64_t>{7}));
  }
  {
    auto log = Log::Open(dir_.path(), {});
    ASSERT_TRUE(log);
    ASSERT_TRUE(internal::WaitIndexed(
        **log, 10,
        std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  }
  VerifyReport after = VerifyStore();
  EXPECT_TRUE(after.ok()) << Describe(after);
  EXPECT_EQ(after.index_entries_checked, 10u);
}

TEST_F(VerifyTest, AnIndexAheadOfTheLogIsStartedOver) {
  // What a power loss can leave behind with durability none or interval: index
  // entries (flushed) for records that were never synced, and are gone.
  {
    RawStore raw(dir_.path());
    raw.PutIndex(internal::EntityKey(Kind::kContainer, "ghost", 11));
    raw.PutIndexWatermark(20);
  }
  auto log = Log::Open(dir_.path(), {});
  ASSERT_TRUE(log);
  std::vector<Event> batch;
  batch.push_back(ContainerEvent("c11"));
  ASSERT_TRUE((*log)->Append(batch));  // offset 11 again, another entity
  ASSERT_TRUE(internal::WaitIndexed(
      **log, 11, std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_TRUE((*log)->EntityOffsets({Kind::kContainer, "ghost"})->empty());
  EXPECT_EQ(*(*log)->EntityOffsets({Kind::kContainer, "c11"}),
            (std::vector<uint64_t>{11}));
  EXPECT_EQ(*(*log)->EntityOffsets({Kind::kContainer, "c4"}),
            (std::vector<uint64_t>{4}));
  log->reset();
  VerifyReport report = VerifyStore();
  EXPECT_TRUE(report.ok()) << Describe(report);
  EXPECT_EQ(report.index_entries_checked, 11u);
}

}  // namespace
}  // namespace wmeta::log

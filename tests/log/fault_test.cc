// A write that fails (a full disk) is reported, acknowledges nothing, and
// leaves the log consistent; once the space is back the log writes on, its
// offsets continuing from the last acknowledged one. In every durability
// mode, and never by aborting: Debian's librocksdb asserts on a WAL writer
// that is used again after a failure.

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "events.h"
#include "temp_dir.h"
#include "testing.h"

namespace wmeta::log {
namespace {

using testing::ContainerEvent;

// A file system whose writes fail with "no space" while full is set.
class FullDisk final : public rocksdb::FileSystemWrapper {
 public:
  FullDisk() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FullDisk"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& name, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    auto s = target()->NewWritableFile(name, options, result, dbg);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), full);
    return s;
  }

  std::atomic<bool> full{false};

 private:
  class File final : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, std::atomic<bool>& full)
        : FSWritableFileOwnerWrapper(std::move(file)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data,
                             const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
    }

   private:
    std::atomic<bool>& full_;
  };
};

std::vector<Event> Batch(const std::string& id, int n) {
  std::vector<Event> events;
  for (int i = 0; i < n; ++i)
    events.push_back(ContainerEvent(id + std::to_string(i)));
  return events;
}

// Every acknowledged record, in order, and nothing else: what a reopened log
// must hold after `acknowledged` records were acknowledged (ids from Batch).
void ExpectExactly(const std::string& dir,
                   const std::vector<std::string>& acknowledged) {
  auto log = Log::Open(dir, {});
  ASSERT_TRUE(log) << log.error().ToString();
  ASSERT_EQ((*log)->last_offset(), acknowledged.size());
  auto reader = (*log)->NewReader(1);
  ASSERT_TRUE(reader);
  for (const std::string& id : acknowledged) {
    auto more = (*reader)->Next();
    ASSERT_TRUE(more && *more);
    EXPECT_EQ((*reader)->event().id(), id);
  }
  auto report = (*log)->Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

std::vector<std::string> Ids(const std::string& id, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(id + std::to_string(i));
  return out;
}

class FaultTest : public ::testing::TestWithParam<const char*> {
 protected:
  Options WithDurability() {
    Options options;
    options.durability = *Durability::Parse(GetParam());
    return options;
  }
  testing::TempDir dir_;
  std::shared_ptr<FullDisk> disk_ = std::make_shared<FullDisk>();
  std::unique_ptr<rocksdb::Env> env_ = rocksdb::NewCompositeEnv(disk_);
};

TEST_P(FaultTest, AFullDiskFailsTheAppendThenTheLogWritesOnOnceSpaceIsBack) {
  std::vector<std::string> acknowledged;
  {
    auto log = internal::OpenWithEnv(dir_.path(), WithDurability(), env_.get());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(Batch("ok", 5)));
    acknowledged = Ids("ok", 5);

    disk_->full = true;
    auto failed = (*log)->Append(Batch("lost", 3));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, ErrorCode::kIoError);
    EXPECT_NE(failed.error().message.find("disk full"), std::string::npos)
        << failed.error().message;
    EXPECT_EQ((*log)->last_offset(), 5u);
    // The interval sync goes on meanwhile (it must not sync the WAL that
    // failed).
    if (WithDurability().durability.mode == Durability::Mode::kInterval) {
      internal::WaitSyncRounds(**log, 2);
    }
    // While the disk stays full, every append fails the same clean way.
    auto again = (*log)->Append(Batch("lost", 1));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kIoError);

    // Space is back: the next append recovers first, and the failed batches'
    // offsets go to the records that were acknowledged.
    disk_->full = false;
    auto after = (*log)->Append(Batch("after", 2));
    ASSERT_TRUE(after) << after.error().ToString();
    EXPECT_EQ(after->first_offset, 6u);
    EXPECT_EQ(after->last_offset, 7u);
    for (auto& id : Ids("after", 2)) acknowledged.push_back(id);
    ASSERT_TRUE((*log)->Append(Batch("more", 3)));
    for (auto& id : Ids("more", 3)) acknowledged.push_back(id);
    // The index, whose writes failed too while RocksDB took none, keeps up.
    EXPECT_TRUE(internal::WaitIndexed(
        **log, 10, std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  }
  ExpectExactly(dir_.path(), acknowledged);
}

TEST_P(FaultTest, ClosingAfterAFailedWriteLosesNothingAcknowledged) {
  {
    auto log = internal::OpenWithEnv(dir_.path(), WithDurability(), env_.get());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(Batch("ok", 5)));
    disk_->full = true;
    ASSERT_FALSE((*log)->Append(Batch("lost", 3)));
    // The close (its flush, its final sync) runs with the disk still full.
  }
  disk_->full = false;
  ExpectExactly(dir_.path(), Ids("ok", 5));
  auto reopened = Log::Open(dir_.path(), {});
  ASSERT_TRUE(reopened);
  auto next = (*reopened)->Append(Batch("next", 2));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first_offset, 6u);
}

// At open every memtable is empty (RocksDB flushed what it recovered); the log
// keeps one busy so that even its first write can fail and be recovered from.
TEST_P(FaultTest, TheFirstWriteAfterOpenFailsAndIsRecoveredFromInPlace) {
  {
    auto log = internal::OpenWithEnv(dir_.path(), WithDurability(), env_.get());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(Batch("ok", 5)));
  }
  {
    auto log = internal::OpenWithEnv(dir_.path(), WithDurability(), env_.get());
    ASSERT_TRUE(log) << log.error().ToString();
    disk_->full = true;
    ASSERT_FALSE((*log)->Append(Batch("lost", 3)));
    disk_->full = false;
    auto after = (*log)->Append(Batch("after", 2));
    ASSERT_TRUE(after) << after.error().ToString();
    EXPECT_EQ(after->first_offset, 6u);
  }
  std::vector<std::string> acknowledged = Ids("ok", 5);
  for (auto& id : Ids("after", 2)) acknowledged.push_back(id);
  ExpectExactly(dir_.path(), acknowledged);
}

// RocksDB recovers from a failed WAL write in place only when some memtable
// holds data; with every one flushed, the log refuses writes until reopened
// rather than write on into the WAL that failed.
TEST_P(FaultTest, AFailureWithEveryMemtableFlushedNeedsAReopen) {
  {
    auto log = internal::OpenWithEnv(dir_.path(), WithDurability(), env_.get());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(Batch("ok", 5)));
    ASSERT_TRUE(internal::WaitIndexed(
        **log, 5, std::chrono::steady_clock::now() + std::chrono::seconds(30)));
    ASSERT_TRUE(internal::FlushMemtables(**log));
    disk_->full = true;
    ASSERT_FALSE((*log)->Append(Batch("lost", 3)));
    disk_->full = false;
    auto after = (*log)->Append(Batch("after", 1));
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(after.error().message.find("reopen"), std::string::npos)
        << after.error().message;
  }
  ExpectExactly(dir_.path(), Ids("ok", 5));
}

INSTANTIATE_TEST_SUITE_P(Durability, FaultTest,
                         ::testing::Values("sync", "interval:1", "none"),
                         [](const auto& p) {
                           std::string name = p.param;
                           return name.substr(0, name.find(':'));
                         });

}  // namespace
}  // namespace wmeta::log

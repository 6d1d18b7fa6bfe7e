// A write that fails (a full disk) is reported, acknowledges nothing, and
// leaves the log consistent; the log refuses further writes until reopened.

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>

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

TEST(FaultTest, AFullDiskFailsTheAppendAndLosesNothingAcknowledged) {
  testing::TempDir dir;
  auto disk = std::make_shared<FullDisk>();
  auto env = rocksdb::NewCompositeEnv(disk);
  {
    auto log = internal::OpenWithEnv(dir.path(), {}, env.get());
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(Batch("ok", 5)));

    disk->full = true;
    auto failed = (*log)->Append(Batch("lost", 3));
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code, ErrorCode::kIoError);
    EXPECT_NE(failed.error().message.find("disk full"), std::string::npos)
        << failed.error().message;
    EXPECT_EQ((*log)->last_offset(), 5u);

    // Even once space is back, this Log refuses writes: the failed batch's fate
    // is unknown until recovery, so its offsets must not be handed out again.
    disk->full = false;
    auto after = (*log)->Append(Batch("after", 1));
    ASSERT_FALSE(after);
    EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(after.error().message.find("reopened"), std::string::npos);
  }
  auto reopened = Log::Open(dir.path(), {});
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  EXPECT_EQ((*reopened)->last_offset(), 5u);
  auto report = (*reopened)->Verify();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  auto next = (*reopened)->Append(Batch("next", 2));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->first_offset, 6u);
}

}  // namespace
}  // namespace wmeta::log

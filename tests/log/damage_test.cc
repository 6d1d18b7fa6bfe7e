// Damage to the files of a data dir, made byte by byte: a log that can no
// longer show everything it acknowledged is refused, by the writer and by
// every reader alike, with an error that says what is damaged; verify reports
// it; Log::AcceptLoss keeps what can be read under a new store id; and no
// acknowledged offset is ever handed out again under the same store id.

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ack_mark.h"
#include "events.h"
#include "key_format.h"
#include "temp_dir.h"
#include "wmeta/log/log.h"

namespace wmeta::log {
namespace {

namespace fs = std::filesystem;
using testing::ContainerEvent;

std::vector<Event> Batch(const std::string& id, int n) {
  std::vector<Event> events;
  for (int i = 0; i < n; ++i)
    events.push_back(ContainerEvent(id + std::to_string(i)));
  return events;
}

// The files of `dir` whose names end with `suffix`, oldest (lowest number)
// first.
std::vector<std::string> Files(const std::string& dir,
                               const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename();
    if (name.ends_with(suffix)) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void FlipByte(const std::string& path, uint64_t at) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(file) << path;
  file.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  file.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  file.seekp(static_cast<std::streamoff>(at));
  file.write(&c, 1);
}

void Append(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::app | std::ios::binary) << bytes;
}

void Zero(const std::string& path) {
  uint64_t size = fs::file_size(path);
  std::ofstream(path, std::ios::binary) << std::string(size, '\0');
}

class DamageTest : public ::testing::Test {
 protected:
  // A data dir as a kill -9 leaves it after 10 acknowledged records, 4 of
  // them in the WAL: three sessions closed cleanly (one table file each) and
  // a fourth copied while its log was still open.
  void SetUp() override {
    for (int session = 0; session < 3; ++session) {
      auto log = Log::Open(live_.path(), {});
      ASSERT_TRUE(log) << log.error().ToString();
      ASSERT_TRUE((*log)->Append(Batch("s" + std::to_string(session), 2)));
    }
    auto log = Log::Open(live_.path(), {});
    ASSERT_TRUE(log) << log.error().ToString();
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE((*log)->Append(Batch("w" + std::to_string(i), 1)));
    }
    store_id_ = (*log)->store_id();
    fs::copy(live_.path(), dir(), fs::copy_options::recursive);
  }

  std::string dir() const { return image_.Sub("data"); }
  // The WAL holding the last session's records.
  std::string wal() const {
    std::vector<std::string> wals;
    for (const std::string& path : Files(dir(), ".log")) {
      if (fs::file_size(path) > 0) wals.push_back(path);
    }
    EXPECT_EQ(wals.size(), 1u);
    return wals.empty() ? "" : wals.back();
  }
  // The table files of the records, oldest first (one per closed session),
  // as RocksDB lists them.
  std::vector<std::string> RecordTables() const {
    return Tables(internal::kRecordsFamily);
  }
  std::vector<std::string> Tables(std::string_view family) const {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {std::string(internal::kRecordsFamily), {}},
        {std::string(internal::kEntitiesFamily), {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto s = rocksdb::DB::OpenForReadOnly({}, dir(), families, &handles, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return {};
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    std::vector<std::string> out;
    for (const auto& f : files) {
      if (f.column_family_name == family) {
        out.push_back(f.db_path + f.name);
      }
    }
    for (auto* h : handles)
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    delete db;
    std::sort(out.begin(), out.end());
    return out;
  }

  static Options Reader() {
    Options options;
    options.read_only = true;
    return options;
  }
  static Options Verifier() {
    Options options = Reader();
    options.for_verify = true;
    return options;
  }

  // The data dir is refused by the writer and by readers, as corruption
  // whose message has `what`; verify reports it.
  void ExpectRefused(const std::string& what) {
    auto writer = Log::Open(dir(), {});
    ASSERT_FALSE(writer) << "the writer opened a damaged log";
    EXPECT_EQ(writer.error().code, ErrorCode::kCorruption)
        << writer.error().ToString();
    auto reader = Log::Open(dir(), Reader());
    ASSERT_FALSE(reader) << "a reader opened a damaged log";
    EXPECT_EQ(reader.error().code, ErrorCode::kCorruption)
        << reader.error().ToString();
    EXPECT_NE(reader.error().message.find(what), std::string::npos)
        << reader.error().message;
    ExpectVerifyFails(what);
  }

  void ExpectVerifyFails(const std::string& what) {
    auto verifier = Log::Open(dir(), Verifier());
    ASSERT_TRUE(verifier) << verifier.error().ToString();
    auto report = (*verifier)->Verify();
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_FALSE(report->ok());
    std::string all;
    for (const auto& problem : report->problems) all += problem.message + "\n";
    EXPECT_NE(all.find(what), std::string::npos) << all;
  }

  // Accepting the loss keeps from `at_least` to `at_most` of the 10 records
  // (what could be read) under a new store id; the log is then whole again and
  // appends go on after them.
  void ExpectLossAccepted(uint64_t at_least, uint64_t at_most) {
    std::vector<std::string> prepared;
    auto report = Log::AcceptLoss(
        dir(), {},
        [&](const std::string& old_id, const std::string& new_id,
            uint64_t last) -> Status {
          prepared.push_back(old_id + " " + new_id + " " +
                             std::to_string(last));
          return {};
        });
    ASSERT_TRUE(report) << report.error().ToString();
    EXPECT_TRUE(report->accepted);
    EXPECT_EQ(report->old_store_id, store_id_);
    EXPECT_NE(report->new_store_id, store_id_);
    ASSERT_GE(report->last_offset, at_least);
    ASSERT_LE(report->last_offset, at_most);
    EXPECT_EQ(report->acknowledged, std::optional<uint64_t>(10));
    uint64_t kept = report->last_offset;
    ASSERT_EQ(prepared.size(), 1u);
    EXPECT_EQ(prepared[0], store_id_ + " " + report->new_store_id + " " +
                               std::to_string(kept));

    auto log = Log::Open(dir(), {});
    ASSERT_TRUE(log) << log.error().ToString();
    EXPECT_EQ((*log)->store_id(), report->new_store_id);
    EXPECT_EQ((*log)->last_offset(), kept);
    auto next = (*log)->Append(Batch("after", 1));
    ASSERT_TRUE(next);
    EXPECT_EQ(next->first_offset, kept + 1);
    auto verified = (*log)->Verify();
    ASSERT_TRUE(verified);
    EXPECT_TRUE(verified->ok());

    // Once whole, the log is left as it is.
    log->reset();
    auto again = Log::AcceptLoss(dir(), {}, [](auto&, auto&, uint64_t) {
      ADD_FAILURE() << "prepared a log that is whole";
      return Status{};
    });
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_FALSE(again->accepted);
  }

  testing::TempDir live_;
  testing::TempDir image_;
  std::string store_id_;
};

TEST_F(DamageTest, ACrashImageIsWhole) {
  auto log = Log::Open(dir(), {});
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ((*log)->last_offset(), 10u);
  auto reader = Log::Open(dir(), Reader());
  ASSERT_TRUE(reader) << reader.error().ToString();
  EXPECT_EQ((*reader)->last_offset(), 10u);
}

TEST_F(DamageTest, AFlippedByteInTheWalIsRefusedNotForgotten) {
  FlipByte(wal(), fs::file_size(wal()) / 2);
  auto writer = Log::Open(dir(), {});
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, ErrorCode::kCorruption);
  EXPECT_NE(writer.error().message.find(".log) is damaged"),
            std::string::npos)
      << writer.error().message;
  EXPECT_NE(writer.error().message.find("were acknowledged"), std::string::npos)
      << writer.error().message;
  // Refused again: the first attempt changed nothing.
  auto again = Log::Open(dir(), {});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, writer.error().message);
  auto reader = Log::Open(dir(), Reader());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, ErrorCode::kCorruption);
  ExpectVerifyFails("acknowledged");
  ExpectLossAccepted(6, 9);
}

TEST_F(DamageTest, ATruncatedWalIsRefused) {
  fs::resize_file(wal(), fs::file_size(wal()) / 2);
  ExpectRefused("were acknowledged");
  ExpectLossAccepted(6, 9);
}

TEST_F(DamageTest, AZeroedWalIsRefused) {
  Zero(wal());
  ExpectRefused("were acknowledged");
  ExpectLossAccepted(6, 6);
}

TEST_F(DamageTest, ADeletedWalIsRefused) {
  fs::remove(wal());
  ExpectRefused("were acknowledged");
  ExpectLossAccepted(6, 6);
}

// A torn record after everything acknowledged is what a crash during a write
// leaves: the log opens without it.
TEST_F(DamageTest, ADamagedRecordAfterWhatWasAcknowledgedIsDropped) {
  // A record header (CRC, length 16, a full record) whose CRC is wrong.
  std::string torn = "\xde\xad\xbe\xef";
  torn += std::string("\x10\x00\x01", 3);
  torn += std::string(16, 'x');
  Append(wal(), torn);
  auto log = Log::Open(dir(), {});
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ((*log)->last_offset(), 10u);
  EXPECT_EQ((*log)->store_id(), store_id_);
}

TEST_F(DamageTest, AMissingTableFileInTheMiddleIsRefusedByReaders) {
  auto tables = RecordTables();
  ASSERT_EQ(tables.size(), 3u);
  fs::remove(tables[1]);
  ExpectRefused("are missing");
}

TEST_F(DamageTest, TheNewestTableFileMissingIsRefusedByReaders) {
  auto tables = RecordTables();
  ASSERT_EQ(tables.size(), 3u);
  fs::remove(tables[2]);
  ExpectRefused("missing");
}

TEST_F(DamageTest, ATruncatedOldestTableFileIsRefusedByReaders) {
  auto tables = RecordTables();
  ASSERT_EQ(tables.size(), 3u);
  fs::resize_file(tables[0], fs::file_size(tables[0]) / 2);
  ExpectRefused("missing");
}

TEST_F(DamageTest, EveryTableFileMissingIsNotAnEmptyStore) {
  for (const std::string& table : RecordTables()) fs::remove(table);
  fs::remove(wal());
  ExpectRefused("were acknowledged");
}

// The writer cannot open a store whose index is damaged; verify says so too.
TEST_F(DamageTest, ADamagedIndexTableIsReportedByVerify) {
  auto tables = Tables(internal::kEntitiesFamily);
  ASSERT_FALSE(tables.empty());
  FlipByte(tables.back(), 40);
  auto writer = Log::Open(dir(), {});
  ASSERT_FALSE(writer) << "the writer opened a damaged index";
  EXPECT_EQ(writer.error().code, ErrorCode::kCorruption)
      << writer.error().ToString();
  ExpectVerifyFails("checksum mismatch");
}

// Damaged metadata is damage, not a directory that is not a store.
TEST_F(DamageTest, DamagedMetadataIsCorruptionForReaders) {
  auto tables = Tables(rocksdb::kDefaultColumnFamilyName);
  ASSERT_EQ(tables.size(), 1u);
  FlipByte(tables[0], 40);
  auto reader = Log::Open(dir(), Reader());
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code, ErrorCode::kCorruption)
      << reader.error().ToString();
  auto writer = Log::Open(dir(), {});
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, ErrorCode::kCorruption)
      << writer.error().ToString();
  ExpectVerifyFails("checksum mismatch");
}

TEST_F(DamageTest, ADamagedMarkIsRefusedAndTheLossCanBeAccepted) {
  std::string mark = dir() + "/" + std::string(internal::kAckMarkFile);
  FlipByte(mark, 20);
  FlipByte(mark, 52);
  ExpectRefused("ACKNOWLEDGED is damaged");
  auto report = Log::AcceptLoss(
      dir(), {}, [](auto&, auto&, uint64_t) { return Status{}; });
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->accepted);
  EXPECT_FALSE(report->acknowledged.has_value());
  EXPECT_EQ(report->last_offset, 10u);
}

TEST_F(DamageTest, AnInterruptedAcceptLossFinishesWithTheSameIds) {
  fs::remove(wal());
  std::string chosen;
  auto failed = Log::AcceptLoss(
      dir(), {}, [&](auto&, const std::string& new_id, uint64_t) -> Status {
        chosen = new_id;
        return MakeError(ErrorCode::kIoError, "interrupted");
      });
  ASSERT_FALSE(failed);
  ASSERT_FALSE(chosen.empty());
  // Still refused: the loss is not accepted yet.
  ASSERT_FALSE(Log::Open(dir(), {}));
  auto report =
      Log::AcceptLoss(dir(), {},
                      [&](const std::string& old_id, const std::string& new_id,
                          uint64_t) -> Status {
                        EXPECT_EQ(old_id, store_id_);
                        EXPECT_EQ(new_id, chosen);
                        return {};
                      });
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->new_store_id, chosen);
  auto log = Log::Open(dir(), {});
  ASSERT_TRUE(log) << log.error().ToString();
  EXPECT_EQ((*log)->store_id(), chosen);
}

TEST_F(DamageTest, AWholeLogIsLeftAsItIs) {
  auto report = Log::AcceptLoss(dir(), {}, [](auto&, auto&, uint64_t) {
    ADD_FAILURE() << "prepared a log that is whole";
    return Status{};
  });
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_FALSE(report->accepted);
  auto log = Log::Open(dir(), {});
  ASSERT_TRUE(log);
  EXPECT_EQ((*log)->store_id(), store_id_);
}

}  // namespace
}  // namespace wmeta::log

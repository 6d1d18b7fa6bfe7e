// A commit's write and what keeps it durable: the free space it needs,
// recovery from a failed write, the interval sync, the acknowledged mark.
//
// When a write fails (a full disk, an I/O error), RocksDB stops taking writes
// until DB::Resume() flushes the memtables, which switches to a new WAL. Two
// properties of Debian's librocksdb 7.8 (built with assertions) shape what
// follows:
//  - a WAL writer that saw a failed write aborts the process if it is used
//    again, and DB::SyncWAL() does not check for that;
//  - Resume() switches to a new WAL only when some memtable holds data
//    (SwitchMemtable is skipped for empty ones; upstream #11447). With every
//    memtable empty the old WAL writer stays in use, and the next write aborts.
// So WAL writes and syncs are serialised (wal_mu_), nothing syncs after a
// failure, the log keeps a memtable busy so that recovery always switches
// (KeepAMemtableBusy), and a failure that finds every memtable empty anyway is
// not recovered in this process: the log refuses writes until it is reopened.
// RocksDB's own background recovery is switched off for hard errors (open.cc):
// the log recovers before its next write instead, once the space is there.

#include <sys/statvfs.h>

#include <charconv>

#include "log_impl.h"
#include "rocks_util.h"

namespace wmeta::log::internal {
namespace {

// Free space an append leaves untouched beyond what it and a flush of the
// memtables need: room for RocksDB's own small files (MANIFEST, OPTIONS).
constexpr uint64_t kFreeSpaceSlack = uint64_t{1} << 20;

// In `entities`, between the watermark and every entity key; never written,
// only deleted (KeepAMemtableBusy).
constexpr std::string_view kBusyKey{"\0\1", 2};

}  // namespace

void LogImpl::FinalSync() {
  if (options_.read_only) return;
  std::lock_guard wal(wal_mu_);
  // After a failed write the WAL may not be synced (see above); what the
  // closing flush writes is synced by RocksDB.
  if (write_failure_ || broken_) return;
  // A clean close leaves every acknowledged record on stable storage, whatever
  // the mode.
  if (options_.durability.mode != Durability::Mode::kSync &&
      !db_->SyncWAL().ok()) {
    return;
  }
  if (ack_mark_) {
    // Best effort: a mark left lower only checks less at the next open.
    if (ack_mark_->Write(last_offset_.load())) (void)ack_mark_->Sync();
  }
}

Status LogImpl::CommitGroup(const std::vector<Writer*>& group, uint64_t first,
                            Timestamp ingest, size_t bytes) {
  std::lock_guard wal(wal_mu_);
  if (broken_) return std::unexpected(*broken_);
  WMETA_RETURN_IF_ERROR(CheckSpace(bytes));
  if (write_failure_) WMETA_RETURN_IF_ERROR(RecoverFromFailure());
  if (!memtable_busy_) {
    KeepAMemtableBusy();
    memtable_busy_ = true;
  }
  auto written = WriteGroup(group, first, ingest);
  if (!written) {
    write_failure_ = written.error();
    if (!SomeMemtableHoldsData()) {
      broken_ = Error{
          ErrorCode::kUnavailable,
          "the log failed a write when RocksDB could not recover from it in "
          "place (" +
              written.error().ToString() +
              "); reopen it (restart wmetad) once the cause is fixed"};
    }
    return written;
  }
  if (options_.durability.mode == Durability::Mode::kSync && ack_mark_) {
    size_t count = 0;
    for (const Writer* w : group) count += w->events.size();
    // The records are on stable storage: they are acknowledged. A mark that
    // cannot be written stays lower, which checks less, never wrongly.
    (void)ack_mark_->Write(first + count - 1);
  }
  return {};
}

Status LogImpl::WriteGroup(const std::vector<Writer*>& group, uint64_t first,
                           Timestamp ingest) {
  batch_.Clear();
  uint64_t offset = first;
  char key[8];
  for (Writer* w : group) {
    for (const Event* e : w->events) {
      // The WriteBatch copies what it is given, so one aligned scratch copy to
      // patch is enough.
      scratch_.assign(e->bytes());
      auto* record = fb::GetMutableRecord(scratch_.data());
      // Present by construction: Event verification requires both fields.
      record->mutate_offset(offset);
      record->mutate_ingest_time(ToUnixNanos(ingest));
      EncodeOffsetKey(offset, key);
      batch_.Put(records_, rocksdb::Slice(key, sizeof(key)), scratch_);
      ++offset;
    }
  }
  rocksdb::WriteOptions write;
  write.sync = options_.durability.mode == Durability::Mode::kSync;
  auto s = db_->Write(write, &batch_);
  if (!s.ok()) return RocksError(s, "appending to " + dir_);
  return {};
}

Status LogImpl::CheckSpace(size_t bytes) {
  uint64_t free = 0, needed = 0;
  for (bool flushed = false;; flushed = true) {
    struct statvfs fs {};
    if (::statvfs(dir_.c_str(), &fs) != 0) return {};  // not knowable: try
    free = uint64_t{fs.f_bavail} * fs.f_frsize;
    uint64_t memtables = 0;
    (void)db_->GetAggregatedIntProperty(
        rocksdb::DB::Properties::kCurSizeAllMemTables, &memtables);
    // The batch goes to the WAL now and to a table file at the next flush,
    // which also writes out the rest of the memtables.
    needed = 2 * uint64_t{bytes} + memtables + kFreeSpaceSlack;
    if (free >= needed) return {};
    // A flush now turns the WAL into (compressed) table files and deletes it,
    // which usually gives back more than it takes; without one, a small disk
    // would refuse every append while the memtables wait to fill up.
    // Not waiting for a write stall to clear: on a full disk the compaction
    // that would clear it may never finish.
    rocksdb::FlushOptions flush;
    flush.allow_write_stall = true;
    if (flushed || memtables == 0 || !db_->Flush(flush, handles_).ok()) break;
  }
  return MakeError(
      ErrorCode::kIoError,
      "No space left on device: " + dir_ + " has " + std::to_string(free) +
          " bytes free, an append of " + std::to_string(bytes) +
          " bytes needs " + std::to_string(needed) +
          " (with room to flush the memtables); nothing was written");
}

Status LogImpl::RecoverFromFailure() {
  auto s = db_->Resume();
  if (!s.ok()) {
    return MakeError(ErrorCode::kIoError,
                     "the log cannot write yet: recovering from " +
                         write_failure_->ToString() +
                         " failed: " + s.ToString());
  }
  // The failed batch never reached a memtable, and its WAL is obsolete now:
  // the log must end where it did.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), records_));
  it->SeekToLast();
  std::optional<uint64_t> last;
  if (it->Valid()) last = DecodeOffsetKey(ToView(it->key()));
  if (!it->status().ok() ||
      last.value_or(first_offset_.load() - 1) != last_offset_.load()) {
    broken_ = Error{ErrorCode::kUnavailable,
                    "after a failed write the log no longer ends at offset " +
                        std::to_string(last_offset_.load()) + "; reopen it"};
    return std::unexpected(*broken_);
  }
  if (options_.info_log.sink) {
    options_.info_log.sink(
        InfoLog::Level::kWarn,
        dir_ + ": writing again after " + write_failure_->ToString());
  }
  write_failure_.reset();
  // Resume() flushed every memtable.
  memtable_busy_ = false;
  index_->Committed(last_offset_.load());
  return {};
}

bool LogImpl::SomeMemtableHoldsData() {
  for (auto* family : handles_) {
    uint64_t entries = 0;
    if (db_->GetIntProperty(family,
                            rocksdb::DB::Properties::kNumEntriesActiveMemTable,
                            &entries) &&
        entries > 0) {
      return true;
    }
  }
  return false;
}

void LogImpl::KeepAMemtableBusy() {
  // A deletion of a key never written: it changes nothing anyone reads, costs
  // no WAL, and leaves the entities memtable non-empty until its next flush,
  // which the index's next write follows. Done before the first write after
  // open and after Resume(), whose flushes leave every memtable empty; see the
  // top of the file.
  rocksdb::WriteOptions write;
  write.disableWAL = true;
  (void)db_->Delete(write, entities_, ToSlice(kBusyKey));
}

void LogImpl::SyncLoop() {
  std::unique_lock lock(sync_mu_);
  while (!sync_cv_.wait_for(lock, options_.durability.interval,
                            [this] { return stopping_; })) {
    lock.unlock();
    {
      std::lock_guard wal(wal_mu_);
      if (!write_failure_ && !broken_) {
        uint64_t last = last_offset_.load();
        // A failed sync leaves the data in the OS cache; the next round tries
        // again.
        if (db_->SyncWAL().ok() && ack_mark_) (void)ack_mark_->Write(last);
      }
    }
    lock.lock();
    ++sync_rounds_;
    sync_cv_.notify_all();
  }
}

void LogImpl::WaitSyncRounds(uint64_t rounds) {
  std::unique_lock lock(sync_mu_);
  uint64_t until = sync_rounds_ + rounds;
  sync_cv_.wait(lock, [&] { return sync_rounds_ >= until || stopping_; });
}

}  // namespace wmeta::log::internal

namespace wmeta::log {

Result<Durability> Durability::Parse(std::string_view text) {
  if (text == "sync") return Durability{};
  if (text == "none") return Durability{Mode::kNone, {}};
  constexpr std::string_view kInterval = "interval:";
  if (text.starts_with(kInterval)) {
    std::string_view ms = text.substr(kInterval.size());
    int64_t value = 0;
    auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
    if (ec == std::errc() && end == ms.data() + ms.size() && value >= 1 &&
        value <= 60000) {
      return Durability{Mode::kInterval, std::chrono::milliseconds(value)};
    }
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid durability '" + std::string(text) +
                       "': expected sync, interval:<1-60000 ms> or none");
}

std::string Durability::ToString() const {
  switch (mode) {
    case Mode::kSync:
      return "sync";
    case Mode::kInterval:
      return "interval:" + std::to_string(interval.count());
    case Mode::kNone:
      return "none";
  }
  return "unknown";
}

}  // namespace wmeta::log

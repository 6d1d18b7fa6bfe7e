// The event log: wmeta's source of truth. An append-only sequence of verified
// records (wmeta::Event) in RocksDB, numbered by dense offsets from 1, each
// stamped by the single writer with a never-decreasing ingest time. Atomic
// batches, group commit, three durability modes, readers from an offset or a
// time, and a per-entity index so that "every record of container X" is a range
// read. On-disk layout: log/FORMAT.md.
//
//   WMETA_ASSIGN_OR_RETURN(auto log, log::Log::Open("/var/lib/wmeta", {}));
//   WMETA_ASSIGN_OR_RETURN(log::AppendResult r, log->Append(events));
//   WMETA_ASSIGN_OR_RETURN(auto reader, log->NewReader(r.first_offset));
//
// Thread-safety: Log is thread-safe; Append from many threads is grouped into
// one durable write. A Reader is single-threaded. A writable Log runs a
// background thread that keeps the per-entity index (and, with durability
// interval, one that fsyncs); both stop when the Log is destroyed, after
// indexing and syncing everything acknowledged.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/kind.h"
#include "wmeta/schema/time.h"

namespace wmeta::log {

inline constexpr uint64_t kMaxOffset = std::numeric_limits<uint64_t>::max() - 1;

// When an acknowledged append is on stable storage.
struct Durability {
  enum class Mode : uint8_t {
    // Each group commit is fsynced before any of its appends is acknowledged.
    kSync,
    // Written to the OS at once, fsynced every `interval`: a crash of the
    // process loses
    // nothing, a power loss at most the last interval.
    kInterval,
    // Written to the OS, fsynced only at a clean close (tests, scratch stores).
    kNone,
  };
  Mode mode = Mode::kSync;
  std::chrono::milliseconds interval{0};

  // "sync", "interval:<ms>" (1 to 60000) or "none".
  static Result<Durability> Parse(std::string_view text);
  std::string ToString() const;
};

// Where the log's diagnostics go: its own warnings (a torn WAL tail dropped at
// open, a write failure recovered from) and RocksDB's info log (flushes,
// compactions, background errors). Never to a file in the data dir: a full
// disk must not be able to make logging fail (Debian's librocksdb aborts when
// its LOG file saw a failed write).
struct InfoLog {
  enum class Level : uint8_t { kDebug, kInfo, kWarn, kError };
  // Messages below it are dropped before they are formatted.
  Level level = Level::kWarn;
  // Called from RocksDB's threads, sometimes under its locks: it must be
  // thread-safe, quick, and never call into the Log. Null: dropped.
  std::function<void(Level, std::string_view)> sink;
};

struct Options {
  // Default: sync.
  Durability durability;
  // Create the data dir (and the store in it) when missing. Default: true.
  bool create_if_missing = true;
  // Open for reading only: Append fails, the data dir's writer lock is not
  // taken (so this works beside a running writer) and the log shows the records
  // present at open. Default: false.
  bool read_only = false;
  // With read_only, for Verify(): a damaged data dir is opened anyway, as far
  // as it can be read, and what would have refused it is a problem in
  // Verify()'s report. Other queries on such a log may see less than the
  // writer would. Default: false.
  bool for_verify = false;
  // The writer's clock for ingest times. Default (nullptr): SystemClock(). Must
  // outlive the Log.
  Clock* clock = nullptr;
  // Appends waiting while a commit is in flight are grouped into one write of
  // up to this many bytes. Default: 16 MiB.
  size_t max_group_bytes = size_t{16} << 20;
  // Default: dropped.
  InfoLog info_log;
};

struct AppendResult {
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  Timestamp ingest_time;
  // True when the records were fsynced before this acknowledgement (durability
  // sync).
  bool synced = false;
};

struct Stats {
  std::string store_id;
  uint32_t format_version = 0;
  // first_offset > last_offset when the log is empty.
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  uint64_t record_count = 0;
  // The epoch when the log is empty.
  Timestamp first_ingest_time;
  Timestamp last_ingest_time;
  // The per-entity index covers offsets up to here. In the writer's process it
  // follows the log within milliseconds at node rates; another process sees
  // what the writer last flushed (up to a 2 MiB memtable behind, some 20k
  // records).
  uint64_t indexed_offset = 0;
  // Every file in the data dir.
  uint64_t bytes_on_disk = 0;
  std::string durability;
  // What the last Log::AcceptLoss did (when, which store it continues, up to
  // which offset); empty when the store never lost anything.
  std::string recovered;
};

struct VerifyProblem {
  // The offset the problem concerns; 0 when it concerns no single record.
  uint64_t offset = 0;
  std::string message;
};

struct VerifyReport {
  uint64_t records_checked = 0;
  uint64_t index_entries_checked = 0;
  // Every problem counted, but at most kMaxReportedProblems kept.
  uint64_t problem_count = 0;
  std::vector<VerifyProblem> problems;

  static constexpr size_t kMaxReportedProblems = 1000;
  bool ok() const { return problem_count == 0; }
};

// What Log::AcceptLoss did.
struct LossReport {
  // False: the log was whole and nothing was changed.
  bool accepted = false;
  std::string old_store_id;
  std::string new_store_id;
  // The log now ends here.
  uint64_t last_offset = 0;
  // Offsets up to here had been acknowledged; nullopt when the store did not
  // know (no mark, or a damaged one).
  std::optional<uint64_t> acknowledged;
};

// Called by Log::AcceptLoss with (old store id, new store id, last offset)
// before the new id takes effect, so that what is kept beside the log (the
// store's checkpoints) can follow. It may be called again with the same ids
// when an interrupted AcceptLoss is run again.
using LossPreparation =
    std::function<Status(const std::string&, const std::string&, uint64_t)>;

// A cursor over a range of records, in offset order.
class Reader {
 public:
  virtual ~Reader() = default;

  // Moves to the next record. Returns true when event() holds it, false at the
  // end of the range. kCorruption (a gap, a record failing verification,
  // offsets or times out of order) or kIoError end the read: the reader stays
  // failed.
  virtual Result<bool> Next() = 0;

  // The current record. Valid until the next call to Next().
  // REQUIRES: the last Next() returned true.
  virtual const EventView& event() const = 0;
};

class Log {
 public:
  // Opens the store in `dir`, creating it when missing and allowed (a new store
  // id, format version 1). Errors: kNotFound (no data dir and not creating),
  // kBusy (another writer holds it), kUnsupportedFormat (a non-empty directory
  // that is not a wmeta store, or a format version this build does not read),
  // kCorruption (damage; among it a log that ends below what was
  // acknowledged: a reader sees exactly what the writer would, or nothing),
  // kIoError.
  static Result<std::unique_ptr<Log>> Open(const std::string& dir,
                                           const Options& options);

  // Opens the log in `dir` that Open refuses because acknowledged records are
  // missing past the end of what can be read (a damaged, truncated or deleted
  // WAL, or a damaged ACKNOWLEDGED file; log/FORMAT.md), and accepts their
  // loss: the log keeps what can be read, dense and in order, and the store
  // gets a new id, so that a consumer holding offsets of the old one gets
  // kStoreMismatch rather than other records under the same offsets. The new
  // id is chosen durably first and `prepare` runs before it takes effect: an
  // interrupted call, run again, finishes with the same ids. A whole log is
  // left as it is (accepted false). Errors: those of Open, and kCorruption for
  // damage that accepting the loss of the end does not repair (a missing or
  // damaged table file, a gap).
  static Result<LossReport> AcceptLoss(const std::string& dir,
                                       const Options& options,
                                       const LossPreparation& prepare);

  virtual ~Log() = default;

  // Appends `events` as one atomic batch of consecutive offsets, stamped with
  // one ingest time. Returns once the batch is as durable as
  // Options::durability promises. Errors: kInvalidArgument (an empty batch),
  // kUnavailable (read-only, or the log failed an earlier write and must be
  // reopened), kIoError (nothing of the batch is acknowledged; after a crash it
  // may or may not be present, as with any unacknowledged write).
  virtual Result<AppendResult> Append(std::span<const Event* const> events) = 0;
  Result<AppendResult> Append(std::span<const Event> events);

  // A reader over offsets [from, min(to, last_offset())]. Errors: kOutOfRange
  // when `from` is below first_offset() (the message names it), kFutureOffset
  // when `from` is beyond last_offset() + 1, kInvalidArgument when to < from.
  virtual Result<std::unique_ptr<Reader>> NewReader(
      uint64_t from, uint64_t to = kMaxOffset) = 0;

  // The first offset whose ingest time is >= `time`, found by binary search
  // (O(log n) point reads); last_offset() + 1 when every record is older.
  virtual Result<uint64_t> OffsetAtTime(Timestamp time) = 0;

  // The record at `offset`. Errors as NewReader's, and kCorruption.
  virtual Result<Event> Read(uint64_t offset) = 0;

  // The offsets in [from, to] of every record about `id`, ascending: an index
  // range read, plus a scan of the records the background indexer has not
  // reached yet. `from` 0 means the first available offset. Errors as
  // NewReader's for an explicit `from`.
  virtual Result<std::vector<uint64_t>> EntityOffsets(
      const EntityId& id, uint64_t from = 0, uint64_t to = kMaxOffset) = 0;

  virtual uint64_t first_offset() const = 0;
  // 0 when nothing was ever appended.
  virtual uint64_t last_offset() const = 0;
  // Created with the store; a UUID.
  virtual const std::string& store_id() const = 0;

  virtual Result<Stats> GetStats() = 0;

  // Removes every record below `new_first` (retention): the new first offset
  // is persisted (synced) first, then the range is deleted as a whole, and the
  // index entries below it are dropped as RocksDB compacts. Readers asking for
  // a removed offset get kOutOfRange. Errors: kInvalidArgument unless
  // first_offset() < new_first <= last_offset() + 1; kUnavailable when
  // read-only.
  virtual Status TrimBefore(uint64_t new_first) = 0;

  // A read-only log catches up with the data dir's writer: records appended
  // (and trimmed) since it opened or last refreshed become visible. Nothing
  // for a writable log.
  virtual Status Refresh() = 0;

  // About how many bytes on disk the records [from, to] take (RocksDB's
  // estimate, compressed).
  virtual Result<uint64_t> ApproximateBytes(uint64_t from, uint64_t to) = 0;

  // Checks every record (structure, density, order of offsets and times) and
  // every index entry against the records, and RocksDB's block checksums.
  // Damage is reported in the VerifyReport, not as an error; errors are for
  // failing to run at all. `progress`, when set, is called now and then with
  // (records checked, records in the log).
  virtual Result<VerifyReport> Verify(
      const std::function<void(uint64_t, uint64_t)>& progress = {}) = 0;
};

}  // namespace wmeta::log

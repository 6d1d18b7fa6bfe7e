// The Log's group commit, readers, reads, stats and trimming (log_impl.h).

#include "wmeta/log/log.h"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>

#include "log_impl.h"
#include "rocks_util.h"
#include "testing.h"
#include "verify.h"

namespace wmeta::log::internal {
namespace {

namespace fs = std::filesystem;

Result<uint64_t> DirectoryBytes(const fs::path& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  if (ec)
    return MakeError(ErrorCode::kIoError,
                     "cannot list " + dir.string() + ": " + ec.message());
  return total;
}

// Reads records [from, to] in order, checking density, structure and order as
// it goes.
class RangeReader final : public Reader {
 public:
  // Reads [from, last] of `records`. `last` must not exceed the last committed
  // offset.
  RangeReader(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
              uint64_t from, uint64_t last)
      : upper_bound_(OffsetKey(last + 1)), next_(from), last_(last) {
    rocksdb::ReadOptions read;
    upper_bound_slice_ = ToSlice(upper_bound_);
    read.iterate_upper_bound = &upper_bound_slice_;
    read.readahead_size = 2 << 20;
    it_.reset(db.NewIterator(read, records));
  }

  Result<bool> Next() override {
    if (failed_) return std::unexpected(*failed_);
    if (next_ > last_) return false;
    if (started_) {
      it_->Next();
    } else {
      it_->Seek(OffsetKey(next_));
      started_ = true;
    }
    if (!it_->Valid()) {
      if (!it_->status().ok()) {
        return Fail(FromRocks(it_->status(),
                              "reading offset " + std::to_string(next_)));
      }
      return Fail({ErrorCode::kCorruption, "offsets " +
                                               OffsetRange(next_, last_) +
                                               " are missing from the log"});
    }
    auto offset = DecodeOffsetKey(ToView(it_->key()));
    if (!offset)
      return Fail(
          {ErrorCode::kCorruption,
           "malformed record key after offset " + std::to_string(next_ - 1)});
    if (*offset != next_) {
      return Fail({ErrorCode::kCorruption, "offsets " +
                                               OffsetRange(next_, *offset - 1) +
                                               " are missing from the log"});
    }
    auto view = EventView::Verify(aligned_.Align(ToView(it_->value())));
    if (!view) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": " + view.error().message});
    }
    if (view->offset() != next_) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": record says offset " +
                                               std::to_string(view->offset())});
    }
    if (view->ingest_time() < previous_time_) {
      return Fail({ErrorCode::kCorruption, "offset " + std::to_string(next_) +
                                               ": ingest time goes backwards"});
    }
    previous_time_ = view->ingest_time();
    current_ = *view;
    ++next_;
    return true;
  }

  const EventView& event() const override { return *current_; }

 private:
  std::unexpected<Error> Fail(Error error) {
    failed_ = error;
    return std::unexpected(std::move(error));
  }

  // Declared before it_: the iterator reads its upper bound from them.
  std::string upper_bound_;
  rocksdb::Slice upper_bound_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
  uint64_t next_;
  const uint64_t last_;
  bool started_ = false;
  Timestamp previous_time_{};
  AlignedCopy aligned_;
  std::optional<EventView> current_;
  std::optional<Error> failed_;
};

}  // namespace

Result<AppendResult> LogImpl::Append(std::span<const Event* const> events) {
  if (options_.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the log was opened read-only");
  }
  if (events.empty())
    return MakeError(ErrorCode::kInvalidArgument, "empty batch");

  Writer self;
  self.events = events;
  for (const Event* e : events) self.bytes += e->bytes().size();

  std::unique_lock lock(mu_);
  writers_.push_back(&self);
  while (!self.done && writers_.front() != &self) self.cv.wait(lock);
  if (self.done) return std::move(self.result);

  // This append leads a group commit: it writes its own batch and those queued
  // behind it.
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  size_t group_events = 0;
  for (Writer* w : writers_) {
    if (!group.empty() && group_bytes + w->bytes > options_.max_group_bytes)
      break;
    group.push_back(w);
    group_bytes += w->bytes;
    group_events += w->events.size();
  }
  uint64_t first = last_offset_.load() + 1;
  Timestamp ingest = std::max(options_.clock->Now(), last_ingest_time_);
  lock.unlock();

  // Only the front of the queue gets here: one commit at a time.
  std::optional<Error> failure;
  if (auto written = CommitGroup(group, first, ingest, group_bytes); !written) {
    failure = written.error();
  }

  lock.lock();
  if (!failure) {
    last_offset_.store(first + group_events - 1);
    last_ingest_time_ = ingest;
    index_->Committed(first + group_events - 1);
  }
  uint64_t next = first;
  for (Writer* w : group) {
    if (failure) {
      w->result = std::unexpected(*failure);
    } else {
      w->result =
          AppendResult{next, next + w->events.size() - 1, ingest,
                       options_.durability.mode == Durability::Mode::kSync};
      next += w->events.size();
    }
    w->done = true;
    writers_.pop_front();
    if (w != &self) w->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return std::move(self.result);
}

Status LogImpl::CheckStart(uint64_t from) const {
  uint64_t first = first_offset_.load();
  uint64_t last = last_offset_.load();
  if (from < first) {
    return MakeError(ErrorCode::kOutOfRange,
                     "offset " + std::to_string(from) +
                         " is below the first available offset " +
                         std::to_string(first));
  }
  if (from > last + 1) {
    return MakeError(ErrorCode::kFutureOffset,
                     "offset " + std::to_string(from) +
                         " is beyond the last offset " + std::to_string(last));
  }
  return {};
}

Result<std::unique_ptr<Reader>> LogImpl::NewReader(uint64_t from, uint64_t to) {
  WMETA_RETURN_IF_ERROR(CheckStart(from));
  if (to < from) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "empty range: " + std::to_string(to) + " < " + std::to_string(from));
  }
  // Read the bound first: the iterator, created after, sees at least this much.
  uint64_t last = std::min(to, last_offset_.load());
  return std::make_unique<RangeReader>(*db_, records_, from, last);
}

Result<std::string> LogImpl::RecordBytes(uint64_t offset) {
  auto value = Get(records_, OffsetKey(offset));
  if (!value && value.error().code == ErrorCode::kNotFound) {
    // The caller checked that `offset` is within the log.
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + " is missing from the log");
  }
  return value;
}

Result<Timestamp> LogImpl::IngestTimeAt(uint64_t offset) {
  WMETA_ASSIGN_OR_RETURN(std::string value, RecordBytes(offset));
  AlignedCopy aligned;
  auto view = EventView::Verify(aligned.Align(value));
  if (!view) {
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + ": " + view.error().message);
  }
  return view->ingest_time();
}

Result<uint64_t> LogImpl::OffsetAtTime(Timestamp time) {
  // Ingest times never decrease with the offset, so the answer is a partition
  // point.
  uint64_t lo = first_offset_.load();
  uint64_t hi = last_offset_.load() + 1;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    WMETA_ASSIGN_OR_RETURN(Timestamp t, IngestTimeAt(mid));
    if (t >= time) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

Result<Event> LogImpl::Read(uint64_t offset) {
  WMETA_RETURN_IF_ERROR(CheckStart(offset));
  if (offset > last_offset_.load()) {
    return MakeError(ErrorCode::kFutureOffset,
                     "offset " + std::to_string(offset) +
                         " is beyond the last offset " +
                         std::to_string(last_offset_.load()));
  }
  WMETA_ASSIGN_OR_RETURN(std::string value, RecordBytes(offset));
  auto event = Event::FromBytes(std::move(value));
  if (!event) {
    return MakeError(
        ErrorCode::kCorruption,
        "offset " + std::to_string(offset) + ": " + event.error().message);
  }
  if (event->view().offset() != offset) {
    return MakeError(ErrorCode::kCorruption,
                     "offset " + std::to_string(offset) +
                         ": record says offset " +
                         std::to_string(event->view().offset()));
  }
  return event;
}

Result<std::vector<uint64_t>> LogImpl::EntityOffsets(const EntityId& id,
                                                     uint64_t from,
                                                     uint64_t to) {
  if (from == 0) {
    from = first_offset_.load();
  } else {
    WMETA_RETURN_IF_ERROR(CheckStart(from));
  }
  std::shared_lock lock(refresh_mu_);
  return index_->Offsets(id, from, to, last_offset_.load());
}

Result<Stats> LogImpl::GetStats() {
  Stats stats;
  stats.store_id = store_id_;
  stats.format_version = kFormatVersion;
  stats.first_offset = first_offset_.load();
  stats.last_offset = last_offset_.load();
  stats.durability = options_.durability.ToString();
  stats.indexed_offset = index_->watermark();
  if (stats.last_offset >= stats.first_offset) {
    stats.record_count = stats.last_offset - stats.first_offset + 1;
    WMETA_ASSIGN_OR_RETURN(stats.first_ingest_time,
                           IngestTimeAt(stats.first_offset));
    WMETA_ASSIGN_OR_RETURN(stats.last_ingest_time,
                           IngestTimeAt(stats.last_offset));
  }
  WMETA_ASSIGN_OR_RETURN(stats.bytes_on_disk, DirectoryBytes(dir_));
  if (auto recovered = Get(meta_, kRecoveredKey)) {
    stats.recovered = std::move(*recovered);
  } else if (recovered.error().code != ErrorCode::kNotFound) {
    return std::unexpected(recovered.error());
  }
  return stats;
}

Status LogImpl::Refresh() {
  // A verifier shows the data dir as it was opened.
  if (mode_ != Mode::kReader) return {};
  std::unique_lock lock(refresh_mu_);
  auto s = db_->TryCatchUpWithPrimary();
  if (!s.ok()) return RocksError(s, "following the writer of " + dir_);
  return LoadBounds();
}

Status LogImpl::TrimBefore(uint64_t new_first) {
  if (options_.read_only) {
    return MakeError(ErrorCode::kUnavailable, "the log was opened read-only");
  }
  std::lock_guard lock(trim_mu_);
  uint64_t first = first_offset_.load(), last = last_offset_.load();
  if (new_first <= first || new_first > last + 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot trim to " + std::to_string(new_first) +
                         ": the log holds " + OffsetRange(first, last));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto s =
      db_->Put(sync, meta_, ToSlice(kFirstOffsetKey), OffsetKey(new_first));
  if (!s.ok()) return RocksError(s, "trimming " + dir_);
  first_offset_ = new_first;
  // The trim is done: nothing reads below the stored first offset. What
  // follows only gives the space back, now rather than at some later
  // compaction; if it fails, the next trim's range (from offset 1) covers it.
  s = db_->DeleteRange(rocksdb::WriteOptions(), records_, OffsetKey(1),
                       OffsetKey(new_first));
  if (s.ok()) {
    std::string end = OffsetKey(new_first);
    rocksdb::Slice end_slice = ToSlice(end);
    (void)db_->CompactRange(rocksdb::CompactRangeOptions(), records_, nullptr,
                            &end_slice);
  }
  return {};
}

Result<uint64_t> LogImpl::ApproximateBytes(uint64_t from, uint64_t to) {
  std::string start = OffsetKey(from), limit = OffsetKey(to + 1);
  rocksdb::Range range(ToSlice(start), ToSlice(limit));
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  uint64_t size = 0;
  auto s = db_->GetApproximateSizes(options, records_, &range, 1, &size);
  if (!s.ok()) return RocksError(s, "sizing " + dir_);
  return size;
}

Result<VerifyReport> LogImpl::Verify(
    const std::function<void(uint64_t, uint64_t)>& progress) {
  std::shared_lock lock(refresh_mu_);
  WMETA_ASSIGN_OR_RETURN(
      VerifyReport report,
      VerifyLog(*db_, {meta_, records_, entities_, !options_.read_only},
                first_offset_.load(), last_offset_.load(), progress));
  if (!open_problems_.empty()) {
    // What refused the data dir comes first.
    report.problem_count += open_problems_.size();
    report.problems.insert(report.problems.begin(), open_problems_.begin(),
                           open_problems_.end());
    if (report.problems.size() > VerifyReport::kMaxReportedProblems) {
      report.problems.resize(VerifyReport::kMaxReportedProblems);
    }
  }
  return report;
}

Status LogImpl::FlushMemtables() {
  auto s = db_->Flush(rocksdb::FlushOptions(), handles_);
  if (!s.ok()) return RocksError(s, "flushing " + dir_);
  return {};
}

Status WaitIndexed(Log& log, uint64_t offset,
                   std::chrono::steady_clock::time_point deadline) {
  return static_cast<LogImpl&>(log).WaitIndexed(offset, deadline);
}

void WaitSyncRounds(Log& log, uint64_t rounds) {
  static_cast<LogImpl&>(log).WaitSyncRounds(rounds);
}

Status FlushMemtables(Log& log) {
  return static_cast<LogImpl&>(log).FlushMemtables();
}

}  // namespace wmeta::log::internal

namespace wmeta::log {

Result<AppendResult> Log::Append(std::span<const Event> events) {
  std::vector<const Event*> pointers;
  pointers.reserve(events.size());
  for (const Event& e : events) pointers.push_back(&e);
  return Append(std::span<const Event* const>(pointers));
}

}  // namespace wmeta::log

#include "entity_index.h"

#include <rocksdb/iterator.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <memory>
#include <string>
#include <system_error>

#include "key_format.h"
#include "rocks_util.h"
#include "wmeta/schema/event.h"

namespace wmeta::log::internal {
namespace {

// Records per index write. RocksDB applies writes one after another, so an
// append waits for an index write in progress: small index writes keep that
// wait short. Measured (bench/RESULTS.md): with 4096, appends ran at 0.7x raw
// RocksDB; with 256, at par.
constexpr uint64_t kChunk = 256;

// Calls fn(offset, view) for each intact record in [from, to]; damaged records
// are skipped (verify reports them).
template <typename Fn>
Status ForEachRecord(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
                     const rocksdb::Snapshot* snapshot, uint64_t from,
                     uint64_t to, Fn&& fn) {
  std::string upper = OffsetKey(to + 1);
  rocksdb::Slice upper_slice = ToSlice(upper);
  rocksdb::ReadOptions read;
  read.snapshot = snapshot;
  read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(read, records));
  AlignedCopy aligned;
  for (it->Seek(OffsetKey(from)); it->Valid(); it->Next()) {
    auto offset = DecodeOffsetKey(ToView(it->key()));
    if (!offset) continue;
    auto view = EventView::Verify(aligned.Align(ToView(it->value())));
    if (view) fn(*offset, *view);
  }
  if (!it->status().ok())
    return RocksError(it->status(), "reading records to index");
  return {};
}

}  // namespace

Status EntityIndex::Start(uint64_t last, bool background) {
  std::string value;
  auto s = db_.Get(rocksdb::ReadOptions(), entities_,
                   ToSlice(kIndexWatermarkKey), &value);
  if (!s.ok() && !s.IsNotFound()) {
    return RocksError(s, "reading the index watermark");
  }
  std::optional<uint64_t> watermark =
      s.ok() ? DecodeOffsetKey(value) : std::optional<uint64_t>(0);
  if ((!watermark || *watermark > last) && background) {
    // A malformed watermark, or one covering records the log no longer has
    // (acknowledged without fsync and lost with the machine, while their index
    // entries were flushed). Offsets above `last` will be reused, so such
    // entries would point at the wrong records: start the index over, and make
    // the reset durable before any new entry is written.
    rocksdb::WriteOptions write;
    write.disableWAL = true;
    s = db_.DeleteRange(write, entities_, ToSlice(kIndexWatermarkKey),
                        ToSlice("\xff"));
    if (s.ok()) s = db_.Flush(rocksdb::FlushOptions(), entities_);
    if (!s.ok()) return RocksError(s, "resetting the index");
    watermark = 0;
  }
  std::lock_guard lock(mu_);
  // A reader leaves the index as it is: its queries never go past `last`, and
  // with a malformed watermark they scan every record (verify reports it).
  watermark_ = std::min(watermark.value_or(0), last);
  committed_ = last;
  if (background) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error& e) {
      return MakeError(ErrorCode::kUnavailable,
                       std::string("cannot start the indexer: ") + e.what());
    }
    running_ = true;
  }
  return {};
}

void EntityIndex::Committed(uint64_t last) {
  {
    std::lock_guard lock(mu_);
    committed_ = std::max(committed_, last);
    // A commit went through: the database takes writes again.
    retry_ = true;
  }
  work_cv_.notify_one();
}

void EntityIndex::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

uint64_t EntityIndex::watermark() const {
  std::lock_guard lock(mu_);
  return watermark_;
}

void EntityIndex::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock,
                  [this] { return stopping_ || committed_ > watermark_; });
    if (committed_ <= watermark_) break;  // stopping, and everything is indexed
    uint64_t from = watermark_ + 1;
    uint64_t to = std::min(committed_, watermark_ + kChunk);
    retry_ = false;
    lock.unlock();
    auto indexed = IndexRange(from, to);
    lock.lock();
    if (!indexed) {
      // The database stopped taking writes (a full disk). Queries stay
      // complete meanwhile (they scan above the watermark); the next commit,
      // which means it takes them again, retries.
      failure_ = indexed.error();
      indexed_cv_.notify_all();
      work_cv_.wait(lock, [this] { return stopping_ || retry_; });
      if (stopping_) break;
      continue;
    }
    failure_.reset();
    watermark_ = to;
    indexed_cv_.notify_all();
  }
  running_ = false;
  indexed_cv_.notify_all();
}

Status EntityIndex::IndexRange(uint64_t from, uint64_t to) {
  rocksdb::WriteBatch batch;
  std::string key;
  WMETA_RETURN_IF_ERROR(
      ForEachRecord(db_, records_, nullptr, from, to,
                    [&](uint64_t offset, const EventView& e) {
                      key.clear();
                      AppendEntityKey(e.kind(), e.id(), offset, key);
                      batch.Put(entities_, key, rocksdb::Slice());
                    }));
  batch.Put(entities_, ToSlice(kIndexWatermarkKey), OffsetKey(to));
  // No WAL: the entries and the watermark share a memtable and reach disk
  // together in one flush, so after a crash the index is whole up to the
  // persisted watermark.
  rocksdb::WriteOptions write;
  write.disableWAL = true;
  auto s = db_.Write(write, &batch);
  if (!s.ok()) return RocksError(s, "writing index entries");
  return {};
}

Result<std::vector<uint64_t>> EntityIndex::Offsets(const EntityId& id,
                                                   uint64_t from, uint64_t to,
                                                   uint64_t last) const {
  to = std::min(to, last);
  std::vector<uint64_t> offsets;
  if (from > to) return offsets;
  // One snapshot for the watermark, the entries and the records above it.
  std::optional<rocksdb::ManagedSnapshot> snapshot;
  if (snapshots_) snapshot.emplace(&db_);
  const rocksdb::Snapshot* at = snapshot ? snapshot->snapshot() : nullptr;
  rocksdb::ReadOptions read;
  read.snapshot = at;
  std::string value;
  uint64_t watermark = 0;
  auto s = db_.Get(read, entities_, ToSlice(kIndexWatermarkKey), &value);
  if (s.ok()) {
    watermark = DecodeOffsetKey(value).value_or(0);
  } else if (!s.IsNotFound()) {
    return RocksError(s, "reading the index watermark");
  }

  if (from <= watermark) {
    std::string upper = EntityKey(id.kind, id.id, std::min(to, watermark) + 1);
    rocksdb::Slice upper_slice = ToSlice(upper);
    read.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(read, entities_));
    for (it->Seek(EntityKey(id.kind, id.id, from)); it->Valid(); it->Next()) {
      auto parts = DecodeEntityKey(ToView(it->key()));
      if (!parts) {
        return MakeError(ErrorCode::kCorruption,
                         "malformed index entry for " + id.ToString());
      }
      offsets.push_back(parts->offset);
    }
    if (!it->status().ok())
      return RocksError(it->status(), "reading the index");
  }
  if (to > watermark) {
    WMETA_RETURN_IF_ERROR(
        ForEachRecord(db_, records_, at, std::max(from, watermark + 1), to,
                      [&](uint64_t offset, const EventView& e) {
                        if (e.kind() == id.kind && e.id() == id.id)
                          offsets.push_back(offset);
                      }));
  }
  return offsets;
}

Status EntityIndex::WaitIndexed(
    uint64_t offset, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  // A failed index write is retried after the next commit: wait on.
  bool reached = indexed_cv_.wait_until(
      lock, deadline, [&] { return watermark_ >= offset || !running_; });
  if (watermark_ >= offset) return {};
  if (failure_) return std::unexpected(*failure_);
  return MakeError(ErrorCode::kUnavailable,
                   reached ? "the index is not being maintained"
                           : "the index did not reach offset " +
                                 std::to_string(offset) + " in time");
}

}  // namespace wmeta::log::internal

// The per-entity index: for each entity, the offsets of its records (FORMAT.md,
// `entities`). It is derived state, maintained behind the log by a background
// thread so that appends pay nothing for it: entries are written without the
// WAL, together with a watermark saying which offsets they cover, and after a
// crash the thread re-indexes what was lost from the records themselves.
// Queries are always complete: what the index does not cover yet is found by
// scanning the records above the watermark.
//
// Thread-safety: thread-safe. Private to log/.

#pragma once

#include <rocksdb/db.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/kind.h"

namespace wmeta::log::internal {

class EntityIndex {
 public:
  // `snapshots`: whether `db` supports them (a reader's secondary instance
  // does not; its state only moves when its owner refreshes it).
  EntityIndex(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
              rocksdb::ColumnFamilyHandle* entities, bool snapshots)
      : db_(db),
        records_(records),
        entities_(entities),
        snapshots_(snapshots) {}
  ~EntityIndex() { Stop(); }

  // Reads the watermark. With `background`, starts the thread that indexes
  // records up to `last` and then whatever Committed() announces.
  Status Start(uint64_t last, bool background);

  // Records up to `last` are committed and may be indexed.
  void Committed(uint64_t last);

  // Indexes everything committed, then stops the thread. Idempotent.
  void Stop();

  // Every record offset has an index entry up to here.
  uint64_t watermark() const;

  // The offsets in [from, min(to, last)] of every record about `id`, ascending.
  // `last` must not exceed the last committed offset.
  Result<std::vector<uint64_t>> Offsets(const EntityId& id, uint64_t from,
                                        uint64_t to, uint64_t last) const;

  // Blocks until the watermark reaches `offset` (a failed index write is
  // retried after the next commit). At `deadline`, the indexing thread's last
  // error, or kUnavailable; kUnavailable when it is not running.
  Status WaitIndexed(uint64_t offset,
                     std::chrono::steady_clock::time_point deadline);

 private:
  void Run();
  // Writes the index entries of records [from, to] and moves the watermark to
  // `to`.
  Status IndexRange(uint64_t from, uint64_t to);

  rocksdb::DB& db_;
  rocksdb::ColumnFamilyHandle* const records_;
  rocksdb::ColumnFamilyHandle* const entities_;
  const bool snapshots_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable indexed_cv_;
  // Guarded by mu_.
  uint64_t watermark_ = 0;
  uint64_t committed_ = 0;
  bool stopping_ = false;
  bool running_ = false;
  // The last index write failed; retry_ says a commit came since.
  std::optional<Error> failure_;
  bool retry_ = false;
  std::thread thread_;
};

}  // namespace wmeta::log::internal

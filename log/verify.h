// The full consistency check behind Log::Verify. Private to log/.

#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>

#include "wmeta/log/log.h"

namespace wmeta::log::internal {

struct Families {
  rocksdb::ColumnFamilyHandle* meta;
  rocksdb::ColumnFamilyHandle* records;
  rocksdb::ColumnFamilyHandle* entities;
  // Whether the database supports snapshots (a secondary instance does not;
  // its state holds still between its owner's refreshes).
  bool snapshots;
};

// Checks the store's metadata, its records from `first` to the last one (at
// least `last`), and every index entry against them, all on one snapshot
// when the database has them.
// Damage goes into the report; an error means the check could not run.
Result<VerifyReport> VerifyLog(
    rocksdb::DB& db, const Families& families, uint64_t first, uint64_t last,
    const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace wmeta::log::internal

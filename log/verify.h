// The full consistency check behind Log::Verify. Private to log/.

#pragma once

#include <rocksdb/db.h>

#include <cstdint>
#include <functional>

#include "wmeta/log/log.h"

namespace wmeta::log::internal {

// Checks records [first, last] of `records` and every entry of `entities`
// against them; records up to `indexed` must have their entry. Damage goes into
// the report; an error means the check could not run.
Result<VerifyReport> VerifyLog(
    rocksdb::DB& db, rocksdb::ColumnFamilyHandle* records,
    rocksdb::ColumnFamilyHandle* entities, uint64_t first, uint64_t last,
    uint64_t indexed, const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace wmeta::log::internal

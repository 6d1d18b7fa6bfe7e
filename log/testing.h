// Hooks for log/'s own tests. Not part of the public API.

#pragma once

#include <rocksdb/env.h>

#include <chrono>
#include <memory>
#include <string>

#include "wmeta/log/log.h"

namespace wmeta::log::internal {

// Log::Open with RocksDB's file access going through `env` (a fault-injecting
// one in tests). `env` must outlive the Log.
Result<std::unique_ptr<Log>> OpenWithEnv(const std::string& dir,
                                         const Options& options,
                                         rocksdb::Env* env);

// Blocks until `log`'s per-entity index covers `offset` (see entity_index.h),
// or fails at `deadline`. `log` must come from Log::Open or OpenWithEnv.
Status WaitIndexed(Log& log, uint64_t offset,
                   std::chrono::steady_clock::time_point deadline);

// With durability interval: blocks until the thread that syncs the WAL has
// gone round `rounds` more times.
void WaitSyncRounds(Log& log, uint64_t rounds);

// Flushes every memtable of `log` (a writable one from Log::Open or
// OpenWithEnv), leaving them all empty.
Status FlushMemtables(Log& log);

}  // namespace wmeta::log::internal

// View checkpoints: the state of the view after some offset, in a file, so
// that opening the store and rebuilding past views replay only the records
// after it. A checkpoint is an optimisation, never the truth: a damaged one is
// skipped. Private to store/.
//
// File (little-endian), <data dir>/checkpoints/view-<offset, 20 digits>.wcp:
//   "WMETAVC1", u64 offset, u64 entity count, i64 ingest time of the record at
//   the offset (to tell a checkpoint from a log that no longer holds that
//   record, after a power loss with durability none), then as u32 length +
//   bytes: the store id and the source priorities the view was merged with;
//   then per entity: u64 create offset, u64 version, u32 layer count, u32
//   flags (1: the merged record follows the layers; otherwise it is the only
//   layer), each record as u32 length + bytes; every item padded to 8 bytes;
//   finally u32 CRC-32C of everything before it.
//
// Thread-safety: pure functions on files.

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/time.h"
#include "wmeta/store/priorities.h"
#include "wmeta/store/view.h"

namespace wmeta::store::internal {

struct CheckpointFile {
  uint64_t offset = 0;
  std::string path;
  uint64_t bytes = 0;
  // From the header, not yet verified; zero when it cannot be read.
  uint64_t entities = 0;
  Timestamp ingest_time{};
};

// The checkpoints directory of a data dir.
std::string CheckpointDir(const std::string& data_dir);

// The checkpoint files in `dir`, newest first. Files with other names are
// ignored.
std::vector<CheckpointFile> ListCheckpoints(const std::string& dir);

// Where a checkpoint comes from: which store, the view after which record,
// and with which source priorities it was merged.
struct CheckpointOrigin {
  std::string store_id;
  uint64_t offset = 0;
  // The ingest time of the record at `offset`; the epoch for offset 0. When
  // reading, nullopt skips the check (the record was trimmed away).
  std::optional<Timestamp> ingest_time;
  std::string priorities;
};

// Writes `entities`, the view after `origin.offset`, atomically (a temporary
// file, fsync, rename, fsync of the directory).
Result<CheckpointFile> WriteCheckpoint(const std::string& dir,
                                       const CheckpointOrigin& origin,
                                       const std::vector<EntityPtr>& entities);

// Reads a checkpoint back into a view merged with `priorities`.
// kCorruption, with the byte position, for a damaged file; kNotFound for an
// intact one that does not fit `expected` (another store, a record the log
// no longer holds, other priorities).
Result<std::unique_ptr<View>> ReadCheckpoint(
    const CheckpointFile& file, const CheckpointOrigin& expected,
    const SourcePriorities& priorities);

// A checkpoint's header, from a file checked whole.
struct CheckpointHeader {
  uint64_t offset = 0;
  uint64_t entities = 0;
  Timestamp ingest_time{};
  std::string store_id;
  std::string priorities;
};

// Checks a checkpoint whole (checksum, structure, every record) without
// building a view, for verify. kCorruption, with the byte position, for a
// damaged file.
Result<CheckpointHeader> InspectCheckpoint(const CheckpointFile& file);

// Rewrites the checkpoint of store `from` as one of store `to` (atomically),
// when a store continues under a new id (Store::AcceptLoss). Nothing for one
// of `to` already; kNotFound for one of another store; kCorruption for a
// damaged one.
Status RestampCheckpoint(const CheckpointFile& file, const std::string& from,
                         const std::string& to);

// Removes leftover temporary files and the checkpoints above `last`, the
// log's last offset: they reflect records a power loss took away.
void RemoveUnusable(const std::string& dir, uint64_t last);

// Deletes all but the newest `keep` checkpoints, the one at `protect` (the
// one retention left standing for the records it removed) and, of the older
// ones above it, the first in each span of offsets: `history_every` doubled
// until it is at least 4 x the newest's entity count (none kept when
// `history_every` is 0). Rebuilding a past view then folds at most about two
// spans of records, and the checkpoints kept for history take at most about
// a quarter of the log's bytes (a record is about the size of an entity).
void PruneCheckpoints(const std::string& dir, size_t keep, uint64_t protect,
                      uint64_t history_every);

}  // namespace wmeta::store::internal

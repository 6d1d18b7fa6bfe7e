// View checkpoints: the state of the view after some offset, in a file, so
// that opening the store and rebuilding past views replay only the records
// after it. A checkpoint is an optimisation, never the truth: a damaged one is
// skipped. Private to store/.
//
// File (little-endian), <data dir>/checkpoints/view-<offset, 20 digits>.wcp:
//   "WMETAVC1", u64 offset, u64 entity count, u32 store id length + store id,
//   then per entity: u64 create offset, u64 version, u32 layer count,
//   u32 flags (1: the merged record follows the layers; otherwise it is the
//   only layer), each record as u32 length + bytes, every item padded to 8
//   bytes; finally u32 CRC-32C of everything before it.
//
// Thread-safety: pure functions on files.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/store/priorities.h"
#include "wmeta/store/view.h"

namespace wmeta::store::internal {

struct CheckpointFile {
  uint64_t offset = 0;
  std::string path;
  uint64_t bytes = 0;
};

// The checkpoints directory of a data dir.
std::string CheckpointDir(const std::string& data_dir);

// The checkpoint files in `dir`, newest first. Files with other names are
// ignored.
std::vector<CheckpointFile> ListCheckpoints(const std::string& dir);

// Writes `entities`, the view after `offset`, atomically (a temporary file,
// fsync, rename, fsync of the directory).
Result<CheckpointFile> WriteCheckpoint(const std::string& dir,
                                       const std::string& store_id,
                                       uint64_t offset,
                                       const std::vector<EntityPtr>& entities);

// Reads a checkpoint back into a view. kCorruption, with the byte position,
// for a damaged file or one of another store.
Result<std::unique_ptr<View>> ReadCheckpoint(
    const CheckpointFile& file, const std::string& store_id,
    const SourcePriorities& priorities);

// Deletes all but the newest `keep` checkpoints and the one at `protect` (the
// one retention left standing for the records it removed).
void PruneCheckpoints(const std::string& dir, size_t keep, uint64_t protect);

}  // namespace wmeta::store::internal

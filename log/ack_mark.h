// The acknowledged end of the log, kept outside RocksDB: the highest offset
// that was acknowledged as durable. RocksDB's WAL recovery cannot tell a WAL
// that ends early because a write was torn by a crash from one that lost
// acknowledged records (truncated, zeroed, deleted, or cut at a damaged
// record). With this mark, opening a log that ends below it is refused, so an
// acknowledged offset is never handed out again. Private to log/.
//
// File <data dir>/ACKNOWLEDGED, 64 bytes: two 32-byte slots, each "WMACK001",
// u64 sequence, u64 offset, u32 CRC-32C of the 24 bytes before it, u32 zero
// (little-endian). Writes alternate between the slots and are not fsynced: a
// mark is only written once what it names is on stable storage (so it never
// runs ahead of the log, whatever reaches the disk first), a power loss may
// leave an older mark (which checks less, never wrongly), and a torn write
// damages one slot only. The mark is the valid slot with the higher sequence.
//
// Thread-safety: Write and Sync must not run concurrently (the log's single
// writer calls them); Read is a pure function.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wmeta/schema/error.h"

namespace wmeta::log::internal {

inline constexpr std::string_view kAckMarkFile = "ACKNOWLEDGED";

class AckMark {
 public:
  // The mark in `dir`: nullopt when there is no file (a store from before
  // marks, or a reader's view of a store whose writer has not written one).
  // kCorruption when the file exists but neither slot is valid.
  static Result<std::optional<uint64_t>> Read(const std::string& dir);

  // Opens the file for writing, creating it (fsynced, with its directory)
  // holding `offset` when missing. `current` is what Read returned.
  static Result<AckMark> Open(const std::string& dir,
                              std::optional<uint64_t> current, uint64_t offset);

  AckMark(AckMark&& other) noexcept;
  AckMark& operator=(AckMark&& other) noexcept;
  ~AckMark();

  // Records `offset` as acknowledged; not fsynced (see above).
  Status Write(uint64_t offset);
  // Sets both slots to `offset` and fsyncs: for an explicit recovery that
  // accepts the loss of what was acknowledged above it.
  Status Reset(uint64_t offset);
  // fsyncs the file (at a clean close).
  Status Sync();

  uint64_t offset() const { return offset_; }

 private:
  AckMark(int fd, std::string path, uint64_t sequence, uint64_t offset)
      : fd_(fd), path_(std::move(path)), sequence_(sequence), offset_(offset) {}

  int fd_ = -1;
  std::string path_;
  uint64_t sequence_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace wmeta::log::internal

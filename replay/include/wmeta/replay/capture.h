// Capture files (.wcap): a range of a log's records in a self-describing,
// checksummed file, to replay elsewhere or keep (format: replay/FORMAT.md).
// A header says what the file holds (format version, schema hash, the store
// it came from, the range and filters asked for); blocks of records follow,
// each with a CRC-32C; a trailer gives the count and the offset and time
// range actually captured. Every record is a verified FlatBuffers record, the
// log's own bytes.
//
//   WMETA_ASSIGN_OR_RETURN(auto w, CaptureWriter::Create(path, header));
//   for (...) WMETA_RETURN_IF_ERROR(w->Add(record));
//   WMETA_ASSIGN_OR_RETURN(CaptureSummary s, w->Finish());
//
// Thread-safety: a writer or reader is used by one thread; VerifyCapture is
// safe from any.

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"
#include "wmeta/schema/time.h"

namespace wmeta::replay {

// The newest format version written and read: 2 adds compressed blocks. A
// capture without them is written as version 1, which older builds read.
inline constexpr uint32_t kCaptureFormatVersion = 2;

// What a capture was asked to hold.
struct CaptureHeader {
  // The schema the records were written with (wmeta::SchemaHash()); set by
  // the writer.
  std::string schema_hash;
  // The store the records come from.
  std::string store_id;
  // The offsets asked for, inclusive.
  uint64_t from = 0;
  uint64_t to = 0;
  // The kinds and sources kept (empty: all).
  std::vector<std::string> kinds;
  std::vector<std::string> sources;
  // When the capture was written; set by the writer.
  Timestamp created{};
  // How blocks are compressed: "zstd" or "none".
  std::string compression = "zstd";
};

// What a capture holds.
struct CaptureSummary {
  uint64_t records = 0;
  // 0 when it holds no record.
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  Timestamp first_time{};
  Timestamp last_time{};
};

class CaptureWriter {
 public:
  // Creates PATH.tmp, written until Finish renames it to `path`: a capture
  // cut short (a crash, a full disk) never looks whole. kIoError when the
  // file cannot be created.
  static Result<std::unique_ptr<CaptureWriter>> Create(const std::string& path,
                                                       CaptureHeader header);
  // Removes the temporary file unless Finish succeeded.
  virtual ~CaptureWriter() = default;

  // Appends a record of the log. kInvalidArgument for one not appended
  // (offset 0) or not after the last one; kIoError when writing fails.
  virtual Status Add(const EventView& record) = 0;

  // Writes the last block and the trailer, syncs and renames the file into
  // place. The writer is done afterwards, whatever the result.
  virtual Result<CaptureSummary> Finish() = 0;
};

class CaptureReader {
 public:
  // Opens and checks the file's magic, version and header. kNotFound,
  // kUnsupportedFormat (not a capture, or a format this build does not
  // read), kCorruption (a damaged header), each naming the byte.
  static Result<std::unique_ptr<CaptureReader>> Open(const std::string& path);
  virtual ~CaptureReader() = default;

  virtual const CaptureHeader& header() const = 0;

  // The next record, each block's checksum and each record checked before
  // use; nullopt after the last, once the trailer was read and agrees with
  // what came. kCorruption names the byte where the damage is (a truncated
  // file included).
  virtual Result<std::optional<Event>> Next() = 0;

  // Valid once Next returned nullopt.
  virtual const CaptureSummary& summary() const = 0;
};

// Reads the whole file as a reader does: a damaged or truncated capture is
// kCorruption naming the byte of the damage.
Result<CaptureSummary> VerifyCapture(const std::string& path);

}  // namespace wmeta::replay

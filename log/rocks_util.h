// Small helpers shared by log/'s RocksDB code. Private to log/.

#pragma once

#include <rocksdb/slice.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wmeta/schema/error.h"

namespace wmeta::log::internal {

inline std::string_view ToView(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}
inline rocksdb::Slice ToSlice(std::string_view s) {
  return {s.data(), s.size()};
}

// A RocksDB failure as a wmeta error: corruption stays corruption, the rest is
// I/O.
inline Error FromRocks(const rocksdb::Status& s, std::string_view context) {
  std::string message = std::string(context) + ": " + s.ToString();
  return Error{s.IsCorruption() ? ErrorCode::kCorruption : ErrorCode::kIoError,
               std::move(message)};
}

inline std::unexpected<Error> RocksError(const rocksdb::Status& s,
                                         std::string_view context) {
  return std::unexpected(FromRocks(s, context));
}

// "7" or "7..9", for messages about offsets.
inline std::string OffsetRange(uint64_t first, uint64_t last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

// FlatBuffers reads scalars in place, so a record must sit at an 8-byte aligned
// address; RocksDB hands out values at arbitrary addresses inside its blocks.
// AlignedCopy moves a value to aligned storage, reused from call to call, when
// it is not aligned already. The result is valid until the next call and as
// long as `value` is.
class AlignedCopy {
 public:
  std::span<const uint8_t> Align(std::string_view value) {
    const auto* data = reinterpret_cast<const uint8_t*>(value.data());
    if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) == 0) {
      return {data, value.size()};
    }
    words_.resize((value.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(words_.data(), value.data(), value.size());
    return {reinterpret_cast<const uint8_t*>(words_.data()), value.size()};
  }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace wmeta::log::internal

// CRC-32C (Castagnoli), the checksum of wmeta's own files (view checkpoints,
// capture files): RocksDB checksums what lives in RocksDB.
//
// Thread-safety: pure functions.

#pragma once

#include <cstdint>
#include <string_view>

namespace wmeta {

// Extends `crc` (0 to start) with `data`.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace wmeta

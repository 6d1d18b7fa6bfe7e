// RocksDB's info log routed to a wmeta::log::InfoLog. Private to log/.

#pragma once

#include <rocksdb/env.h>

#include <memory>

#include "wmeta/log/log.h"

namespace wmeta::log::internal {

// A rocksdb::Logger that formats each message and hands it to `info_log`;
// it writes no file.
std::shared_ptr<rocksdb::Logger> NewInfoLogger(InfoLog info_log);

}  // namespace wmeta::log::internal

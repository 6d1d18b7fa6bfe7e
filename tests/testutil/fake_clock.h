// A clock tests set by hand, so that ingest times are known.
//
// Thread-safety: Now() and `now` may be used from any thread.

#pragma once

#include <atomic>
#include <cstdint>

#include "wmeta/schema/time.h"

namespace wmeta::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ns) : now(start_ns) {}
  Timestamp Now() override { return FromUnixNanos(now.load()); }
  std::atomic<int64_t> now;
};

}  // namespace wmeta::testing

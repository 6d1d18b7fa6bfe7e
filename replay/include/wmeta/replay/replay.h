// Replaying a capture into another store, as if from the original sources:
// each record becomes a new event with the same source, type, observed time
// and entity, no offset or ingest time (the target appends it anew), and its
// first append as its origin (store, offset, ingest time).
//
// Thread-safety: the functions are reentrant; Replay calls `push` on the
// calling thread.

#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>

#include "wmeta/schema/error.h"
#include "wmeta/schema/event.h"

namespace wmeta::replay {

// `record` (a log's, offset set) as a new event; a record that has an origin
// already (replayed before) keeps it. `store_id`: the store the record is in.
Result<Event> Rebase(const EventView& record, const std::string& store_id);

struct ReplayOptions {
  // Pace the batches as they were first appended (records appended together
  // stay together), `speed` times faster; otherwise as fast as `push` takes
  // them, in batches of `batch`.
  bool original_timing = false;
  double speed = 1.0;
  size_t batch = 1000;
};

struct ReplayResult {
  uint64_t records = 0;
  std::chrono::steady_clock::duration took{};
};

// Verifies `capture` whole first (a damaged file replays nothing), then hands
// its records to `push` in batches, in order. Stops with kUnavailable
// ("interrupted") when `interrupted` returns true between batches, and with
// `push`'s error when it fails. `progress(done, total)` after each batch.
Result<ReplayResult> Replay(
    const std::string& capture, const ReplayOptions& options,
    const std::function<Status(std::span<const Event>)>& push,
    const std::function<bool()>& interrupted = [] { return false; },
    const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

}  // namespace wmeta::replay

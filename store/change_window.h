// The window of recent changes that live subscribers read: a bounded queue the
// store's writer publishes into, and never waits on. Private to store/.
//
// It covers offsets [oldest, applied]: every change of those records is in it.
// A subscriber whose next offset is below `oldest` has fallen out of it and
// must read from the log.
//
// Thread-safety: thread-safe; one publisher, any number of readers.

#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "wmeta/store/view.h"

namespace wmeta::store::internal {

class ChangeWindow {
 public:
  // The changes of one commit (or refresh), shared by every reader: readers
  // copy a pointer per batch, not per change.
  struct Batch {
    // Offsets (after, last] were folded by this commit.
    uint64_t after = 0;
    uint64_t last = 0;
    std::vector<Change> changes;
  };

  // An empty window after `applied`.
  ChangeWindow(size_t capacity, uint64_t applied)
      : capacity_(capacity), oldest_(applied + 1), applied_(applied) {}

  // Adds the changes of the records up to `applied` (in offset order), drops
  // the oldest batches beyond the capacity, and wakes the readers.
  void Publish(std::vector<Change> changes, uint64_t applied);

  struct Slice {
    // Batches with changes at or after `from`, at least `max` changes in all
    // unless fewer are ready.
    std::vector<std::shared_ptr<const Batch>> batches;
    // With every batch read, the reader continues at through + 1.
    uint64_t through = 0;
    // `from` is below the window: read from the log.
    bool behind = false;
    bool closed = false;
  };
  Slice Read(uint64_t from, size_t max) const;

  // Waits until a record at or after `from` is published, the window closes,
  // or `until`.
  void Wait(uint64_t from, std::chrono::steady_clock::time_point until) const;

  uint64_t applied() const;
  uint64_t oldest() const;

  // Wakes every reader for good: the store is going away.
  void Close();

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  // Guarded by mu_.
  std::deque<std::shared_ptr<const Batch>> batches_;
  size_t changes_ = 0;
  uint64_t oldest_;
  uint64_t applied_;
  bool closed_ = false;
};

}  // namespace wmeta::store::internal
